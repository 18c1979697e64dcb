"""A local fake of the Telegram Bot API (aiohttp.web on 127.0.0.1) for end-to-end tests.

Point a python-telegram-bot application at it with
``ApplicationBuilder().token(fake.token).base_url(f"{fake.url}/bot").base_file_url(f"{fake.url}/file/bot")``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import math
import random
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_MESSAGE_LENGTH",
    "FakeTelegram",
    "MessageWaitTimeout",
    "TelegramHTMLError",
    "parse_telegram_html",
    "parse_telegram_html_entities",
    "utf16_len",
]

MAX_MESSAGE_LENGTH = 4096
# Telegram keeps a message's first 100 formatting entities and ignores the rest, answering 200.
MAX_ENTITIES = 100
MAX_CALLBACK_DATA_BYTES = 64

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CHAT_NOT_FOUND = "Bad Request: chat not found"
TOPIC_CLOSED = "Bad Request: TOPIC_CLOSED"
THREAD_NOT_FOUND = "Bad Request: message thread not found"


# --------------------------------------------------------------------------------------------
# Strict HTML parse mode
# --------------------------------------------------------------------------------------------


class TelegramHTMLError(ValueError):
    """Text rejected by Telegram's HTML parse mode; ``description`` omits the common prefix."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


_ALLOWED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "code", "pre", "blockquote", "tg-emoji",
    }
)  # fmt: skip
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Same whitespace set as tdlib's is_space().
_SPACES = frozenset(" \t\r\n\v")
_SPECIAL_RE = re.compile(r"[<&]")
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_NAME_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram uses for limits and offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the character reference starting at ``text[pos] == '&'``; None if it is not one."""
    n = len(text)
    j = pos + 1
    if j < n and text[j] == "#":
        j += 1
        if j < n and text[j] == "x":
            j += 1
            start = j
            while j < n and text[j] in _HEX:
                j += 1
            base = 16
        else:
            start = j
            while j < n and text[j] in _DIGITS:
                j += 1
            base = 10
        digits = text[start:j]
        if not digits or len(digits) > 7:
            return None
        code = int(digits, base)
        if 0xD800 <= code <= 0xDFFF:
            raise TelegramHTMLError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        if code == 0 or code >= 0x10FFFF:
            return None
        char = chr(code)
    else:
        start = j
        while j < n and text[j].isascii() and text[j].isalpha():
            j += 1
        found = _NAMED_ENTITIES.get(text[start:j])
        if found is None:
            return None
        char = found
    # tdlib tolerates a missing ';' but the brief asks for strict entities, so it is required.
    if j < n and text[j] == ";":
        return char, j + 1
    return None


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str
    offset: int  # in code points of the output
    byte_pos: int


def _bad_ampersand(text: str, pos: int) -> TelegramHTMLError:
    return TelegramHTMLError(
        f"Unsupported character entity at byte offset {_byte_offset(text, pos)}; "
        'escape "&" as "&amp;"'
    )


def _parse_start_tag(text: str, begin: int) -> tuple[_OpenTag, int]:
    """Parse the start tag at ``text[begin] == '<'``; return it and the index after its '>'."""
    n = len(text)
    k = begin + 1
    while k < n and text[k] not in _SPACES and text[k] != ">":
        k += 1
    byte_pos = _byte_offset(text, begin)
    if k >= n:
        raise TelegramHTMLError(f"Unclosed start tag at byte offset {byte_pos}")
    name = text[begin + 1 : k].lower()
    if name not in _ALLOWED_TAGS:
        raise TelegramHTMLError(f'Unsupported start tag "{name}" at byte offset {byte_pos}')
    argument = ""
    while True:
        while k < n and text[k] in _SPACES:
            k += 1
        if k >= n:
            raise TelegramHTMLError(f'Unclosed start tag "{name}" at byte offset {byte_pos}')
        if text[k] == ">":
            break
        attr_start = k
        while k < n and text[k] not in _SPACES and text[k] != "=" and text[k] != ">":
            k += 1
        attr = text[attr_start:k]
        if not attr:
            raise TelegramHTMLError(
                f'Empty attribute name in the tag "{name}" at byte offset {byte_pos}'
            )
        while k < n and text[k] in _SPACES:
            k += 1
        if name == "blockquote" and attr == "expandable":
            argument = "expandable"  # whatever its value, like Telegram
        if k >= n or text[k] != "=":
            continue  # a valueless attribute; the loop head reports a missing '>'
        k += 1
        while k < n and text[k] in _SPACES:
            k += 1
        if k >= n:
            raise TelegramHTMLError(f'Unclosed start tag "{name}" at byte offset {byte_pos}')
        if text[k] in "'\"":
            quote = text[k]
            k += 1
            parts: list[str] = []
            while k < n and text[k] != quote:
                if text[k] == "&":
                    decoded = _decode_entity(text, k)
                    if decoded is None:
                        raise _bad_ampersand(text, k)
                    parts.append(decoded[0])
                    k = decoded[1]
                    continue
                parts.append(text[k])
                k += 1
            if k >= n:
                raise TelegramHTMLError(f"Unclosed start tag at byte offset {byte_pos}")
            k += 1
            value = "".join(parts)
        else:
            token_start = k
            while k < n and text[k] in _NAME_TOKEN:
                k += 1
            value = text[token_start:k].lower()
            if k >= n:
                raise TelegramHTMLError(f"Unclosed start tag at byte offset {byte_pos}")
            if text[k] not in _SPACES and text[k] != ">":
                raise TelegramHTMLError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, token_start)}"
                )
        if name == "a" and attr == "href":
            argument = value
        elif name == "code" and attr == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif name == "span" and attr == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif name == "tg-emoji" and attr == "emoji-id":
            argument = value
        # Like Telegram, any other attribute is silently ignored.
    if name == "span" and argument != "spoiler":
        raise TelegramHTMLError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {byte_pos}'
        )
    if name == "tg-emoji" and not (argument.isascii() and argument.isdigit() and int(argument) > 0):
        raise TelegramHTMLError("Invalid custom emoji identifier specified")
    return _OpenTag(name, argument, 0, byte_pos), k + 1


def parse_telegram_html_entities(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML strictly; return plain text and MessageEntity dicts (UTF-16 offsets)."""
    out: list[str] = []
    out_len = 0
    stack: list[_OpenTag] = []
    raw_entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        match = _SPECIAL_RE.search(text, i)
        if match is None:
            out.append(text[i:])
            out_len += n - i
            break
        j = match.start()
        if j > i:
            out.append(text[i:j])
            out_len += j - i
        if text[j] == "&":
            decoded = _decode_entity(text, j)
            if decoded is None:
                raise _bad_ampersand(text, j)
            out.append(decoded[0])
            out_len += 1
            i = decoded[1]
            continue
        if j + 1 < n and text[j + 1] == "/":
            if not stack:
                raise TelegramHTMLError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, j)}"
                )
            k = j + 2
            while k < n and text[k] not in _SPACES and text[k] != ">":
                k += 1
            end_name = text[j + 2 : k]
            while k < n and text[k] in _SPACES:
                k += 1
            if k >= n or text[k] != ">":
                raise TelegramHTMLError(f"Unclosed end tag at byte offset {_byte_offset(text, j)}")
            tag = stack.pop()
            if end_name and end_name != tag.name:
                raise TelegramHTMLError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, j)}, "
                    f'expected "</{tag.name}>", found "</{end_name}>"'
                )
            i = k + 1
            length = out_len - tag.offset
            if length <= 0:
                continue
            if tag.name == "code" and tag.argument and stack and stack[-1].name == "pre":
                # <pre><code class="language-x"> is one pre entity with a language.
                stack[-1].argument = tag.argument
                continue
            entity: dict[str, Any] = {
                "type": _ENTITY_TYPES[tag.name],
                "offset": tag.offset,
                "length": length,
            }
            if tag.name == "a":
                if not tag.argument:
                    continue
                entity["url"] = tag.argument
            elif tag.name == "pre" and tag.argument:
                entity["language"] = tag.argument
            elif tag.name == "blockquote" and tag.argument:
                entity["type"] = "expandable_blockquote"
            elif tag.name == "tg-emoji":
                entity["custom_emoji_id"] = tag.argument
            raw_entities.append(entity)
            continue
        tag, i = _parse_start_tag(text, j)
        tag.offset = out_len
        stack.append(tag)
    if stack:
        raise TelegramHTMLError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"'
        )
    plain = "".join(out)
    if raw_entities and utf16_len(plain) != len(plain):
        for entity in raw_entities:
            start = utf16_len(plain[: entity["offset"]])
            entity["length"] = utf16_len(
                plain[entity["offset"] : entity["offset"] + entity["length"]]
            )
            entity["offset"] = start
    raw_entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return plain, raw_entities


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str) -> tuple[str, tuple[dict[str, Any], ...]]:
    """parse_telegram_html_entities, remembered: a broadcast sends one text to many chats."""
    plain, entities = parse_telegram_html_entities(text)
    return plain, tuple(entities)


