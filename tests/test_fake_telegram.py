"""Tests of the fake Telegram Bot API server, driven by a real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from fake_telegram import (
    FakeTelegram,
    MessageWaitTimeout,
    TelegramHTMLError,
    parse_telegram_html,
    parse_telegram_html_entities,
    utf16_len,
)
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

ALICE = 1001
BOB = 1002
GROUP = -4001
SUPERGROUP = -1009001

# PTB itself reads the deprecated int-valued RetryAfter.retry_after while building the error.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """A started fake server with one private chat and one group."""
    server = FakeTelegram()
    await server.start()
    server.add_private_chat(ALICE, "Alice", "alice")
    server.add_group(GROUP, "Analysts", admins={ALICE})
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    """A real PTB Bot pointed at the fake."""
    client = Bot(fake.token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")
    async with client:
        yield client


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after in seconds, whether PTB hands out an int or a timedelta."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def raw_call(fake: FakeTelegram, method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """POST to the fake with aiohttp (kwargs go to session.post) and return status and JSON."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/bot{fake.token}/{method}", **kwargs) as resp,
    ):
        return resp.status, await resp.json()


# ------------------------------------------------------------------ parse_telegram_html


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("plain text", "plain text"),
        ("<b>bold</b> &amp; <i>it</i>", "bold & it"),
        ("&lt;tag&gt; &quot;q&quot; &#65;&#x42;", '<tag> "q" AB'),
        ("x >= y", "x >= y"),
        ('<a href="https://e.com/?a=1&amp;b=2">link</a>', "link"),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st"),
        ("<blockquote expandable>q</blockquote>", "q"),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        (
            "<s>a</s><strike>b</strike><del>c</del><u>d</u><ins>e</ins><em>f</em><strong>g</strong>",
            "abcdefg",
        ),
        ("<b>x</> <i >y</i >", "x y"),
        ("<b></b>", ""),
    ],
)
def test_parse_accepts_valid_html(markup: str, plain: str) -> None:
    assert parse_telegram_html(markup) == plain


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        ("Hello <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 6'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("AT&T", "Unsupported character entity at byte offset 2"),
        ("&lt", "Unsupported character entity at byte offset 0"),
        ("&nbsp;", "Unsupported character entity at byte offset 0"),
        (
            '<a href="https://e.com/?a=1&b=2">x</a>',
            "Unsupported character entity at byte offset 27",
        ),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("<p>para</p>", 'Unsupported start tag "p" at byte offset 0'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a href=http://x>y</a>", "Unexpected end of name token at byte offset 8"),
        ("<i>a</i   ", "Unclosed end tag at byte offset 4"),
        ("&#xDFDF;", "Text contains invalid Unicode characters"),
        # Byte offsets are UTF-8 bytes, as in Telegram's messages: "🏟 🏟&lt;" is 13 bytes.
        ("🏟 🏟&lt;<abac>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    ],
)
def test_parse_rejects_invalid_html(markup: str, description: str) -> None:
    with pytest.raises(TelegramHTMLError) as info:
        parse_telegram_html(markup)
    assert info.value.description.startswith(description)


def test_parse_reports_entities_in_utf16_units() -> None:
    plain, entities = parse_telegram_html_entities('😀 <b>bold</b> <a href="https://e.com">l</a>')
    assert plain == "😀 bold l"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "offset": 8, "length": 1, "url": "https://e.com"},
    ]
    assert utf16_len("😀") == 2


# ------------------------------------------------------------------ basic API through PTB


