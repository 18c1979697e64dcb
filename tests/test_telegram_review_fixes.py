"""Telegram-side faults a reviewer reproduced, each driven the way a user or operator meets it."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from botharness import (
    Clock,
    bot_argv,
    broadcast_app,
    button_data,
    html_api,
    running_bot,
    say,
    serving,
    start_bot_process,
    wait_until,
    webhook_bot,
)
from capture_server import links
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.storage.chats import ensure_chat, get_chat, set_subscribed
from bot.storage.db import open_db
from bot.telegram import handlers
from bot.telegram.app import started
from bot.telegram.broadcast import deliver_due
from bot.telegram.webhook import SECRET_HEADER

USER, ADMIN = 111, 1
GROUP, SUPERGROUP = -5, -1005
OLD_CHANNEL, NEW_CHANNEL, READERS = -1001234, -1005678, -100777
APOLOGY = "Sorry — something went wrong on my side. Please try again in a minute."
# A reply failing while Telegram is down is given up within this many seconds.
PATIENCE = 15.0

# PTB itself reads the deprecated int-valued RetryAfter.retry_after while building the error.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


class FlakyTelegram(FakeTelegram):
    """The fake Bot API answering the next ``failures`` sendMessage calls with a 5xx."""

    failures = 0

    def _inject_faults(self, request: web.Request, method: str, params: dict[str, Any]) -> bool:
        self.fail_ratio_5xx = 1.0 if self.failures > 0 else 0.0
        self.failures = max(0, self.failures - 1)
        return super()._inject_faults(request, method, params)


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyTelegram]:
    """A FlakyTelegram on 127.0.0.1 with Telegram's default limits."""
    server = FlakyTelegram()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def apologies(fake: FakeTelegram, chat_id: int) -> list[str]:
    """The "something went wrong" replies the chat got."""
    return [t for t in fake.texts_to(chat_id) if t == APOLOGY]


# ------------------------------------------------------------------ side calls cost no answer


