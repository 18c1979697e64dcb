"""Planning the daily brief: who is due, what each chat gets, written down before anything is sent."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.delivery.ledger import pending_count, sent_stories
from bot.models import Brief, Story
from bot.news.newsroom import matches
from bot.news.render import render_html, story_html
from bot.storage.chats import ChatSettings, chat_from_row
from bot.storage.news_store import from_iso, iso, story_fingerprint
from bot.timezones import next_due, zone

log = logging.getLogger(__name__)

NOTHING_NEW = "🛡 Nothing new in security news has cleared the bar since your last brief. /latest shows the current top stories."
# Lateness from ordinary check jitter: always delivered, even if local midnight just passed.
ON_TIME = timedelta(minutes=15)
PLAN_BATCH = 1000


def select_stories(
    brief: Brief, chat: ChatSettings, sent: dict[str, tuple[str, int]]
) -> tuple[Story, ...]:
    """The chat's best stories not sent before; a sent story with new outlets returns once as an update."""
    chosen: list[Story] = []
    for story in brief.stories:
        if not matches(story, chat):
            continue
        previous = sent.get(story.id)
        if previous is None:
            chosen.append(story)
        elif previous[1] == 0 and not set(story_fingerprint(story).split(",")) <= set(
            previous[0].split(",")
        ):
            chosen.append(replace(story, is_update=True))
        if len(chosen) >= chat.story_count:
            break
    return tuple(chosen)


def _content_key(brief_id: int, stories: tuple[Story, ...]) -> str:
    ident = json.dumps([brief_id, [(s.id, s.is_update) for s in stories]])
    return hashlib.sha1(ident.encode()).hexdigest()[:20]


def _render(brief: Brief, stories: tuple[Story, ...]) -> list[str]:
    if not stories:
        return [NOTHING_NEW]
    return render_html(replace(brief, stories=stories), title="Your daily Security Brief")


def _part_of(messages: list[str], story: Story, number: int) -> int:
    """Which message carries the story (so a brief cut short records only what was sent)."""
    block = story_html(story, number)
    return next((i for i, m in enumerate(messages) if block in m), len(messages) - 1)


def plan_batches(
    db: Database, brief_id: int, brief: Brief, now: datetime, grace: timedelta
) -> Iterator[tuple[int, int]]:
    """Plan due chats PLAN_BATCH at a time, one transaction each; yield (planned, missed) per batch."""
    contents: set[str] = set()
    while True:
        rows = list(
            db.query(
                "select * from chats where subscribed = 1 and active = 1 and next_due <= ? order by next_due limit ?",
                [iso(now), PLAN_BATCH],
            )
        )
        if not rows:
            return
        planned = missed = 0
        with db.atomic():
            for row in rows:
                chat = chat_from_row(row)
                if _plan_one(db, chat, brief_id, brief, now, grace, contents):
                    planned += 1
                else:
                    missed += 1
        yield planned, missed


def _plan_one(
    db: Database,
    chat: ChatSettings,
    brief_id: int,
    brief: Brief,
    now: datetime,
    grace: timedelta,
    contents: set[str],
) -> bool:
    due = from_iso(chat.next_due)  # type: ignore[arg-type]
    tz = zone(chat.timezone)
    local_date = due.astimezone(tz).date()
    # The next occurrence strictly after both the due time and now: never twice, never a backlog.
    following = next_due(chat.timezone, chat.delivery_time, max(now, due))
    db.execute("update chats set next_due = ? where chat_id = ?", [iso(following), chat.chat_id])
    late = now - due
    if late > ON_TIME and (late > grace or now.astimezone(tz).date() > local_date):
        log.info(
            "delivery missed chat=%s due=%s (bot was down past the grace period)",
            chat.chat_id,
            iso(due),
        )
        return False
    stories = select_stories(brief, chat, sent_stories(db, chat.chat_id))
    key = _content_key(brief_id, stories)
    if key not in contents:
        db.execute(
            "insert or ignore into contents (key, brief_id, messages, stories, created_at) values (?, ?, ?, ?, ?)",
            [
                key,
                brief_id,
                json.dumps(messages := _render(brief, stories)),
                json.dumps(
                    [
                        [s.id, story_fingerprint(s), s.is_update, _part_of(messages, s, i)]
                        for i, s in enumerate(stories, 1)
                    ]
                ),
                iso(now),
            ],
        )
        contents.add(key)
    db.execute(
        "insert or ignore into deliveries (chat_id, local_date, due_at, content_key, status, created_at) "
        "values (?, ?, ?, ?, 'pending', ?)",
        [chat.chat_id, local_date.isoformat(), iso(due), key, iso(now)],
    )
    return True


def due_count(db: Database, now: datetime) -> int:
    """How many chats are due now plus deliveries left unfinished (e.g. by a crash)."""
    due = db.execute(
        "select count(*) from chats where subscribed = 1 and active = 1 and next_due <= ?",
        [iso(now)],
    ).fetchone()[0]
    return due + pending_count(db)
