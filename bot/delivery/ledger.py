"""The delivery ledger: pending deliveries, what each chat was sent, and broadcast records."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.models import Story
from bot.storage.chats import migrate_chat
from bot.storage.news_store import (
    fingerprint_outlets,
    iso,
    outlets_fingerprint,
    story_fingerprint,
)
from bot.storage.transactions import write_transaction

log = logging.getLogger(__name__)

PENDING_PAGE = 1000

# (story id, fingerprint of its outlets, sent as an update?, the article URLs it links)
SentStory = tuple[str, str, bool, tuple[str, ...]]
# (story id, fingerprint, update?, index of the message that carries it, the article URLs it links)
PlannedStory = tuple[str, str, bool, int, tuple[str, ...]]


@dataclass(frozen=True)
class Seen:
    """What a chat has been shown: stories (id → outlet fingerprint, updates) and article URLs."""

    stories: dict[str, tuple[str, int]] = field(default_factory=dict)
    urls: frozenset[str] = frozenset()


def story_urls(story: Story) -> tuple[str, ...]:
    """The article URLs a story links to (what 'sent' means for it)."""
    return tuple(dict.fromkeys(s.url for s in story.sources))


def planned_story(story: Story, part: int) -> PlannedStory:
    """The ledger's record of a story planned into message ``part`` of a delivery."""
    return (story.id, story_fingerprint(story), story.is_update, part, story_urls(story))


def as_sent(story: PlannedStory) -> SentStory:
    """The ledger's record of a planned story that reached the chat."""
    return (story[0], story[1], story[2], story[4])


@dataclass
class PendingDelivery:
    """One chat's unfinished daily brief."""

    chat_id: int
    local_date: str
    content_key: str
    next_part: int
    attempts: int
    due_at: str = ""
    failed_before: bool = False  # an attempt at an earlier check failed


