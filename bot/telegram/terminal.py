"""Terminal mode: chat with the real handlers in a terminal, no Telegram token needed."""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import sys
import threading
from dataclasses import replace
from typing import IO, Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.config import Settings
from bot.news.pipeline import RefreshReport
from bot.storage.chats import get_chat
from bot.telegram.app import build_application, started
from bot.telegram.context import Services

TERMINAL_TOKEN = "1:terminal"
USER_ID = 1000
_BOT = {"id": 1, "is_bot": True, "first_name": "Security Brief", "username": "SecurityBriefBot"}
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)
_TAG = re.compile(r"<[^>]+>")


def html_to_terminal(text: str) -> str:
    """Telegram HTML to readable terminal text: links shown with their address."""
    # Placeholders keep the shown address from being stripped as if it were a tag.
    text = _LINK.sub(lambda m: f"{m[2]} \x00{m[1]}\x01", text)
    return html.unescape(_TAG.sub("", text)).replace("\x00", "<").replace("\x01", ">")


class TerminalRequest(BaseRequest):
    """Answers the Bot API calls locally and prints what a Telegram user would see."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.buttons: dict[int, tuple[int, str]] = {}
        self.messages: dict[int, dict] = {}
        self._ids = itertools.count(1)

    @property
    def read_timeout(self) -> float | None:
        """No network, no timeout."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        """Handle one Bot API method call."""
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        result = self._answer(name, {k: _decode(v) for k, v in params.items()})
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _answer(self, name: str, params: dict) -> Any:
        if name == "getMe":
            return _BOT
        if name in {"sendMessage", "editMessageText", "editMessageReplyMarkup"}:
            return self._message(name, params)
        if name == "answerCallbackQuery":
            if params.get("text"):
                self._print(f"» {params['text']}")
            return True
        if name == "sendChatAction":
            self._print("… typing")
            return True
        if name == "getChatMember":
            return {
                "status": "creator",
                "user": {
                    "id": params.get("user_id", USER_ID),
                    "is_bot": False,
                    "first_name": "You",
                },
            }
        return True

    def _message(self, name: str, params: dict) -> dict:
        chat_id = int(params.get("chat_id", USER_ID))
        if name == "sendMessage":
            message_id = next(self._ids)
            message = {
                "message_id": message_id,
                "date": 0,
                "chat": _chat(chat_id),
                "from": _BOT,
                "text": "",
            }
        else:
            message_id = int(params["message_id"])
            message = self.messages[message_id]
        if "text" in params:
            message["text"] = params["text"]
        markup = params.get("reply_markup")
        message["reply_markup"] = markup
        self.messages[message_id] = message
        if name == "editMessageReplyMarkup":
            self._print_buttons(message_id, markup)  # only the buttons changed; don't reprint
            return {k: v for k, v in message.items() if v is not None}
        prefix = "" if name == "sendMessage" else "(updated) "
        body = (
            html_to_terminal(message["text"])
            if params.get("parse_mode", "HTML") == "HTML"
            else message["text"]
        )
        self._print(f"\n{prefix}{body}")
        self._print_buttons(message_id, markup)
        return {k: v for k, v in message.items() if v is not None}

    def _print_buttons(self, message_id: int, markup: dict | None) -> None:
        self.buttons = {k: v for k, v in self.buttons.items() if v[0] != message_id}
        if not markup:
            return
        for row in markup.get("inline_keyboard", []):
            line = []
            for button in row:
                if "callback_data" not in button:
                    continue
                # Past every number still shown: numbers freed by this message would otherwise
                # be handed out again beside ones on other messages, and one would shadow another.
                number = max(self.buttons, default=0) + 1
                self.buttons[number] = (message_id, button["callback_data"])
                line.append(f"[{number}] {button['text']}")
            if line:
                self._print("   ".join(line))

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _chat(chat_id: int) -> dict:
    return {"id": chat_id, "type": "private", "first_name": "You"}


_USER = {"id": USER_ID, "is_bot": False, "first_name": "You"}


def text_update(update_id: int, text: str) -> dict:
    """The Update Telegram would send for a typed message."""
    message: dict = {
        "message_id": update_id,
        "date": 0,
        "chat": _chat(USER_ID),
        "from": _USER,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


def button_update(update_id: int, message: dict, data: str) -> dict:
    """The Update Telegram would send for a button press."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": _USER,
            "chat_instance": "1",
            "data": data,
            "message": message,
        },
    }


