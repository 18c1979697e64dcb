"""Review fixes to daily delivery: a brief Telegram could not take for a while is sent late,
never dropped nor doubled; after an outage over several slots, today's brief still comes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from botharness import (
    WATCH_ALERT,
    Clock,
    add_alert_watchers,
    alerts_to,
    broadcast_app,
    plan_all,
    seed_delivery,
    subscribe_due,
    watched_story,
)
from fake_telegram import FakeTelegram
from sqlite_utils import Database
from telegram.error import NetworkError
from telegram.ext import Application

from bot.config import Settings
from bot.models import Brief, Source, Story
from bot.storage.chats import ensure_chat, get_chat, set_delivery, set_subscribed
from bot.storage.db import open_db
from bot.telegram import broadcast
from bot.telegram.app import started
from bot.telegram.broadcast import MAX_ATTEMPTS, deliver_due

CHAT = 2001
GRACE = timedelta(hours=12)
SLOT = datetime(2026, 11, 28, 7, tzinfo=UTC)  # seed_delivery's 2026-11-28 brief is due then


def _fast(settings: Settings) -> Settings:
    """Retries inside one send back off from 0.5 ms: a check with Telegram down takes ~0.1 s."""
    return replace(settings, broadcast_retry_base_seconds=0.0005)


async def _checks(app: Application, settings: Settings, clock: Clock, count: int) -> None:
    """``count`` delivery checks, a minute apart."""
    svc = app.bot_data.services
    for _ in range(count):
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        clock.advance(minutes=1)


def _row(db: Database) -> tuple[str, int, str | None, int]:
    """The seeded delivery's (status, attempts, last error, next part)."""
    return db.execute("select status, attempts, last_error, next_part from deliveries").fetchone()


async def test_telegram_unreachable_for_ten_minutes_at_the_slot_still_gets_the_brief_once(
    fake: FakeTelegram, settings: Settings
) -> None:
    at = SLOT + timedelta(seconds=30)
    async with _briefed(fake, settings, at, ["<b>Your daily brief</b>"]) as (app, settings, clock):
        svc = app.bot_data.services
        port = fake.port
        await fake.stop()  # connection refused: the message surely did not arrive
        await _checks(
            app, settings, clock, MAX_ATTEMPTS + 2
        )  # a check a minute, past the old 8-attempt limit
        status, attempts, error, _ = _row(svc.db)
        # Still pending, and none of these attempts counts towards the limit for other errors.
        assert (status, attempts) == ("pending", 0) and "network errors" in error
        await fake.start(port)
        await _checks(app, settings, clock, 3)
        assert fake.texts_to(CHAT) == ["Your daily brief"]
        assert _row(svc.db)[0] == "sent"


@asynccontextmanager
async def _briefed(
    fake: FakeTelegram,
    settings: Settings,
    at: datetime,
    messages: list[str],
    stories: list[list[object]] | None = None,
    next_part: int = 0,
) -> AsyncIterator[tuple[Application, Settings, Clock]]:
    """The broadcasting app at ``at``, with CHAT's brief of ``messages`` (due at SLOT) pending
    from ``next_part``; yields the app, its settings and the clock."""
    fake.add_private_chat(CHAT)
    clock = Clock(at)
    app, settings = broadcast_app(fake, _fast(settings), clock)
    async with started(app, polling=False):
        seed_delivery(app.bot_data.services.db, settings, CHAT, SLOT, messages, stories, next_part)
        yield app, settings, clock


@asynccontextmanager
async def _part_one_then_outage(
    fake: FakeTelegram, settings: Settings, checks: int
) -> AsyncIterator[tuple[Application, Settings, Clock, int]]:
    """A two-part brief whose part one arrived before Telegram went away (cancel_missed leaves
    such a brief), then ``checks`` checks while it is away; yields the app, its settings, the
    clock and the port the fake Bot API comes back on."""
    stories: list[list[object]] = [["s1", "BBC", False, 0], ["s2", "DW", False, 1]]
    at = SLOT + timedelta(seconds=30)
    async with _briefed(fake, settings, at, ["<b>one</b>", "<b>two</b>"], stories, 1) as (
        app,
        settings,
        clock,
    ):
        port = fake.port
        await fake.stop()
        await _checks(app, settings, clock, checks)
        yield app, settings, clock, port


