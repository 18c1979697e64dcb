"""Daily delivery through the fake Bot API: on time, exactly once, through faults and limits."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botharness import (
    Clock,
    broadcast_app,
    plan_all,
    running_bot,
    seed_delivery,
    subscribe_due,
    wait_until,
)
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.delivery.ledger import seen
from bot.ops.status import status_lines
from bot.storage.chats import (
    ensure_chat,
    get_chat,
    migrate_chat,
    set_delivery,
    set_subscribed,
)
from bot.storage.db import open_db
from bot.telegram.app import started
from bot.telegram.broadcast import deliver_due

USER = 111
DAILY = "Your daily Security Brief"


def _daily(fake: FakeTelegram, chat_id: int) -> list[dict]:
    return [
        m
        for m in fake.messages_to(chat_id)
        if DAILY in m["parsed_text"] or "Nothing new" in m["parsed_text"]
    ]


def _headlines(text: str) -> set[str]:
    """The numbered headline lines of a brief, without their numbers."""
    return {line[3:] for line in text.splitlines() if line[:2] in {"1.", "2.", "3.", "4.", "5."}}


async def test_brief_arrives_in_the_chosen_minute_once_and_next_day_has_new_stories(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    clock = Clock(datetime.now(UTC).replace(second=0, microsecond=0))
    settings = replace(settings, delivery_check_seconds=1)
    async with running_bot(fake, settings, clock, schedule_jobs=True) as app:
        fake.send_text(USER, "/subscribe")
        fake.send_text(USER, f"/time {(clock.now + timedelta(minutes=1)):%H:%M}")
        await fake.wait_for_messages(USER, 2)
        await asyncio.sleep(1.5)
        assert _daily(fake, USER) == [], "not before its minute"

        clock.advance(minutes=1, seconds=10)
        first = await wait_until(lambda: _daily(fake, USER), timeout=20, what="daily brief")
        clock.advance(minutes=3)
        await asyncio.sleep(2.5)  # several more delivery checks
        db = app.bot_data.services.db
        assert len(_daily(fake, USER)) == len(first) == 1
        day_one = first[0]["parsed_text"]
        assert day_one.startswith("🛡 " + DAILY)

        clock.advance(days=1)
        await wait_until(
            lambda: len(_daily(fake, USER)) == 2, timeout=30, what="second day's brief"
        )
        day_two = _daily(fake, USER)[1]["parsed_text"]
        assert _headlines(day_one) and _headlines(day_one).isdisjoint(_headlines(day_two))
        db = app.bot_data.services.db
        dates = [
            r[0]
            for r in db.execute(
                "select local_date from deliveries where chat_id = ? and status = 'sent'", [USER]
            )
        ]
        assert len(dates) == len(set(dates)) == 2


async def test_faults_still_give_every_chat_exactly_one_brief(
    fake: FakeTelegram, settings: Settings
) -> None:
    chats = list(range(1000, 1300))
    fake.add_private_chats(chats)
    fake.set_rate_limits(global_rate=1000.0)
    fake.seed = 7
    fake.fail_ratio_5xx, fake.drop_ratio, fake.force_429 = 0.10, 0.03, 4
    blocked = chats[5]
    fake.block_by_user(blocked)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, chats, clock.now)
        for _ in range(5):  # later delivery checks pick up what is still pending
            await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        parts = len(fake.messages_to(chats[0]))
        assert parts >= 1
        counts = Counter(m["chat_id"] for m in fake.sent)
        assert {c: n for c, n in counts.items() if n != parts} == {}
        assert set(counts) == set(chats) - {blocked}
        for chat_id in chats[:50]:
            texts = [m["text"] for m in fake.messages_to(chat_id)]
            assert len(texts) == len(set(texts))
        assert fake.stats["5xx"] > 0 and fake.stats["dropped"] > 0 and fake.stats["429"] >= 4
        assert not get_chat(svc.db, blocked).active
        forbidden = [r for r in fake.rejected if r["error_code"] == 403]
        assert [int(r["params"]["chat_id"]) for r in forbidden] == [
            blocked
        ]  # refused once, never retried
        last = svc.db.execute(
            "select due, sent, failed, retried, unconfirmed from broadcasts order by id limit 1"
        ).fetchone()
        assert last[0] == 300 and last[1] + last[2] == 300 and last[3] > 0
        # Dropped answers: delivered, not confirmed, and (by the at-most-once rule) not re-sent.
        assert last[4] == fake.stats["dropped"] > 0
        stats_line = next(line for line in status_lines(svc.db, clock.now) if "broadcast" in line)
        assert stats_line.startswith("Last broadcast: ") and "300 due" in stats_line


async def test_group_upgraded_to_supergroup_gets_the_brief_at_its_new_id(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(-500, "Desk", admins={1})
    fake.upgrade_group(-500, -1000500)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, [-500], clock.now)
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert stats.sent == 1
        assert fake.messages_to(-500) == []
        assert DAILY in fake.messages_to(-1000500)[0]["parsed_text"]
        assert get_chat(svc.db, -500) is None
        assert get_chat(svc.db, -1000500).subscribed


async def test_a_group_that_upgrades_after_its_brief_was_planned_still_gets_it(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(-600, "Desk", admins={1})
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, [-600], clock.now)
        result = await svc.newsroom.current()
        assert plan_all(svc.db, result.brief_id, result.brief, clock.now, timedelta(hours=12)) == (
            1,
            0,
        )
        # Telegram's migration message arrives (the handler moves the group) before the send.
        fake.upgrade_group(-600, -1000600)
        migrate_chat(svc.db, -600, -1000600, clock.now)
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert stats.sent == 1
        assert DAILY in fake.messages_to(-1000600)[0]["parsed_text"]
        assert fake.messages_to(-600) == []


async def test_a_supergroup_subscribed_before_its_groups_upgrade_gets_one_brief(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(-800, "Desk", admins={1})
    fake.upgrade_group(-800, -1000800)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        # The migration message was lost: both ids are subscribed and both planned for today;
        # the supergroup's brief goes out first, then the old id's send says "migrated".
        subscribe_due(svc.db, [-1000800, -800], clock.now)
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert [DAILY in m["parsed_text"] for m in fake.messages_to(-1000800)] == [True]
        assert (stats.sent, fake.messages_to(-800)) == (1, [])
        rows = svc.db.execute("select chat_id, status from deliveries order by chat_id")
        assert rows.fetchall() == [(-1000800, "sent"), (-800, "cancelled")]


async def test_what_reached_a_group_before_its_upgrade_stays_seen_by_the_supergroup(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(-810, "Desk", admins={1})
    fake.upgrade_group(-810, -1000810)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, [-1000810], clock.now)  # the supergroup, planned on its own
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        # The old group's brief of that day had reached it in part before the upgrade.
        stories = [
            ["s1", "BBC", False, 0, ["https://bbc.example/1"]],
            ["s2", "DW", False, 1, ["https://dw.example/2"]],
        ]
        seed_delivery(svc.db, settings, -810, clock.now, ["one", "two"], stories, next_part=1)
        svc.db.execute(
            "update deliveries set local_date = ? where chat_id = -810",
            [clock.now.date().isoformat()],
        )
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.messages_to(-810) == [] and len(fake.messages_to(-1000810)) == 1
        assert "https://bbc.example/1" in seen(svc.db, -1000810).urls


async def test_a_brief_cut_short_and_then_cancelled_keeps_what_arrived_as_seen(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chats([43])
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        stories = [
            ["s1", "BBC", False, 0, ["https://bbc.example/1"]],
            ["s2", "DW", False, 1, ["https://dw.example/2"]],
        ]
        seed_delivery(
            svc.db, settings, 43, clock.now, ["part one", "part two"], stories, next_part=1
        )
        set_subscribed(svc.db, 43, False, clock.now)  # /stop before part two's retry
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert fake.messages_to(43) == []
        assert svc.db["deliveries"].get((43, "2026-11-28"))["status"] == "cancelled"
        # Part one reached the chat: its story stays seen; part two's does not.
        assert seen(svc.db, 43).urls == {"https://bbc.example/1"}


async def test_interrupted_multi_part_brief_resumes_from_first_unsent_part(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chats([42])
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        seed_delivery(
            svc.db, settings, 42, clock.now, ["part one", "part two", "part three"], next_part=1
        )
        await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert [m["text"] for m in fake.messages_to(42)] == ["part two", "part three"]
        assert svc.db["deliveries"].get((42, "2026-11-28"))["status"] == "sent"


async def test_a_deactivated_group_is_not_tried_every_day_but_a_muted_one_is(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(-900, "Gone", admins={1})
    fake.add_group(-901, "Night mode", admins={1})
    fake.deactivate_group(-900)
    fake.mute_bot(-901)  # members may not post for now: it may be given back at any time
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, [-900, -901], clock.now)
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert (stats.sent, stats.failed) == (0, 2)
        gone, muted = get_chat(svc.db, -900), get_chat(svc.db, -901)
        assert (gone.active, gone.next_due) == (False, None)  # until someone acts there again
        assert muted.active and muted.next_due is not None  # tomorrow's brief is tried


async def test_blocking_the_bot_marks_the_subscriber_inactive(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        fake.send_text(USER, "/subscribe")
        await fake.wait_for_messages(USER, 1)
        fake.block_by_user(USER)
        db = app.bot_data.services.db
        await wait_until(lambda: not get_chat(db, USER).active, what="inactive")
        assert get_chat(db, USER).next_due is None
        fake.unblock_by_user(USER)
        await wait_until(lambda: get_chat(db, USER).active, what="active again")
        assert get_chat(db, USER).subscribed


async def test_channel_gets_the_daily_brief(fake: FakeTelegram, settings: Settings) -> None:
    fake.add_channel(-1001234, "briefchannel", "Security Brief channel")
    clock = Clock(datetime.now(UTC))
    settings = replace(settings, channel_id="@briefchannel")
    app, settings = broadcast_app(fake, settings, clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        channel = get_chat(svc.db, -1001234)
        assert channel.subscribed and channel.type == "channel"
        clock.now = datetime.fromisoformat(channel.next_due) + timedelta(minutes=1)
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
        assert stats.sent == 1
        assert DAILY in fake.messages_to(-1001234)[0]["parsed_text"]


def test_a_group_seen_under_its_new_id_first_keeps_its_own_settings(tmp_path: Path) -> None:
    db = open_db(tmp_path / "m.db")
    now = datetime(2026, 11, 28, 7, tzinfo=UTC)
    ensure_chat(db, -700, "group", "Desk", Settings(), now)
    set_subscribed(db, -700, True, now)
    set_delivery(db, -700, now, timezone="Europe/Berlin", delivery_time="06:30")
    # Someone used the bot in the new supergroup before the migration reached us.
    ensure_chat(db, -1000700, "supergroup", "Desk", Settings(), now)
    migrate_chat(db, -700, -1000700, now)
    chat = get_chat(db, -1000700)
    assert (chat.subscribed, chat.timezone, chat.delivery_time) == (True, "Europe/Berlin", "06:30")
    assert get_chat(db, -700) is None
    db.close()
