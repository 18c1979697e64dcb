"""Webhook mode: Telegram's updates over HTTPS (behind a proxy), plus a /healthz endpoint.

Safe by default: without WEBHOOK_SECRET a random secret is made at start and registered with
Telegram, so forged updates get 403; the secret is checked before the body is read; a body
declared over MAX_UPDATE_BYTES gets 413 unread, a streamed one 400 once it passes the limit;
anything that is not an update gets 400, never 500. An update Telegram sends again (its 200 was
lost) is acknowledged, not handled twice.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import signal
from collections import OrderedDict
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.ext import Application

from bot.config import WEBHOOK_PATH, Settings
from bot.ops.status import health
from bot.telegram.transport import install_redaction

log = logging.getLogger(__name__)
# Telegram's updates are a few KB (a 4096-character message plus entities); 1 MiB is ample.
MAX_UPDATE_BYTES = 1024 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram redelivers an update until it gets a 200, in order and soon: this many recent ids
# are ample to recognise a repeat (a few KB of memory).
RECENT_UPDATES = 4096


def new_secret() -> str:
    """A random secret_token in Telegram's alphabet (A-Z, a-z, 0-9, _ and -)."""
    return secrets.token_urlsafe(32)


def secret_matches(sent: str, expected: str) -> bool:
    """Constant-time comparison that accepts any header text (non-ASCII included)."""
    return hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode("utf-8"))


class RecentUpdates:
    """The ids of the last ``size`` updates queued, oldest first."""

    def __init__(self, size: int = RECENT_UPDATES) -> None:
        self.size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def first_time(self, update_id: int) -> bool:
        """Remember ``update_id``; False if it is one of the recent ones already."""
        if update_id in self._ids:
            return False
        self._ids[update_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


@tornado.web.stream_request_body
class TelegramUpdates(tornado.web.RequestHandler):
    """POST /telegram: one update from Telegram, checked against the secret token."""

    def initialize(self, app: Application, secret: str, recent: RecentUpdates) -> None:
        """Tornado passes the application, the expected secret and the updates queued lately."""
        self.app, self.secret, self.recent = app, secret, recent
        self.chunks: list[bytes] = []

    def prepare(self) -> None:
        """Runs on the headers alone: refuse a wrong secret or an oversized body unread."""
        if self.request.method != "POST":
            return
        sent = self.request.headers.get(SECRET_HEADER, "")
        if not secret_matches(sent, self.secret):
            log.warning("webhook call with a wrong secret token from %s", self.request.remote_ip)
            raise tornado.web.HTTPError(403)
        declared = self.request.headers.get("Content-Length", "0")
        if not declared.isdigit() or int(declared) > MAX_UPDATE_BYTES:
            raise tornado.web.HTTPError(413 if declared.isdigit() else 400)
        # A chunked body has no length up front: past the server's max_body_size (the same
        # limit, serve_webhook) tornado stops reading it and answers 400 itself.

    def data_received(self, chunk: bytes) -> None:
        """Collect the body as it streams in (tornado keeps it within the limit)."""
        self.chunks.append(chunk)

    async def post(self) -> None:
        """Queue the update for the application; 400 for anything that is not an update."""
        try:
            payload = json.loads(b"".join(self.chunks))
            if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
                raise ValueError("not an update object")
            update = Update.de_json(payload, self.app.bot)
        except Exception as exc:  # noqa: BLE001 - whatever the body does, the answer is 400
            log.warning("webhook body is not a valid update (%s)", type(exc).__name__)
            raise tornado.web.HTTPError(400) from None
        if self.recent.first_time(update.update_id):
            await self.app.update_queue.put(update)
        else:
            log.info(
                "webhook: update %s sent again (our 200 was lost); not handled twice",
                update.update_id,
            )
        self.set_status(200)


class Health(tornado.web.RequestHandler):
    """GET /healthz: 200 with the last fetch and broadcast, 503 when the database fails."""

    def initialize(self, app: Application) -> None:
        """Tornado passes the application."""
        self.app = app

    def get(self) -> None:
        """Report health as JSON."""
        try:
            svc = self.app.bot_data.services
            body = health(svc.db, svc.settings, svc.clock(), svc.newsroom.feeds)
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            self.set_status(503)
            body = {"status": "error", "error": str(exc)}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


def make_web_app(
    app: Application, secret: str, endpoint: str | None = None
) -> tornado.web.Application:
    """The HTTP routes webhook mode serves: updates on /telegram and on the ``endpoint``'s path."""
    # A WEBHOOK_URL with a path (https://host/bot) has Telegram post to /bot/telegram: served
    # whether or not the proxy in front strips the prefix.
    paths = dict.fromkeys([WEBHOOK_PATH, urlsplit(endpoint).path if endpoint else WEBHOOK_PATH])
    # Telegram posts every update to the one URL it was given: a repeat comes on the path the
    # first one came on, so each path remembers its own.
    updates = [
        (
            re.escape(path),
            TelegramUpdates,
            {"app": app, "secret": secret, "recent": RecentUpdates()},
        )
        for path in paths
    ]
    return tornado.web.Application([*updates, ("/healthz", Health, {"app": app})])


async def serve_webhook(app: Application, settings: Settings, stop: asyncio.Event) -> None:
    """Register the webhook with Telegram and serve until ``stop`` is set."""
    assert settings.webhook_url
    secret = settings.webhook_secret or new_secret()
    if not settings.webhook_secret:
        # Kept out of the logs like WEBHOOK_SECRET (PTB logs setWebhook's arguments at DEBUG).
        install_redaction(secret)
        log.info("WEBHOOK_SECRET not set: registered a random secret for this run")
    server = tornado.httpserver.HTTPServer(
        make_web_app(app, secret, settings.webhook_endpoint), max_body_size=MAX_UPDATE_BYTES
    )
    try:
        server.listen(settings.webhook_port, settings.webhook_listen)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        where = f"{settings.webhook_listen}:{settings.webhook_port}"
        raise OSError(f"cannot listen on {where} ({exc.strerror or exc})") from None
    await app.bot.set_webhook(
        settings.webhook_endpoint,
        secret_token=secret,
        allowed_updates=Update.ALL_TYPES,
    )
    log.info("webhook mode: listening on %s:%s", settings.webhook_listen, settings.webhook_port)
    try:
        await stop.wait()
    finally:
        server.stop()


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM (systemd, docker stop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
