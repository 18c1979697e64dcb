"""Exactly-once edges of the daily brief: leases, unexpected errors, chats that left, cut-short briefs."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from botharness import (
    Clock,
    add_alert_watchers,
    broadcast_app,
    running_bot,
    say,
    seed_delivery,
    subscribe_due,
    wait_until,
)
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.delivery.planning import plan_batches
from bot.storage import leases, watchlists
from bot.storage.chats import get_chat, mark_inactive, set_subscribed
from bot.telegram import handlers
from bot.telegram.app import _delivery_job as delivery_job
from bot.telegram.app import started
from bot.telegram.broadcast import LEASE, MAX_ATTEMPTS, deliver_due
from bot.telegram.context import BotContext

CHATS = list(range(2000, 2040))


async def test_a_lease_held_by_another_process_stops_this_one_sending(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chats(CHATS)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, replace(settings, delivery_lease_seconds=30), clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS, clock.now)
        # Another deploy of the bot, on the same database, is mid-broadcast.
        assert leases.acquire(svc.db, LEASE, "old-deploy:1234", ttl=30)
        assert await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock) is None
        assert fake.sent == []
        # Its lease lapses (it died): now this process sends, to each chat once.
        svc.db.execute("update leases set expires_at = 0")
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert stats is not None and stats.sent == len(CHATS)
        assert set(Counter(m["chat_id"] for m in fake.sent).values()) == {1}
        assert svc.db.execute("select count(*) from leases").fetchone()[0] == 0  # released


async def test_a_process_that_loses_its_lease_mid_broadcast_stops_taking_chats(
    fake: FakeTelegram, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_private_chats(CHATS)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, replace(settings, delivery_lease_seconds=0.6), clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS, clock.now)
        fake.hold_after = 5  # Telegram stalls after five sends...
        run = asyncio.create_task(deliver_due(svc.db, svc.newsroom, app.bot, settings, clock))
        await wait_until(lambda: fake.stats["accepted"] >= 5, what="five sends")
        # ...long enough for this process's lease to lapse and a new deploy to take it.
        svc.db.execute("update leases set holder = 'new-deploy:1', expires_at = 9e9")
        await wait_until(lambda: "took the broadcast lease" in caplog.text, what="lease lost")
        fake.release()
        stats = await run
        pending = svc.db.execute("select count(*) from deliveries where status = 'pending'")
        # Sends already under way finish; no further chat is taken (the new deploy sends them).
        assert stats.sent < len(CHATS) and pending.fetchone()[0] == len(CHATS) - stats.sent
        assert set(Counter(m["chat_id"] for m in fake.sent).values()) == {1}


def test_lease_is_renewed_by_its_holder_and_refused_to_others(settings: Settings) -> None:
    from bot.storage.db import open_db

    db = open_db(settings.database_path)
    assert leases.acquire(db, "job", "a", ttl=10, now=100.0)
    assert not leases.acquire(db, "job", "b", ttl=10, now=105.0)
    assert leases.acquire(db, "job", "a", ttl=10, now=108.0)  # renewed to 118
    assert not leases.acquire(db, "job", "b", ttl=10, now=117.0)
    assert leases.acquire(db, "job", "b", ttl=10, now=118.5)  # lapsed: taken over
    leases.release(db, "job", "a")  # no longer a's to release
    assert db.execute("select holder from leases").fetchone()[0] == "b"


async def test_an_unexpected_error_for_one_chat_sends_nobody_twice(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chats(CHATS)
    broken = CHATS[3]
    fake.garbage_for = {broken}  # answered "200 OK" with HTML instead of JSON
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS, clock.now)
        for _ in range(MAX_ATTEMPTS + 2):  # later checks retry only the failing chat
            await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        per_chat = Counter(m["chat_id"] for m in fake.sent)
        assert set(per_chat) == set(CHATS) - {broken}
        assert set(per_chat.values()) == {1}
        row = svc.db["deliveries"].get((broken, clock.now.date().isoformat()))
        assert row["status"] == "failed" and row["attempts"] == MAX_ATTEMPTS
        assert row["last_error"].startswith("unexpected error")
        first = svc.db.execute(
            "select due, sent, failed from broadcasts order by id limit 1"
        ).fetchone()
        assert first == (len(CHATS), len(CHATS) - 1, 1)


async def test_chats_that_leave_after_planning_are_not_sent_their_planned_brief(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chats(CHATS)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS, clock.now)
        result = await svc.newsroom.current()
        planned = list(
            plan_batches(svc.db, result.brief_id, result.brief, clock.now, timedelta(hours=12))
        )
        assert planned == [(len(CHATS), 0)]
        set_subscribed(svc.db, CHATS[0], False, clock.now)
        mark_inactive(svc.db, CHATS[1], "Forbidden: bot was blocked by the user", clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert set(m["chat_id"] for m in fake.sent) == set(CHATS[2:])
        statuses = {
            chat: svc.db["deliveries"].get((chat, clock.now.date().isoformat()))["status"]
            for chat in CHATS[:3]
        }
        assert statuses == {CHATS[0]: "cancelled", CHATS[1]: "cancelled", CHATS[2]: "sent"}


async def _deliver_seeded(
    fake: FakeTelegram, settings: Settings, parts: list[str], stories: list[list]
) -> tuple[str, str | None, list[str]]:
    """Deliver one seeded brief of ``parts`` to chat 42: its status, last error, stories sent."""
    fake.add_private_chats([42])
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        seed_delivery(svc.db, settings, 42, clock.now, parts, stories)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        row = svc.db["deliveries"].get((42, "2026-11-28"))
        sent = sorted(r["story_id"] for r in svc.db.query("select story_id from sent_stories"))
        return row["status"], row["last_error"], sent


async def test_a_brief_cut_short_by_a_refused_part_records_the_stories_that_arrived(
    fake: FakeTelegram, settings: Settings
) -> None:
    # Part two is a message Telegram refuses, as HTML and as plain text (400 empty).
    status, error, sent = await _deliver_seeded(
        fake,
        settings,
        ["<b>part one</b>", "<b> </b>"],
        [["s1", "BBC", False, 0], ["s2", "BBC,DW", False, 1]],
    )
    assert fake.texts_to(42) == ["part one"]
    assert status == "failed" and error is not None and "text is empty" in error
    assert sent == ["s1"]


async def test_a_part_telegram_cannot_parse_goes_as_plain_text_and_the_brief_goes_on(
    fake: FakeTelegram, settings: Settings
) -> None:
    # Part two is HTML Telegram refuses (400 can't parse entities).
    status, _, sent = await _deliver_seeded(
        fake,
        settings,
        ["<b>part one</b>", "<b>part two &amp; more", "<i>part three</i>"],
        [["s1", "BBC", False, 0], ["s2", "DW", False, 1], ["s3", "DW", False, 2]],
    )
    assert fake.texts_to(42) == ["part one", "part two & more", "part three"]
    assert [m["parse_mode"] for m in fake.sent] == ["HTML", None, "HTML"]
    assert status == "sent"
    assert sent == ["s1", "s2", "s3"]


async def test_a_part_refused_for_its_text_after_retries_still_goes_as_plain_text(
    fake: FakeTelegram, settings: Settings
) -> None:
    # Seven 429s use up all but one attempt: the plain-text send is one more, not one fewer.
    fake.retry_after_seconds = 0
    fake.force_429 = MAX_ATTEMPTS - 1
    status, _, _ = await _deliver_seeded(
        fake, settings, ["<b>only part"], [["s1", "BBC", False, 0]]
    )
    assert fake.texts_to(42) == ["only part"]
    assert status == "sent"


async def test_a_brief_planned_before_a_long_outage_is_not_sent_beside_the_next_days(
    fake: FakeTelegram, settings: Settings
) -> None:
    chat = CHATS[0]
    fake.add_private_chat(chat)
    clock = Clock(datetime(2026, 11, 28, 7, 1, tzinfo=UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, [chat], clock.now)  # due 07:00 UTC, 28 Nov
        result = await svc.newsroom.current()
        grace = timedelta(hours=settings.delivery_grace_hours)
        assert list(plan_batches(svc.db, result.brief_id, result.brief, clock.now, grace)) == [
            (1, 0)
        ]
        clock.advance(hours=30)  # the process died before sending; back on 29 Nov, 13:01
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        days = {
            r["local_date"]: r["status"]
            for r in svc.db.query("select local_date, status from deliveries")
        }
        # 28 Nov's brief is past its grace and its day; 29 Nov's (due 07:00) went out on time-ish.
        assert days == {"2026-11-28": "cancelled", "2026-11-29": "sent"}
        assert len(fake.messages_to(chat)) == 1
        assert "29 Nov 2026" in fake.messages_to(chat)[0]["parsed_text"]


async def test_a_delivery_check_during_latest_leaves_its_stories_out_of_the_brief(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = CHATS[0]
    fake.add_private_chat(user)
    clock = Clock(datetime(2026, 11, 28, 6, 50, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, user, "/subscribe")
        clock.advance(minutes=10, seconds=30)  # 07:00:30: the daily brief is due
        check = asyncio.Event()
        reply = handlers._reply

        async def reply_then_check(update: object, text: str, *args: object) -> None:
            await reply(update, text, *args)
            if not check.is_set() and text.startswith("🛡"):
                check.set()
                # The delivery job's check lands after /latest's send, before its record.
                await delivery_job(BotContext(app))

        monkeypatch.setattr(handlers, "_reply", reply_then_check)
        latest = await say(fake, user, "/latest", timeout=20)
        await wait_until(lambda: check.is_set() and not svc.showing_latest, what="/latest")
        assert svc.db.execute("select count(*) from deliveries").fetchone()[0] == 0
        await delivery_job(BotContext(app))  # the next check plans and sends it
        brief = fake.messages_to(user)[-1]
        assert "Your daily Security Brief" in brief["parsed_text"]
        shown = {u for m in latest for u in re.findall(r'href="([^"]+)"', m["text"])}
        daily = set(re.findall(r'href="([^"]+)"', brief["text"]))
        assert shown and daily and not (shown & daily)


async def test_a_chat_whose_brief_cannot_be_planned_stops_no_one_else(
    fake: FakeTelegram, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    alerted = [3000, 3001, 3002]
    fake.add_private_chats([*CHATS[:10], *alerted])
    clock = Clock(datetime(2026, 11, 28, 7, 1, tzinfo=UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS[:10], clock.now)
        add_alert_watchers(svc.db, alerted, ["Houthi"], clock.now)
        # A zone this server's tzdata no longer knows (a database moved to an older host).
        poison = [CHATS[3], alerted[1]]
        svc.db.execute(
            "update chats set timezone = 'America/Nowhere' where chat_id in (?, ?)", poison
        )
        await svc.newsroom.current(force=True)  # the round that matches "Houthi"
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        sent_to = Counter(m["chat_id"] for m in fake.sent)
        assert set(sent_to) == (set(CHATS[:10]) | set(alerted)) - set(poison)
        # Tried again tomorrow, not every minute; each failure is in the log with its chat.
        assert get_chat(svc.db, CHATS[3]).next_due == "2026-11-29T07:01:00+00:00"
        logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert any(f"chat={CHATS[3]}" in m for m in logged)
        assert any(f"chat={alerted[1]}" in m for m in logged)


async def test_a_delivery_check_during_latest_sends_no_alert_for_what_latest_shows(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = CHATS[0]
    fake.add_private_chat(user)
    async with running_bot(fake, settings) as app:
        svc = app.bot_data.services
        await say(fake, user, '/alert "Red Sea"')
        await say(fake, user, "/quiet off")
        await svc.newsroom.current(force=True)  # the round that matches "Red Sea"
        assert watchlists.new_match_count(svc.db) > 0
        check = asyncio.Event()
        reply = handlers._reply

        async def reply_then_check(update: object, text: str, *args: object) -> None:
            await reply(update, text, *args)
            if not check.is_set() and text.startswith("🛡"):
                check.set()
                await delivery_job(BotContext(app))  # lands before /latest records its stories

        monkeypatch.setattr(handlers, "_reply", reply_then_check)
        latest = await say(fake, user, "/latest", timeout=20)
        await wait_until(lambda: check.is_set() and not svc.showing_latest, what="/latest")
        await delivery_job(BotContext(app))  # the next check
        shown = {u for m in latest for u in re.findall(r'href="([^"]+)"', m["text"])}
        alerts = [m for m in fake.messages_to(user) if m["parsed_text"].startswith("🔔")]
        alerted = {u for m in alerts for u in re.findall(r'href="([^"]+)"', m["text"])}
        assert "Red Sea" in " ".join(m["parsed_text"] for m in latest)
        assert not shown & alerted


async def test_a_shutdown_mid_broadcast_takes_no_more_chats(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chats(CHATS)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS, clock.now)
        fake.hold_after = 5  # Telegram is slow to answer when SIGTERM arrives
        job = asyncio.create_task(delivery_job(BotContext(app)))
        await wait_until(lambda: fake.stats["accepted"] >= 5, what="five sends")
        stop = asyncio.create_task(app.stop())  # what SIGTERM starts (docker stop, systemd)
        await wait_until(lambda: not app.running, what="stopping")
        fake.release()
        await asyncio.wait_for(asyncio.gather(stop, job), timeout=10)
        pending = svc.db.execute("select count(*) from deliveries where status = 'pending'")
        # Sends under way finished; the rest wait for the restart, none sent twice.
        assert 0 < len(fake.sent) < len(CHATS)
        assert pending.fetchone()[0] == len(CHATS) - len(fake.sent)
        assert set(Counter(m["chat_id"] for m in fake.sent).values()) == {1}


async def test_a_planned_brief_of_a_chat_whose_zone_is_gone_stops_no_one_else(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chats(CHATS[:10])
    clock = Clock(datetime(2026, 11, 28, 7, 1, tzinfo=UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS[:1], clock.now)
        result = await svc.newsroom.current()
        grace = timedelta(hours=settings.delivery_grace_hours)
        list(plan_batches(svc.db, result.brief_id, result.brief, clock.now, grace))
        # The process died after planning; it is back 20 minutes later on a host whose tzdata
        # lacks that chat's zone, and nine more chats are due.
        svc.db.execute("update chats set timezone = 'America/Nowhere' where chat_id = ?", CHATS[:1])
        clock.advance(minutes=20)
        subscribe_due(svc.db, CHATS[1:10], clock.now)
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert {m["chat_id"] for m in fake.sent} == set(CHATS[:10])


async def test_a_chat_falling_due_during_a_long_broadcast_is_sent_in_it(
    fake: FakeTelegram, settings: Settings
) -> None:
    late_comer = 3999
    fake.add_private_chats([*CHATS, late_comer])
    clock = Clock(datetime(2026, 11, 28, 23, 41, tzinfo=UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS, clock.now)  # due 23:40
        fake.hold_after = 5  # a broadcast that runs for a long time
        job = asyncio.create_task(delivery_job(BotContext(app)))
        await wait_until(lambda: fake.stats["accepted"] >= 5, what="five sends")
        clock.advance(minutes=10)  # 23:51: one more chat's brief falls due at 23:50
        subscribe_due(svc.db, [late_comer], clock.now)
        await delivery_job(BotContext(app))  # the next check, while the broadcast runs
        clock.advance(minutes=20)  # the broadcast ends after the chat's local midnight
        fake.release()
        await asyncio.wait_for(job, timeout=20)
        await delivery_job(BotContext(app))
        briefs = Counter(m["chat_id"] for m in fake.sent)
        assert briefs[late_comer] == 1  # planned on time, not cancelled as missed at 00:11
        assert set(briefs) == {*CHATS, late_comer} and set(briefs.values()) == {1}
        status = svc.db.execute("select status from deliveries where chat_id = ?", [late_comer])
        assert status.fetchone()[0] == "sent"


async def test_a_chat_held_back_by_its_latest_and_planned_mid_broadcast_is_sent_in_it(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its /latest was in flight when the broadcast was planned; the next check plans it while
    # the broadcast runs, and its id sorts before the broadcast's cursor.
    held, others = 2100, [2101, 2102, 2103]
    fake.add_private_chats([held, *others])
    clock = Clock(datetime(2026, 11, 28, 23, 49, 30, tzinfo=UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, [held, *others], clock.now)
        fake.hold_after = 1  # a long broadcast
        svc.showing_latest.add(held)
        job = asyncio.create_task(delivery_job(BotContext(app)))
        await wait_until(lambda: fake.stats["accepted"] >= 1, what="the broadcast under way")
        svc.showing_latest.discard(held)  # /latest recorded
        clock.advance(minutes=1)
        await delivery_job(BotContext(app))  # the broadcast still runs: it plans the chat
        fake.release()
        await asyncio.wait_for(job, timeout=20)
        assert Counter(m["chat_id"] for m in fake.sent) == Counter([held, *others])
