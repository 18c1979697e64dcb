"""The bot's fault boundaries, end to end against the fake Bot API: concurrency, throttle, replies, disk."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botharness import Clock, running_bot, wait_until
from fake_telegram import FakeTelegram
from feed_server import FeedServer
from sqlite_utils import Database
from telegram import Update
from telegram.ext import TypeHandler

from bot.config import Settings
from bot.ops.status import probe_storage, storage_problem
from bot.storage.db import open_db
from bot.storage.watchlists import WatchTerm
from bot.telegram import handlers, keyboards
from bot.telegram.app import ChatOrderedProcessor, build_application
from bot.telegram.context import BotContext, BotData, Services
from bot.telegram.throttle import Throttle

ALICE, BOB, ADMIN, NEWCOMER = 111, 222, 333, 444
GROUP = -100300


async def test_handlers_get_typed_services_through_context_types(
    fake: FakeTelegram, settings: Settings
) -> None:
    app = build_application(replace(settings, telegram_bot_token=fake.token))
    assert app.context_types.context is BotContext
    assert isinstance(app.bot_data, BotData) and app.bot_data.services is None
    fake.add_private_chat(ALICE)
    seen: list[object] = []

    async def spy(update: object, context: BotContext) -> None:
        seen.append(context)

    async with running_bot(fake, settings) as app:
        app.add_handler(TypeHandler(object, spy), group=-2)
        fake.send_text(ALICE, "/help")
        await fake.wait_for_messages(ALICE, 1)
        assert isinstance(app.bot_data.services, Services)
        assert isinstance(seen[0], BotContext) and seen[0].services is app.bot_data.services
    # No handler reaches into bot_data by string any more.
    sources = "".join(p.read_text() for p in Path(handlers.__file__).parent.glob("*.py"))
    assert 'bot_data["' not in sources


def test_the_button_table_owns_every_prefix_and_the_stale_text() -> None:
    assert set(handlers.BUTTONS) == set(keyboards.Action)
    chat = type("Chat", (), {})()
    for name, value in {
        "delivery_time": "07:00",
        "timezone": "UTC",
        "brief_length": "short",
        "story_count": 5,
        "regions": None,
        "topics": None,
        "subscribed": False,
    }.items():
        setattr(chat, name, value)
    menus = [
        keyboards.subscribe_keyboard(),
        *(
            m(chat)
            for m in (
                keyboards.main_menu,
                keyboards.time_menu,
                keyboards.timezone_menu,
                keyboards.region_menu,
                keyboards.topic_menu,
            )
        ),
        keyboards.watchlist_menu([WatchTerm("wagner", "Wagner", "brief")]),
    ]
    actions = {
        keyboards.parse(b.callback_data).action
        for menu in menus
        for row in menu.inline_keyboard
        for b in row
    }
    assert actions == set(keyboards.Action)  # every prefix is used, and each has a handler
    assert "old message" in handlers.STALE_BUTTON


async def test_a_stalled_rebuild_never_delays_another_chat(
    fake: FakeTelegram, settings: Settings, feed_server: FeedServer, tmp_path: Path
) -> None:
    stalling = tmp_path / "stall.toml"
    stalling.write_text(
        f'[[feeds]]\nname = "Stalling"\nurl = "{feed_server.hostile_url("stall.xml")}"\n'
    )
    settings = replace(settings, feeds_file=stalling, fetch_timeout_seconds=15.0)
    fake.add_private_chats([ALICE, BOB])
    async with running_bot(fake, settings):
        fake.send_text(ALICE, "/latest")
        await wait_until(lambda: feed_server.requests_to("/hostile/stall.xml"), what="stall")
        started = time.monotonic()
        fake.send_text(BOB, "/help")
        await fake.wait_for_messages(BOB, 1, timeout=5)
        assert time.monotonic() - started < 1.0
        assert fake.messages_to(ALICE) == []  # still waiting on the feed
        # Each chat's own updates stay in order, one after another.
        for minute in range(1, 6):
            fake.send_text(BOB, f"/time 06:0{minute}")
        replies = await fake.wait_for_messages(BOB, 6, timeout=5)
        assert [r["parsed_text"][:30] for r in replies[1:]] == [
            f"🕖 Done: the brief comes at 06:0{m}"[:30] for m in range(1, 6)
        ]
        feed_server.stop()  # the stalled fetch fails now, and Alice gets her answer
        await fake.wait_for_messages(ALICE, 1, timeout=10)


async def test_the_ordered_processor_forgets_idle_chats() -> None:
    processor = ChatOrderedProcessor(8)
    order: list[str] = []
    gate = asyncio.Event()

    async def job(name: str, wait: bool) -> None:
        if wait:
            await gate.wait()
        order.append(name)

    def update(chat_id: int, update_id: int) -> object:
        return Update.de_json(
            {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": 0,
                    "chat": {"id": chat_id, "type": "private"},
                    "text": "x",
                },
            },
            None,
        )

    tasks = [
        asyncio.create_task(processor.process_update(update(1, 1), job("1a", True))),
        asyncio.create_task(processor.process_update(update(1, 2), job("1b", False))),
        asyncio.create_task(processor.process_update(update(2, 3), job("2a", False))),
    ]
    await wait_until(lambda: "2a" in order, what="other chat")
    assert order == ["2a"] and processor.waiting_chats() == 1
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["2a", "1a", "1b"] and processor.waiting_chats() == 0


async def test_one_chats_backlog_behind_a_slow_update_holds_one_slot_only() -> None:
    processor = ChatOrderedProcessor(8)
    gate = asyncio.Event()
    done: list[str] = []

    async def job(name: str, wait: bool = False) -> None:
        if wait:
            await gate.wait()
        done.append(name)

    def update(chat_id: int, update_id: int) -> object:
        message = {"message_id": update_id, "date": 0, "chat": {"id": chat_id, "type": "private"}}
        return Update.de_json({"update_id": update_id, "message": message}, None)

    # Alice's /latest waits on a stalled feed while she (or a script) sends 50 more messages.
    alice = [asyncio.create_task(processor.process_update(update(1, 1), job("a0", True)))]
    alice += [
        asyncio.create_task(processor.process_update(update(1, n), job(f"a{n}")))
        for n in range(2, 52)
    ]
    await asyncio.sleep(0.05)
    bob = asyncio.create_task(processor.process_update(update(2, 99), job("bob")))
    await asyncio.wait_for(bob, timeout=2)  # not stuck behind Alice's queue
    assert done == ["bob"] and processor.current_concurrent_updates == 1
    gate.set()
    await asyncio.gather(*alice)
    assert done == ["bob", "a0", *(f"a{n}" for n in range(2, 52))]


async def test_edited_messages_never_run_commands(fake: FakeTelegram, settings: Settings) -> None:
    fake.add_private_chat(ALICE)
    async with running_bot(fake, settings):
        first = fake.send_text(ALICE, "/help")
        await fake.wait_for_messages(ALICE, 1)
        for i in range(20):
            fake.edit_text(first, "/help" if i % 2 else "/stats")
        fake.send_text(ALICE, "/time 06:30")  # the same chat's updates run in order
        replies = await fake.wait_for_messages(ALICE, 2)
        await wait_until(lambda: not fake.pending_updates, what="updates consumed")
        assert len(fake.messages_to(ALICE)) == 2
        assert "06:30" in replies[1]["parsed_text"]


def test_throttle_entries_expire_so_memory_stays_bounded() -> None:
    now = [0.0]
    throttle = Throttle(limit=8, window=10.0, clock=lambda: now[0])
    biggest = 0
    for user in range(100_000):
        now[0] += 0.001  # 100 s for everyone: ten windows
        assert throttle.check(user) == "ok"
        biggest = max(biggest, len(throttle))
    # Only users seen in the last two windows are remembered (10,000 per window here).
    assert biggest <= 20_001 and len(throttle) <= 20_001
    # A user still hammering is not forgotten by a sweep. Sweeps run once per window (10 s):
    # one runs now, at T; 7 hammers at T+0.1; the next sweep, at T+10.05, finds 7's hits still
    # inside the window, so 7 stays refused (a forgotten 7 would get "ok").
    now[0] += 10.0
    assert throttle.check(1) == "ok"
    assert len(throttle) == 1  # the sweep at T forgot everyone idle for a window
    now[0] += 0.1
    for _ in range(8):
        assert throttle.check(7) == "ok"
    assert throttle.check(7) == "warn"
    now[0] += 9.95
    assert throttle.check(7) == "drop"
    assert len(throttle) == 1  # the sweep ran (it forgot user 1) and kept 7


@pytest.mark.parametrize(
    "command, expected",
    [
        ("/time ", "isn't a time I understand"),
        ("/timezone ", "I don't know the time zone"),
    ],
)
async def test_a_huge_argument_gets_a_normal_short_reply(
    fake: FakeTelegram,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    command: str,
    expected: str,
) -> None:
    fake.add_private_chat(ALICE)
    text = command + "9" * 4080
    async with running_bot(fake, settings):
        fake.send_text(ALICE, text)
        reply = (await fake.wait_for_messages(ALICE, 1))[0]["parsed_text"]
    assert expected in reply and "…" in reply and len(reply) < 600
    assert "Sorry" not in reply
    assert [r for r in fake.rejected if r["error_code"] != 429] == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_commands_for_other_bots_in_a_group_are_ignored(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(GROUP, "Analysts", admins={1})
    async with running_bot(fake, settings):
        fake.send_text(GROUP, "/latest@SomeOtherBot", from_user=2)
        fake.send_text(GROUP, "/weather", from_user=2)  # some other bot's command
        fake.send_text(GROUP, "/help@SecurityBriefBot", from_user=2)
        await fake.wait_for_messages(GROUP, 1)
        fake.send_text(GROUP, "/latest@SecurityBriefBot", from_user=2)
        messages = await fake.wait_for_messages(GROUP, 2, timeout=20)
        texts = [m["parsed_text"] for m in messages]
        assert "Security Brief reads" in texts[0]
        assert texts[1].startswith("🛡 Security Brief")
        assert not any("I don't know" in t for t in fake.texts_to(GROUP))


def _make_read_only(db: Database) -> None:
    # query_only makes SQLite refuse every write with SQLITE_READONLY, as a read-only disk does.
    db.execute("PRAGMA query_only = ON")


async def test_a_read_only_database_is_named_to_users_and_admins(
    fake: FakeTelegram, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_private_chats([ALICE, ADMIN, NEWCOMER])
    settings = replace(settings, admin_chat_ids=frozenset({ADMIN}))
    clock = Clock(datetime.now(UTC))
    async with running_bot(fake, settings, clock) as app:
        fake.send_text(ALICE, "/latest")
        await fake.wait_for_messages(ALICE, 1, timeout=20)
        _make_read_only(app.bot_data.services.db)
        # A newcomer's first command must write: the reply says the problem is ours.
        fake.send_text(NEWCOMER, "/start")
        reply = (await fake.wait_for_messages(NEWCOMER, 1))[0]["parsed_text"]
        assert "problem on my side" in reply and "storage" in reply
        alert = (await fake.wait_for_messages(ADMIN, 1))[0]["parsed_text"]
        assert "Disk or database problem: the database is read-only" in alert
        assert str(settings.database_path) in alert
        # A stale brief cannot be refreshed: not the feeds' fault, and the user is told so.
        clock.advance(hours=2)
        before = len(fake.messages_to(ALICE))
        fake.send_text(ALICE, "/latest")
        messages = await fake.wait_for_messages(ALICE, before + 2, timeout=20)
        texts = [m["parsed_text"] for m in messages[before:]]
        assert texts[0].startswith("🛡 Security Brief")  # the last good brief
        assert "problem on my side" in texts[-1]
        assert not any("couldn't reach" in t for t in texts)
        assert len(fake.messages_to(ADMIN)) == 1  # one alert, not one per update
        # At most one alert every 10 minutes: once that has passed, the next failure alerts.
        app.bot_data.services.storage_alerted_at -= handlers.STORAGE_ALERT_INTERVAL + 1
        fake.send_text(NEWCOMER, "/start")
        again = await fake.wait_for_messages(ADMIN, 2)
        assert "Disk or database problem" in again[1]["parsed_text"]
    # The error log names the chat and the cause.
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"chat {NEWCOMER}" in m and "read-only" in m for m in logged)


def test_disk_problems_are_classified_from_real_sqlite_errors(tmp_path: Path) -> None:
    full = sqlite3.connect(":memory:")
    full.execute("create table t (x)")
    full.execute("pragma max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as caught:
        full.executemany("insert into t values (?)", [("x" * 1000,)] * 50)
    assert storage_problem(caught.value) == "the disk is full"
    db = open_db(tmp_path / "x.db")
    assert probe_storage(db) is None
    db.execute("PRAGMA query_only = ON")
    assert probe_storage(db) == "the database is read-only"
    db.execute("PRAGMA query_only = OFF")
    db.execute("VACUUM")  # no free pages left: the next table needs a new one
    db.execute(f"PRAGMA max_page_count = {db.execute('pragma page_count').fetchone()[0]}")
    assert probe_storage(db) == "the disk is full"
    db.execute("PRAGMA max_page_count = 1000000")
    # Another process holding the write lock is not a disk problem, and the probe does not wait.
    other = sqlite3.connect(tmp_path / "x.db")
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    assert probe_storage(db) is None
    assert time.monotonic() - started < 1
    other.rollback()
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10000  # restored
    assert storage_problem(OSError(28, "No space left on device")) == "the disk is full"
    assert storage_problem(ValueError("readonly")) is None  # not a disk error, whatever it says
    assert storage_problem("OperationalError: attempt to write a readonly database") == (
        "the database is read-only"
    )


async def test_the_scheduled_fetch_tells_admins_about_a_full_disk(
    fake: FakeTelegram, settings: Settings
) -> None:
    from bot.telegram.app import _fetch_job

    fake.add_private_chat(ADMIN)
    settings = replace(settings, admin_chat_ids=frozenset({ADMIN}))
    async with running_bot(fake, settings) as app:
        db = app.bot_data.services.db
        db.execute("VACUUM")
        # No page may be added: every write that needs room fails with SQLITE_FULL.
        db.execute(f"PRAGMA max_page_count = {db.execute('pragma page_count').fetchone()[0]}")
        await _fetch_job(BotContext(app))
        alert = (await fake.wait_for_messages(ADMIN, 1))[0]["parsed_text"]
        assert "Disk or database problem: the disk is full" in alert