@pytest.mark.asyncio
async def test_get_me(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.username == "SecurityBriefBot"
    assert me.id == 123456
    assert me.is_bot
    assert fake.calls[0][0] == "getMe"


@pytest.mark.asyncio
async def test_send_valid_html_is_accepted(bot: Bot, fake: FakeTelegram) -> None:
    message = await bot.send_message(
        ALICE, "<b>Brief</b> for 3 &lt; 4 &amp; <i>you</i>", parse_mode=ParseMode.HTML
    )
    assert message.text == "Brief for 3 < 4 & you"
    assert message.chat.id == ALICE
    assert message.from_user is not None and message.from_user.is_bot
    assert [e.type for e in message.entities] == ["bold", "italic"]
    [record] = fake.messages_to(ALICE)
    assert record["parsed_text"] == "Brief for 3 < 4 & you"
    assert record["text"] == "<b>Brief</b> for 3 &lt; 4 &amp; <i>you</i>"
    assert record["parse_mode"] == "HTML"
    assert record["message_id"] == message.message_id
    assert fake.stats["accepted"] == 1

    second = await bot.send_message(ALICE, "plain <not html> & fine")
    assert second.message_id == message.message_id + 1
    assert second.text == "plain <not html> & fine"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hello <foo>x</foo>",
            'Can\'t parse entities: unsupported start tag "foo" at byte offset 6',
        ),
        ("<b>unclosed", "Can't parse entities: can't find end tag corresponding to start tag"),
        ("1 < 2", 'Can\'t parse entities: unsupported start tag "" at byte offset 2'),
        ("AT&T", "Can't parse entities: unsupported character entity at byte offset 2"),
        ("<b>" + "x" * 4097 + "</b>", "Message is too long"),
        ("<b> </b>", "Message text is empty"),
    ],
)
@pytest.mark.asyncio
async def test_send_invalid_html_is_rejected(
    bot: Bot, fake: FakeTelegram, text: str, expected: str
) -> None:
    # PTB strips "Bad Request: " and capitalizes the rest, so compare case-insensitively.
    with pytest.raises(BadRequest) as info:
        await bot.send_message(ALICE, text, parse_mode=ParseMode.HTML)
    assert str(info.value).lower().startswith(expected.lower())
    assert fake.messages_to(ALICE) == []
    assert fake.rejected[-1]["error_code"] == 400
    assert fake.rejected[-1]["description"].startswith("Bad Request: ")


@pytest.mark.asyncio
async def test_length_is_measured_after_parsing(bot: Bot, fake: FakeTelegram) -> None:
    # Raw text is 4096 + 7 chars, but only 4096 remain after parsing: accepted.
    message = await bot.send_message(ALICE, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    assert len(message.text) == 4096
    # Astral characters count twice (UTF-16): 2048 emoji are 4096 units, one more is too long.
    await bot.send_message(ALICE, "😀" * 2048)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE, "😀" * 2049)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE, "&amp;" * 4097, parse_mode="HTML")


@pytest.mark.asyncio
async def test_entities_past_the_hundredth_are_dropped_silently(
    bot: Bot, fake: FakeTelegram
) -> None:
    # Like Telegram: the message is accepted whole, only its first 100 entities format it.
    message = await bot.send_message(ALICE, "<b>x</b> " * 101, parse_mode="HTML")
    assert len(message.entities) == 100 and fake.stats["entities_dropped"] == 1
    await bot.send_message(ALICE, "<i>y</i> " * 100, parse_mode="HTML")
    assert fake.stats["entities_dropped"] == 1
    fake.stats["entities_dropped"] = 0  # dropped on purpose: the fixture checks none were


