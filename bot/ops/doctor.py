"""`securitybrief doctor`: check the setup and say plainly what is wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from bot.config import Settings
from bot.models import FeedSpec
from bot.news.feeds import FeedsFileError, load_feeds
from bot.news.fetch import fetch_feed, make_client
from bot.news.parse import FeedParseError, parse_feed
from bot.news.pipeline import utcnow
from bot.ops.status import probe_storage, storage_problem
from bot.storage.db import open_db


@dataclass(frozen=True)
class Check:
    """One finding."""

    ok: bool
    what: str
    detail: str = ""
    warning: bool = False


def _redact(text: str, settings: Settings) -> str:
    token = settings.telegram_bot_token
    return text.replace(token, "<token>") if token else text


def check_database(settings: Settings) -> Check:
    """The database opens (which migrates it fully) and is writable."""
    try:
        db = open_db(settings.database_path)
        try:
            problem = probe_storage(db)
        finally:
            db.close()
    except Exception as exc:  # noqa: BLE001 - any failure here is the finding
        words = storage_problem(exc)
        detail = f"disk problem: {words} ({exc})" if words else f"not usable: {exc}"
        return Check(False, f"Database {settings.database_path}", detail)
    if problem:
        return Check(False, f"Database {settings.database_path}", f"disk problem: {problem}")
    return Check(True, f"Database {settings.database_path}", "writable and migrated")


async def check_telegram(settings: Settings, client: httpx.AsyncClient) -> list[Check]:
    """The Bot API answers and accepts the token; the webhook state matches the mode."""
    if not settings.telegram_bot_token:
        return [
            Check(
                True, "Telegram", "no TELEGRAM_BOT_TOKEN: only terminal mode will run", warning=True
            )
        ]
    base = f"{settings.telegram_api_url}/bot{settings.telegram_bot_token}"
    try:
        me = (await client.get(f"{base}/getMe", timeout=10)).json()
    except (httpx.HTTPError, ValueError) as exc:
        detail = _redact(f"{type(exc).__name__}: {exc}", settings)
        return [
            Check(False, f"Bot API at {settings.telegram_api_url}", f"not reachable ({detail})")
        ]
    if not me.get("ok"):
        return [
            Check(
                False, "Bot token", f"rejected by getMe: {me.get('description', 'no reason given')}"
            )
        ]
    checks = [
        Check(True, f"Bot API at {settings.telegram_api_url}", "reachable"),
        Check(True, "Bot token", f"accepted: @{me['result'].get('username')}"),
    ]
    try:
        info = (await client.get(f"{base}/getWebhookInfo", timeout=10)).json().get("result", {})
    except (httpx.HTTPError, ValueError):
        return checks
    current = info.get("url") or ""
    if not settings.webhook_url and current:
        checks.append(
            Check(
                True,
                "Webhook",
                f"a webhook ({current}) is set; polling will remove it on start",
                warning=True,
            )
        )
    return checks


def check_webhook_settings(settings: Settings) -> list[Check]:
    """WEBHOOK_* settings are consistent with each other and with what Telegram requires
    (load_settings has already refused a WEBHOOK_SECRET Telegram would not take)."""
    if not settings.webhook_url:
        return [Check(True, "Mode", "long polling (WEBHOOK_URL not set)")]
    problems = []
    notes = []
    if not settings.webhook_url.startswith("https://"):
        problems.append("WEBHOOK_URL must be https:// (Telegram only calls HTTPS webhooks)")
    if not settings.webhook_secret:
        notes.append(
            Check(
                True,
                "Webhook secret",
                "WEBHOOK_SECRET not set: a random one is made at each start and registered with Telegram",
            )
        )
    if not 1 <= settings.webhook_port <= 65535:
        problems.append("WEBHOOK_PORT must be between 1 and 65535")
    if problems:
        return [*(Check(False, "Webhook settings", p) for p in problems), *notes]
    return [
        Check(True, "Webhook settings", f"{settings.webhook_url} → port {settings.webhook_port}"),
        *notes,
    ]


async def check_feeds(settings: Settings, client: httpx.AsyncClient) -> list[Check]:
    """Each feed answers and parses."""
    try:
        specs = load_feeds(settings.feeds_file)
    except FeedsFileError as exc:
        return [Check(False, "Feeds file", str(exc))]
    now = utcnow()

    async def one(spec: FeedSpec) -> Check:
        result = await fetch_feed(
            client, spec, timeout=settings.fetch_timeout_seconds, max_bytes=settings.fetch_max_bytes
        )
        if result.error:
            return Check(False, f"Feed {spec.name}", result.error)
        try:
            parsed = parse_feed(
                result.body, spec, now, timedelta(days=3650), None, result.content_type
            )
        except FeedParseError as exc:
            return Check(False, f"Feed {spec.name}", str(exc))
        return Check(True, f"Feed {spec.name}", f"{parsed.entries} items")

    return list(await asyncio.gather(*(one(s) for s in specs)))


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order they are shown."""
    checks = [
        Check(True, "Settings", "valid"),
        check_database(settings),
        *check_webhook_settings(settings),
    ]
    async with make_client(settings.fetch_timeout_seconds) as client:
        checks += await check_telegram(settings, client)
        checks += await check_feeds(settings, client)
    return checks


def report(checks: list[Check], echo: Callable[[str], None]) -> bool:
    """Print the findings; True when nothing failed."""
    for c in checks:
        mark = "!" if c.warning else ("✔" if c.ok else "✘")
        echo(f"{mark} {c.what}: {c.detail}" if c.detail else f"{mark} {c.what}")
    failed = [c for c in checks if not c.ok]
    echo(f"\n{len(failed)} problem(s) found." if failed else "\nAll checks passed.")
    return not failed