@pytest.mark.parametrize("fault", ["5xx", "429"])
async def test_latest_is_answered_when_the_typing_indicator_fails(
    fake: FakeTelegram, settings: Settings, fault: str
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        fake.fault_methods = {"sendchataction"}  # only "typing…" fails
        if fault == "5xx":
            fake.fail_ratio_5xx = 1.0
        else:
            fake.force_429 = 1
        # Nothing is built yet, so /latest shows "typing…" while it fetches the feeds.
        brief = (await say(fake, USER, "/latest", timeout=20))[0]
        assert brief["parsed_text"].startswith("🛡 Security Brief")
        assert [r["method"] for r in fake.rejected] == ["sendChatAction"]
        await asyncio.sleep(0.3)
        assert not apologies(fake, USER)


async def test_a_button_whose_answer_fails_still_shows_what_it_changed(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        menu = (await say(fake, USER, "/settings"))[0]
        assert "Length: short" in menu["parsed_text"]
        fake.fault_methods, fake.fail_ratio_5xx = {"answercallbackquery"}, 1.0
        fake.press_button(USER, menu["message_id"], button_data(menu, "Full"))
        await wait_until(lambda: fake.stats["edited"] == 1, what="the menu edited")
        assert "Length: full" in fake.messages_to(USER)[0]["parsed_text"]
        assert get_chat(app.bot_data.services.db, USER).brief_length == "full"
        assert [r["method"] for r in fake.rejected] == ["answerCallbackQuery"]
        assert len(fake.messages_to(USER)) == 1  # no apology


# ------------------------------------------------------------------ a 5xx on a reply


async def test_a_reply_that_meets_a_bad_gateway_is_sent_again(
    flaky: FlakyTelegram, settings: Settings
) -> None:
    flaky.add_private_chat(USER)
    async with running_bot(flaky, settings) as app:
        flaky.failures = 1
        reply = (await say(flaky, USER, "/subscribe"))[0]
        assert reply["parsed_text"].startswith("✅ Subscribed")
        assert [(r["method"], r["error_code"] >= 500) for r in flaky.rejected] == [
            ("sendMessage", True)
        ]
        assert get_chat(app.bot_data.services.db, USER).subscribed
        await asyncio.sleep(0.3)
        assert flaky.texts_to(USER) == [reply["parsed_text"]]


async def test_a_reply_that_keeps_failing_gives_up_soon_with_one_apology(
    flaky: FlakyTelegram, settings: Settings
) -> None:
    flaky.add_private_chat(USER)
    async with running_bot(flaky, settings):
        flaky.failures = 4  # the answer and every retry of it: Telegram is back for the apology
        started_at = time.monotonic()
        flaky.send_text(USER, "/help")
        await flaky.wait_for_messages(USER, 1, timeout=PATIENCE + 5)
        assert time.monotonic() - started_at < PATIENCE
        await asyncio.sleep(0.3)
        assert flaky.texts_to(USER) == [APOLOGY]
        assert [r["method"] for r in flaky.rejected] == ["sendMessage"] * 4


async def test_a_429_longer_than_the_patience_for_blips_is_still_waited_out(
    fake: FakeTelegram, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "REPLY_PATIENCE", 0.5)  # Telegram's wait below is longer
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        fake.fault_methods = {"sendmessage"}
        fake.retry_after_seconds = 1
        fake.force_429 = 1
        fake.send_text(USER, "/help")
        await fake.wait_for_messages(USER, 1, timeout=10)
        await asyncio.sleep(0.3)
        texts = fake.texts_to(USER)
        assert len(texts) == 1 and texts[0] != APOLOGY and "/latest" in texts[0]


# ------------------------------------------------------------------ a group upgraded under a reply


async def test_a_command_sent_just_before_the_group_upgraded_is_answered_in_the_supergroup(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(GROUP, "Ops", admins={ADMIN})
    async with running_bot(fake, settings) as app:
        db = app.bot_data.services.db
        await say(fake, GROUP, "/subscribe", from_user=ADMIN)
        await say(fake, GROUP, "/time 09:30", from_user=ADMIN)
        fake.send_text(GROUP, "/settings", from_user=ADMIN)
        fake.upgrade_group(GROUP, SUPERGROUP)  # before the bot answers /settings
        menu = (await fake.wait_for_messages(SUPERGROUP, 1))[0]
        assert menu["parsed_text"].startswith("⚙️ Settings")
        await wait_until(lambda: get_chat(db, GROUP) is None, what="the group's row moved")
        moved = get_chat(db, SUPERGROUP)
        assert moved is not None and moved.subscribed and moved.delivery_time == "09:30"
        await asyncio.sleep(0.3)
        assert len(fake.messages_to(GROUP)) == 2  # the two answers before the upgrade
        assert len(fake.messages_to(SUPERGROUP)) == 1  # the menu, and no apology
        assert [r["params"]["chat_id"] for r in fake.rejected] == [str(GROUP)]


async def test_a_latest_the_group_upgrade_overtakes_repeats_nothing_it_had_seen(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(GROUP, "Ops", admins={ADMIN})
    async with running_bot(fake, settings) as app:
        svc = app.bot_data.services
        first = await say(fake, GROUP, "/latest", timeout=30, from_user=ADMIN)
        seen = {url for message in first for url in links(message)}
        assert seen  # the fixture feeds' stories
        refresh = svc.newsroom.current

        async def upgraded_meanwhile() -> object:
            # Telegram upgrades the group while /latest waits for the news: the migration
            # notice is handled (in the supergroup) before the answer is composed.
            fake.upgrade_group(GROUP, SUPERGROUP)
            await wait_until(lambda: get_chat(svc.db, SUPERGROUP), what="the group's row moved")
            return await refresh()

        svc.newsroom.current = upgraded_meanwhile
        fake.send_text(GROUP, "/latest", from_user=ADMIN)
        answer = await fake.wait_for_messages(SUPERGROUP, 1, timeout=30)
        await asyncio.sleep(0.3)
        now_shown = {url for m in fake.messages_to(SUPERGROUP) for url in links(m)}
        assert answer and now_shown.isdisjoint(seen)
        # Both answers are remembered under the supergroup, none left under the old id.
        rows = svc.db.execute("select chat_id, count(*) from sent_articles group by chat_id")
        assert rows.fetchall() == [(SUPERGROUP, len(seen | now_shown))]


# ------------------------------------------------------------------ CHANNEL_ID changed or removed


async def start_with_channel(
    fake: FakeTelegram,
    settings: Settings,
    clock: Clock,
    channel: str | None,
    deliver_to: int | None = None,
) -> None:
    """Start the bot with CHANNEL_ID ``channel``, then stop it; in between, if ``deliver_to``,
    move the clock past that chat's next brief and run a delivery check."""
    app, settings = broadcast_app(fake, replace(settings, channel_id=channel), clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        if deliver_to is not None:
            due = get_chat(svc.db, deliver_to).next_due
            clock.now = datetime.fromisoformat(due) + timedelta(minutes=1)
            await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)


async def test_a_channel_no_longer_configured_stops_getting_the_brief(
    fake: FakeTelegram, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.app")
    fake.add_channel(OLD_CHANNEL, "oldchannel", "Old channel")
    fake.add_channel(NEW_CHANNEL, "newchannel", "New channel")
    fake.add_group(READERS, "Readers", admins={ADMIN}, supergroup=True)
    clock = Clock(datetime.now(UTC))
    await start_with_channel(fake, settings, clock, "@oldchannel")
    db = open_db(settings.database_path)
    assert get_chat(db, OLD_CHANNEL).subscribed
    # A group that subscribed itself, beside the channel.
    ensure_chat(db, READERS, "supergroup", "Readers", settings, clock())
    set_subscribed(db, READERS, True, clock())
    # The operator moves the brief to @newchannel and restarts; then the brief falls due.
    await start_with_channel(fake, settings, clock, "@newchannel", deliver_to=NEW_CHANNEL)
    assert not get_chat(db, OLD_CHANNEL).subscribed
    assert fake.messages_to(OLD_CHANNEL) == []
    assert len(fake.messages_to(NEW_CHANNEL)) == len(fake.messages_to(READERS)) == 1
    said = [r.getMessage() for r in caplog.records if "unsubscribed" in r.getMessage()]
    assert said == [
        f"channel {OLD_CHANNEL} (Old channel) unsubscribed from the daily brief: "
        "CHANNEL_ID is now @newchannel"
    ]
    # A CHANNEL_ID Telegram does not know (a typo) leaves the channel as it was.
    await start_with_channel(fake, settings, clock, "@newchanel")
    assert get_chat(db, NEW_CHANNEL).subscribed
    # CHANNEL_ID removed: no channel gets the brief; the group that asked for it still does.
    await start_with_channel(fake, settings, clock, None, deliver_to=READERS)
    assert not get_chat(db, NEW_CHANNEL).subscribed and get_chat(db, READERS).subscribed
    assert len(fake.messages_to(READERS)) == 2
    assert len(fake.messages_to(NEW_CHANNEL)) == 1 and fake.messages_to(OLD_CHANNEL) == []
    assert any("CHANNEL_ID is no longer set" in r.getMessage() for r in caplog.records)
    db.close()


# ------------------------------------------------------------------ webhook redelivery


def command_update(update_id: int, text: str) -> dict[str, Any]:
    """A private message from USER with a command, as Telegram posts it to the webhook."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "text": text,
            "chat": {"id": USER, "type": "private", "first_name": "A"},
            "from": {"id": USER, "is_bot": False, "first_name": "A"},
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_an_update_telegram_sends_again_is_handled_once(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with (
        webhook_bot(fake, settings, secret="s3cret") as (port, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        headers = {SECRET_HEADER: "s3cret"}
        # Our 200 for update 42 was lost on the way, so Telegram posts it again.
        for _ in range(2):
            answer = await client.post(
                "/telegram", json=command_update(42, "/subscribe"), headers=headers
            )
            assert answer.status_code == 200
        await fake.wait_for_messages(USER, 1)
        next_one = await client.post("/telegram", json=command_update(43, "/help"), headers=headers)
        assert next_one.status_code == 200
        await fake.wait_for_messages(USER, 2)
        await asyncio.sleep(0.3)
        texts = fake.texts_to(USER)
        assert len(texts) == 2 and texts[0].startswith("✅ Subscribed"), texts
        assert "reads reputable world-news outlets" in texts[1]


# ------------------------------------------------------------------ start-up against HTML

TOKEN = "987654321:AAHstartupTOKEN_distinctive-0123456789"


@pytest.fixture
def html_apis() -> Iterator[dict[int, str]]:
    """Local servers answering every call with an HTML page: with 200, and with 502."""
    with serving(html_api(200)) as ok, serving(html_api(502)) as bad_gateway:
        yield {200: ok, 502: bad_gateway}


async def test_a_bot_api_answering_html_at_start_is_one_line_and_later_errors_still_show(
    fake: FakeTelegram,
    settings: Settings,
    tmp_path: Path,
    feeds_file: Path,
    html_apis: dict[int, str],
) -> None:
    for status, url in html_apis.items():
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": url,
            "DATABASE_PATH": str(tmp_path / f"{status}.db"),
            "FEEDS_FILE": str(feeds_file),
        }
        run = subprocess.run(
            bot_argv("run"), env=env, capture_output=True, text=True, timeout=60, check=False
        )
        output = run.stdout + run.stderr
        assert run.returncode == 1, output
        errors = [line for line in output.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and "Could not start: the Bot API at" in errors[0], output
        assert "Traceback" not in output and TOKEN.split(":")[1] not in output, output
    # Once the bot runs, the same answer to a reply is an error worth its traceback.
    fake.add_private_chat(USER)
    fake.garbage_for = {USER}
    log = tmp_path / "bot.log"
    bot = await start_bot_process(fake, settings, log)
    try:
        await wait_until(lambda: fake.commands, timeout=30, what="the bot started")
        fake.send_text(USER, "/help")
        await wait_until(
            lambda: (
                "ERROR telegram.request.BaseRequest: Can not load invalid JSON" in log.read_text()
            ),
            timeout=30,
            what="the error logged",
        )
    finally:
        bot.terminate()
        await bot.wait()
