"""Webhook mode: Telegram's updates over HTTPS (behind a proxy), plus a /healthz endpoint."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from bot.ops.status import health

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram"


class TelegramUpdates(tornado.web.RequestHandler):
    """POST /telegram: one update from Telegram, checked against the secret token."""

    def initialize(self, app: Application, secret: str | None) -> None:
        """Tornado passes the application and the expected secret."""
        self.app, self.secret = app, secret

    async def post(self) -> None:
        """Queue the update for the application; 403 without the right secret."""
        sent = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if self.secret and not hmac.compare_digest(sent, self.secret):
            log.warning("webhook call with a wrong secret token from %s", self.request.remote_ip)
            raise tornado.web.HTTPError(403)
        try:
            update = Update.de_json(json.loads(self.request.body), self.app.bot)
        except (ValueError, TypeError, KeyError):
            raise tornado.web.HTTPError(400) from None
        await self.app.update_queue.put(update)
        self.set_status(200)


class Health(tornado.web.RequestHandler):
    """GET /healthz: 200 with the last fetch and broadcast, 503 when the database fails."""

    def initialize(self, app: Application) -> None:
        """Tornado passes the application."""
        self.app = app

    def get(self) -> None:
        """Report health as JSON."""
        try:
            svc = self.app.bot_data["services"]
            body = health(svc.db, svc.settings, svc.clock())
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            self.set_status(503)
            body = {"status": "error", "error": str(exc)}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


def make_web_app(app: Application, secret: str | None) -> tornado.web.Application:
    """The HTTP routes webhook mode serves."""
    return tornado.web.Application(
        [
            (WEBHOOK_PATH, TelegramUpdates, {"app": app, "secret": secret}),
            ("/healthz", Health, {"app": app}),
        ]
    )


async def serve_webhook(app: Application, settings: Settings, stop: asyncio.Event) -> None:
    """Register the webhook with Telegram and serve until ``stop`` is set."""
    assert settings.webhook_url
    server = tornado.httpserver.HTTPServer(make_web_app(app, settings.webhook_secret))
    server.listen(settings.webhook_port, settings.webhook_listen)
    await app.bot.set_webhook(
        f"{settings.webhook_url.rstrip('/')}{WEBHOOK_PATH}",
        secret_token=settings.webhook_secret,
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