@pytest.mark.asyncio
async def test_callback_data_limit(bot: Bot) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="x" * 64)]])
    await bot.send_message(ALICE, "fits", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("no", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(ALICE, "66 bytes", reply_markup=too_long)


@pytest.mark.asyncio
async def test_unknown_chat_and_wrong_token(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hi")
    wrong = Bot("123456:WRONG", base_url=f"{fake.url}/bot")
    with pytest.raises(InvalidToken):
        await wrong.get_me()
    assert fake.rejected[-1]["error_code"] == 401


@pytest.mark.asyncio
async def test_raw_envelopes_json_form_and_multipart(fake: FakeTelegram) -> None:
    status, body = await raw_call(fake, "sendMessage", json={"chat_id": ALICE, "text": "json"})
    assert status == 200 and body["ok"] and body["result"]["text"] == "json"
    markup = json.dumps({"inline_keyboard": [[{"text": "b", "callback_data": "d"}]]})
    status, body = await raw_call(
        fake, "sendMessage", data={"chat_id": str(GROUP), "text": "form", "reply_markup": markup}
    )
    assert status == 200 and body["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "b"
    assert fake.messages_to(GROUP)[0]["reply_markup"] == json.loads(markup)
    form = aiohttp.FormData()
    form.add_field("chat_id", str(GROUP))
    form.add_field("text", "multipart")
    form.add_field("document", b"bytes", filename="a.txt")  # forces multipart/form-data
    status, body = await raw_call(fake, "sendMessage", data=form)
    assert status == 200 and body["result"]["text"] == "multipart"
    status, body = await raw_call(fake, "noSuchMethod", json={})
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = await raw_call(fake, "sendMessage", json={"chat_id": ALICE, "text": "<x>"})
    assert status == 200  # no parse_mode: raw text
    status, body = await raw_call(
        fake, "sendMessage", json={"chat_id": ALICE, "text": "<x>", "parse_mode": "HTML"}
    )
    assert status == 400 and body == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: can't parse entities: "
        'Unsupported start tag "x" at byte offset 0',
    }


# ------------------------------------------------------------------ delivery failures


@pytest.mark.asyncio
async def test_block_by_user_gives_forbidden_and_my_chat_member(
    bot: Bot, fake: FakeTelegram
) -> None:
    await bot.send_message(ALICE, "before")
    fake.block_by_user(ALICE)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "after")
    [update] = await bot.get_updates(timeout=0)
    member = update.my_chat_member
    assert member is not None and member.chat.id == ALICE
    assert member.old_chat_member.status == "member"
    assert member.new_chat_member.status == "kicked"
    assert member.new_chat_member.user.id == fake.bot_id
    assert [m["text"] for m in fake.messages_to(ALICE)] == ["before"]


@pytest.mark.asyncio
async def test_upgrade_group_gives_chat_migrated(bot: Bot, fake: FakeTelegram) -> None:
    fake.upgrade_group(GROUP, SUPERGROUP)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(GROUP, "hello")
    assert info.value.new_chat_id == SUPERGROUP
    assert (
        fake.rejected[-1]["description"]
        == "Bad Request: group chat was upgraded to a supergroup chat"
    )
    message = await bot.send_message(SUPERGROUP, "hello again")
    assert message.chat.type == "supergroup"
    updates = await bot.get_updates(timeout=0)
    assert [(u.message.migrate_to_chat_id, u.message.migrate_from_chat_id) for u in updates] == [
        (SUPERGROUP, None),
        (None, GROUP),
    ]


@pytest.mark.asyncio
async def test_force_429_gives_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.force_429 = 2
    fake.retry_after_seconds = 3
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(ALICE, "x")
        assert retry_seconds(info.value) == 3
    await bot.send_message(ALICE, "through")
    assert fake.stats["429"] == 2
    assert fake.rejected[-1]["description"] == "Too Many Requests: retry after 3"


@pytest.mark.asyncio
async def test_per_chat_rate_limit(bot: Bot, fake: FakeTelegram) -> None:
    outcomes = []
    for i in range(10):
        try:
            await bot.send_message(ALICE, f"msg {i}")
            outcomes.append("ok")
        except RetryAfter as exc:
            assert retry_seconds(exc) == 1
            outcomes.append("429")
    assert outcomes[:3] == ["ok"] * 3  # the burst
    assert outcomes.count("429") >= 6
    assert fake.stats["429"] == outcomes.count("429")
    # Other chats are unaffected by Alice's bucket.
    await bot.send_message(GROUP, "group is fine")


@pytest.mark.asyncio
async def test_group_and_global_limits(bot: Bot, fake: FakeTelegram) -> None:
    fake.set_rate_limits(group_per_minute=4)
    for i in range(4):
        await bot.send_message(GROUP, f"g{i}")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(GROUP, "one too many")
    assert 55 <= retry_seconds(info.value) <= 60

    fake.set_rate_limits(global_rate=5.0, per_chat_rate=None, group_per_minute=None)
    fake.add_private_chats(range(5000, 5020))
    results = await asyncio.gather(
        *(bot.send_message(5000 + i, "bulk") for i in range(20)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, Exception)]
    assert 5 <= len(accepted) <= 6
    assert all(isinstance(r, RetryAfter) for r in results if isinstance(r, Exception))


@pytest.mark.asyncio
async def test_5xx_and_dropped_connections(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_ratio_5xx = 1.0
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "x")
    assert fake.stats["5xx"] == 1
    fake.fail_ratio_5xx = 0.0
    fake.drop_ratio, fake.drop_mode = 1.0, "before"
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "lost")
    assert fake.stats["dropped"] == 1
    assert fake.rejected[-1]["error_code"] == 0
    assert fake.messages_to(ALICE) == []
    fake.drop_mode = "after"  # delivered, but the answer never comes back
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "arrived unconfirmed")
    assert fake.stats["dropped"] == 2
    assert [m["text"] for m in fake.messages_to(ALICE)] == ["arrived unconfirmed"]
    fake.drop_ratio = 0.0
    await bot.send_message(ALICE, "delivered")  # the server survives a dropped connection
    assert [m["text"] for m in fake.messages_to(ALICE)][-1] == "delivered"


