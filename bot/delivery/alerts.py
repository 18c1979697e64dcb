"""Planning watchlist alerts: one per chat and story, written down before anything is sent.

An alert is a delivery like a daily brief (``deliveries`` row keyed by chat and
``alert:<story id>``), so it inherits the brief's guarantees: exactly once across crashes and
restarts, resumable, the same rule for ambiguous sends, the same rate limits.
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
from bot.delivery.ledger import Seen, seen_or_planned, story_urls
from bot.delivery.planning import PLAN_BATCH, unseen
from bot.models import Story
from bot.news.render import alert_html
from bot.storage import watchlists
from bot.storage.chats import get_chat
from bot.timezones import zone

log = logging.getLogger(__name__)


def plan_alerts(db: Database, now: datetime, window_hours: int) -> int:
    """Plan every alert due now (see :func:`plan_alert_batches`); return how many."""
    return sum(plan_alert_batches(db, now, window_hours))


def still_wanted(db: Database, chat_id: int, story_id: str, now: datetime) -> bool:
    """Whether a planned alert may go out now: the chat still follows, as an alert, a term the
    story matched, and is not in its quiet hours (a pending alert may wait behind briefs, a
    restart or a long burst)."""
    chat = get_chat(db, chat_id)
    if chat is None or not watchlists.alerts_on(db, chat_id, story_id):
        return False
    return not watchlists.in_quiet(
        watchlists.quiet(db, chat_id), now.astimezone(zone(chat.timezone))
    )


def plan_alert_batches(
    db: Database, now: datetime, window_hours: int, later: Collection[int] = ()
) -> Iterator[int]:
    """Plan an alert for each alert-mode match of a story new to its chat, PLAN_BATCH chats
    at a time, one transaction each; yield how many each batch planned.

    Chats in quiet hours get none: their matches wait for the next brief's watchlist section.
    A story the chat has already seen (by brief, /latest or alert) does not alert again; its
    new reports join the next brief as an update. The ``later`` chats (their /latest is being
    sent) are left to the next planning, and the matches with them.
    """
    since = now - timedelta(hours=window_hours)
    run = _Run(since, now)
    upto = watchlists.newest_match(db)
    # A crash part-way leaves the matches 'new': chats already planned are not planned twice
    # (one deliveries row per chat and story, and pending alerts count as seen).
    found = watchlists.chats_to_alert(db)
    chats = [c for c in found if c not in later]
    for start in range(0, len(chats), PLAN_BATCH):
        with db.atomic():
            planned = sum(
                _plan_safely(db, chat_id, run) for chat_id in chats[start : start + PLAN_BATCH]
            )
        yield planned
    if len(chats) == len(found):
        watchlists.mark_planned(db, upto)


@dataclass
class _Run:
    """One planning run: its window, and what it has read and saved so far."""

    since: datetime
    now: datetime
    parsed: dict[str, Story] = field(default_factory=dict)  # watch stories, by id
    keys: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)  # -> content key


def _plan_safely(db: Database, chat_id: int, run: _Run) -> int:
    """Plan one chat's alerts; one that fails is logged and undone, and the rest carry on."""
    try:
        with db.atomic():  # a savepoint
            return _plan_chat(db, chat_id, run)
    except Exception:
        log.exception("planning the alerts of chat=%s failed; it gets them in its brief", chat_id)
        run.keys.clear()  # an alert saved for it was rolled back with it
        return 0


def _plan_chat(db: Database, chat_id: int, run: _Run) -> int:
    chat = get_chat(db, chat_id)
    if (
        chat is None
        or not chat.active
        or watchlists.in_quiet(
            watchlists.quiet(db, chat_id), run.now.astimezone(zone(chat.timezone))
        )
    ):
        return 0
    planned = 0
    shown = seen_or_planned(db, chat_id)
    found = watchlists.stories_for(db, chat_id, run.since, new_alerts=True, parsed=run.parsed)
    for story, terms, _ in found:
        if unseen(story, shown) is not story:
            continue  # seen before: later reports wait for the brief, as an update
        key = run.keys.get((story.id, terms))
        if key is None:  # the same story and terms make the same alert for every chat
            key = run.keys[story.id, terms] = _save_alert(
                db, replace(story, watch_terms=terms), run.now
            )
        ledger.plan_delivery(db, chat_id, ledger.ALERT_PREFIX + story.id, run.now, key, run.now)
        shown = Seen({**shown.stories, story.id: ("", 0)}, shown.urls | set(story_urls(story)))
        planned += 1
    return planned


def _save_alert(db: Database, story: Story, now: datetime) -> str:
    message = alert_html(story)
    key = "a" + hashlib.sha1(json.dumps([story.id, message]).encode()).hexdigest()[:19]
    ledger.save_content(db, key, 0, [message], [ledger.planned_story(story, 0)], now)
    return key