@dataclass
class BroadcastStats:
    """Counts for one delivery run, logged and shown in /stats."""

    due: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    missed: int = 0
    unconfirmed: int = 0  # parts whose send went out but got no answer: not re-sent
    started: float = field(default_factory=time.monotonic)

    @property
    def duration(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started


def sent_stories(db: Database, chat_id: int) -> dict[str, tuple[str, int]]:
    """Stories a chat has been shown: story id → (outlet fingerprint, times sent as an update)."""
    return {
        r[0]: (r[1] or "", r[2])
        for r in db.execute(
            "select story_id, fingerprint, updates from sent_stories where chat_id = ?", [chat_id]
        )
    }


def seen(db: Database, chat_id: int) -> Seen:
    """Everything the chat has been shown: its stories and the article URLs they linked."""
    return Seen(
        sent_stories(db, chat_id),
        frozenset(
            r[0] for r in db.execute("select url from sent_articles where chat_id = ?", [chat_id])
        ),
    )


def seen_or_planned(db: Database, chat_id: int) -> Seen:
    """What the chat was shown plus what its pending deliveries (briefs, alerts) will show it,
    so an alert never repeats a story of a brief about to go out, nor the other way round."""
    shown = seen(db, chat_id)
    stories, urls = dict(shown.stories), set(shown.urls)
    for (raw,) in db.execute(
        # "+d.status": look the chat up by primary key; the status index would scan every
        # pending row of a broadcast being planned, for each chat (quadratic).
        "select c.stories from deliveries d join contents c on c.key = d.content_key "
        "where d.chat_id = ? and +d.status = 'pending'",
        [chat_id],
    ):
        for story_id, fingerprint, _, _, story_urls_ in _planned_stories(raw):
            stories.setdefault(story_id, (fingerprint, 0))
            urls.update(story_urls_)
    return Seen(stories, frozenset(urls))


def record_sent_stories(
    db: Database, chat_id: int, stories: Iterable[SentStory], via: str, now: datetime
) -> None:
    """Remember that a chat was shown these stories and their articles (the one writer of both)."""
    stories = list(stories)
    # Raw executemany opens a transaction sqlite-utils never commits: without this one (as for
    # /latest) every later write of the process would pile up uncommitted until shutdown.
    with write_transaction(db):
        shown = _shown_outlets(db, chat_id, [sid for sid, _, _, _ in stories])
        db.conn.executemany(  # sqlite-utils has no executemany of its own
            "insert into sent_stories (chat_id, story_id, fingerprint, sent_at, via, updates) "
            "values (?, ?, ?, ?, ?, ?) on conflict(chat_id, story_id) do update set "
            "fingerprint = excluded.fingerprint, sent_at = excluded.sent_at, via = excluded.via, "
            "updates = updates + excluded.updates",
            [
                (chat_id, sid, _joined(shown.get(sid, ""), fp), iso(now), via, int(update))
                for sid, fp, update, _ in stories
            ],
        )
        db.conn.executemany(
            "insert or ignore into sent_articles (chat_id, url, story_id, sent_at, via) "
            "values (?, ?, ?, ?, ?)",
            [(chat_id, url, sid, iso(now), via) for sid, _, _, urls in stories for url in urls],
        )


def _shown_outlets(db: Database, chat_id: int, story_ids: list[str]) -> dict[str, str]:
    """The outlets each story was already shown with to the chat (its stored fingerprint)."""
    rows = db.execute(
        "select story_id, fingerprint from sent_stories where chat_id = ? and story_id in "
        "(select value from json_each(?))",
        [chat_id, json.dumps(story_ids)],
    )
    return dict(rows.fetchall())


def _joined(before: str, now: str) -> str:
    """Every outlet shown so far: an update cites only its new outlets, the earlier stay seen."""
    return outlets_fingerprint(fingerprint_outlets(before) | fingerprint_outlets(now))


# An alert's deliveries row has this prefix and the story id in place of a local date.
ALERT_PREFIX = "alert:"


def via(item: PendingDelivery) -> str:
    """How a delivery reached the chat: a watchlist alert or the daily brief."""
    return "alert" if item.local_date.startswith(ALERT_PREFIX) else "daily"


def _kind(alerts: bool | None) -> str:
    if alerts is None:
        return ""
    return f" and local_date {'' if alerts else 'not '}like '{ALERT_PREFIX}%'"


def pending_count(db: Database, alerts: bool | None = None) -> int:
    """Deliveries planned but not yet finished (only alerts, only briefs, or all when None)."""
    return db.execute(
        "select count(*) from deliveries where status = 'pending'" + _kind(alerts)
    ).fetchone()[0]


def any_pending(db: Database, alerts: bool | None = None) -> bool:
    """Whether any delivery (only alerts, only briefs, or any when None) is unfinished."""
    return (
        db.execute(
            "select 1 from deliveries where status = 'pending'" + _kind(alerts) + " limit 1"
        ).fetchone()
        is not None
    )


def any_untried_brief(db: Database) -> bool:
    """Whether a daily brief is unfinished that no attempt has failed yet."""
    found = db.execute(
        "select 1 from deliveries where status = 'pending' and last_error is null"
        + _kind(False)
        + " limit 1"
    ).fetchone()
    return found is not None


def unbegun_dailies(db: Database, due_before: datetime) -> list[PendingDelivery]:
    """Daily briefs planned and due before ``due_before`` of which no part has gone out yet."""
    return [
        PendingDelivery(*r)
        for r in db.execute(
            "select chat_id, local_date, content_key, next_part, attempts, due_at "
            "from deliveries where status = 'pending' and due_at < ? and next_part = 0"
            + _kind(False),
            [iso(due_before)],
        )
    ]


def pending_page(
    db: Database, after: tuple[str, int, str], limit: int = PENDING_PAGE, alerts: bool = False
) -> list[PendingDelivery]:
    """Up to ``limit`` unfinished briefs (or alerts) after ``after`` in (due_at, chat_id,
    local_date) order."""
    return [
        PendingDelivery(*r)
        for r in db.execute(
            "select chat_id, local_date, content_key, next_part, attempts, due_at, "
            "last_error is not null "
            "from deliveries where status = 'pending' and (due_at, chat_id, local_date) > (?, ?, ?)"
            + _kind(alerts)
            + " order by due_at, chat_id, local_date limit ?",
            [*after, limit],
        )
    ]


def save_content(
    db: Database,
    key: str,
    brief_id: int,
    messages: list[str],
    stories: Iterable[PlannedStory],
    now: datetime,
) -> None:
    """Store what a planned delivery sends (once per key: chats getting the same share it)."""
    db.execute(
        "insert or ignore into contents (key, brief_id, messages, stories, created_at) "
        "values (?, ?, ?, ?, ?)",
        [key, brief_id, json.dumps(messages), json.dumps(list(stories)), iso(now)],
    )


def plan_delivery(
    db: Database, chat_id: int, local_date: str, due_at: datetime, key: str, now: datetime
) -> None:
    """Write down that the chat gets content ``key``: pending until it is sent or given up."""
    db.execute(
        "insert or ignore into deliveries (chat_id, local_date, due_at, content_key, status, created_at) "
        "values (?, ?, ?, ?, 'pending', ?)",
        [chat_id, local_date, iso(due_at), key, iso(now)],
    )


def still_wanted(db: Database, item: PendingDelivery) -> bool:
    """Whether the chat still wants it: reachable, and subscribed for a daily brief (an alert
    needs no daily subscription)."""
    row = db.execute(
        "select subscribed, active from chats where chat_id = ?", [item.chat_id]
    ).fetchone()
    if row is None or not row[1]:
        return False
    return via(item) == "alert" or bool(row[0])


def cancel(
    db: Database, item: PendingDelivery, reason: str, now: datetime, chat_id: int | None = None
) -> None:
    """Drop a planned delivery that must not go out any more.

    Stories in the messages that did reach the chat (a brief cut short) count as sent to it,
    or to ``chat_id``, the id it goes by now (a group became a supergroup).
    """
    with db.atomic():
        db.execute(
            "update deliveries set status = 'cancelled', last_error = ? "
            "where chat_id = ? and local_date = ?",
            [reason, item.chat_id, item.local_date],
        )
        if item.next_part > 0:
            _, stories = content(db, item.content_key)
            delivered = [as_sent(s) for s in stories if s[3] < item.next_part]
            seen_by = item.chat_id if chat_id is None else chat_id
            record_sent_stories(db, seen_by, delivered, via(item), now)


def content(db: Database, key: str) -> tuple[list[str], list[PlannedStory]]:
    """A planned brief's messages and the stories it carries, with the message of each."""
    row = db.execute("select messages, stories from contents where key = ?", [key]).fetchone()
    return json.loads(row[0]), _planned_stories(row[1])


def _planned_stories(raw: str) -> list[PlannedStory]:
    """A contents row's stories; older rows carry three fields (no part: count it as 0) or
    four (no URLs)."""
    return [
        (s[0], s[1], s[2], s[3] if len(s) > 3 else 0, tuple(s[4]) if len(s) > 4 else ())
        for s in json.loads(raw)
    ]


def record_part_sent(db: Database, item: PendingDelivery, part: int) -> None:
    """Message ``part`` reached the chat: a restart resumes after it."""
    db.execute(
        "update deliveries set next_part = ? where chat_id = ? and local_date = ?",
        [part + 1, item.chat_id, item.local_date],
    )
    item.next_part = part + 1


def move_delivery(db: Database, item: PendingDelivery, new_id: int, now: datetime) -> bool:
    """A group became a supergroup: its settings, history and this delivery move to the new id.

    False when the supergroup has its own delivery for that day already (it was subscribed
    before the upgrade reached us): this one is then cancelled, so it never gets two.
    """
    migrate_chat(db, item.chat_id, new_id, now)  # moves the chat's deliveries, but not over
    left = db.execute(  # ... a day the supergroup already has one for: that one stays
        "select 1 from deliveries where chat_id = ? and local_date = ?",
        [item.chat_id, item.local_date],
    ).fetchone()
    if left is not None:
        reason = f"the group became supergroup {new_id}, which has its own"
        cancel(db, item, reason, now, chat_id=new_id)
        return False
    item.chat_id = new_id
    return True


def record_failure(
    db: Database,
    item: PendingDelivery,
    stories: Iterable[PlannedStory],
    failure: tuple[str, bool],
    max_attempts: int,
    now: datetime,
    counted: bool = True,
) -> bool:
    """Count a failed attempt (reason, permanent?); True when the delivery is given up for good.

    A failure that is not ``counted`` (one proving the message did not arrive: no connection, a
    5xx or 429) leaves the attempts as they are: only ``permanent`` gives the delivery up then.
    Stories in the messages that did reach the chat count as sent, so they are not repeated.
    """
    reason, permanent = failure
    attempts = item.attempts + counted
    hopeless = permanent or (counted and attempts >= max_attempts)
    with db.atomic():
        db.execute(
            "update deliveries set attempts = ?, last_error = ?, status = ? where chat_id = ? and local_date = ?",
            [attempts, reason, "failed" if hopeless else "pending", item.chat_id, item.local_date],
        )
        if hopeless:
            delivered = [as_sent(s) for s in stories if s[3] < item.next_part]
            record_sent_stories(db, item.chat_id, delivered, via(item), now)
    return hopeless


def record_delivered(
    db: Database, item: PendingDelivery, stories: Iterable[PlannedStory], now: datetime
) -> None:
    """The whole brief reached the chat: mark it sent and remember its stories, atomically."""
    with db.atomic():
        db.execute(
            "update deliveries set status = 'sent', sent_at = ? where chat_id = ? and local_date = ?",
            [iso(now), item.chat_id, item.local_date],
        )
        record_sent_stories(db, item.chat_id, [as_sent(s) for s in stories], via(item), now)


def record_broadcast(db: Database, stats: BroadcastStats, started_at: datetime) -> None:
    """Keep the run's figures for /stats and log them as one structured line."""
    db["broadcasts"].insert(
        {
            "started_at": iso(started_at),
            "finished_at": iso(started_at + timedelta(seconds=stats.duration)),
            "due": stats.due,
            "sent": stats.sent,
            "failed": stats.failed,
            "retried": stats.retried,
            "unconfirmed": stats.unconfirmed,
            "duration": round(stats.duration, 3),
        }
    )
    log.info(
        "broadcast due=%d sent=%d failed=%d retried=%d missed=%d unconfirmed=%d duration=%.1fs",
        stats.due,
        stats.sent,
        stats.failed,
        stats.retried,
        stats.missed,
        stats.unconfirmed,
        stats.duration,
    )
