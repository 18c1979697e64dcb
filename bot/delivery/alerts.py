"""Planning watchlist alerts: one per chat and story, written down before anything is sent.

An alert is a delivery like a daily brief (``deliveries`` row keyed by chat and
``alert:<story id>``), so it inherits the brief's guarantees: exactly once across crashes and
restarts, resumable, the same rule for ambiguous sends, the same rate limits.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.delivery import ledger
from bot.delivery.ledger import Seen, seen_or_planned, story_urls
from bot.delivery.planning import unseen
from bot.models import Story
from bot.news.render import alert_html
from bot.storage import watchlists
from bot.storage.chats import get_chat
from bot.timezones import zone

log = logging.getLogger(__name__)


def plan_alerts(db: Database, now: datetime, window_hours: int) -> int:
    """Plan an alert for each alert-mode match of a story new to its chat; return how many.

    Chats in quiet hours get none: their matches wait for the next brief's watchlist section.
    A story the chat has already seen (by brief, /latest or alert) does not alert again; its
    new reports join the next brief as an update.
    """
    since = now - timedelta(hours=window_hours)
    planned = 0
    # A crash part-way leaves the matches 'new': chats already planned are not planned twice
    # (one deliveries row per chat and story, and pending alerts count as seen).
    for chat_id in watchlists.chats_to_alert(db):
        with db.atomic():
            planned += _plan_chat(db, chat_id, now, since)
    watchlists.mark_planned(db)
    return planned


def _plan_chat(db: Database, chat_id: int, now: datetime, since: datetime) -> int:
    chat = get_chat(db, chat_id)
    if (
        chat is None
        or not chat.active
        or watchlists.in_quiet(watchlists.quiet(db, chat_id), now.astimezone(zone(chat.timezone)))
    ):
        return 0
    planned = 0
    shown = seen_or_planned(db, chat_id)
    for story, terms, _ in watchlists.stories_for(db, chat_id, since, new_alerts=True):
        if unseen(story, shown) is not story:
            continue  # seen before: later reports wait for the brief, as an update
        _plan_one(db, chat_id, replace(story, watch_terms=terms), now)
        shown = Seen({**shown.stories, story.id: ("", 0)}, shown.urls | set(story_urls(story)))
        planned += 1
    return planned


def _plan_one(db: Database, chat_id: int, story: Story, now: datetime) -> None:
    message = alert_html(story)
    key = "a" + hashlib.sha1(json.dumps([story.id, message]).encode()).hexdigest()[:19]
    ledger.save_content(db, key, 0, [message], [ledger.planned_story(story, 0)], now)
    ledger.plan_delivery(db, chat_id, ledger.ALERT_PREFIX + story.id, now, key, now)