def parse_telegram_html(text: str) -> str:
    """Parse ``text`` like Telegram's HTML parse mode; return the plain text (TelegramHTMLError)."""
    return parse_telegram_html_entities(text)[0]


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class MessageWaitTimeout(AssertionError, TimeoutError):
    """FakeTelegram.wait_for_messages did not see enough messages in time."""


class _ApiError(Exception):
    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class _Dropped(Exception):
    pass


@dataclass(slots=True)
class _Chat:
    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    admins: set[int] = field(default_factory=set)
    creator: int | None = None
    blocked: bool = False
    muted: bool = False  # the bot is a member that may not send messages (a group's setting)
    deactivated: bool = False
    migrated_to: int | None = None
    last_message_id: int = 0
    is_forum: bool = False
    topics: dict[int, bool] = field(default_factory=dict)  # message_thread_id -> closed
    general_closed: bool = False

    def obj(self) -> dict[str, Any]:
        if self.type == "private":
            chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
            if self.username:
                chat["username"] = self.username
            return chat
        if self.is_forum:
            return {"id": self.id, "type": self.type, "title": self.title, "is_forum": True}
        return {"id": self.id, "type": self.type, "title": self.title}

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


_UNSET: Any = object()
_DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
        "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
        "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
        "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request",
        "chat_boost", "removed_chat_boost",
    }
)  # fmt: skip
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_PATH_RE = re.compile(r"/bot([^/]+)/([A-Za-z0-9_]+)/?")
_Handler = Callable[[dict[str, Any]], Any]


