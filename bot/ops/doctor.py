"""`securitybrief doctor`: check the setup and say plainly what is wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bot.config import Settings, unknown_names
from bot.models import FeedSpec
from bot.news.feeds import FeedsFileError, load_feeds
from bot.news.fetch import fetch_feed, make_client
from bot.news.parse import FeedParseError, parse_feed
from bot.news.pipeline import utcnow
from bot.ops.status import (
    check_integrity,
    empty_file_problem,
    folder_problem,
    probe_storage,
    storage_problem,
)
from bot.storage.db import open_db

_PROXY = " (is a proxy or another server in the way?)"
# The only ports setWebhook accepts (https://core.telegram.org/bots/api#setwebhook).
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)


@dataclass(frozen=True)
class Check:
    """One finding."""

    ok: bool
    what: str
    detail: str = ""
    warning: bool = False


def _redact(text: str, settings: Settings) -> str:
    token = settings.telegram_bot_token
    if not token:
        return text
    # A URL may carry it percent-encoded (its ':' as %3A).
    return text.replace(token, "<token>").replace(quote(token, safe=""), "<token>")


NO_DATABASE_YET = (
    "no database file there yet: the bot creates it when it first starts (if it has run "
    "before, DATABASE_PATH points elsewhere)"
)


def check_database(settings: Settings) -> Check:
    """The database file exists, passes SQLite's quick_check, opens (which migrates it fully)
    and is writable."""
    what = f"Database {settings.database_path}"
    if not settings.database_path.exists():
        # Opening it would create an empty one at a mistyped DATABASE_PATH and call it fine. On
        # a new install it is expected: a note, with where it looked (`status` fails instead).
        return Check(True, what, NO_DATABASE_YET, warning=True)
    if folder := folder_problem(settings.database_path):
        return Check(False, what, folder)
    try:
        if empty := empty_file_problem(settings.database_path):
            return Check(False, what, empty)
        damaged = check_integrity(settings.database_path)
        if damaged:
            restore = "stop the bot and restore a backup (`securitybrief restore BACKUP`)"
            return Check(False, what, f"{damaged}; {restore}")
        db = open_db(settings.database_path)
        try:
            problem = probe_storage(db)
        finally:
            db.close()
    except Exception as exc:  # noqa: BLE001 - any failure here is the finding
        words = storage_problem(exc)
        detail = f"disk problem: {words} ({exc})" if words else f"not usable: {exc}"
        return Check(False, what, detail)
    if problem:
        return Check(False, what, f"disk problem: {problem}")
    return Check(True, what, "writable and migrated")


async def check_telegram(settings: Settings, client: httpx.AsyncClient) -> list[Check]:
    """The Bot API answers and accepts the token; the webhook state matches the mode."""
    if not settings.telegram_bot_token:
        return [
            Check(
                True, "Telegram", "no TELEGRAM_BOT_TOKEN: only terminal mode will run", warning=True
            )
        ]
    api = f"Bot API at {settings.telegram_api_url}"
    base = f"{settings.telegram_api_url}/bot{settings.telegram_bot_token}"
    try:
        httpx.URL(settings.telegram_api_url)
    except httpx.InvalidURL as exc:
        return [Check(False, api, f"TELEGRAM_API_URL is not a usable URL ({exc})")]
    try:
        httpx.URL(base)
    except httpx.InvalidURL:
        # httpx's message shows the character's position in the URL, not the token, but there
        # is nothing in it the operator needs.
        return [
            Check(
                False,
                "Bot token",
                "TELEGRAM_BOT_TOKEN holds a character that cannot be sent in a URL "
                "(a control character?); copy the token again from @BotFather",
            )
        ]
    try:
        me = await _get(client, f"{base}/getMe")
    except httpx.HTTPError as exc:
        detail = _redact(f"{type(exc).__name__}: {exc}", settings)
        return [Check(False, api, f"not reachable ({detail})")]
    except ValueError:
        return [Check(False, api, f"answered getMe with something that is not JSON{_PROXY}")]
    problem = _reply_problem(me)
    if problem:
        return [Check(False, api, f"answered getMe with {problem}{_PROXY}")]
    if not me["ok"]:
        reason = _redact(str(me.get("description") or "no reason given"), settings)
        return [Check(False, "Bot token", f"rejected by getMe: {reason}")]
    username = me["result"].get("username")
    checks = [
        Check(True, api, "reachable"),
        Check(True, "Bot token", f"accepted: @{username}" if username else "accepted"),
    ]
    try:
        answer = await _get(client, f"{base}/getWebhookInfo")
    except httpx.HTTPError as exc:
        problem = f"not reachable ({_redact(f'{type(exc).__name__}: {exc}', settings)})"
    except ValueError:
        problem = f"the answer is not JSON{_PROXY}"
    else:
        problem = _reply_problem(answer)
        if problem:
            problem = f"the answer is {problem}{_PROXY}"
        elif not answer["ok"]:
            problem = f"refused: {_redact(str(answer.get('description')), settings)}"
    if problem:
        return [*checks, Check(False, "Webhook", f"could not read getWebhookInfo: {problem}")]
    return checks + _webhook_state(settings, answer["result"])


async def _get(client: httpx.AsyncClient, url: str) -> Any:
    """The decoded JSON answer to a GET of ``url``."""
    return (await client.get(url, timeout=10)).json()


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _reply_problem(answer: Any) -> str | None:
    """Why ``answer`` is not a Bot API reply (a refusal, or a result that is an object)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        return f"JSON {_json_kind(answer)}, not a Bot API reply"
    if answer["ok"] and not isinstance(answer.get("result"), dict):
        return f"a reply whose result is {_json_kind(answer.get('result'))}, not an object"
    return None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _utc_time(unix: int | None) -> str:
    """ " at 2025-11-29 07:06 UTC" for a Unix time, or "" when there is none."""
    try:
        return f" at {datetime.fromtimestamp(unix, UTC):%Y-%m-%d %H:%M} UTC" if unix else ""
    except (OverflowError, OSError, ValueError):
        return ""


