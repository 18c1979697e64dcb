"""Alert planning against what a chat does meanwhile: /latest between planning batches, a story
regrouped before its alert goes out, and quiet hours of a chat that gets no daily brief."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botharness import (
    WATCH_ALERT,
    WATCH_HEADLINE,
    WATCH_TERM,
    Clock,
    alerts_to,
    running_bot,
    say,
    wait_until,
    watched_story,
)
from fake_telegram import FakeTelegram
from sqlite_utils import Database

from bot.config import Settings
from bot.delivery import alerts
from bot.delivery.alerts import plan_alerts
from bot.models import Article, Source, Story
from bot.news.watch import normalise
from bot.storage import watchlists
from bot.storage.news_store import save_articles
from bot.telegram import broadcast, handlers
from bot.telegram.app import _delivery_job as delivery_job
from bot.telegram.app import _fetch_job
from bot.telegram.broadcast import deliver_due
from bot.telegram.context import BotContext

TERM, HEADLINE, ALERT = WATCH_TERM, WATCH_HEADLINE, WATCH_ALERT


def _deliveries(db: Database) -> list[tuple[int, str, str]]:
    """Every delivery row: (chat, local date or alert key, status)."""
    return db.execute(
        "select chat_id, local_date, status from deliveries order by chat_id, local_date"
    ).fetchall()


async def test_a_latest_begun_between_alert_batches_gets_no_alert_of_what_it_shows(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = [51_000, 51_001]
    fake.add_private_chats(chats)
    clock = Clock(datetime(2026, 8, 15, 12, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        for chat in chats:
            await say(fake, chat, f"/alert {TERM}")
            await say(fake, chat, "/quiet off")
        await svc.newsroom.current(force=True)  # the brief /latest shows
        watched_story(svc.db, "w1", clock.now)
        # One chat a batch, so the second chat is planned in the second batch.
        monkeypatch.setattr(alerts, "PLAN_BATCH", 1)
        first, victim = watchlists.chats_to_alert(svc.db)
        composed, planned = asyncio.Event(), asyncio.Event()
        real_planning, real_reply = broadcast.plan_alert_batches, handlers._reply

        def latest_between_batches(*args: Any, **kwargs: Any) -> Iterator[int]:
            batches = real_planning(*args, **kwargs)
            yield next(batches)
            # The delivery check yields to updates between batches: the victim's /latest runs.
            fake.send_text(victim, "/latest")
            deadline = time.monotonic() + 10
            while not composed.is_set():
                assert time.monotonic() < deadline, "/latest never composed its answer"
                yield 0
            yield from batches
            planned.set()

        async def reply_once_planned(update: object, text: str, *args: object) -> None:
            composed.set()  # /latest has chosen its stories; it records them after its sends
            await planned.wait()
            await real_reply(update, text, *args)

        monkeypatch.setattr(broadcast, "plan_alert_batches", latest_between_batches)
        monkeypatch.setattr(handlers, "_reply", reply_once_planned)
        before = len(fake.texts_to(victim))
        await delivery_job(BotContext(app))
        await wait_until(lambda: composed.is_set() and not svc.showing_latest, what="/latest")
        await delivery_job(BotContext(app))  # the next check plans what the first left

        latest = "\n".join(fake.texts_to(victim)[before:])
        assert f"Matched: “{TERM}”" in latest and HEADLINE in latest
        assert alerts_to(fake, first) == [ALERT]
        assert alerts_to(fake, victim) == []
        assert _deliveries(svc.db) == [(first, "alert:w1", "sent")]


async def test_an_alert_regrouped_under_the_briefs_story_before_it_goes_out_is_sent(
    fake: FakeTelegram, settings: Settings
) -> None:
    chat = 52_000
    fake.add_private_chat(chat)
    clock = Clock(datetime(2026, 8, 15, 12, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, chat, f"/alert {TERM}")
        await say(fake, chat, "/quiet off")
        url = watched_story(svc.db, "w1", clock.now)
        assert plan_alerts(svc.db, clock.now, settings.brief_window_hours) == 1
        # Before it is sent (briefs go first), the brief takes the article into its story sB,
        # and the next fetch round regroups the matched article under that id.
        earlier = Source("Reuters", "Fighting near the front", "https://x.example/r", clock.now)
        brief_story = Story(
            "sB",
            earlier.title,
            "",
            "Europe",
            (),
            3.0,
            (earlier, Source("Outlet", HEADLINE, url, clock.now)),
        )
        watchlists.save_stories(svc.db, [brief_story], {"sB": [earlier.url, url]}, clock.now)
        clock.advance(minutes=30)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert alerts_to(fake, chat) == [ALERT]
        assert _deliveries(svc.db) == [(chat, "alert:w1", "sent")]


async def test_quiet_hours_hold_the_alert_of_a_chat_without_the_brief_until_they_end(
    fake: FakeTelegram, settings: Settings
) -> None:
    alert_only, subscriber = 53_000, 53_001
    fake.add_private_chats([alert_only, subscriber])
    clock = Clock(datetime(2026, 8, 15, 21, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        for chat in (alert_only, subscriber):
            await say(fake, chat, f"/alert {TERM}")  # default quiet hours: 22:00-07:00 UTC
        await say(fake, subscriber, "/subscribe")  # its brief: 07:00 UTC

        async def check_at(day: int, hour: int) -> None:
            clock.now = datetime(2026, 8, day, hour, tzinfo=UTC)
            await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)

        clock.now = datetime(2026, 8, 15, 23, tzinfo=UTC)
        watched_story(svc.db, "w1", clock.now)  # the name appears at 23:00
        await check_at(15, 23)
        assert (alerts_to(fake, alert_only), alerts_to(fake, subscriber)) == ([], [])
        await check_at(16, 7)  # quiet hours end
        await check_at(16, 8)
        assert alerts_to(fake, alert_only) == [ALERT]
        # The subscriber's brief carries it, as before.
        assert alerts_to(fake, subscriber) == []
        brief = fake.texts_to(subscriber)[-1]
        assert "Your daily Security Brief" in brief and HEADLINE in brief
        assert _deliveries(svc.db) == [
            (alert_only, "alert:w1", "sent"),
            (subscriber, "2026-08-16", "sent"),
        ]


async def test_a_held_alert_is_not_sent_after_unwatch_or_once_latest_showed_it(
    fake: FakeTelegram, settings: Settings
) -> None:
    kept, unwatched, looked = 54_000, 54_001, 54_002
    fake.add_private_chats([kept, unwatched, looked])
    clock = Clock(datetime(2026, 8, 15, 23, tzinfo=UTC))  # default quiet hours: 22:00-07:00
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        for chat in (kept, unwatched, looked):
            await say(fake, chat, f"/alert {TERM}")
        watched_story(svc.db, "w1", clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        clock.advance(minutes=30)
        await say(fake, unwatched, f"/unwatch {TERM}")
        latest = "\n".join(m["parsed_text"] for m in await say(fake, looked, "/latest", timeout=20))
        assert HEADLINE in latest
        clock.now = datetime(2026, 8, 16, 7, tzinfo=UTC)  # quiet hours end
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        alerted = {chat: alerts_to(fake, chat) for chat in (kept, unwatched, looked)}
        assert alerted == {kept: [ALERT], unwatched: [], looked: []}
        assert _deliveries(svc.db) == [(kept, "alert:w1", "sent")]


async def test_a_held_alert_goes_out_once_new_quiet_hours_or_a_new_zone_end_them(
    fake: FakeTelegram, settings: Settings
) -> None:
    quieted, moved = 55_000, 55_001
    fake.add_private_chats([quieted, moved])
    clock = Clock(datetime(2026, 8, 15, 23, tzinfo=UTC))  # default quiet hours: 22:00-07:00
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        for chat in (quieted, moved):
            await say(fake, chat, f"/alert {TERM}")
        watched_story(svc.db, "w1", clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert (alerts_to(fake, quieted), alerts_to(fake, moved)) == ([], [])  # held until 07:00
        clock.advance(minutes=5)
        await say(fake, quieted, "/quiet off")
        await say(fake, moved, "/timezone Asia/Tokyo")  # 08:05 there: its quiet hours are over
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert (alerts_to(fake, quieted), alerts_to(fake, moved)) == ([ALERT], [ALERT])


async def test_a_subscribers_quiet_hour_alert_comes_when_it_stops_the_brief_first(
    fake: FakeTelegram, settings: Settings
) -> None:
    chat = 62_000
    fake.add_private_chat(chat)
    clock = Clock(datetime(2026, 8, 15, 21, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, chat, f"/alert {TERM}")
        await say(fake, chat, "/subscribe")  # brief 07:00 UTC, quiet hours 22:00-07:00
        clock.now = datetime(2026, 8, 15, 23, tzinfo=UTC)
        watched_story(svc.db, "w1", clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        clock.now = datetime(2026, 8, 16, 6, tzinfo=UTC)
        await say(fake, chat, "/stop")  # no brief will carry it now
        for hour in (7, 8):
            clock.now = datetime(2026, 8, 16, hour, tzinfo=UTC)
            await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert alerts_to(fake, chat) == [ALERT]


async def test_held_alerts_outlive_housekeeping_after_a_quiet_hours_change(
    fake: FakeTelegram, settings: Settings
) -> None:
    chat = 65_000
    fake.add_private_chat(chat)
    clock = Clock(datetime(2026, 8, 15, 23, tzinfo=UTC))  # default quiet hours 22:00-07:00
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, chat, f"/alert {TERM}")  # alerts only, no daily brief
        watched_story(svc.db, "w1", clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        clock.now = datetime(2026, 8, 15, 23, 10, tzinfo=UTC)
        await say(fake, chat, "/quiet 23:00-06:00")  # still quiet; they end sooner
        await _fetch_job(BotContext(app))  # a fetch round prunes before its delivery check
        for hour in (6, 7):
            clock.now = datetime(2026, 8, 16, hour, 1, tzinfo=UTC)
            await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert alerts_to(fake, chat) == [ALERT]


async def test_held_alerts_a_brief_had_no_room_for_come_after_it(
    fake: FakeTelegram, settings: Settings
) -> None:
    chat = 66_000
    fake.add_private_chat(chat)
    clock = Clock(datetime(2026, 8, 15, 22, 30, tzinfo=UTC))  # quiet hours 22:00-07:00 UTC
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, chat, f"/alert {TERM}")
        for n in range(1, 8):  # seven stories overnight: more than a brief's watchlist holds
            url, title = f"https://x.example/{n}", f"Strike near {TERM} no{n}x"
            source = (Source("Outlet", title, url, clock.now),)
            story = Story(f"w{n}", title, "Outlet reports: …", "Europe", (), 3.0, source)
            save_articles(
                svc.db,
                [Article(url, "https://x.example/f", "Outlet", title, "", clock.now)],
                clock.now,
            )
            watchlists.save_stories(svc.db, [story], {story.id: [url]}, clock.now)
            watchlists.record_matches(svc.db, [(url, normalise(TERM))], clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        clock.now = datetime(2026, 8, 16, 6, tzinfo=UTC)
        await say(fake, chat, "/subscribe")  # its brief at 07:00 shows five of them
        for hour, minute in ((7, 0), (7, 11), (7, 12)):
            clock.now = datetime(2026, 8, 16, hour, minute, tzinfo=UTC)
            await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        text = "\n".join(fake.texts_to(chat))
        assert [n for n in range(1, 8) if f"no{n}x" not in text] == []
        assert len([t for t in fake.texts_to(chat) if t.startswith("🔔 Watchlist")]) == 2


async def test_alerts_waiting_their_chats_turn_never_go_out_in_quiet_hours(
    fake: FakeTelegram, settings: Settings
) -> None:
    chat = 63_000
    fake.add_private_chat(chat)
    start = datetime(2026, 8, 15, 21, 59, 59, 300_000, tzinfo=UTC)  # quiet hours from 22:00
    began = time.monotonic()

    def clock() -> datetime:  # wall time running at real speed from `start`
        return start + timedelta(seconds=time.monotonic() - began)

    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, chat, f"/alert {TERM}")  # alerts only
        for n in range(6):
            watched_story(svc.db, f"w{n}", clock())
        assert plan_alerts(svc.db, clock(), settings.brief_window_hours) == 6
        pacing = broadcast.Pacing(part_gap=0.3)  # six alerts take 1.5 s: past 22:00
        await broadcast.Broadcaster(svc.db, app.bot, clock, pacing=pacing, alerts=True).run()
        statuses = [r[0] for r in svc.db.execute("select status from deliveries")]
        # Those whose turn came after 22:00 are held for the end of quiet hours, not sent.
        assert statuses.count("sent") == len(alerts_to(fake, chat)) < 6
        assert statuses.count("held") == 6 - statuses.count("sent")