@pytest.mark.asyncio
async def test_fault_ratios_are_reproducible(fake: FakeTelegram) -> None:
    async def pattern() -> list[int]:
        fake.seed = 7
        fake.fail_ratio_5xx = 0.5
        fake.set_rate_limits(global_rate=None, per_chat_rate=None)
        codes = []
        for _ in range(20):
            status, _body = await raw_call(
                fake, "sendMessage", json={"chat_id": ALICE, "text": "r"}
            )
            codes.append(status)
        return codes

    first = await pattern()
    assert await pattern() == first
    assert {200, 500} <= set(first) or {200, 502} <= set(first)


# ------------------------------------------------------------------ updates and callbacks


@pytest.mark.asyncio
async def test_get_updates_long_polls_and_honours_offset(bot: Bot, fake: FakeTelegram) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.5)
    assert not poll.done()
    update_id = fake.send_text(ALICE, "/start@SecurityBriefBot now")
    [update] = await asyncio.wait_for(poll, 3)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 2.0
    assert update.update_id == update_id
    assert update.message is not None and update.message.text == "/start@SecurityBriefBot now"
    assert update.message.from_user is not None and update.message.from_user.id == ALICE
    [entity] = update.message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 23)

    # Without an offset the update is delivered again; with offset it is confirmed and gone.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update_id]
    second = fake.send_text(ALICE, "plain text")
    updates = await bot.get_updates(offset=update_id + 1, timeout=0)
    assert [u.update_id for u in updates] == [second]
    assert updates[0].message is not None and updates[0].message.entities == ()
    assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    started = time.monotonic()
    assert await bot.get_updates(offset=second + 1, timeout=0.3) == ()
    assert time.monotonic() - started >= 0.25


