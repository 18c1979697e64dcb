"""Planning watchlist alerts: one per chat and story, written down before anything is sent.

An alert is a delivery like a daily brief (``deliveries`` row keyed by chat and
``alert:<story id>``), so it inherits the brief's guarantees: exactly once across crashes and
restarts, resumable, the same rule for ambiguous sends, the same rate limits. One that quiet
hours hold waits in its row, status 'held', until they end, or, for a subscribed chat, until
just after its next brief, which drops it if the brief showed the story.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.delivery import ledger
from bot.delivery.ledger import PendingDelivery, PlannedStory, Seen, seen_or_planned, story_urls
from bot.delivery.planning import PLAN_BATCH, unseen
from bot.models import Story
from bot.news.render import alert_html
from bot.storage import watchlists
from bot.storage.chats import ChatSettings, get_chat
from bot.storage.news_store import from_iso, iso
from bot.storage.transactions import write_transaction
from bot.timezones import next_due, zone

log = logging.getLogger(__name__)


def plan_alerts(db: Database, now: datetime, window_hours: int) -> int:
    """Plan every alert due now (see :func:`plan_alert_batches`); return how many."""
    return sum(plan_alert_batches(db, now, window_hours))


def still_wanted(db: Database, chat_id: int, story_id: str, now: datetime) -> bool:
    """Whether a planned alert may go out now: the chat still follows, as an alert, a term one
    of its articles matched, and is not in its quiet hours (a pending alert may wait behind
    briefs, a restart or a long burst)."""
    chat = get_chat(db, chat_id)
    if chat is None:
        return False
    # By the alert's articles, not its story id: a later fetch round may have regrouped them
    # under another id (the brief's, once the brief took them in).
    urls = _planned_urls(db, chat_id, ledger.ALERT_PREFIX + story_id)
    return watchlists.alerts_on(db, chat_id, urls) and _quiet_until(db, chat, now) is None


def hold_until_quiet_ends(db: Database, chat_id: int, story_id: str, now: datetime) -> bool:
    """Hold again a pending alert that quiet hours caught before it went out, when the chat
    still wants it (see _held_until); True if held."""
    chat = get_chat(db, chat_id)
    until = None if chat is None else _held_until(db, chat, now)
    key = ledger.ALERT_PREFIX + story_id
    if until is None or not watchlists.alerts_on(db, chat_id, _planned_urls(db, chat_id, key)):
        return False
    db.execute(
        "update deliveries set status = ?, due_at = ? where chat_id = ? and local_date = ?",
        [watchlists.HELD, iso(until), chat_id, key],
    )
    return True


RETRY_FAILED_FOR = timedelta(minutes=10)


def plan_alert_batches(
    db: Database, now: datetime, window_hours: int, later: Collection[int] = ()
) -> Iterator[int]:
    """Plan the held alerts whose quiet hours have ended, then an alert for each alert-mode
    match of a story new to its chat, PLAN_BATCH chats at a time, one transaction each; yield
    how many each batch planned.

    In quiet hours a chat's alerts are held (see _held_until): a subscribed chat's next brief
    shows the story in its watchlist section, and the alert goes only if it did not. A story
    the chat has already seen (by brief, /latest or alert) does not alert again; its new
    reports join the next brief as an update. The ``later`` chats (their /latest is being
    sent) are left to the next planning, and the matches with them.
    """
    yield from _release_held(db, now, later)
    run = _Run(now - timedelta(hours=window_hours), now)
    upto = watchlists.newest_match(db)
    # A crash part-way leaves the matches 'new': chats already planned are not planned twice
    # (one deliveries row per chat and story, and pending alerts count as seen).
    found = watchlists.chats_to_alert(db)
    complete = True
    for start in range(0, len(found), PLAN_BATCH):
        batch = found[start : start + PLAN_BATCH]
        # Asked again for each batch: the caller answers updates between batches, and a
        # /latest begun meanwhile shows stories this batch would alert.
        chats = [c for c in batch if c not in later]
        complete = complete and len(chats) == len(batch)
        with write_transaction(db):
            planned = sum(_plan_safely(db, chat_id, run) for chat_id in chats)
        yield planned
    # A chat whose planning failed finds the matches still new at the next plannings (chats
    # planned meanwhile are not planned twice, as after a crash), for RETRY_FAILED_FOR: then
    # they are left to its briefs, or one broken chat has every check plan every watcher again.
    if complete:
        before = run.now - RETRY_FAILED_FOR if run.failed else None
        watchlists.mark_planned(db, upto, found_before=before)


@dataclass
class _Run:
    """One planning run: its window, and what it has read and saved so far."""

    since: datetime
    now: datetime
    parsed: dict[str, Story] = field(default_factory=dict)  # watch stories, by id
    keys: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)  # -> content key
    failed: bool = False  # a chat's planning failed: its matches wait for the next planning


def _plan_safely(db: Database, chat_id: int, run: _Run) -> int:
    """Plan one chat's alerts; one that fails is logged and undone, and the rest carry on."""
    try:
        with db.atomic():  # a savepoint
            return _plan_chat(db, chat_id, run)
    except Exception:
        log.exception("planning the alerts of chat=%s failed; trying again next time", chat_id)
        run.keys.clear()  # an alert saved for it was rolled back with it
        run.failed = True
        return 0