def _webhook_state(settings: Settings, info: dict[str, Any]) -> list[Check]:
    """What getWebhookInfo says, against the mode the settings choose."""
    # Compared as they are, shown redacted: the URL may hold the token (a common setup).
    raw_current = str(info.get("url") or "")
    current = _redact(raw_current, settings)
    if not settings.webhook_url:
        if not current:
            return []
        return [
            Check(
                True,
                "Webhook",
                f"a webhook ({current}) is set; polling will remove it on start",
                warning=True,
            )
        ]
    raw_expected = settings.webhook_endpoint
    expected = _redact(raw_expected or "", settings)
    if not current:
        # Updates wait at Telegram until the bot starts and registers the webhook.
        return [
            Check(
                True,
                "Webhook",
                f"not registered with Telegram yet; the bot registers {expected} when it starts",
                warning=True,
            )
        ]
    problems = []
    if raw_current != raw_expected:
        problems.append(
            f"Telegram sends updates to {current}, not to {expected} (from WEBHOOK_URL), so this "
            "bot gets none until it starts again and registers its own (is another instance "
            "using this token?)"
        )
    pending = _integer(info.get("pending_update_count"))
    if pending:
        problems.append(
            f"{pending} update(s) are waiting at Telegram, not yet delivered to {current} "
            "(is the bot running, and reachable there through the proxy?)"
        )
    error = info.get("last_error_message")
    if error:
        at = _utc_time(_integer(info.get("last_error_date")))
        problems.append(
            f"Telegram's last delivery to {current}{at} failed: {_redact(str(error), settings)}"
        )
    if problems:
        return [Check(False, "Webhook", p) for p in problems]
    return [Check(True, "Webhook", f"registered as {expected}; no updates waiting, no errors")]


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
    port = urlsplit(settings.webhook_url).port
    if port is not None and port not in TELEGRAM_WEBHOOK_PORTS:
        problems.append(
            f"WEBHOOK_URL has port {port}: Telegram only sends updates to ports 443, 80, 88 and "
            "8443 (setWebhook would refuse it)"
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


def check_settings(env_file: Path | None) -> list[Check]:
    """The settings are valid (load_settings has checked the values); warnings for the names in
    ``env_file`` that are not settings."""
    unknown = unknown_names(env_file) if env_file is not None else []
    if not unknown:
        return [Check(True, "Settings", "valid")]
    return [Check(True, f"Settings file {env_file}", note, warning=True) for note in unknown]


async def run_checks(settings: Settings, env_file: Path | None = None) -> list[Check]:
    """Every check, in the order they are shown; ``env_file``: the settings file read."""
    checks = [
        *check_settings(env_file),
        check_database(settings),
        *check_webhook_settings(settings),
    ]
    async with make_client(settings.fetch_timeout_seconds) as client:
        checks += await check_telegram(settings, client)
        checks += await check_feeds(settings, client)
    # Whatever a check quotes (a URL, a path, an error), the token is never printed.
    return [
        replace(c, what=_redact(c.what, settings), detail=_redact(c.detail, settings))
        for c in checks
    ]


def report(checks: list[Check], echo: Callable[[str], None]) -> bool:
    """Print the findings; True when nothing failed."""
    for c in checks:
        mark = "!" if c.warning else ("✔" if c.ok else "✘")
        echo(f"{mark} {c.what}: {c.detail}" if c.detail else f"{mark} {c.what}")
    failed = [c for c in checks if not c.ok]
    echo(f"\n{len(failed)} problem(s) found." if failed else "\nAll checks passed.")
    return not failed
