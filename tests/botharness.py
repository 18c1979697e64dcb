"""Running the real bot application against the fake Bot API server, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fake_telegram import FakeTelegram
from sqlite_utils import Database
from telegram.ext import Application

from bot.config import Settings
from bot.delivery.planning import plan_batches
from bot.models import Article, Brief, Source, Story
from bot.news.watch import normalise
from bot.storage import watchlists
from bot.storage.chats import ensure_chat, set_subscribed
from bot.storage.news_store import iso, save_articles
from bot.telegram.app import build_application, started
from bot.telegram.webhook import serve_webhook


@dataclass
class Clock:
    """An injectable clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move time forward."""
        self.now += timedelta(**kwargs)


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def buttons(message: dict) -> dict[str, str]:
    """Button text -> callback data of a message the fake recorded."""
    markup = message.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


def button_data(message: dict, label_part: str) -> str:
    """The callback data of the first button whose text contains ``label_part``."""
    for text, data in buttons(message).items():
        if label_part in text:
            return data
    raise AssertionError(f"no button containing {label_part!r} in {list(buttons(message))}")


def subscribe_due(
    db: Database, chat_ids: Iterable[int], now: datetime, batch_size: int = 100
) -> None:
    """Insert subscribed chats whose daily brief was due a minute ago (fast, for big tests)."""
    db["chats"].insert_all(
        (
            {
                "chat_id": c,
                "type": "private" if c > 0 else "group",
                "subscribed": 1,
                "active": 1,
                "timezone": "UTC",
                "delivery_time": "07:00",
                "brief_length": "short",
                "next_due": iso(now - timedelta(minutes=1)),
                "created_at": iso(now),
                "updated_at": iso(now),
            }
            for c in chat_ids
        ),
        pk="chat_id",
        batch_size=batch_size,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bot_argv(*args: str) -> list[str]:
    """The command line of ``securitybrief *args`` (as ``python -m bot``), reading no .env file."""
    return [sys.executable, "-m", "bot", "--env-file", os.devnull, *args]


def plan_all(
    db: Database, brief_id: int, brief: Brief, now: datetime, grace: timedelta
) -> tuple[int, int]:
    """Run every planning batch, as the delivery job does; (planned, missed) in total."""
    batches = list(plan_batches(db, brief_id, brief, now, grace))
    return sum(b[0] for b in batches), sum(b[1] for b in batches)


def seed_delivery(
    db: Database,
    settings: Settings,
    chat_id: int,
    now: datetime,
    messages: list[str],
    stories: list[list[Any]] | None = None,
    next_part: int = 0,
) -> None:
    """A subscribed chat with a pending 2026-11-28 delivery of ``messages`` from ``next_part``."""
    ensure_chat(db, chat_id, "private", None, settings, now)
    set_subscribed(db, chat_id, True, now)  # next due tomorrow: only this delivery runs
    db["contents"].insert(
        {
            "key": "k",
            "brief_id": 1,
            "messages": json.dumps(messages),
            "stories": json.dumps(stories or []),
            "created_at": iso(now),
        }
    )
    db["deliveries"].insert(
        {
            "chat_id": chat_id,
            "local_date": "2026-11-28",
            "due_at": iso(now),
            "content_key": "k",
            "next_part": next_part,
            "status": "pending",
            "created_at": iso(now),
        }
    )


def cli(*args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``securitybrief *args`` with extra environment and ``input`` on stdin."""
    return subprocess.run(
        bot_argv(*args),
        input=input,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def say(
    fake: FakeTelegram,
    chat_id: int,
    text: str,
    timeout: float = 10.0,
    from_user: int | None = None,
) -> list[dict]:
    """Send ``text`` as the chat's user (or ``from_user``); the messages the bot sent back (at
    least one)."""
    before = len(fake.messages_to(chat_id))
    fake.send_text(chat_id, text, from_user=from_user)
    return (await fake.wait_for_messages(chat_id, before + 1, timeout=timeout))[before:]


@asynccontextmanager
async def running_bot(
    fake: FakeTelegram, settings: Settings, clock: Clock | None = None, schedule_jobs: bool = False
) -> AsyncIterator[Application]:
    """The real application, long-polling the fake server, until the block ends."""
    settings = replace(settings, telegram_bot_token=fake.token, telegram_api_url=fake.url)
    app = build_application(
        settings, clock=clock or Clock(datetime.now(UTC)), schedule_jobs=schedule_jobs
    )
    async with started(app):
        yield app
        # A handler or job that leaves a transaction open holds every later write uncommitted.
        assert not app.bot_data.services.db.conn.in_transaction, "a write was left uncommitted"


ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The shell commands in the README's code blocks, in order."""
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)


def clean_environment() -> dict[str, str]:
    """This process's environment without anything pointing at the repository's own venv or bot."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"))
    }


async def start_bot_process(
    fake: FakeTelegram, settings: Settings, log: Path
) -> asyncio.subprocess.Process:
    """The real bot (``python -m bot run``) as a child process against the fake, logging to ``log``."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "DATABASE_PATH": str(settings.database_path),
        "FEEDS_FILE": str(settings.feeds_file),
        "DELIVERY_CHECK_SECONDS": "1",
        "BROADCAST_RATE": "1000",
        # The killed process's lease must lapse before the restart may send: keep that short.
        "DELIVERY_LEASE_SECONDS": "2",
        "LOG_LEVEL": "INFO",
    }
    return await asyncio.create_subprocess_exec(
        *bot_argv("run"),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=asyncio.subprocess.STDOUT,
    )


