"""Keeping a fresh brief at hand: refresh on demand or on schedule, fall back when feeds fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx
from sqlite_utils import Database

from bot.config import Settings
from bot.models import Brief, FeedSpec, Story
from bot.news.fulltext import enrich
from bot.news.pipeline import RefreshReport, build_brief, refresh
from bot.storage import news_store
from bot.storage.chats import ChatSettings

log = logging.getLogger(__name__)

NO_FEED_ANSWERED = "I couldn't reach any news feed just now."


@dataclass(frozen=True)
class BriefResult:
    """A brief plus, when feeds failed, a plain-words note about it."""

    brief_id: int
    brief: Brief
    problem: str | None = None
    # Built in a round where no feed answered: never a good brief to fall back on.
    no_feed_answered: bool = False


class Newsroom:
    """Owns the current brief: builds it, caches it, says when it is stale."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        feeds: Sequence[FeedSpec],
        client: httpx.AsyncClient,
        clock: Callable[[], datetime],
    ) -> None:
        self.db, self.settings, self.feeds, self.client, self.clock = (
            db,
            settings,
            feeds,
            client,
            clock,
        )
        self._lock = asyncio.Lock()
        self._parsed: BriefResult | None = None
        self.last_report: RefreshReport | None = None
        self.last_refresh_error: str | None = None

    def cached(self) -> BriefResult | None:
        """The last built brief, without any network (parsed once per new brief, not per call)."""
        newest = self.db.execute("select max(id) from briefs").fetchone()[0]
        if newest is None:
            return None
        if self._parsed is None or self._parsed.brief_id != newest:
            found = news_store.latest_brief(self.db)
            self._parsed = BriefResult(*found) if found else None
            if self._parsed is not None and news_store.no_feed_answered(
                self.db, self._parsed.brief_id
            ):
                self._parsed = self._mark(self._parsed)
        return self._parsed

    @staticmethod
    def _mark(result: BriefResult) -> BriefResult:
        # Its warning goes wherever it is shown, however often: it may be empty or old news.
        return replace(result, problem=NO_FEED_ANSWERED, no_feed_answered=True)

    def is_fresh(self, result: BriefResult | None) -> bool:
        """True when the brief is younger than one fetch interval (a brief no feed answered for
        is too: its failed feeds back off for that long)."""
        if result is None:
            return False
        age = self.clock() - result.brief.generated_at
        return age < timedelta(minutes=self.settings.fetch_interval_minutes)

    async def current(self, force: bool = False) -> BriefResult:
        """A fresh brief, rebuilt if stale; the last good one (with a note) if feeds fail."""
        cached = self.cached()
        if not force and self.is_fresh(cached):
            return cached  # type: ignore[return-value]
        async with self._lock:
            cached = self.cached()
            if not force and self.is_fresh(cached):
                return cached  # type: ignore[return-value]
            return await self._rebuild(cached)

    async def _rebuild(self, cached: BriefResult | None) -> BriefResult:
        now = self.clock()
        try:
            report = await refresh(self.db, self.settings, self.feeds, self.client, now)
        except Exception as exc:  # noqa: BLE001 - the bot must keep serving whatever went wrong
            log.exception("feed refresh crashed")
            report, self.last_refresh_error = None, f"{type(exc).__name__}: {exc}"
        else:
            self.last_report, self.last_refresh_error = report, None
        # Nothing reached: every feed failed, or is backing off after failing (that round
        # fetches nothing and fails nothing, yet has no news either).
        all_failed = report is None or (
            not report.fetched
            and not report.not_modified
            and bool(report.failed or report.skipped_backoff)
        )
        if all_failed and cached is not None and not cached.no_feed_answered:
            when = cached.brief.generated_at.strftime("%H:%M UTC on %d %b")
            return replace(
                cached,
                problem=f"I couldn't reach the news feeds just now, so this is the last good brief, from {when}.",
            )
        self._parsed = await self._compose(now, enrich_text=not all_failed)
        if all_failed:
            # Stored, not kept in memory: `digest` run again, in another process, must know it.
            news_store.mark_no_feed_answered(self.db, self._parsed.brief_id)
            self._parsed = self._mark(self._parsed)
        return self._parsed

    async def from_stored(self) -> BriefResult:
        """A brief built now from the stored articles, without fetching (``digest --no-fetch``)."""
        async with self._lock:
            unreached = (before := self.cached()) is not None and before.no_feed_answered
            self._parsed = await self._compose(self.clock(), enrich_text=not unreached)
            if unreached:
                # Built from what is stored, while no feed has answered since: no good brief.
                news_store.mark_no_feed_answered(self.db, self._parsed.brief_id)
                self._parsed = self._mark(self._parsed)
            return self._parsed

    async def _compose(self, now: datetime, enrich_text: bool) -> BriefResult:
        """Build and store the brief; with FULL_TEXT, fetch the top stories' text and rebuild."""
        brief_id, brief = build_brief(self.db, self.settings, now)
        if self.settings.full_text and enrich_text:
            top = brief.stories[: self.settings.brief_stories]
            if await enrich(self.db, self.client, top):
                brief_id, brief = build_brief(self.db, self.settings, now)
        return BriefResult(brief_id, brief)


def matches(story: Story, chat: ChatSettings) -> bool:
    """True when a story passes the chat's region and topic filters."""
    region_ok = chat.regions is None or story.region in chat.regions
    return region_ok and (chat.topics is None or bool(chat.topics.intersection(story.topics)))


def for_chat(brief: Brief, chat: ChatSettings) -> Brief:
    """The brief as this chat sees it: its filters, its length."""
    stories = tuple(s for s in brief.stories if matches(s, chat))
    return replace(brief, stories=stories[: chat.story_count])