class FakeTelegram:
    """In-process fake Bot API server with strict validation, rate limits and fault injection."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "SecurityBriefBot",
        global_rate: float | None = 30.0,
        per_chat_rate: float | None = 1.0,
        group_per_minute: int | None = 20,
        burst: int = 3,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        bot_id = token.split(":", 1)[0]
        self.bot_id = int(bot_id) if bot_id.isdigit() else 123456
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Security Brief",
            "username": bot_username,
        }
        self.url = ""
        self.port = 0

        # Inspection.
        self.sent: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []  # every update ever enqueued
        self.stats: dict[str, int] = {
            "accepted": 0,
            "edited": 0,
            "429": 0,
            "5xx": 0,
            "dropped": 0,
            "rejected": 0,
            "entities_dropped": 0,  # past MAX_ENTITIES: Telegram drops them without an error
        }
        self.webhook_url = ""
        self.webhook_secret: str | None = None  # secret_token given to setWebhook

        # Fault injection.
        self.fail_ratio_5xx = 0.0
        self.drop_ratio = 0.0
        # "after": the message is delivered, then the connection closes before the answer (what a
        # client sees as a timeout after sending); "before": the request is lost unprocessed.
        self.drop_mode = "after"
        # Chats whose sendMessage gets "200 OK" with a body that is not JSON (a broken proxy).
        self.garbage_for: set[int] = set()
        self.force_429 = 0
        self.retry_after_seconds = 1
        self.fault_methods: set[str] = {"sendmessage"}  # lower-case method names subject to faults
        # Stop answering sends after this many accepted messages, until release() (crash tests).
        self.hold_after: int | None = None
        self._released = asyncio.Event()
        self._seed = 0
        self._rng = random.Random(self._seed)
        self.callback_query_ttl = 15.0

        # Rate limits.
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.group_per_minute = group_per_minute
        self.burst = burst
        # None means "one second worth of global_rate" (what PTB's AIORateLimiter assumes).
        self.global_burst: float | None = None
        self._global_tokens = 0.0
        self._global_ts = 0.0
        self._chat_buckets: dict[int, list[float]] = {}
        self._group_windows: dict[int, collections.deque[float]] = {}
        self._reset_limiters()

        # State.
        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._records: dict[tuple[int, int], dict[str, Any]] = {}
        self._by_chat: dict[int, list[dict[str, Any]]] = {}
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] = _DEFAULT_ALLOWED_UPDATES
        self._poll_waiter: asyncio.Future[bool] | None = None
        self._callback_queries: dict[str, list[Any]] = {}  # id -> [created monotonic, answered]
        self._last_callback_id = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, _Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendchataction": self._send_chat_action,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "close": self._true,
            "logout": self._true,
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> None:
        """Bind 127.0.0.1 (on a free port unless ``port`` is given) and start serving."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._closing = False
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Release pending long polls and shut the server down."""
        self._closing = True
        self._wake_poller(True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def seed(self) -> int:
        """Seed of the random generator behind fail_ratio_5xx / drop_ratio; setting it reseeds."""
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        self._seed = value
        self._rng = random.Random(value)

    def release(self) -> None:
        """Answer held requests again (see ``hold_after``)."""
        self.hold_after = None
        self._released.set()

    def set_rate_limits(
        self,
        global_rate: float | None = _UNSET,
        per_chat_rate: float | None = _UNSET,
        group_per_minute: int | None = _UNSET,
        burst: int = _UNSET,
    ) -> None:
        """Change only the limits passed (None disables one) and reset the limiter state."""
        if global_rate is not _UNSET:
            self.global_rate = global_rate
        if per_chat_rate is not _UNSET:
            self.per_chat_rate = per_chat_rate
        if group_per_minute is not _UNSET:
            self.group_per_minute = group_per_minute
        if burst is not _UNSET:
            self.burst = burst
        self._reset_limiters()

    # ---------------------------------------------------------------- acting as users

    def add_private_chat(
        self, chat_id: int, first_name: str = "Alice", username: str | None = None
    ) -> None:
        """Register a private chat (and its user) so the bot may message it."""
        self._chats[chat_id] = _Chat(chat_id, "private", first_name=first_name, username=username)
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        self._users[chat_id] = user

    def add_private_chats(self, chat_ids: Iterable[int]) -> None:
        """Register many private chats cheaply (first_name "User<id>")."""
        for chat_id in chat_ids:
            self._chats[chat_id] = _Chat(chat_id, "private", first_name=f"User{chat_id}")

    def add_group(
        self,
        chat_id: int,
        title: str,
        admins: set[int],
        supergroup: bool = False,
        *,
        creator: int | None = None,
        forum: bool = False,
    ) -> None:
        """Register a group/supergroup; ``admins`` are administrators, ``creator`` is creator.

        ``forum``: a supergroup with topics (see add_topic); messages without a topic go to General.
        """
        if forum and not supergroup:
            raise ValueError("only supergroups can be forums")
        self._chats[chat_id] = _Chat(
            chat_id,
            "supergroup" if supergroup else "group",
            title=title,
            admins=set(admins) | ({creator} if creator is not None else set()),
            creator=creator,
            is_forum=forum,
        )

    def add_topic(self, chat_id: int, name: str) -> int:
        """Open a topic in a forum, as a member would; return its message_thread_id.

        Like Telegram, the topic's id is the id of its forum_topic_created service message,
        which the bot receives.
        """
        chat = self._user_chat(chat_id)
        if not chat.is_forum:
            raise ValueError(f"chat {chat_id} is not a forum")
        thread = chat.next_message_id()
        chat.topics[thread] = False
        self._enqueue(
            {
                "message": {
                    "message_id": thread,
                    "message_thread_id": thread,
                    "is_topic_message": True,
                    "from": self._user_obj(self._default_sender(chat, None)),
                    "chat": chat.obj(),
                    "date": int(time.time()),
                    "forum_topic_created": {"name": name, "icon_color": 7322096},
                }
            }
        )
        return thread

    def close_topic(self, chat_id: int, thread: int | None) -> None:
        """Close a forum topic (None: General); then the bot can't post there (TOPIC_CLOSED)."""
        chat = self._user_chat(chat_id)
        if thread is None:
            chat.general_closed = True
        elif thread in chat.topics:
            chat.topics[thread] = True
        else:
            raise ValueError(f"no topic {thread} in chat {chat_id}")

    def add_channel(self, chat_id: int, username: str, title: str) -> None:
        """Register a channel the bot may post in, addressable as ``@username``."""
        self._chats[chat_id] = _Chat(chat_id, "channel", title=title, username=username)

    def send_text(
        self,
        chat_id: int,
        text: str,
        from_user: int | None = None,
        *,
        anonymous: bool = False,
        topic: int | None = None,
    ) -> int:
        """Enqueue a user's text message (commands get a bot_command entity); return update_id.

        ``anonymous``: a group admin posting as the group, as Telegram sends it: from
        GroupAnonymousBot (one user for every such admin everywhere), sender_chat the group.
        ``topic``: the forum topic (see add_topic) it is written in; None for General.
        """
        chat = self._user_chat(chat_id)
        if topic is not None and topic not in chat.topics:
            raise ValueError(f"no topic {topic} in chat {chat_id}")
        sender = (
            ANONYMOUS_ADMIN if anonymous else self._user_obj(self._default_sender(chat, from_user))
        )
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": sender,
            "chat": chat.obj(),
            "date": int(time.time()),
            "text": text,
        }
        if topic is not None:
            message.update(message_thread_id=topic, is_topic_message=True)
        if anonymous:
            message["sender_chat"] = chat.obj()
        command = _COMMAND_RE.match(text)
        if command:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
            ]
        return self._enqueue({"message": message})

    def edit_text(self, update_id: int, text: str) -> int:
        """Enqueue an edited_message: the user edits the message sent as ``update_id``."""
        original = next(u for u in self.updates if u["update_id"] == update_id)["message"]
        message = {**json.loads(json.dumps(original)), "text": text, "edit_date": int(time.time())}
        message.pop("entities", None)
        command = _COMMAND_RE.match(text)
        if command:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
            ]
        return self._enqueue({"edited_message": message})

    def press_button(
        self, chat_id: int, message_id: int, data: str, from_user: int | None = None
    ) -> str:
        """Enqueue a callback_query on a bot message (data is not checked); return the query id."""
        chat = self._user_chat(chat_id)
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise ValueError(f"the bot has no message {message_id} in chat {chat_id}")
        self._last_callback_id += 1
        query_id = str(7_000_000_000_000_000 + self._last_callback_id)
        self._callback_queries[query_id] = [time.monotonic(), False]
        self._enqueue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user_obj(self._default_sender(chat, from_user)),
                    "message": json.loads(json.dumps(message)),
                    "chat_instance": "1",
                    "data": data,
                }
            }
        )
        return query_id

    def delete_by_user(self, chat_id: int, message_id: int) -> None:
        """The user deletes a bot message (for both sides); Telegram tells the bot nothing."""
        chat = self._user_chat(chat_id)
        if self._messages.pop((chat.id, message_id), None) is None:
            raise ValueError(f"the bot has no message {message_id} in chat {chat_id}")
        self._records[(chat.id, message_id)]["deleted"] = True

    def block_by_user(self, chat_id: int) -> None:
        """Make later sends fail with 403; enqueue my_chat_member (member -> kicked)."""
        chat = self._user_chat(chat_id)
        chat.blocked = True
        self._enqueue_my_chat_member(
            chat, {"status": "member"}, {"status": "kicked", "until_date": 0}
        )

    def mute_bot(self, chat_id: int) -> None:
        """The group takes the bot's right to send messages: sends get Telegram's 400."""
        self._user_chat(chat_id).muted = True

    def deactivate_group(self, chat_id: int) -> None:
        """The group is gone (deleted, or its upgrade finished): sends get Telegram's 400."""
        self._user_chat(chat_id).deactivated = True

    def unblock_by_user(self, chat_id: int) -> None:
        """Undo block_by_user and enqueue the my_chat_member (kicked -> member) update."""
        chat = self._user_chat(chat_id)
        chat.blocked = False
        self._enqueue_my_chat_member(
            chat, {"status": "kicked", "until_date": 0}, {"status": "member"}
        )

    def upgrade_group(self, chat_id: int, new_chat_id: int) -> None:
        """Migrate a group to a supergroup; sends to the old id get 400 with migrate_to_chat_id."""
        old = self._user_chat(chat_id)
        old.migrated_to = new_chat_id
        new = _Chat(
            new_chat_id, "supergroup", title=old.title, admins=set(old.admins), creator=old.creator
        )
        self._chats[new_chat_id] = new
        sender = self._user_obj(self._default_sender(old, None))
        now = int(time.time())
        # Telegram announces the migration with a service message in both chats.
        self._enqueue(
            {
                "message": {
                    "message_id": old.next_message_id(),
                    "from": sender,
                    "chat": old.obj(),
                    "date": now,
                    "migrate_to_chat_id": new_chat_id,
                }
            }
        )
        self._enqueue(
            {
                "message": {
                    "message_id": new.next_message_id(),
                    "from": sender,
                    "chat": new.obj(),
                    "date": now,
                    "migrate_from_chat_id": chat_id,
                }
            }
        )

    # ---------------------------------------------------------------- inspection

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Accepted messages sent to ``chat_id``, oldest first (records reflect later edits)."""
        return list(self._by_chat.get(chat_id, ()))

    def texts_to(self, chat_id: int) -> list[str]:
        """The text (as the user sees it) of each accepted message to ``chat_id``, oldest first."""
        return [m["parsed_text"] for m in self.messages_to(chat_id)]

    async def wait_for_messages(
        self, chat_id: int, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait for >= ``count`` accepted messages to ``chat_id``; raise MessageWaitTimeout."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages_to(chat_id)
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                rejected = [
                    f"{r['method']} -> {r['error_code']} {r['description']}"
                    for r in self.rejected
                    if str(r["params"].get("chat_id")) == str(chat_id)
                ][-5:]
                raise MessageWaitTimeout(
                    f"expected >= {count} message(s) to chat {chat_id} within {timeout}s, "
                    f"got {len(messages)}: {[m['parsed_text'][:80] for m in messages]!r}; "
                    f"rejected for this chat: {rejected!r}; "
                    f"last calls: {[c[0] for c in self.calls[-10:]]!r}"
                )
            await asyncio.sleep(0.01)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._queue)

    # ---------------------------------------------------------------- HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        match = _PATH_RE.fullmatch(request.path)
        if match is None:
            return _error_response(404, "Not Found")
        token, method = match.groups()
        try:
            params = await _read_params(request)
        except _ApiError as exc:
            self._reject(method, {}, exc)
            return _error_response(exc.code, exc.description, exc.parameters)
        self.calls.append((method, params))
        try:
            if token != self.token:
                raise _ApiError(401, "Unauthorized")
            handler = self._methods.get(method.lower())
            if handler is None:
                raise _ApiError(404, "Not Found")
            drop = False
            if (
                method.lower() == "sendmessage"
                and _int_or_none(params.get("chat_id")) in self.garbage_for
            ):
                return web.Response(body=b"<html>upstream says hi</html>", content_type="text/html")
            if method.lower() in self.fault_methods:
                if self.hold_after is not None and self.stats["accepted"] >= self.hold_after:
                    # Held requests are never processed: the crash test kills the bot meanwhile,
                    # and aiohttp cancels this handler when the client's connection goes away.
                    await self._released.wait()
                drop = self._inject_faults(request, method, params)
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
            if drop:
                self._drop(request, method, params, processed=True)
        except _Dropped:
            # The transport is already closed; aiohttp discards whatever is returned here.
            return web.Response(status=500)
        except _ApiError as exc:
            self._reject(method, params, exc)
            return _error_response(exc.code, exc.description, exc.parameters)
        return web.Response(
            body=json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode(),
            content_type="application/json",
        )

    def _reject(self, method: str, params: dict[str, Any], exc: _ApiError) -> None:
        self.stats["rejected"] += 1
        if exc.code == 429:
            self.stats["429"] += 1
        elif exc.code >= 500:
            self.stats["5xx"] += 1
        self.rejected.append(
            {
                "method": method,
                "params": params,
                "error_code": exc.code,
                "description": exc.description,
            }
        )

    def _inject_faults(self, request: web.Request, method: str, params: dict[str, Any]) -> bool:
        """Raise the fault chosen for this call; True if its answer is to be dropped afterwards."""
        if self.drop_ratio > 0 and self._rng.random() < self.drop_ratio:
            if self.drop_mode == "after":
                return True
            self._drop(request, method, params, processed=False)
        if self.fail_ratio_5xx > 0 and self._rng.random() < self.fail_ratio_5xx:
            code = self._rng.choice((500, 502))
            raise _ApiError(code, "Internal Server Error" if code == 500 else "Bad Gateway")
        if self.force_429 > 0:
            self.force_429 -= 1
            raise _too_many_requests(self.retry_after_seconds)
        return False

    def _drop(
        self, request: web.Request, method: str, params: dict[str, Any], *, processed: bool
    ) -> None:
        """Close the connection without an answer (after carrying the call out, if ``processed``)."""
        self.stats["dropped"] += 1
        if not processed:
            self.stats["rejected"] += 1
            self.rejected.append(
                {
                    "method": method,
                    "params": params,
                    "error_code": 0,
                    "description": "connection dropped without a response",
                }
            )
        if request.transport is not None:
            request.transport.close()
        raise _Dropped

    # ---------------------------------------------------------------- helpers

    def _enqueue(self, payload: dict[str, Any]) -> int:
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, **payload}
        self._queue.append(update)
        self.updates.append(update)
        self._wake_poller(True)
        return self._last_update_id

    def _wake_poller(self, value: bool) -> None:
        waiter = self._poll_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    def _enqueue_my_chat_member(
        self, chat: _Chat, old: dict[str, Any], new: dict[str, Any]
    ) -> None:
        sender = chat.id if chat.type == "private" else self._default_sender(chat, None)
        self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.obj(),
                    "from": self._user_obj(sender),
                    "date": int(time.time()),
                    "old_chat_member": {"user": self.bot_user, **old},
                    "new_chat_member": {"user": self.bot_user, **new},
                }
            }
        )

    def _user_chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}: call add_private_chat/add_group first")
        return chat

    def _default_sender(self, chat: _Chat, from_user: int | None) -> int:
        if from_user is not None:
            return from_user
        if chat.type == "private":
            return chat.id
        if chat.creator is not None:
            return chat.creator
        if chat.admins:
            return min(chat.admins)
        raise ValueError(f"from_user is required for group {chat.id} without admins")

    def _user_obj(self, user_id: int) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            chat = self._chats.get(user_id)
            name = chat.first_name if chat is not None and chat.first_name else f"User{user_id}"
            user = {"id": user_id, "is_bot": False, "first_name": name}
        return user

    def _resolve_chat(self, params: dict[str, Any]) -> _Chat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            # Public channels and supergroups can be addressed by @username, as on Telegram.
            found = [c for c in self._chats.values() if c.username and f"@{c.username}" == raw]
            raw = found[0].id if found else None
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise _ApiError(400, CHAT_NOT_FOUND) from None
        chat = self._chats.get(chat_id)
        if chat is None:
            raise _ApiError(400, CHAT_NOT_FOUND)
        if chat.migrated_to is not None:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.blocked:
            if chat.type == "private":
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            kind = "group" if chat.type == "group" else chat.type
            raise _ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        return chat

    def _render(self, text: Any, parse_mode: Any) -> tuple[str, list[dict[str, Any]]]:
        if not isinstance(text, str) or not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        mode = parse_mode.lower() if isinstance(parse_mode, str) else ""
        if mode == "html":
            try:
                plain, entities = _parse_cached(text)
                entities = [dict(e) for e in entities]  # callers may keep and change them
            except TelegramHTMLError as exc:
                raise _ApiError(
                    400, f"Bad Request: can't parse entities: {exc.description}"
                ) from None
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown modes are passed through unvalidated; the bot is expected to use HTML.
            plain, entities = text, []
        else:
            raise _ApiError(400, "Bad Request: unsupported parse_mode")
        if not plain.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_MESSAGE_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        if len(entities) > MAX_ENTITIES:
            self.stats["entities_dropped"] += len(entities) - MAX_ENTITIES
            entities = entities[:MAX_ENTITIES]
        return plain, entities

    def _reset_limiters(self) -> None:
        self._global_tokens = self._global_capacity()
        self._global_ts = time.monotonic()
        self._chat_buckets.clear()
        self._group_windows.clear()

    def _global_capacity(self) -> float:
        if self.global_rate is None:
            return 0.0
        if self.global_burst is not None:
            return max(1.0, self.global_burst)
        return max(1.0, float(self.burst), self.global_rate)

    def _check_rate(self, chat: _Chat) -> None:
        """Consume one message from every applicable limit or raise 429 without consuming any."""
        now = time.monotonic()
        wait = 0.0
        global_tokens = 0.0
        if self.global_rate:
            capacity = self._global_capacity()
            global_tokens = min(
                capacity, self._global_tokens + (now - self._global_ts) * self.global_rate
            )
            if global_tokens < 1.0:
                wait = (1.0 - global_tokens) / self.global_rate
        bucket: list[float] | None = None
        window: collections.deque[float] | None = None
        chat_tokens = 0.0
        if chat.type == "private":
            if self.per_chat_rate:
                capacity = float(max(1, self.burst))
                bucket = self._chat_buckets.get(chat.id)
                if bucket is None:
                    bucket = self._chat_buckets[chat.id] = [capacity, now]
                chat_tokens = min(capacity, bucket[0] + (now - bucket[1]) * self.per_chat_rate)
                if chat_tokens < 1.0:
                    wait = max(wait, (1.0 - chat_tokens) / self.per_chat_rate)
        elif self.group_per_minute:
            window = self._group_windows.get(chat.id)
            if window is None:
                window = self._group_windows[chat.id] = collections.deque()
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= self.group_per_minute:
                wait = max(wait, window[0] + 60.0 - now)
        if wait > 0:
            raise _too_many_requests(max(1, math.ceil(wait)))
        if self.global_rate:
            self._global_tokens = global_tokens - 1.0
            self._global_ts = now
        if bucket is not None:
            bucket[0] = chat_tokens - 1.0
            bucket[1] = now
        if window is not None:
            window.append(now)

    def _message_key(self, params: dict[str, Any], chat: _Chat) -> tuple[int, int]:
        if params.get("inline_message_id"):
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        raw = params.get("message_id")
        if raw is None or raw == "":
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        try:
            return chat.id, int(raw)
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID") from None

    # ---------------------------------------------------------------- API methods

    def _true(self, params: dict[str, Any]) -> bool:
        return True

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _opt_int(params, "offset")
        limit = min(100, max(1, _opt_int(params, "limit") or 100))
        timeout = max(0.0, float(params.get("timeout") or 0))
        allowed = _json_param(params, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else _DEFAULT_ALLOWED_UPDATES
        if offset is not None:
            if offset < 0:
                while len(self._queue) > -offset:
                    self._queue.popleft()
            else:
                while self._queue and self._queue[0]["update_id"] < offset:
                    self._queue.popleft()
        # Like Telegram, a newer getUpdates terminates a pending one with 409.
        self._wake_poller(False)
        deadline = time.monotonic() + timeout
        while True:
            batch = self._batch(limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                return batch
            waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._poll_waiter = waiter
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                if self._poll_waiter is waiter:
                    self._poll_waiter = None
            if waiter.done() and waiter.result() is False:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )

    def _batch(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        for update in self._queue:
            kind = next(k for k in update if k != "update_id")
            if kind in self._allowed_updates:
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        if chat.deactivated:
            raise _ApiError(400, "Bad Request: group chat was deactivated")
        if chat.muted:
            raise _ApiError(400, "Bad Request: not enough rights to send text messages to the chat")
        thread = self._topic(chat, params)
        text = params.get("text")
        parse_mode = params.get("parse_mode") or None
        plain, entities = self._render(text, parse_mode)
        markup = _parse_reply_markup(params.get("reply_markup"))
        self._check_rate(chat)
        message_id = chat.next_message_id()
        now = int(time.time())
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": chat.obj(),
            "date": now,
            "text": plain,
        }
        if entities:
            message["entities"] = entities
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat.id, message_id)] = message
        record = {
            "chat_id": chat.id,
            "message_id": message_id,
            "text": text,
            "parsed_text": plain,
            "parse_mode": parse_mode,
            "reply_markup": markup,
            "date": now,
            "entities": entities,
            # Paid broadcasts may exceed the usual 30 messages/s (Telegram charges Stars for them).
            "allow_paid_broadcast": _flag(params, "allow_paid_broadcast"),
            "message_thread_id": thread,  # the forum topic; None: General, or not a forum
            "params": params,
        }
        self._records[(chat.id, message_id)] = record
        self.sent.append(record)
        self._by_chat.setdefault(chat.id, []).append(record)
        self.stats["accepted"] += 1
        return message

    def _topic(self, chat: _Chat, params: dict[str, Any]) -> int | None:
        """The forum topic a send goes to (None: General), refused if closed or unknown."""
        if not chat.is_forum:
            return None  # outside forums the fake does not model threads
        thread = _opt_int(params, "message_thread_id")
        if thread is None:
            closed = chat.general_closed
        elif thread in chat.topics:
            closed = chat.topics[thread]
        else:
            raise _ApiError(400, THREAD_NOT_FOUND)
        if closed:
            raise _ApiError(400, TOPIC_CLOSED)
        return thread

    def _stored_message(self, params: dict[str, Any], what: str) -> tuple[_Chat, dict[str, Any]]:
        chat = self._resolve_chat(params)
        key = self._message_key(params, chat)
        message = self._messages.get(key)
        if message is None:
            raise _ApiError(400, f"Bad Request: message to {what} not found")
        return chat, message

    def _apply_edit(
        self,
        chat: _Chat,
        message: dict[str, Any],
        markup: dict[str, Any] | None,
        record_changes: dict[str, Any],
    ) -> dict[str, Any]:
        self._check_rate(chat)
        if "parsed_text" in record_changes:
            message["text"] = record_changes["parsed_text"]
            if record_changes["entities"]:
                message["entities"] = record_changes["entities"]
            else:
                message.pop("entities", None)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        record = self._records[(chat.id, message["message_id"])]
        record.update(record_changes)
        record["reply_markup"] = markup
        record["edited"] = True
        self.stats["edited"] += 1
        return message

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._stored_message(params, "edit")
        text = params.get("text")
        parse_mode = params.get("parse_mode") or None
        plain, entities = self._render(text, parse_mode)
        # Telegram drops the inline keyboard when an edit does not repeat it.
        markup = _parse_reply_markup(params.get("reply_markup"))
        if (
            plain == message["text"]
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise _ApiError(400, NOT_MODIFIED)
        changes = {
            "text": text,
            "parsed_text": plain,
            "parse_mode": parse_mode,
            "entities": entities,
        }
        return self._apply_edit(chat, message, markup, changes)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._stored_message(params, "edit")
        markup = _parse_reply_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise _ApiError(400, NOT_MODIFIED)
        return self._apply_edit(chat, message, markup, {})

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat, message = self._stored_message(params, "delete")
        del self._messages[(chat.id, message["message_id"])]
        self._records[(chat.id, message["message_id"])]["deleted"] = True
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self._callback_queries.get(query_id)
        if query is None or query[1] or time.monotonic() - query[0] > self.callback_query_ttl:
            raise _ApiError(400, QUERY_TOO_OLD)
        query[1] = True
        self.callback_answers.append(params)
        return True

    def _commands_key(self, params: dict[str, Any]) -> str:
        scope = _json_param(params, "scope")
        key = "default"
        if isinstance(scope, dict) and scope.get("type"):
            key = str(scope["type"])
            for part in ("chat_id", "user_id"):
                if part in scope:
                    key += f":{scope[part]}"
        language = params.get("language_code")
        if language:
            key += f"@{language}"
        return key

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = _json_param(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        scope = _json_param(params, "scope")
        if isinstance(scope, dict) and "chat_id" in scope:
            self._resolve_chat(scope)  # a chat the bot has never met: "chat not found"
        key = self._commands_key(params)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append({**params, "chat_id": chat.id, "action": action})
        return True

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        return {
            **chat.obj(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _member(self, chat: _Chat, user_id: int) -> dict[str, Any]:
        user = self.bot_user if user_id == self.bot_id else self._user_obj(user_id)
        if chat.type != "private" and user_id == chat.creator:
            return {"user": user, "status": "creator", "is_anonymous": False}
        if chat.type != "private" and user_id in chat.admins:
            rights = (
                "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                "can_delete_stories",
            )  # fmt: skip
            member: dict[str, Any] = {"user": user, "status": "administrator"}
            member.update(
                {right: right not in ("can_be_edited", "is_anonymous") for right in rights}
            )
            return member
        return {"user": user, "status": "member"}

    def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        user_id = _opt_int(params, "user_id")
        if user_id is None:
            raise _ApiError(400, "Bad Request: user_id is empty")
        return self._member(chat, user_id)

    def _get_chat_administrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._resolve_chat(params)
        if chat.type == "private":
            raise _ApiError(400, "Bad Request: there are no administrators in the private chat")
        return [self._member(chat, user_id) for user_id in sorted(chat.admins)]

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url") or "")
        self.webhook_secret = params.get("secret_token")
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        if _flag(params, "drop_pending_updates"):
            self._queue.clear()
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }


# --------------------------------------------------------------------------------------------
# Request/response helpers
# --------------------------------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _error_response(
    code: int, description: str, parameters: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.Response(
        status=code, body=json.dumps(body).encode(), content_type="application/json"
    )


def _too_many_requests(retry_after: int) -> _ApiError:
    return _ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON object") from None
        if isinstance(body, dict):
            params.update(body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        params.update(form.items())
    return params


def _flag(params: dict[str, Any], name: str) -> bool:
    """A Boolean parameter: JSON true, or "true"/"1" in a query or form."""
    return str(params.get(name, "")).lower() in ("true", "1")


def _opt_int(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def _json_param(params: dict[str, Any], name: str) -> Any:
    raw = params.get(name)
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            raise _ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    return raw


def _parse_reply_markup(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _ApiError(
                400, "Bad Request: can't parse reply keyboard markup JSON object"
            ) from None
    if not isinstance(raw, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in raw:
        return raw
    rows = raw["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _ApiError(
            400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
        )
    for row in rows:
        for button in row:
            if (
                not isinstance(button, dict)
                or not isinstance(button.get("text"), str)
                or not button["text"]
            ):
                raise _ApiError(
                    400, "Bad Request: can't parse inline keyboard button: Text must be non-empty"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if (
                    not isinstance(data, str)
                    or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            elif not any(
                key in button
                for key in (
                    "url", "login_url", "switch_inline_query",
                    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                    "copy_text", "callback_game", "pay", "web_app",
                )
            ):  # fmt: skip
                raise _ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
    return raw


class _Screen:
    """What the user sees: each new bot message, each one edited again, answers to presses."""

    def __init__(self, fake: FakeTelegram, user: int) -> None:
        self.fake, self.user = fake, user
        self.buttons: dict[int, tuple[int, str]] = {}  # number typed -> (message id, data)
        self._shown: dict[int, tuple[str, str]] = {}  # message id -> (text, buttons) shown
        self._answers = 0

    def refresh(self) -> None:
        """Print what changed since the last call."""
        for answer in self.fake.callback_answers[self._answers :]:
            if answer.get("text"):
                print(f"» {answer['text']}", flush=True)
        self._answers = len(self.fake.callback_answers)
        for message in self.fake.messages_to(self.user):
            markup = message.get("reply_markup") or {}
            now = (message["parsed_text"], json.dumps(markup, sort_keys=True))
            before = self._shown.get(message["message_id"])
            if now == before:
                continue
            self._shown[message["message_id"]] = now
            if before is None:
                print(f"\nbot> {now[0]}", flush=True)
            elif before[0] != now[0]:
                print(f"\nbot (edited)> {now[0]}", flush=True)
            self._number_buttons(message["message_id"], markup)

    def _number_buttons(self, message_id: int, markup: dict[str, Any]) -> None:
        self.buttons = {k: v for k, v in self.buttons.items() if v[0] != message_id}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if "callback_data" in button:
                    # Past every number still shown, so none stands for two buttons.
                    number = max(self.buttons, default=0) + 1
                    self.buttons[number] = (message_id, button["callback_data"])
                    print(f"   [{number}] {button['text']}", flush=True)
                elif "url" in button:
                    print(f"   {button['text']} <{button['url']}>", flush=True)


async def _chat_in_terminal(port: int) -> None:
    """Be Telegram for one user in this terminal: type messages, see the bot's replies."""
    fake = FakeTelegram()
    user = 1000
    fake.add_private_chat(user, "You")
    await fake.start(port)
    print(
        f"Fake Telegram Bot API at {fake.url}. In another terminal run the real bot against it:\n"
        f"  TELEGRAM_API_URL={fake.url} TELEGRAM_BOT_TOKEN={fake.token} .venv/bin/securitybrief run\n"
        "Then type messages here as a Telegram user would (/start, /latest, …); a button's number presses it; "
        "Ctrl-D or Ctrl-C quits.",
        flush=True,
    )
    screen = _Screen(fake, user)
    # The bot's own terminal reader (a daemon thread: Ctrl-C never waits for a blocked read).
    from bot.telegram.terminal import read_lines

    lines = read_lines(sys.stdin)

    async def show_replies() -> None:
        while True:
            screen.refresh()
            await asyncio.sleep(0.1)

    printer = asyncio.create_task(show_replies())
    try:
        while line := await lines.get():
            text = line.strip()
            if text.isdigit() and int(text) in screen.buttons:
                try:
                    fake.press_button(user, *screen.buttons[int(text)])
                except ValueError as exc:  # the bot deleted that message meanwhile
                    print(exc, flush=True)
            elif text:
                fake.send_text(user, text)
        await asyncio.sleep(0.5)  # let the last replies print
    finally:
        printer.cancel()
        await fake.stop()


if __name__ == "__main__":
    try:
        asyncio.run(_chat_in_terminal(int(sys.argv[1]) if len(sys.argv) > 1 else 8081))
    except KeyboardInterrupt:
        print("\nBye.", flush=True)  # Ctrl-C: leave without a traceback
        sys.exit(130)
