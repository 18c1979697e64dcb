"""The priority rule: due daily briefs go before a burst of alerts, and alerts give way."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botharness import Clock, add_alert_watchers, running_bot, subscribe_due
from fake_telegram import FakeTelegram
from sqlite_utils import Database

from bot.config import Settings
from bot.delivery import ledger
from bot.delivery.alerts import plan_alert_batches, plan_alerts
from bot.delivery.planning import PLAN_BATCH
from bot.models import Source, Story
from bot.news.watch import normalise
from bot.storage import watchlists
from bot.storage.db import open_db
from bot.storage.news_store import iso
from bot.telegram import broadcast
from bot.telegram.broadcast import Broadcaster, deliver_due

ALERT_CHATS = list(range(30_000, 30_120))
DAILY = 31_000


async def test_due_briefs_go_first_and_alerts_give_way(
    fake: FakeTelegram, settings: Settings
) -> None:
    clock = Clock(datetime.now(UTC))
    fake.add_private_chats([*ALERT_CHATS, DAILY])
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        add_alert_watchers(svc.db, ALERT_CHATS, ["Kharkiv"], clock.now)
        await svc.newsroom.current(force=True)  # the round that matches "Kharkiv"

        # An alert run stops taking alerts once a brief is waiting (here: after 30 sends).
        planned = plan_alerts(svc.db, clock.now, settings.brief_window_hours)
        per_story = planned // len(ALERT_CHATS)
        assert per_story >= 1 and planned == per_story * len(ALERT_CHATS)
        stats = await Broadcaster(
            svc.db, app.bot, clock, alerts=True, yield_to=lambda: len(fake.sent) >= 30
        ).run()
        assert 30 <= stats.sent < planned
        assert ledger.pending_count(svc.db, alerts=True) == planned - stats.sent

        # A delivery check with a brief due and alerts pending sends the brief first.
        subscribe_due(svc.db, [DAILY], clock.now)
        # A chat whose alert is still pending gets its brief too, without that alert's story.
        waiting = svc.db.execute(
            "select chat_id from deliveries where status = 'pending' limit 1"
        ).fetchone()[0]
        svc.db.execute(
            "update chats set subscribed = 1, next_due = ? where chat_id = ?",
            [iso(clock.now), waiting],
        )
        first_new = len(fake.sent)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        sent = fake.sent[first_new:]
        briefs = [m for m in sent if "daily Security Brief" in m["parsed_text"]]
        assert {m["chat_id"] for m in sent[: len(briefs)]} == {DAILY, waiting}
        assert {m["chat_id"] for m in sent[len(briefs) :]} <= set(ALERT_CHATS)
        alert = [m for m in sent if m["chat_id"] == waiting and m not in briefs]
        assert alert and alert[0]["parsed_text"].startswith("🔔 Watchlist")
        brief_links = {
            e.get("url") for m in briefs if m["chat_id"] == waiting for e in m["entities"] or []
        }
        alert_links = {e.get("url") for e in alert[0]["entities"] or []} - {None}
        assert alert_links and not alert_links & brief_links
        assert ledger.pending_count(svc.db) == 0
        clock.advance(minutes=1)
        assert await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock) is None
    per_chat = [m["chat_id"] for m in fake.sent if m["parsed_text"].startswith("🔔 Watchlist")]
    # One alert per chat and story, none lost to the pause.
    assert sorted(per_chat) == sorted(ALERT_CHATS * per_story)


def test_an_alert_burst_is_planned_in_batches_with_one_message_for_all(tmp_path: Path) -> None:
    # Planning yields between batches (the bot answers updates meanwhile), and a story many
    # chats follow is rendered and stored once, not once per chat.
    now = datetime(2026, 8, 15, 12, tzinfo=UTC)
    db = open_db(tmp_path / "a.db")
    chats = range(1, PLAN_BATCH + 2)
    add_alert_watchers(db, chats, ["Kharkiv"], now)
    sources = tuple(
        Source(f"Outlet {i}", f"Strike near Kharkiv kills {i}", f"https://x.example/{i}", now)
        for i in range(3)
    )
    story = Story("s1", "Strike near Kharkiv", "Outlet 0 reports: …", "Europe", (), 3.0, sources)
    watchlists.save_stories(db, [story], {"s1": [s.url for s in sources]}, now)
    watchlists.record_matches(db, [(s.url, normalise("Kharkiv")) for s in sources], now)
    assert list(plan_alert_batches(db, now, 24)) == [PLAN_BATCH, 1]
    assert db.execute("select count(*) from contents").fetchone()[0] == 1
    pending = db.execute("select count(distinct content_key) from deliveries").fetchone()[0]
    assert pending == 1 and ledger.pending_count(db, alerts=True) == PLAN_BATCH + 1
    assert list(plan_alert_batches(db, now, 24)) == []  # the matches are planned: none again
    db.close()


def _watched_story(db: Database, story_id: str, word: str, now: datetime) -> None:
    """A story about ``word`` stored by a fetch round, with its watchlist match."""
    url = f"https://x.example/{story_id}"
    source = (Source("Outlet", f"Strike near {word}", url, now),)
    story = Story(story_id, f"Strike near {word}", "Outlet reports: …", "Europe", (), 3.0, source)
    watchlists.save_stories(db, [story], {story_id: [url]}, now)
    watchlists.record_matches(db, [(url, normalise(word))], now)


def test_matches_stored_while_alerts_are_planned_wait_for_the_next_planning(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 8, 15, 12, tzinfo=UTC)
    db = open_db(tmp_path / "a.db")
    add_alert_watchers(db, [1], ["Kharkiv"], now)
    add_alert_watchers(db, [2], ["Wagner"], now)
    _watched_story(db, "s1", "Kharkiv", now)
    planning = plan_alert_batches(db, now, 24)
    assert next(planning) == 1
    _watched_story(db, "s2", "Wagner", now)  # a fetch round, while planning yields to updates
    assert list(planning) == []
    assert watchlists.new_match_count(db) == 1 and plan_alerts(db, now, 24) == 1
    planned = db.execute("select chat_id, local_date from deliveries order by chat_id")
    assert planned.fetchall() == [(1, "alert:s1"), (2, "alert:s2")]
    db.close()


async def test_a_pending_alert_is_not_sent_in_quiet_hours_or_after_unwatch(
    fake: FakeTelegram, settings: Settings
) -> None:
    quiet, unwatched = 41_000, 41_001
    fake.add_private_chats([quiet, unwatched])
    # 21:58 in Berlin: alerts may go; the default quiet hours start at 22:00.
    clock = Clock(datetime(2026, 8, 15, 19, 58, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        add_alert_watchers(svc.db, [quiet, unwatched], ["Kharkiv", "Wagner"], clock.now)
        svc.db.execute("update chats set timezone = 'Europe/Berlin'")
        svc.db.execute("delete from watch_quiet where chat_id = ?", [quiet])  # the default
        _watched_story(svc.db, "s1", "Kharkiv", clock.now)
        assert plan_alerts(svc.db, clock.now, settings.brief_window_hours) == 2
        # Not sent then (briefs went first, or a restart): by now one chat is in its quiet
        # hours and the other has unwatched the term (it still follows another).
        watchlists.remove(svc.db, unwatched, normalise("Kharkiv"))
        clock.advance(minutes=15)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert fake.sent == []
        states = svc.db.execute("select chat_id, status, due_at from deliveries order by chat_id")
        # No brief would carry the quiet chat's alert: it is held until its quiet hours end.
        assert states.fetchall() == [
            (quiet, "held", "2026-08-16T05:00:00+00:00"),  # 07:00 in Berlin
            (unwatched, "cancelled", "2026-08-15T19:58:00+00:00"),
        ]
        clock.now = datetime(2026, 8, 16, 5, 1, tzinfo=UTC)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert [m["chat_id"] for m in fake.sent] == [quiet]


async def test_an_alert_burst_asks_whether_a_brief_is_due_about_once_a_second(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The question scans every pending alert; asked before each alert of a burst, its cost
    # grew with the square of the burst.
    clock = Clock(datetime.now(UTC))
    fake.add_private_chats(ALERT_CHATS)
    asked = []
    real = broadcast.dailies_waiting
    monkeypatch.setattr(broadcast, "dailies_waiting", lambda *args: asked.append(1) or real(*args))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        add_alert_watchers(svc.db, ALERT_CHATS, ["Kharkiv"], clock.now)
        await svc.newsroom.current(force=True)  # the round that matches "Kharkiv"
        started = time.monotonic()
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        seconds = time.monotonic() - started
        alerts = [m for m in fake.sent if m["parsed_text"].startswith("🔔")]
        assert stats is not None and len(alerts) >= len(ALERT_CHATS)
        assert len(asked) <= seconds + 4, (len(asked), len(alerts), seconds)


async def test_a_chats_alerts_go_out_one_after_another_within_its_limit(
    fake: FakeTelegram, settings: Settings
) -> None:
    chats = ALERT_CHATS[:3]
    clock = Clock(datetime.now(UTC))
    fake.add_private_chats(chats)
    # Telegram's ~1 message a second per chat, scaled down tenfold for a quick test (the gap
    # doubles it: requests may reach the server closer together than they left).
    fake.set_rate_limits(per_chat_rate=10.0, burst=1)
    settings = replace(settings, broadcast_part_gap_seconds=0.2)
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        add_alert_watchers(svc.db, chats, ["Kharkiv", "Houthi", "Red Sea", "Sudan"], clock.now)
        await svc.newsroom.current(force=True)
        planned = plan_alerts(svc.db, clock.now, settings.brief_window_hours)
        assert planned >= 3 * len(chats)  # several alerts for each chat
        pacing = broadcast.Pacing.from_settings(settings)
        stats = await Broadcaster(svc.db, app.bot, clock, pacing=pacing, alerts=True).run()
        assert (stats.sent, stats.retried, fake.stats["429"]) == (planned, 0, 0)
        assert sum(len(fake.messages_to(chat)) for chat in chats) == planned


def test_a_row_held_back_for_its_chat_is_checked_again_when_its_time_comes(
    tmp_path: Path,
) -> None:
    # A chat's rows come in a row; its next one waits while other chats' rows go. When its
    # wait is over it is checked again: the chat may have had a message meanwhile (the
    # check's other broadcast), and sending now would pile workers onto one chat.
    now = datetime(2026, 8, 15, 12, tzinfo=UTC)
    db = open_db(tmp_path / "q.db")
    busy, other, later = 44_000, 44_001, 44_002
    ledger.save_content(db, "k", 0, ["hello"], [], now)
    for chat, day in ((busy, "2026-08-14"), (busy, "2026-08-15"), (other, "2026-08-15")):
        ledger.plan_delivery(db, chat, day, now, "k", now)
    free: dict[int, float] = {}
    queue = broadcast._Queue(db, False, free)
    assert queue.take().chat_id == busy
    free[busy] = time.monotonic() + 0.05  # its message went out: the next may in 50 ms
    assert queue.take().chat_id == other  # its second row waits meanwhile
    time.sleep(0.06)
    free[busy] = time.monotonic() + 0.05  # ... and it had another message meanwhile
    ledger.plan_delivery(db, later, "2026-08-15", now + timedelta(minutes=1), "k", now)
    assert queue.take().chat_id == later
    assert queue.take().chat_id == busy  # nothing else left: it waits its turn when sent
    assert queue.take() is None