@pytest.mark.asyncio
async def test_newer_get_updates_terminates_older(bot: Bot, fake: FakeTelegram) -> None:
    # PTB serialises get_updates per Bot, so a second instance plays the competing process.
    async with Bot(fake.token, base_url=f"{fake.url}/bot") as other:
        older = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        newer = asyncio.create_task(other.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(older, 3)
        fake.send_text(ALICE, "hi")
        assert len(await asyncio.wait_for(newer, 3)) == 1


@pytest.mark.asyncio
async def test_press_button_round_trip(bot: Bot, fake: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    sent = await bot.send_message(
        ALICE, "<b>Top story</b>", parse_mode="HTML", reply_markup=keyboard
    )
    query_id = fake.press_button(ALICE, sent.message_id, "more:1")
    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.id == query_id
    assert query.data == "more:1"
    assert query.from_user.id == ALICE
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.message.text == "Top story"
    assert await bot.answer_callback_query(query_id, text="Loading")
    assert fake.callback_answers[0]["text"] == "Loading"
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(ValueError):
        fake.press_button(ALICE, 999, "nope")


@pytest.mark.asyncio
async def test_edits(bot: Bot, fake: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = await bot.send_message(ALICE, "<b>v1</b>", parse_mode="HTML", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>v1</b>", ALICE, sent.message_id, parse_mode="HTML", reply_markup=keyboard
        )
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.edit_message_text("<b>v2", ALICE, sent.message_id, parse_mode="HTML")
    edited = await bot.edit_message_text("<i>v2</i>", ALICE, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, type(sent)) and edited.text == "v2"
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    record = fake.messages_to(ALICE)[0]
    assert (record["parsed_text"], record["reply_markup"], record["edited"]) == ("v2", None, True)
    await bot.edit_message_reply_markup(ALICE, sent.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(ALICE, sent.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", ALICE, 999)


@pytest.mark.asyncio
async def test_commands_chat_info_and_actions(bot: Bot, fake: FakeTelegram) -> None:
    await bot.set_my_commands([("start", "Subscribe"), ("stop", "Unsubscribe")])
    assert fake.commands["default"] == [
        {"command": "start", "description": "Subscribe"},
        {"command": "stop", "description": "Unsubscribe"},
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "stop"]
    await bot.set_my_commands([("hello", "Hi")], language_code="de")
    assert fake.commands["default@de"][0]["command"] == "hello"
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Bad Command", "x")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()

    chat = await bot.get_chat(GROUP)
    assert (chat.type, chat.title) == ("group", "Analysts")
    assert (await bot.get_chat(ALICE)).first_name == "Alice"
    assert (await bot.get_chat_member(GROUP, ALICE)).status == "administrator"
    assert (await bot.get_chat_member(GROUP, BOB)).status == "member"
    fake.add_group(SUPERGROUP, "Owners", admins={BOB}, supergroup=True, creator=ALICE)
    statuses = {m.user.id: m.status for m in await bot.get_chat_administrators(SUPERGROUP)}
    assert statuses == {ALICE: "creator", BOB: "administrator"}

    assert await bot.send_chat_action(ALICE, "typing")
    assert fake.chat_actions == [{"chat_id": ALICE, "action": "typing"}]
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""


@pytest.mark.asyncio
async def test_wait_for_messages_times_out_with_context(bot: Bot, fake: FakeTelegram) -> None:
    fake.block_by_user(ALICE)
    with pytest.raises(Forbidden):
        await bot.send_message(ALICE, "nope")
    with pytest.raises(MessageWaitTimeout) as info:
        await fake.wait_for_messages(ALICE, timeout=0.1)
    assert isinstance(info.value, AssertionError) and isinstance(info.value, TimeoutError)
    assert "blocked by the user" in str(info.value)


# ------------------------------------------------------------------ a whole PTB Application


@pytest.mark.asyncio
async def test_application_polling_end_to_end(fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, "Welcome to <b>Security Brief</b>", parse_mode="HTML"
        )

    application: Application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.url}/bot")
        .base_file_url(f"{fake.url}/file/bot")
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=2)
        fake.send_text(ALICE, "/start")
        fake.send_text(GROUP, "/start@SecurityBriefBot")
        [reply] = await fake.wait_for_messages(ALICE, timeout=5)
        assert reply["parsed_text"] == "Welcome to Security Brief"
        await fake.wait_for_messages(GROUP, timeout=5)
        await application.updater.stop()
        await application.stop()
    assert fake.pending_updates == []