def _plan_chat(db: Database, chat_id: int, run: _Run) -> int:
    chat = get_chat(db, chat_id)
    if chat is None or not chat.active:
        return 0
    until = _held_until(db, chat, run.now)
    planned = 0
    shown = _seen_planned_or_held(db, chat_id)
    found = watchlists.stories_for(db, chat_id, run.since, new_alerts=True, parsed=run.parsed)
    for story, terms, _ in found:
        if unseen(story, shown) is not story:
            continue  # seen before: later reports wait for the brief, as an update
        key = run.keys.get((story.id, terms))
        if key is None:  # the same story and terms make the same alert for every chat
            key = run.keys[story.id, terms] = _save_alert(
                db, replace(story, watch_terms=terms), run.now
            )
        if until is None:
            ledger.plan_delivery(db, chat_id, ledger.ALERT_PREFIX + story.id, run.now, key, run.now)
        else:  # released when it ends, unless a brief showed the story meanwhile
            _hold(db, chat_id, ledger.ALERT_PREFIX + story.id, until, key, run.now)
        shown = Seen({**shown.stories, story.id: ("", 0)}, shown.urls | set(story_urls(story)))
        planned += 1
    return planned


# A held alert of a subscribed chat is looked at this long after its next brief was due: by
# then the brief has shown the story (and the alert is dropped) or it has not (the chat
# stopped the brief, or the brief's watchlist section was full), and the alert goes out.
AFTER_THE_BRIEF = timedelta(minutes=10)


def _held_until(db: Database, chat: ChatSettings, now: datetime) -> datetime | None:
    """Until when the chat's alerts are held now (None: they are not): the end of its quiet
    hours, or, for a subscribed chat, just after its next brief, which carries them, when
    that is later or the brief is due within AFTER_THE_BRIEF anyway."""
    until = _quiet_until(db, chat, now)
    if not chat.subscribed or chat.next_due is None:
        return until
    after_brief = from_iso(chat.next_due) + AFTER_THE_BRIEF
    if until is None:
        return after_brief if after_brief <= now + 2 * AFTER_THE_BRIEF else None
    return max(until, after_brief)


def _quiet_until(db: Database, chat: ChatSettings, now: datetime) -> datetime | None:
    """When the chat's quiet hours end, if it is in them now; None if it is not."""
    local = now.astimezone(zone(chat.timezone))
    window = watchlists.quiet(db, chat.chat_id)
    if window is None or not watchlists.in_quiet(window, local):
        return None
    return next_due(chat.timezone, f"{window[1]:%H:%M}", now)


def _save_alert(db: Database, story: Story, now: datetime) -> str:
    message = alert_html(story)
    key = "a" + hashlib.sha1(json.dumps([story.id, message]).encode()).hexdigest()[:19]
    ledger.save_content(db, key, 0, [message], [ledger.planned_story(story, 0)], now)
    return key


def _planned_urls(db: Database, chat_id: int, local_date: str) -> list[str]:
    """The article URLs of the chat's alert ``local_date``; none if there is none."""
    row = db.execute(
        "select content_key from deliveries where chat_id = ? and local_date = ?",
        [chat_id, local_date],
    ).fetchone()
    return [] if row is None else _urls(ledger.content(db, row[0])[1])


def _urls(stories: list[PlannedStory]) -> list[str]:
    """The article URLs the planned stories link."""
    return [url for story in stories for url in story[4]]


def _hold(
    db: Database, chat_id: int, local_date: str, until: datetime, key: str, now: datetime
) -> None:
    """Write down an alert held until ``until`` (see _held_until)."""
    db.execute(
        "insert or ignore into deliveries (chat_id, local_date, due_at, content_key, status, "
        "created_at) values (?, ?, ?, ?, ?, ?)",
        [chat_id, local_date, iso(until), key, watchlists.HELD, iso(now)],
    )


def _seen_planned_or_held(db: Database, chat_id: int) -> Seen:
    """What the chat was shown or will be (:func:`seen_or_planned`), and its held alerts."""
    shown = seen_or_planned(db, chat_id)
    held = [
        story
        for (key,) in db.execute(
            # "+status": by primary key, not a scan of every held row (see seen_or_planned).
            "select content_key from deliveries where chat_id = ? and +status = ?",
            [chat_id, watchlists.HELD],
        ).fetchall()
        for story in ledger.content(db, key)[1]
    ]
    stories = {s[0]: (s[1], 0) for s in held} | shown.stories
    return Seen(stories, shown.urls | frozenset(_urls(held)))


