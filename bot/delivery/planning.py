"""Planning the daily brief: who is due, what each chat gets, written down before anything is sent."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from bot.delivery import ledger
from bot.delivery.ledger import Seen, seen_or_planned, story_urls
from bot.models import Brief, Source, Story
from bot.news.newsroom import matches
from bot.news.render import render_html_parts
from bot.storage import watchlists
from bot.storage.chats import ChatSettings, chat_from_row, get_chat, last_brief_date
from bot.storage.news_store import fingerprint_outlets, from_iso, iso
from bot.storage.transactions import write_transaction
from bot.timezones import next_due, slot, slot_date, zone

log = logging.getLogger(__name__)

NOTHING_NEW = "🛡 Nothing new in security news has cleared the bar since your last brief. /latest shows the current top stories."
# Lateness from ordinary check jitter: always delivered, even if local midnight just passed.
ON_TIME = timedelta(minutes=15)
PLAN_BATCH = 1000


def unseen(story: Story, seen: Seen) -> Story | None:
    """The story as this chat should get it: whole if new to it, as an update if new outlets
    reported it since, or None when it has nothing the chat has not seen.

    A story counts as seen when its id was sent or any of its articles was (story ids can
    change when the window's articles are grouped again; article URLs do not).
    """
    previous = seen.stories.get(story.id)
    shown = [s.outlet for s in story.sources if s.url in seen.urls]
    # A report the story holds but does not list (the outlet's closer one is listed) counts too.
    shown += [outlet for outlet, url in story.other_reports if url in seen.urls]
    if previous is None and not shown:
        return story
    old_outlets = set(shown)
    if previous is not None and previous[0]:
        old_outlets |= fingerprint_outlets(previous[0])
    # Only reports from outlets the chat has not had on this story are news; a second
    # article from an outlet already cited is the same report again.
    fresh = tuple(
        s for s in story.sources if s.url not in seen.urls and s.outlet not in old_outlets
    )
    if not fresh:
        return None
    # Headed by its first new report: the story's headline is an outlet the update does not cite.
    return replace(
        story,
        headline=fresh[0].title,
        sources=fresh,
        summary=update_summary(fresh),
        is_update=True,
    )


# An update names this many of its new outlets, then counts the rest: the message links only
# its first few outlets, and a long list would outgrow a summary.
UPDATE_NAMES = 3


def update_summary(fresh: tuple[Source, ...]) -> str:
    """What is new in an update: which outlets joined, and the first one's report."""
    names = [s.outlet for s in fresh[:UPDATE_NAMES]]
    if len(fresh) > UPDATE_NAMES:
        names.append(f"{len(fresh) - UPDATE_NAMES} more")
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "reports" if len(names) == 1 else "report"
    lead = fresh[0]
    return f"New since you saw it: {joined} now {verb} it. {lead.outlet}: “{lead.title.strip()}”"


def select_stories(
    brief: Brief, chat: ChatSettings, seen: Seen, limit: int | None = None
) -> tuple[Story, ...]:
    """The chat's best stories it has not seen; a seen story returns as an update with its new reports."""
    chosen: list[Story] = []
    limit = chat.story_count if limit is None else limit
    for story in brief.stories:
        if len(chosen) >= limit:
            break
        if not matches(story, chat):
            continue
        shown = unseen(story, seen)
        if shown is not None:
            chosen.append(shown)
    return tuple(chosen)


MAX_WATCH_STORIES = 5


def compose(
    db: Database,
    chat: ChatSettings,
    brief: Brief,
    now: datetime,
    parsed: dict[str, Story] | None = None,
) -> tuple[tuple[Story, ...], tuple[Story, ...]]:
    """What a chat gets now: its unseen watchlist stories, then its unseen top stories.

    Watchlist stories ignore the region and topic filters (a followed name is wanted wherever
    it appears); a top story that is also in the watchlist section is shown once, there. One
    the section leaves out (past its cap, or seen with no new watched report) stays a top story,
    so it can still come as one, or as an update.
    ``parsed``: the watch stories this planning run has read (see watchlists.stories_for).
    """
    shown = seen_or_planned(db, chat.chat_id)
    since = now - timedelta(hours=brief.window_hours)
    watch: list[Story] = []
    taken_ids: set[str] = set()
    taken_urls: set[str] = set()
    for story, terms, _ in watchlists.stories_for(db, chat.chat_id, since, parsed=parsed):
        fresh = unseen(story, shown)
        if fresh is not None and len(watch) < MAX_WATCH_STORIES:
            watch.append(replace(fresh, watch_terms=terms))
            taken_ids.add(story.id)
            taken_urls.update(s.url for s in story.sources)
    if taken_ids:
        rest = tuple(
            s
            for s in brief.stories
            if s.id not in taken_ids and not any(src.url in taken_urls for src in s.sources)
        )
        brief = replace(brief, stories=rest)
    return tuple(watch), select_stories(brief, chat, shown)


def _content_key(brief_id: int, watch: tuple[Story, ...], stories: tuple[Story, ...]) -> str:
    ident = json.dumps(
        [
            brief_id,
            [(s.id, s.is_update, story_urls(s), s.watch_terms) for s in watch],
            [(s.id, s.is_update, story_urls(s)) for s in stories],
        ]
    )
    return hashlib.sha1(ident.encode()).hexdigest()[:20]


def _render(
    brief: Brief, watch: tuple[Story, ...], stories: tuple[Story, ...]
) -> tuple[list[str], list[int]]:
    """The messages, and the message each story is in (a brief cut short records only those
    that were sent)."""
    if not stories and not watch:
        return [NOTHING_NEW], []
    return render_html_parts(
        replace(brief, stories=stories), title="Your daily Security Brief", watch=watch
    )


def plan_batches(
    db: Database,
    brief_id: int,
    brief: Brief,
    now: datetime,
    grace: timedelta,
    later: Collection[int] = (),
) -> Iterator[tuple[int, int]]:
    """Plan due chats PLAN_BATCH at a time, one transaction each; yield (planned, missed) per batch.

    The ``later`` chats stay due for the next check: their /latest is being sent, and its
    stories count as seen only once it is recorded.
    """
    contents: set[str] = set()
    parsed: dict[str, Story] = {}
    while True:
        rows = list(
            db.query(
                "select * from chats where subscribed = 1 and active = 1 and next_due <= ? "
                "and chat_id not in (select value from json_each(?)) order by next_due limit ?",
                [iso(now), json.dumps(sorted(later)), PLAN_BATCH],
            )
        )
        if not rows:
            return
        planned = missed = 0
        with write_transaction(db):
            for row in rows:
                try:
                    with db.atomic():  # a savepoint: a chat that fails undoes only its own plan
                        chat = chat_from_row(row)
                        ok = _plan_one(db, chat, brief_id, brief, now, grace, contents, parsed)
                except Exception:
                    _skip_a_day(db, row["chat_id"], now)
                    contents.clear()  # its content may have been rolled back with it
                    ok = False
                planned, missed = planned + ok, missed + (not ok)
        yield planned, missed


def _skip_a_day(db: Database, chat_id: int, now: datetime) -> None:
    """One chat's planning failed: log it, and try again tomorrow rather than every minute."""
    log.exception("planning the brief of chat=%s failed; trying again tomorrow", chat_id)
    db.execute(
        "update chats set next_due = ? where chat_id = ?", [iso(now + timedelta(days=1)), chat_id]
    )


def _plan_one(
    db: Database,
    chat: ChatSettings,
    brief_id: int,
    brief: Brief,
    now: datetime,
    grace: timedelta,
    contents: set[str],
    parsed: dict[str, Story],
) -> bool:
    due, local_date = _slot_to_plan(chat, from_iso(chat.next_due), now, grace)  # type: ignore[arg-type]
    _move_on(db, chat, due, local_date, now)
    if too_late(due, local_date, chat.timezone, now, grace):
        log.info(
            "delivery missed chat=%s due=%s (bot was down past the grace period)",
            chat.chat_id,
            iso(due),
        )
        return False
    if not _claim_day(db, chat, local_date):
        return True  # that date already had its brief (in an earlier zone): nothing to plan
    watch, stories = compose(db, chat, brief, now, parsed)
    key = _content_key(brief_id, watch, stories)
    if key not in contents:
        messages, parts = _render(brief, watch, stories)
        planned = [
            ledger.planned_story(s, part) for s, part in zip((*watch, *stories), parts, strict=True)
        ]
        ledger.save_content(db, key, brief_id, messages, planned, now)
        contents.add(key)
    ledger.plan_delivery(db, chat.chat_id, local_date.isoformat(), due, key, now)
    return True


def _slot_to_plan(
    chat: ChatSettings, due: datetime, now: datetime, grace: timedelta
) -> tuple[datetime, date]:
    """The slot this planning is for, and its local date: the one due, or, when that one is
    missed, the latest slot since, which may still go out late (README, Daily delivery)."""
    # The date the slot was meant for: a DST jump can push a late slot past local midnight.
    local_date = slot_date(chat.timezone, chat.delivery_time, due)
    if not too_late(due, local_date, chat.timezone, now, grace):
        return due, local_date
    latest = _latest_slot(chat, now)
    if latest is None or latest[1] <= local_date:
        return due, local_date
    if too_late(*latest, chat.timezone, now, grace):
        return due, local_date  # missed too: the next slot after now comes next
    # The bot was down over several of the chat's slots: only the older ones are lost.
    log.info(
        "delivery missed chat=%s due=%s; the brief of %s goes out late instead",
        chat.chat_id,
        iso(due),
        latest[1],
    )
    return latest


def _latest_slot(chat: ChatSettings, now: datetime) -> tuple[datetime, date] | None:
    """The chat's latest slot at or before ``now``, and the local date it is for."""
    today = now.astimezone(zone(chat.timezone)).date()
    # Three days back: a DST jump can push a slot past the next local midnight.
    for back in range(3):
        day = today - timedelta(days=back)
        at = slot(chat.timezone, chat.delivery_time, day)
        if at <= now:
            return at, day
    return None


def _move_on(
    db: Database, chat: ChatSettings, due: datetime, local_date: date, now: datetime
) -> None:
    """Set the chat's next due time past this one, the slot of ``local_date``."""
    # Strictly after both the due time and now, for a later date: never twice, never a backlog.
    following = next_due(chat.timezone, chat.delivery_time, max(now, due), done=local_date)
    db.execute("update chats set next_due = ? where chat_id = ?", [iso(following), chat.chat_id])


def _claim_day(db: Database, chat: ChatSettings, local_date: date) -> bool:
    """Whether the chat may have a brief for ``local_date``: its latest brief, seen in its current
    zone, was for an earlier date. Frees the date's row if an earlier zone's brief holds it."""
    done = last_brief_date(db, chat)
    if done is not None and done >= local_date:
        return False
    # Keyed in the zone it was planned in, that brief fell on an earlier date of this one (done <
    # local_date). Finished, it is only history; one still being sent keeps its key.
    db.execute(
        "delete from deliveries where chat_id = ? and local_date = ? and status != 'pending'",
        [chat.chat_id, local_date.isoformat()],
    )
    return True


def too_late(
    due: datetime, local_date: date, timezone: str, now: datetime, grace: timedelta
) -> bool:
    """Whether a daily brief due at ``due`` is missed: the bot was down past the grace period,
    or past the chat's local midnight (README, Daily delivery) after the day it was for and the
    moment it was due (a DST jump or a zone change can put those on different dates)."""
    tz = zone(timezone)
    last_day = max(local_date, due.astimezone(tz).date())
    late = now - due
    return late > ON_TIME and (late > grace or now.astimezone(tz).date() > last_day)


def cancel_missed(db: Database, now: datetime, grace: timedelta) -> int:
    """Cancel the daily briefs planned but not begun before they became too late; how many.

    The bot may die between planning a brief and sending it, and stay down: when it is back,
    the brief planned for a day already past would go out beside that day's own.
    """
    missed = 0
    for item in ledger.unbegun_dailies(db, now - ON_TIME):
        try:
            late = overdue(db, item, now, grace)
        except Exception:  # one chat's odd row (a zone this host lacks) stops no one else
            log.exception("checking the planned brief of chat=%s failed; leaving it", item.chat_id)
            continue
        if late:
            ledger.cancel(db, item, "missed: the bot was down past the grace period", now)
            missed += 1
    return missed


def overdue(db: Database, item: ledger.PendingDelivery, now: datetime, grace: timedelta) -> bool:
    """Whether a pending delivery is too late to go out: a daily brief by :func:`too_late` (or
    its chat is gone), an alert once ``grace`` has passed since it was due."""
    due = from_iso(item.due_at)
    if ledger.via(item) == "alert":
        return now - due > grace
    chat = get_chat(db, item.chat_id)
    local_date = date.fromisoformat(item.local_date)
    return chat is None or too_late(due, local_date, chat.timezone, now, grace)


def dailies_due(db: Database, now: datetime) -> bool:
    """Whether any chat's daily brief is due to be planned."""
    due = db.execute(
        "select 1 from chats where subscribed = 1 and active = 1 and next_due <= ? limit 1",
        [iso(now)],
    ).fetchone()
    return due is not None


def dailies_waiting(db: Database, now: datetime) -> bool:
    """Whether any daily brief is due or unfinished and not failed yet: alerts give way to it
    (README, Watchlists). One that failed is tried again first thing at the next check."""
    return dailies_due(db, now) or ledger.any_untried_brief(db)
