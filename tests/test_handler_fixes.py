"""Handler defects a reviewer reproduced, each driven the way a user meets it."""

from __future__ import annotations

import asyncio
import queue
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from botharness import Clock, button_data, running_bot, say, wait_until
from capture_server import links
from fake_telegram import MAX_MESSAGE_LENGTH, TOPIC_CLOSED, FakeTelegram, utf16_len
from feed_server import FeedServer
from telegram import Bot
from telegram.error import BadRequest
from telegram.ext import Application

from bot.config import Settings
from bot.news.fetch import make_client
from bot.news.newsroom import BriefResult
from bot.storage.chats import get_chat, set_length
from bot.telegram.terminal import chat as terminal_chat

USER, ADMIN, FORUM = 111, 1, -100500
APOLOGY = "something went wrong"
HELP_TEXT = "reads reputable world-news outlets"

# PTB itself reads the deprecated int-valued RetryAfter.retry_after while building the error.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


def refused(fake: FakeTelegram) -> list[dict]:
    """Requests the fake refused for a reason other than pacing (a 429 is waited out)."""
    return [r for r in fake.rejected if r["error_code"] != 429]


async def settled(fake: FakeTelegram, chat_id: int) -> None:
    """Wait until the bot has handled everything the chat sent so far.

    A chat's updates are handled in order, so once a later /help is answered the earlier ones
    are done, and any apology they caused has been sent.
    """
    before = len(fake.messages_to(chat_id))
    fake.send_text(chat_id, "/help")
    await wait_until(
        lambda: any(HELP_TEXT in t for t in fake.texts_to(chat_id)[before:]), what="/help"
    )


# ------------------------------------------------------------------ terminal mode numbering