def read_lines(stdin: IO[str]) -> asyncio.Queue[str]:
    """Lines of ``stdin`` as they come ("" at its end), read by a daemon thread.

    A daemon thread, not asyncio.to_thread: on Ctrl-C the event loop would otherwise wait for
    the read blocked at the prompt, and the bot hang until Enter.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            line = stdin.readline()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop has closed: the chat is over
                return
            if not line:
                return

    threading.Thread(target=pump, name="terminal-stdin", daemon=True).start()
    return queue


def feeds_note(svc: Services, before: RefreshReport | None) -> str | None:
    """One line when the fetch round an update ran (its report is not ``before``) could not
    reach some feeds: terminal mode keeps the log, which names each, off the screen."""
    report = svc.newsroom.last_report
    if report is None or report is before:
        return None
    # Feeds backing off failed in an earlier round and were not tried again.
    missed = len(report.failed) + report.skipped_backoff
    if not missed:
        return None
    total = len(svc.newsroom.feeds)
    offline = " — offline?" if missed == total else ""
    return f"⚠ {missed} of {total} feeds could not be reached{offline} (`securitybrief feeds` says why)"


def _schedule(svc: Services) -> tuple[bool, str, str] | None:
    chat = get_chat(svc.db, USER_ID)
    return (chat.subscribed, chat.delivery_time, chat.timezone) if chat else None


def delivery_note(svc: Services, before: tuple[bool, str, str] | None) -> str | None:
    """A reminder, when an update subscribed or moved the daily brief, that terminal mode does
    not send it (no delivery job runs here)."""
    after = _schedule(svc)
    if after is None or after == before or not after[0]:
        return None
    return (
        "(Terminal mode does not send the daily brief: /latest shows it now. With a bot token, "
        f"it comes every day at {after[1]} ({after[2]}).)"
    )


async def chat(
    settings: Settings, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout
) -> None:
    """Read lines from ``stdin`` and answer them through the bot's own handlers."""
    request = TerminalRequest(out=stdout)
    # The terminal is the only chat: no CHANNEL_ID to post to (this fake Telegram has none).
    settings = replace(
        settings, admin_chat_ids=settings.admin_chat_ids | {USER_ID}, channel_id=None
    )
    app = build_application(settings, request=request, token=TERMINAL_TOKEN, schedule_jobs=False)
    stdout.write(
        "Security Brief — terminal mode (no TELEGRAM_BOT_TOKEN set).\n"
        "You are chatting with the real bot handlers. Try /start, /latest, /settings, /time 08:00,\n"
        "/watch Kharkiv, /watchlist.\n"
        "The daily brief is not sent here (/latest shows it); with a bot token it is.\n"
        "Type a button's number to press it; 'quit' or Ctrl-D leaves.\n"
    )
    stdout.flush()
    lines = read_lines(stdin)
    async with started(app, polling=False):
        svc = app.bot_data.services
        assert svc is not None
        for update_id in itertools.count(1):
            stdout.write("\nyou> ")
            stdout.flush()
            line = await lines.get()
            if not line or line.strip().lower() in {"quit", "exit"}:
                break
            text = line.strip()
            if not text:
                continue
            if text.isdigit() and int(text) in request.buttons:
                message_id, data = request.buttons[int(text)]
                payload = button_update(update_id, request.messages[message_id], data)
            else:
                payload = text_update(update_id, text)
            report, schedule = svc.newsroom.last_report, _schedule(svc)
            await app.process_update(Update.de_json(payload, app.bot))
            for note in (feeds_note(svc, report), delivery_note(svc, schedule)):
                if note:
                    stdout.write(note + "\n")
    stdout.write("\nBye.\n")