@pytest.mark.parametrize("back_after", [timedelta(minutes=15), None])
async def test_a_brief_cut_short_by_an_outage_resumes_within_grace_and_is_given_up_after(
    fake: FakeTelegram, settings: Settings, back_after: timedelta | None
) -> None:
    async with _part_one_then_outage(fake, settings, MAX_ATTEMPTS + 1) as (
        app,
        settings,
        clock,
        port,
    ):
        svc = app.bot_data.services
        if back_after is None:  # Telegram stays away past the grace period
            clock.now = SLOT + GRACE + timedelta(minutes=1)
            await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
            status, _, error, _ = _row(svc.db)
            assert status == "failed" and "too late" in error
            seen = [r[0] for r in svc.db.execute("select story_id from sent_stories")]
            assert seen == ["s1"]  # what arrived stays seen
            await fake.start(port)
            await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
            assert fake.texts_to(CHAT) == []
            return
        clock.advance(minutes=back_after.total_seconds() / 60)
        await fake.start(port)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.texts_to(CHAT) == ["two"]  # from the first unsent part, once
        assert _row(svc.db)[0] == "sent"


async def test_a_long_run_of_429s_delays_the_brief_but_neither_drops_nor_doubles_it(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(CHAT)
    fake.retry_after_seconds = 0
    # A 429 without a wait, which python-telegram-bot raises as a NetworkError: refused through
    # the first check's whole back-off, then at the next eight checks' one try.
    fake.force_429 = 2 * MAX_ATTEMPTS
    clock = Clock(SLOT + timedelta(seconds=30))
    app, settings = broadcast_app(fake, _fast(settings), clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        seed_delivery(svc.db, settings, CHAT, SLOT, ["<b>Your daily brief</b>"])
        checks = 0
        while _row(svc.db)[0] == "pending" and checks < 2 * MAX_ATTEMPTS:
            await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
            clock.advance(minutes=1)
            checks += 1
        assert checks == MAX_ATTEMPTS + 2 and _row(svc.db)[:2] == ("sent", 0)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.texts_to(CHAT) == ["Your daily brief"]


async def test_a_brief_waiting_for_its_retry_does_not_hold_back_other_chats_alerts(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = CHAT + 1
    fake.add_private_chats([CHAT, watcher])
    clock = Clock(SLOT + timedelta(seconds=30))
    app, settings = broadcast_app(fake, _fast(settings), clock)
    real_post = broadcast.Broadcaster._post

    async def post(self: broadcast.Broadcaster, chat_id: int, *args: object) -> None:
        if chat_id == CHAT:
            raise NetworkError("Bad Gateway")  # this chat's brief cannot go out for now
        await real_post(self, chat_id, *args)

    monkeypatch.setattr(broadcast.Broadcaster, "_post", post)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, [CHAT], clock.now)
        add_alert_watchers(svc.db, [watcher], ["Tarkovo"], clock.now)
        watched_story(svc.db, "w1", clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        # The brief failed and waits for the next check; the alert did not wait for it.
        assert alerts_to(fake, watcher) == [WATCH_ALERT]
        row = svc.db.execute("select status, last_error from deliveries where chat_id = ?", [CHAT])
        status, error = row.fetchone()
        assert status == "pending" and "network errors" in error


async def test_a_brief_that_failed_before_waits_out_a_429_in_the_same_check(
    fake: FakeTelegram, settings: Settings
) -> None:
    parts = ["<b>one</b>", "<b>two</b>", "<b>three</b>"]
    async with _briefed(fake, settings, SLOT + timedelta(minutes=5), parts) as (
        app,
        settings,
        clock,
    ):
        svc = app.bot_data.services
        # An earlier check met a blip; Telegram now asks for one short wait, then takes all.
        svc.db.execute("update deliveries set last_error = 'Bad Gateway'")
        fake.retry_after_seconds = 1
        fake.force_429 = 1
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.texts_to(CHAT) == ["one", "two", "three"]
        assert _row(svc.db)[0] == "sent"


async def test_a_brief_that_failed_before_waits_out_one_429_per_check_only(
    fake: FakeTelegram, settings: Settings
) -> None:
    at = SLOT + timedelta(minutes=5)
    async with _briefed(fake, settings, at, ["<b>one</b>"]) as (app, settings, clock):
        svc = app.bot_data.services
        svc.db.execute("update deliveries set last_error = 'Bad Gateway'")
        fake.retry_after_seconds = 1
        fake.force_429 = 2  # Telegram would have it wait twice (as long as it likes, each)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        # One wait, then the next check: its lateness is checked again before it goes.
        assert fake.texts_to(CHAT) == [] and _row(svc.db)[0] == "pending"
        clock.advance(minutes=1)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.texts_to(CHAT) == ["one"]


async def test_a_retried_brief_is_not_finished_once_it_became_too_late_between_parts(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_private_chat(CHAT)
    clock = Clock(SLOT + GRACE - timedelta(minutes=1))
    app, settings = broadcast_app(fake, _fast(settings), clock)
    real_post = broadcast.Broadcaster._post

    async def post(self: broadcast.Broadcaster, chat_id: int, *args: object) -> None:
        await real_post(self, chat_id, *args)
        clock.advance(minutes=2)  # the part took long (a wait Telegram asked for): grace passes

    monkeypatch.setattr(broadcast.Broadcaster, "_post", post)
    async with started(app, polling=False):
        svc = app.bot_data.services
        seed_delivery(svc.db, settings, CHAT, SLOT, ["<b>one</b>", "<b>two</b>"])
        svc.db.execute("update deliveries set last_error = 'Bad Gateway'")
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.texts_to(CHAT) == ["one"]
        status, _, error, _ = _row(svc.db)
        assert status == "failed" and "too late" in error


async def test_each_part_of_a_brief_waits_its_turn_in_the_chat(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_private_chat(CHAT)
    clock = Clock(SLOT + timedelta(minutes=1))
    app, settings = broadcast_app(fake, settings, clock)
    turns: list[int] = []
    real_turn = broadcast.Broadcaster._chat_turn

    async def turn(self: broadcast.Broadcaster, chat_id: int) -> None:
        turns.append(chat_id)
        await real_turn(self, chat_id)

    monkeypatch.setattr(broadcast.Broadcaster, "_chat_turn", turn)
    async with started(app, polling=False):
        svc = app.bot_data.services
        seed_delivery(svc.db, settings, CHAT, SLOT, ["<b>one</b>", "<b>two</b>", "<b>three</b>"])
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.texts_to(CHAT) == ["one", "two", "three"]
        # A turn per part (BROADCAST_PART_GAP_SECONDS apart), not one for the whole brief.
        assert turns == [CHAT] * 3


async def test_a_worker_sends_other_chats_while_a_brief_waits_for_its_next_part(
    fake: FakeTelegram, settings: Settings
) -> None:
    other = CHAT + 1
    fake.add_private_chats([CHAT, other])
    clock = Clock(SLOT + timedelta(minutes=1))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        seed_delivery(svc.db, settings, CHAT, SLOT, ["<b>one</b>", "<b>two</b>"])
        (row,) = svc.db["deliveries"].rows
        svc.db["deliveries"].insert({**row, "chat_id": other})  # the other chat's same brief
        ensure_chat(svc.db, other, "private", None, settings, SLOT)
        set_subscribed(svc.db, other, True, SLOT)
        pacing = broadcast.Pacing(part_gap=0.3)  # a second part waits 0.3 s for its chat
        sender = broadcast.Broadcaster(svc.db, app.bot, clock, pacing=pacing, workers=1)
        await sender.run()
        # One worker: while the first chat's second part waits its turn, the other chat's first
        # part goes, rather than the worker sleeping through the gap.
        assert [(m["chat_id"], m["parsed_text"]) for m in fake.sent] == [
            (CHAT, "one"),
            (other, "one"),
            (CHAT, "two"),
            (other, "two"),
        ]


async def test_the_rest_of_a_brief_telegram_could_not_take_is_not_sent_a_day_late(
    fake: FakeTelegram, settings: Settings
) -> None:
    # 20 minutes of checks with Telegram away.
    async with _part_one_then_outage(fake, settings, 20) as (app, settings, clock, port):
        svc = app.bot_data.services
        # The bot is stopped overnight and back at 06:55 the next day, Telegram with it.
        clock.now = SLOT + timedelta(days=1, minutes=-5)
        await fake.start(port)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.texts_to(CHAT) == []
        status, _, error, _ = _row(svc.db)
        assert status == "failed" and "too late" in error


async def test_an_alert_telegram_could_not_take_is_not_sent_past_the_grace(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(CHAT)
    clock = Clock(SLOT)
    app, settings = broadcast_app(fake, _fast(settings), clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        add_alert_watchers(svc.db, [CHAT], ["Tarkovo"], clock.now)
        watched_story(svc.db, "w1", clock.now)
        port = fake.port
        await fake.stop()
        await _checks(app, settings, clock, 20)
        clock.now = SLOT + timedelta(hours=30)  # back 30 h after the alert was due
        await fake.start(port)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert alerts_to(fake, CHAT) == []
        (status,) = svc.db.execute("select status from deliveries").fetchone()
        assert status == "failed"


async def test_a_delivery_that_failed_before_tries_once_at_each_later_check(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck, fresh = list(range(5001, 5017)), 6001  # as many stuck chats as workers
    fake.add_private_chats([*stuck, fresh])
    clock = Clock(SLOT)
    app, settings = broadcast_app(fake, _fast(settings), clock)
    real_post = broadcast.Broadcaster._post
    tries: list[int] = []

    async def post(self: broadcast.Broadcaster, chat_id: int, *args: object) -> None:
        tries.append(chat_id)
        if chat_id in stuck:
            raise NetworkError("Bad Gateway")
        await real_post(self, chat_id, *args)

    monkeypatch.setattr(broadcast.Broadcaster, "_post", post)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, stuck, clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        # The first check backs off within each send, as any blip deserves.
        assert tries.count(stuck[0]) == MAX_ATTEMPTS
        clock.advance(hours=2)
        subscribe_due(svc.db, [fresh], clock.now)
        tries.clear()
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        # Two hours on, each stuck chat is tried once, not through the whole back-off again.
        assert sorted(tries) == [*stuck, fresh]
        assert len(fake.texts_to(fresh)) == 1


def _brief(now: datetime) -> Brief:
    source = Source("BBC World", "Strike", "https://example.com/a", now)
    story = Story("s1", "Strike", "BBC World reports: x.", "Europe", ("conflict",), 3.0, (source,))
    return Brief(now, 36, (story,))


def _subscribe(db: Database, chat_id: int, now: datetime, zone: str, at: str) -> None:
    ensure_chat(db, chat_id, "private", None, Settings(), now)
    set_delivery(db, chat_id, now, timezone=zone, delivery_time=at)
    set_subscribed(db, chat_id, True, now)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_after_an_outage_over_two_slots_todays_brief_goes_out_late_within_grace(
    tmp_path: Path,
) -> None:
    db = open_db(tmp_path / "t.db")
    down = _utc(2026, 3, 9, 7)  # both chats due 08:00 UTC on the 9th; the bot is down until...
    _subscribe(db, 1, down, "UTC", "08:00")
    _subscribe(db, 2, down, "UTC", "08:00")
    db.execute("update chats set subscribed = 0 where chat_id = 2")
    # ...08:30 on the 10th for chat 1: the 9th's is missed, the 10th's only 30 minutes late.
    assert plan_all(db, 1, _brief(down), _utc(2026, 3, 10, 8, 30), GRACE) == (1, 0)
    # ...20:01 on the 10th for chat 2: the 10th's too is past the 12 h grace.
    db.execute("update chats set subscribed = 1 where chat_id = 2")
    assert plan_all(db, 1, _brief(down), _utc(2026, 3, 10, 20, 1), GRACE) == (0, 1)
    rows = db.execute("select chat_id, local_date, due_at from deliveries").fetchall()
    assert rows == [(1, "2026-03-10", "2026-03-10T08:00:00+00:00")]
    assert get_chat(db, 1).next_due == get_chat(db, 2).next_due == "2026-03-11T08:00:00+00:00"


@pytest.mark.parametrize(
    "zone, at, back, local_date, due, next_due",
    [
        # Nuuk jumps 23:00 -> 00:00 in the night of the 28th: the 28th's 23:30 is 00:30 on the
        # 29th (README), 20 minutes late at 00:50, and its day's brief.
        (
            "America/Nuuk",
            "23:30",
            _utc(2026, 3, 29, 1, 50),
            "2026-03-28",
            "2026-03-29T01:30:00+00:00",
            "2026-03-30T00:30:00+00:00",
        ),
        # Berlin springs forward on the 29th: 02:30 is taken as 03:30 (01:30 UTC).
        (
            "Europe/Berlin",
            "02:30",
            _utc(2026, 3, 29, 2),
            "2026-03-29",
            "2026-03-29T01:30:00+00:00",
            "2026-03-30T00:30:00+00:00",
        ),
        # Berlin falls back on 25 October: 02:30 comes twice, the first (00:30 UTC) counts; back
        # at 02:10 the second time round, that first 02:30 is 40 minutes late.
        (
            "Europe/Berlin",
            "02:30",
            _utc(2026, 10, 25, 1, 10),
            "2026-10-25",
            "2026-10-25T00:30:00+00:00",
            "2026-10-26T01:30:00+00:00",
        ),
        # Kiritimati (UTC+14): 07:00 on the 28th local is 17:00 on the 27th UTC.
        (
            "Pacific/Kiritimati",
            "07:00",
            _utc(2026, 11, 27, 18),
            "2026-11-28",
            "2026-11-27T17:00:00+00:00",
            "2026-11-28T17:00:00+00:00",
        ),
    ],
    ids=["nuuk-jump-past-midnight", "berlin-skipped-time", "berlin-repeated-time", "kiritimati"],
)
def test_after_an_outage_over_two_slots_the_latest_follows_the_local_time_rules(
    tmp_path: Path, zone: str, at: str, back: datetime, local_date: str, due: str, next_due: str
) -> None:
    db = open_db(tmp_path / "t.db")
    _subscribe(db, 1, back - timedelta(hours=50), zone, at)  # two slots pass while it is down
    assert plan_all(db, 1, _brief(back), back, GRACE) == (1, 0)
    assert db.execute("select local_date, due_at from deliveries").fetchall() == [(local_date, due)]
    assert get_chat(db, 1).next_due == next_due
    # Checks every 5 minutes for two days from then: each local day has one brief, none skipped.
    clock = back
    while clock < back + timedelta(days=2):
        clock += timedelta(minutes=5)
        plan_all(db, 1, _brief(clock), clock, GRACE)
    rows = db.execute("select local_date from deliveries order by due_at").fetchall()
    days = [date.fromisoformat(r[0]) for r in rows]
    assert days[0].isoformat() == local_date and len(days) >= 2
    assert days == [days[0] + timedelta(days=n) for n in range(len(days))]


async def test_after_an_outage_over_two_slots_the_real_check_sends_todays_brief(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(CHAT)
    clock = Clock(_utc(2026, 11, 28, 7))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        _subscribe(svc.db, CHAT, clock.now, "UTC", "08:00")
        clock.advance(hours=25, minutes=30)  # the process was down; back at 08:30 on the 29th
        await _checks(app, settings, clock, 3)
        rows = svc.db.execute("select local_date, status from deliveries").fetchall()
        assert rows == [("2026-11-29", "sent")]
        messages = fake.messages_to(CHAT)
        assert messages and "daily Security Brief" in messages[0]["parsed_text"]
        assert get_chat(svc.db, CHAT).next_due == "2026-11-30T08:00:00+00:00"