def _release_held(db: Database, now: datetime, later: Collection[int]) -> Iterator[int]:
    """Plan the held alerts due by ``now``, PLAN_BATCH at a time, one transaction each; yield
    how many each batch planned. The ``later`` chats' wait for the next planning."""
    after: tuple[str, int, str] = ("", -(2**63), "")
    while held := _held_due(db, now, after):
        after = (held[-1].due_at, held[-1].chat_id, held[-1].local_date)
        with write_transaction(db):
            released = sum(
                _release_safely(db, item, now) for item in held if item.chat_id not in later
            )
        yield released


def _held_due(db: Database, now: datetime, after: tuple[str, int, str]) -> list[PendingDelivery]:
    """Up to PLAN_BATCH held alerts due by ``now``, after ``after`` in (due_at, chat_id,
    local_date) order."""
    return [
        PendingDelivery(*r)
        for r in db.execute(
            "select chat_id, local_date, content_key, next_part, attempts, due_at from deliveries "
            "where status = ? and due_at <= ? and (due_at, chat_id, local_date) > (?, ?, ?) "
            "order by due_at, chat_id, local_date limit ?",
            [watchlists.HELD, iso(now), *after, PLAN_BATCH],
        )
    ]


def _release_safely(db: Database, item: PendingDelivery, now: datetime) -> int:
    """Release one held alert; one that fails is logged and left held for the next planning."""
    try:
        with db.atomic():  # a savepoint
            return _release(db, item, now)
    except Exception:
        log.exception(
            "releasing the held alert %s of chat=%s failed", item.local_date, item.chat_id
        )
        return 0


def _release(db: Database, item: PendingDelivery, now: datetime) -> int:
    """Make a held alert pending once nothing holds it any more, if the chat still wants it
    and has not been shown the story meanwhile; 1 if so."""
    chat = get_chat(db, item.chat_id)
    stories = ledger.content(db, item.content_key)[1]
    reason = _unwanted(db, item.chat_id, chat is not None and chat.active, stories)
    if reason:
        log.info("held alert %s of chat=%s dropped: %s", item.local_date, item.chat_id, reason)
        # Never sent nor due, it leaves no row: it must not count as this story's one alert.
        db.execute(
            "delete from deliveries where chat_id = ? and local_date = ?",
            [item.chat_id, item.local_date],
        )
        return 0
    assert chat is not None  # _unwanted refuses a chat that is gone
    until = _still_held(db, chat, item, stories, now)
    if until is not None:  # quiet hours, or a brief that is still to show the story
        db.execute(
            "update deliveries set due_at = ? where chat_id = ? and local_date = ?",
            [iso(until), item.chat_id, item.local_date],
        )
        return 0
    db.execute(
        "update deliveries set status = 'pending' where chat_id = ? and local_date = ?",
        [item.chat_id, item.local_date],
    )
    return 1


def _still_held(
    db: Database,
    chat: ChatSettings,
    item: PendingDelivery,
    stories: list[PlannedStory],
    now: datetime,
) -> datetime | None:
    """Until when a held alert must wait yet (None: it may go now)."""
    planned = seen_or_planned(db, chat.chat_id)  # a brief about to go out may show it
    if any(s[0] in planned.stories for s in stories) or planned.urls.intersection(_urls(stories)):
        return max(_quiet_until(db, chat, now) or now, now + AFTER_THE_BRIEF)
    held_at = db.execute(
        "select created_at from deliveries where chat_id = ? and local_date = ?",
        [item.chat_id, item.local_date],
    ).fetchone()[0]
    # The brief had its chance once a daily brief was planned after the hold: from then on only
    # quiet hours hold it (else a brief inside quiet hours would hold it for ever).
    briefed = db.execute(
        "select 1 from deliveries where chat_id = ? and local_date not like ? "
        "and status != ? and created_at > ? limit 1",
        [chat.chat_id, ledger.ALERT_PREFIX + "%", watchlists.HELD, held_at],
    ).fetchone()
    return _quiet_until(db, chat, now) if briefed else _held_until(db, chat, now)


def _unwanted(db: Database, chat_id: int, active: bool, stories: list[PlannedStory]) -> str:
    """Why a held alert must not go out after all ('' if it may)."""
    if not active:
        return "the chat is unreachable"
    if not watchlists.alerts_on(db, chat_id, _urls(stories)):
        return "no alert term any more"
    shown = ledger.seen(db, chat_id)  # by /latest, a brief, or another alert meanwhile
    if any(s[0] in shown.stories for s in stories) or shown.urls.intersection(_urls(stories)):
        return "seen meanwhile"
    return ""