async def kill_mid_send(
    fake: FakeTelegram, settings: Settings, log: Path, accepted: int, what: str
) -> list[dict]:
    """Start the bot, SIGKILL it once the fake has accepted ``accepted`` messages, release the fake.

    Sends after those are held unanswered, so the crash lands with sends in flight that Telegram
    never answered. Returns the messages the fake accepted before the crash.
    """
    fake.hold_after = accepted
    bot = await start_bot_process(fake, settings, log)
    try:
        await wait_until(lambda: fake.stats["accepted"] >= accepted, 60, what)
        await asyncio.sleep(0.5)  # let the bot record what Telegram acknowledged
    finally:
        bot.send_signal(signal.SIGKILL)
        killed = await bot.wait()
    assert killed == -signal.SIGKILL
    sent = list(fake.sent)
    fake.release()
    return sent


async def restart_until(
    fake: FakeTelegram,
    settings: Settings,
    log: Path,
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
) -> None:
    """Start the bot again, wait for ``predicate``, let two more delivery checks run, stop it."""
    bot = await start_bot_process(fake, settings, log)
    try:
        await wait_until(predicate, timeout, what)
        await asyncio.sleep(2.0)  # more delivery checks: nothing else may go out
    finally:
        bot.terminate()
        await bot.wait()


def broadcast_app(
    fake: FakeTelegram, settings: Settings, clock: Clock
) -> tuple[Application, Settings]:
    """The real application pointed at the fake, paced fast enough for big broadcasts."""
    settings = replace(
        settings, telegram_bot_token=fake.token, telegram_api_url=fake.url, broadcast_rate=800.0
    )
    app = build_application(settings, clock=clock, schedule_jobs=False)
    return app, settings


def add_alert_watchers(
    db: Database, chat_ids: Iterable[int], terms: Iterable[str], now: datetime
) -> None:
    """Active chats (no daily brief) that follow ``terms`` with alerts at any hour."""
    from bot.news.watch import normalise

    chat_ids, terms = list(chat_ids), list(terms)
    db["chats"].insert_all(
        {
            "chat_id": c,
            "type": "private",
            "subscribed": 0,
            "active": 1,
            "timezone": "UTC",
            "delivery_time": "07:00",
            "created_at": iso(now),
            "updated_at": iso(now),
        }
        for c in chat_ids
    )
    db["watch_terms"].insert_all(
        {"chat_id": c, "key": normalise(t), "term": t, "mode": "alert", "created_at": iso(now)}
        for c in chat_ids
        for t in terms
    )
    db["watch_quiet"].insert_all({"chat_id": c, "quiet": "off"} for c in chat_ids)


WATCH_TERM = "Tarkovo"  # in none of the fixture feeds: only the stories stored here match it
WATCH_HEADLINE = f"Strike near {WATCH_TERM}"
WATCH_ALERT = f"🔔 Watchlist: “{WATCH_TERM}”\n{WATCH_HEADLINE}"  # an alert's first two lines


def watched_story(db: Database, story_id: str, now: datetime, stored: bool = False) -> str:
    """A fetch round stores a story naming WATCH_TERM, with its match (and, when ``stored``,
    its article row); the story's one URL."""
    url = f"https://x.example/{story_id}"
    if stored:
        article = Article(url, "https://x.example/feed", "Outlet", WATCH_HEADLINE, "", now)
        save_articles(db, [article], now)
    source = (Source("Outlet", WATCH_HEADLINE, url, now),)
    story = Story(story_id, WATCH_HEADLINE, "Outlet reports: …", "Europe", (), 3.0, source)
    watchlists.save_stories(db, [story], {story_id: [url]}, now)
    watchlists.record_matches(db, [(url, normalise(WATCH_TERM))], now)
    return url


def alerts_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    """The heading and headline lines of the alerts the chat received."""
    return [
        "\n".join(t.split("\n")[:2]) for t in fake.texts_to(chat_id) if t.startswith("🔔 Watchlist")
    ]


@asynccontextmanager
async def webhook_bot(
    fake: FakeTelegram,
    settings: Settings,
    secret: str | None,
    url: str | None = "https://bot.example.com",
) -> AsyncIterator[tuple[int, Application]]:
    """The real application in webhook mode on a free port (at ``url``, else the settings'
    WEBHOOK_URL); yields the port and the app."""
    port = free_port()
    settings = replace(
        settings,
        telegram_bot_token=fake.token,
        telegram_api_url=fake.url,
        webhook_url=url or settings.webhook_url,
        webhook_secret=secret,
        webhook_port=port,
        webhook_listen="127.0.0.1",
    )
    app = build_application(settings, schedule_jobs=False)
    stop = asyncio.Event()
    async with started(app, polling=False):
        server = asyncio.create_task(serve_webhook(app, settings, stop))
        await wait_until(lambda: fake.webhook_url, what="setWebhook")
        try:
            yield port, app
        finally:
            stop.set()
            await server


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering with ``handler``; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


NGINX_PAGE = "<html><body>Welcome to nginx!</body></html>"


def html_api(
    status: int, page: Callable[[str], str] = lambda path: NGINX_PAGE
) -> type[BaseHTTPRequestHandler]:
    """A handler answering every call with ``status`` and an HTML page (``page`` of the path):
    a proxy or a web server where a Bot API was expected."""

    class Html(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = page(self.path).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's
            pass

    return Html