class Keyboard:
    """Standard input typed a line at a time, as a person at the terminal types it."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str] = queue.Queue()

    def readline(self) -> str:
        """The next typed line; blocks until there is one ("" is the end of input)."""
        return self._lines.get()

    def type(self, line: str) -> None:
        """Type ``line`` and Enter."""
        self._lines.put(line + "\n")

    def close(self) -> None:
        """Ctrl-D."""
        self._lines.put("")


class Terminal:
    """Terminal mode running in this event loop: type a line, read what it printed."""

    def __init__(self, keyboard: Keyboard, out: StringIO) -> None:
        self.keyboard, self.out = keyboard, out

    async def type(self, line: str) -> str:
        """Type ``line``; what the bot printed in answer (up to its next prompt)."""
        start, prompts = len(self.out.getvalue()), self.out.getvalue().count("you> ")
        self.keyboard.type(line)
        await wait_until(lambda: self.out.getvalue().count("you> ") > prompts, what=line)
        return self.out.getvalue()[start:]


@asynccontextmanager
async def terminal(settings: Settings) -> AsyncIterator[Terminal]:
    """Terminal mode (``securitybrief run`` without a token) on a keyboard the test types on."""
    keyboard, out = Keyboard(), StringIO()
    task = asyncio.create_task(terminal_chat(settings, stdin=keyboard, stdout=out))
    await wait_until(lambda: "you> " in out.getvalue(), what="the first prompt")
    try:
        yield Terminal(keyboard, out)
    finally:
        keyboard.close()
        await asyncio.wait_for(task, 10)


def numbered(printed: str) -> dict[str, int]:
    """Button label -> the number printed beside it."""
    return {label: int(n) for n, label in re.findall(r"\[(\d+)\] (.+?)(?=   \[|\n|$)", printed)}


async def test_terminal_numbers_every_button_shown_so_it_can_be_pressed(
    settings: Settings,
) -> None:
    async with terminal(settings) as term:
        await term.type("/settings")
        subscribe = numbered(await term.type("/start"))["✅ Subscribe to the daily brief"]
        # The settings menu is edited into the time menu while /start's button is still shown.
        times = numbered(await term.type(str(numbered(term.out.getvalue())["🕖 Time 07:00"])))
        assert len(times) == 25 and "08:00" in times and "« Back" in times
        shown = [*times.values(), subscribe]
        assert len(set(shown)) == len(shown), f"one number on two buttons: {times}, {subscribe}"

        chosen = await term.type(str(times["08:00"]))
        assert "(updated) ⚙️ Settings" in chosen and "Time: 08:00 (UTC)" in chosen
        subscribed = await term.type(str(subscribe))
        assert "✅ Subscribed. The brief comes every day at 08:00 (UTC)" in subscribed


# ------------------------------------------------------------------ double taps


async def test_double_tap_on_subscribe_subscribes_without_an_apology(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        welcome = (await say(fake, USER, "/start"))[0]
        data = button_data(welcome, "Subscribe")
        # The second tap arrives before the first one's edit took the button away.
        fake.press_button(USER, welcome["message_id"], data)
        fake.press_button(USER, welcome["message_id"], data)
        await settled(fake, USER)
        texts = fake.texts_to(USER)
        assert not any(APOLOGY in t for t in texts), texts
        assert [t.split(".")[0] for t in texts[1:3]] == [
            "✅ Subscribed",
            "You're already subscribed: the brief comes daily at 07:00 (UTC)",
        ]
        assert [a["text"] for a in fake.callback_answers] == ["Subscribed ✅", "Subscribed ✅"]
        assert fake.messages_to(USER)[0]["reply_markup"] is None  # the button is gone
        assert get_chat(app.bot_data.services.db, USER).subscribed
    # The second tap's edit was Telegram's "message is not modified", and nothing else failed.
    assert [r["description"].split(":")[1].strip() for r in refused(fake)] == [
        "message is not modified"
    ]


async def test_double_tap_on_done_saves_without_an_apology(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        menu = (await say(fake, USER, "/settings"))[0]
        data = button_data(menu, "Done")
        fake.press_button(USER, menu["message_id"], data)
        fake.press_button(USER, menu["message_id"], data)
        await settled(fake, USER)
        texts = fake.texts_to(USER)
        assert len(texts) == 2 and "I answer commands" not in texts[1]  # the menu, then /help
        assert texts[0].endswith("Saved. /settings to change again.")
        assert not any(APOLOGY in t for t in texts), texts
        assert [a["text"] for a in fake.callback_answers] == ["Saved", "Saved"]
    assert [r["method"] for r in refused(fake)] == ["editMessageText"]  # not modified


async def test_done_on_a_menu_the_user_deleted_meanwhile_saves_quietly(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        menu = (await say(fake, USER, "/settings"))[0]
        fake.press_button(USER, menu["message_id"], button_data(menu, "Done"))
        fake.delete_by_user(USER, menu["message_id"])  # before the bot handles the press
        await settled(fake, USER)
        texts = fake.texts_to(USER)
        assert len(texts) == 2 and not any(APOLOGY in t for t in texts), texts
        assert [a["text"] for a in fake.callback_answers] == ["Saved"]
    assert [r["description"] for r in refused(fake)] == ["Bad Request: message to edit not found"]


# ------------------------------------------------------------------ /stats with many failing feeds


async def test_stats_lists_every_failing_feed_across_messages(
    fake: FakeTelegram, settings: Settings, tmp_path: Path
) -> None:
    feeds = tmp_path / "many.toml"
    names = [f"Regional outlet {n:02d}" for n in range(60)]
    # An imported OPML of 60 feeds, with the network down: every fetch fails.
    feeds.write_text(
        "".join(
            f'[[feeds]]\nname = "{name}"\nurl = "http://127.0.0.1:9/feed{n}.xml"\n\n'
            for n, name in enumerate(names)
        )
    )
    settings = replace(settings, feeds_file=feeds, admin_chat_ids=frozenset({ADMIN}))
    fake.add_private_chat(ADMIN)
    async with running_bot(fake, settings):
        await say(fake, ADMIN, "/refresh", timeout=30)
        before = len(fake.messages_to(ADMIN))
        fake.send_text(ADMIN, "/stats")
        await settled(fake, ADMIN)
        replies = fake.texts_to(ADMIN)[before:-1]  # /stats's messages, before /help's
    assert len(replies) >= 2 and not any(APOLOGY in t for t in replies), replies
    assert all(utf16_len(t) <= MAX_MESSAGE_LENGTH for t in replies)
    assert replies[0].startswith("Subscribers:") and "Feeds failing: 60 of 60" in replies[0]
    assert replies[-1].endswith("Database: writable")
    listed = re.findall(r"^\s*- (Regional outlet \d\d): failing since", "\n".join(replies), re.M)
    assert listed == names  # every one, in order, none cut in two
    assert refused(fake) == []


# ------------------------------------------------------------------ forum topics


async def test_forum_replies_go_to_the_topic_they_were_asked_in(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_group(FORUM, "Desk", admins={ADMIN}, supergroup=True, forum=True)
    topic = fake.add_topic(FORUM, "Security")
    async with running_bot(fake, settings):
        general = (await say(fake, FORUM, "/help"))[0]
        assert general["message_thread_id"] is None  # asked in General, answered in General
        fake.close_topic(FORUM, None)  # a reply sent to General now would be refused

        fake.send_text(FORUM, "/start", topic=topic)
        welcome = (await fake.wait_for_messages(FORUM, 2))[-1]
        assert "Security Brief" in welcome["parsed_text"]
        assert welcome["message_thread_id"] == topic
        # A button pressed in the topic is answered there too.
        fake.press_button(FORUM, welcome["message_id"], button_data(welcome, "Subscribe"))
        subscribed = (await fake.wait_for_messages(FORUM, 3))[-1]
        assert subscribed["parsed_text"].startswith("✅ Subscribed")
        assert subscribed["message_thread_id"] == topic

        fake.send_text(FORUM, "/latest", topic=topic)
        brief = (await fake.wait_for_messages(FORUM, 4, timeout=30))[-1]
        assert brief["parsed_text"].startswith("🛡 Security Brief")
        assert brief["message_thread_id"] == topic
        assert [str(a.get("message_thread_id")) for a in fake.chat_actions] == [
            str(topic)
        ]  # typing
    assert refused(fake) == []


async def test_the_fake_refuses_closed_and_unknown_topics_as_telegram_does(
    fake: FakeTelegram,
) -> None:
    fake.add_group(FORUM, "Desk", admins={ADMIN}, supergroup=True, forum=True)
    topic = fake.add_topic(FORUM, "Security")
    async with Bot(fake.token, base_url=f"{fake.url}/bot") as bot:
        sent = await bot.send_message(FORUM, "in the topic", message_thread_id=topic)
        assert (sent.message_thread_id, sent.is_topic_message) == (topic, True)
        with pytest.raises(BadRequest, match="(?i)message thread not found"):
            await bot.send_message(FORUM, "nowhere", message_thread_id=topic + 100)
        fake.close_topic(FORUM, topic)
        with pytest.raises(BadRequest, match="(?i)topic_closed"):
            await bot.send_message(FORUM, "closed", message_thread_id=topic)
        fake.close_topic(FORUM, None)
        with pytest.raises(BadRequest, match="(?i)topic_closed"):
            await bot.send_message(FORUM, "General is closed")
    assert [m["message_thread_id"] for m in fake.messages_to(FORUM)] == [topic]
    assert fake.rejected[-1]["description"] == TOPIC_CLOSED


# ------------------------------------------------------------------ /latest records as it sends


def sent_urls(app: Application, chat_id: int) -> set[str]:
    """The article links the bot has recorded as shown to ``chat_id``."""
    db = app.bot_data.services.db
    return {r[0] for r in db.execute("select url from sent_articles where chat_id = ?", [chat_id])}


def send_calls(fake: FakeTelegram, chat_id: int) -> int:
    """sendMessage requests to ``chat_id`` that reached the fake (held ones included)."""
    return sum(
        1 for m, p in fake.calls if m.lower() == "sendmessage" and str(p["chat_id"]) == str(chat_id)
    )


async def latest_cut_at(fake: FakeTelegram, sends: int) -> list[dict]:
    """Send /latest, holding its message number ``sends + 1`` (counted from 0) until released.

    The caller chooses that message's fate (fault knobs) and then releases it; what the chat
    received of /latest is returned once it is handled.
    """
    before = len(fake.messages_to(USER))
    calls = send_calls(fake, USER)
    fake.hold_after = fake.stats["accepted"] + sends
    fake.send_text(USER, "/latest")
    await wait_until(lambda: send_calls(fake, USER) > calls + sends, what="the held message")
    return fake.messages_to(USER)[before:]


async def full_length_chat(app: Application, fake: FakeTelegram) -> None:
    """USER known to the bot with the full (10-story) brief, which takes two messages."""
    svc = app.bot_data.services
    await say(fake, USER, "/start")
    set_length(svc.db, USER, "full", svc.clock())
    await svc.newsroom.current()  # the brief is built and fresh: /latest sends at once


async def test_latest_keeps_the_stories_a_message_showed_when_a_later_one_fails(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        await full_length_chat(app, fake)
        await latest_cut_at(fake, sends=1)
        fake.force_429 = 2  # message 2 of the brief: a 429, waited out, then another
        fake.release()
        await settled(fake, USER)
        first, apology = fake.messages_to(USER)[1:3]
        assert (
            first["parsed_text"].startswith("🛡 Security Brief")
            and APOLOGY in apology["parsed_text"]
        )
        assert links(first) and sent_urls(app, USER) == set(links(first))
        # The stories message 2 never showed are the next /latest; message 1's never again.
        again = [url for m in await say(fake, USER, "/latest") for url in links(m)]
        assert again and not set(again) & set(links(first))


async def test_latest_counts_a_message_telegram_never_confirmed_as_shown(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        await full_length_chat(app, fake)
        await latest_cut_at(fake, sends=1)
        # Message 2 reaches the chat, but the connection closes before Telegram's answer.
        fake.drop_mode, fake.drop_ratio = "after", 1.0
        fake.release()
        await wait_until(lambda: len(fake.messages_to(USER)) == 3, what="message 2")
        fake.drop_ratio = 0.0
        await settled(fake, USER)
        first, second = fake.messages_to(USER)[1:3]
        assert sent_urls(app, USER) == set(links(first)) | set(links(second))
        assert fake.stats["dropped"] == 1


async def stale_brief_without_feeds(
    app: Application, fake: FakeTelegram, feed_server: FeedServer, clock: Clock
) -> None:
    """USER, a brief built while the feeds worked, and the feeds gone since it went stale."""
    newsroom = app.bot_data.services.newsroom
    await say(fake, USER, "/start")
    await newsroom.current()
    feed_server.stop()
    # Drop pooled keep-alive connections too, as a real network outage would.
    await newsroom.client.aclose()
    newsroom.client = make_client(2.0)
    clock.advance(hours=2)


async def test_latest_keeps_what_it_showed_when_the_problem_note_fails(
    fake: FakeTelegram, settings: Settings, feed_server: FeedServer
) -> None:
    fake.add_private_chat(USER)
    clock = Clock(datetime.now(UTC))
    async with running_bot(fake, settings, clock) as app:
        await stale_brief_without_feeds(app, fake, feed_server, clock)
        await latest_cut_at(fake, sends=1)
        held = [p for m, p in fake.calls if m.lower() == "sendmessage"][-1]
        assert held["text"].startswith("⚠️ I couldn't reach")  # the short brief is one message
        fake.force_429 = 2
        fake.release()
        await settled(fake, USER)
        brief, apology = fake.messages_to(USER)[1:3]
        assert brief["parsed_text"].startswith("🛡 Security Brief")
        assert APOLOGY in apology["parsed_text"]
        assert not any("couldn't reach" in t for t in fake.texts_to(USER))  # the note failed
        assert links(brief) and sent_urls(app, USER) == set(links(brief))
        await app.bot_data.services.newsroom.client.aclose()


async def test_latest_keeps_what_it_showed_when_the_disk_failed_the_refresh(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.add_private_chat(ADMIN)
    settings = replace(settings, admin_chat_ids=frozenset({ADMIN}))
    clock = Clock(datetime.now(UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, USER, "/start")
        await svc.newsroom.current()
        clock.advance(hours=2)
        svc.db.execute("PRAGMA query_only = ON")  # a read-only disk: the refresh fails
        refresh = svc.newsroom.current

        async def refresh_then_recover(force: bool = False) -> BriefResult:
            try:
                return await refresh(force)
            finally:
                svc.db.execute("PRAGMA query_only = OFF")  # writable again once it failed

        svc.newsroom.current = refresh_then_recover
        fake.send_text(USER, "/latest")
        await settled(fake, USER)
        brief, note = fake.messages_to(USER)[1:3]
        assert brief["parsed_text"].startswith("🛡 Security Brief")
        assert "problem on my side" in note["parsed_text"]
        assert links(brief) and sent_urls(app, USER) == set(links(brief))
        alert = (await fake.wait_for_messages(ADMIN, 1))[0]["parsed_text"]
        assert "Disk or database problem: the database is read-only" in alert


async def test_latest_on_a_read_only_disk_still_shows_every_message(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.add_private_chat(ADMIN)
    settings = replace(settings, admin_chat_ids=frozenset({ADMIN}))
    async with running_bot(fake, settings) as app:
        await full_length_chat(app, fake)
        app.bot_data.services.db.execute("PRAGMA query_only = ON")  # nothing can be recorded
        fake.send_text(USER, "/latest")
        alert = (await fake.wait_for_messages(ADMIN, 1))[0]["parsed_text"]
        assert "Disk or database problem: the database is read-only" in alert
        await settled(fake, USER)
        texts = fake.texts_to(USER)
        assert not any("problem on my side" in t or APOLOGY in t for t in texts), texts
        brief = texts[1:-1]  # /latest's messages, between /start's and /help's
        assert len(brief) >= 2 and brief[0].startswith("🛡 Security Brief"), brief
        assert "10." in brief[-1]  # the whole full brief, to its last story
        app.bot_data.services.db.execute("PRAGMA query_only = OFF")
