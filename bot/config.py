"""Settings from the environment and ``.env``, typed and validated in one place."""

from __future__ import annotations

import difflib
import io
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from bot.languages import language_code

USER_AGENT = "SecurityBrief/0.1 (+https://github.com/securitybrief/securitybrief; news digest bot)"


class ConfigError(ValueError):
    """One or more settings are invalid; the message lists each problem."""


@dataclass(frozen=True)
class Settings:
    """Every setting the bot reads, with its default."""

    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    database_path: Path = Path("data/securitybrief.db")
    feeds_file: Path | None = None
    lexicon_file: Path | None = None
    default_timezone: str = "UTC"
    default_delivery_time: time = time(7, 0)
    fetch_interval_minutes: int = 30
    admin_chat_ids: frozenset[int] = frozenset()
    channel_id: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_port: int = 8443
    webhook_listen: str = "0.0.0.0"
    log_level: str = "INFO"
    brief_window_hours: int = 36
    brief_stories: int = 7
    brief_language: str = "en"
    relevance_threshold: float = 1.0
    fetch_concurrency: int = 8
    fetch_timeout_seconds: float = 20.0
    fetch_max_bytes: int = 5_000_000
    full_text: bool = False
    delivery_grace_hours: int = 12
    delivery_check_seconds: int = 60
    broadcast_rate: float = 28.0
    paid_broadcast: bool = False
    broadcast_part_gap_seconds: float = 1.05
    broadcast_group_part_gap_seconds: float = 3.1
    broadcast_retry_base_seconds: float = 0.2
    delivery_lease_seconds: float = 60.0

    @property
    def webhook_endpoint(self) -> str | None:
        """The address Telegram posts updates to in webhook mode: WEBHOOK_URL plus our path."""
        return f"{self.webhook_url.rstrip('/')}{WEBHOOK_PATH}" if self.webhook_url else None


# The path the webhook server serves updates on (and registers with Telegram).
WEBHOOK_PATH = "/telegram"


def _lexicon_file(raw: str) -> Path:
    # Its contents are checked when the bot or a command starts (bot.news.lexicon.use).
    path = Path(raw.strip())
    if not path.is_file():
        raise ValueError("no such file")
    return path


def _parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def parse_hhmm(raw: str) -> time:
    """Parse ``HH:MM`` (24-hour clock) into a time, or raise ValueError."""
    match = re.fullmatch(r"\s*(\d{1,2})[:.h](\d{2})\s*", raw)
    if not match:
        raise ValueError("expected HH:MM, for example 07:30")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise ValueError("hours go from 00 to 23 and minutes from 00 to 59")
    return time(hour, minute)


def _parse_timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone name such as Europe/Berlin") from None
    return raw


def _parse_ids(raw: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError("expected comma-separated numeric chat ids") from None


def _whole(raw: str, example: str) -> int:
    # int()'s own message ("invalid literal for int() with base 10") says nothing to an operator.
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected a whole number, for example {example}") from None


def _positive_int(raw: str) -> int:
    value = _whole(raw, "30")
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _finite(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number, for example 1.5") from None
    # float() reads "nan" and "inf": a nan threshold keeps no story, an inf lease never lapses.
    if not math.isfinite(value):
        raise ValueError("must be a number (not nan or inf)")
    return value


def _positive_float(raw: str) -> float:
    value = _finite(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = _finite(raw)
    if value < 0:
        raise ValueError("must be zero or a positive number")
    return value


def _port(raw: str) -> int:
    value = _whole(raw, "8443")
    if not 1 <= value <= 65535:
        raise ValueError("must be a port number from 1 to 65535")
    return value


_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")


def _listen_address(raw: str) -> str:
    address = raw.strip()
    try:
        ipaddress.ip_address(address)
    except ValueError:
        if not _HOST_NAME.fullmatch(address) or len(address) > 253:
            raise ValueError(
                "expected an address such as 0.0.0.0, 127.0.0.1 or localhost"
            ) from None
    return address


# A username (collectible ones may have 4 characters) or a chat id: -100… for channels and
# supergroups, other negative ids for basic groups.
_CHANNEL = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-\d+")


def _matching(pattern: re.Pattern[str], problem: str) -> Callable[[str], str]:
    """A parser taking the value, stripped, when all of it matches ``pattern``."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if not pattern.fullmatch(value):
            raise ValueError(problem)
        return value

    return parse


def _url(raw: str) -> str:
    if not re.match(r"https?://[^\s/]+", raw):
        raise ValueError("expected an http:// or https:// URL")
    try:
        urlsplit(raw).port  # noqa: B018 - raises on a port that is not a number from 0 to 65535
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    return raw.rstrip("/")


# What @BotFather issues: the bot's id, a colon, then (about 35) letters, digits, _ and -. An
# invisible character (a zero-width space) pasted with it would be sent percent-encoded, and an
# error quoting that URL could print the token: anything else is refused, not sent.
_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
# Telegram's rule for secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -.
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _language(raw: str) -> str:
    # Feed languages are read as ISO 639-1 codes ("en-GB", "eng", "English" -> "en"), so the
    # setting is too: anything else would match no item and leave every brief empty.
    code = language_code(raw)
    if code is None or not re.fullmatch(r"[a-z]{2,3}", code):
        raise ValueError("expected a language code such as en, de or fr (ISO 639-1)")
    return code


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


_PARSERS: dict[str, Callable[[str], Any]] = {
    "telegram_bot_token": _matching(
        _BOT_TOKEN,
        "not a bot token: expected the bot's number, a colon and then only A-Z, a-z, 0-9, _ and - "
        "(as 123456789:AAH…); copy it again from @BotFather, without anything pasted with it "
        "(a space, quotes or an invisible character)",
    ),
    "telegram_api_url": _url,
    "database_path": Path,
    "feeds_file": Path,
    "lexicon_file": _lexicon_file,
    "default_timezone": _parse_timezone,
    "default_delivery_time": parse_hhmm,
    "fetch_interval_minutes": _positive_int,
    "admin_chat_ids": _parse_ids,
    "channel_id": _matching(
        _CHANNEL, "expected a channel's @username or its numeric id, such as -1001234567890"
    ),
    "webhook_url": _url,
    "webhook_secret": _matching(
        WEBHOOK_SECRET_PATTERN, "may only use A-Z, a-z, 0-9, _ and -, 1 to 256 characters"
    ),
    "webhook_port": _port,
    "webhook_listen": _listen_address,
    "log_level": _log_level,
    "brief_window_hours": _positive_int,
    "brief_stories": _positive_int,
    "brief_language": _language,
    "relevance_threshold": _positive_float,
    "fetch_concurrency": _positive_int,
    "fetch_timeout_seconds": _positive_float,
    "fetch_max_bytes": _positive_int,
    "full_text": _parse_bool,
    "delivery_grace_hours": _positive_int,
    "delivery_check_seconds": _positive_int,
    "broadcast_rate": _positive_float,
    "paid_broadcast": _parse_bool,
    "broadcast_part_gap_seconds": _non_negative_float,
    "broadcast_group_part_gap_seconds": _non_negative_float,
    "broadcast_retry_base_seconds": _non_negative_float,
    "delivery_lease_seconds": _positive_float,
}


def _read_env_file(env_file: Path) -> dict[str, str]:
    """The KEY=value pairs of ``env_file`` ({} when there is none); ConfigError on a bad line."""
    if not env_file.exists() or env_file.is_dir():
        return {}
    try:
        text = env_file.read_text("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"Settings file {env_file} is not UTF-8 text") from None
    # python-dotenv skips a line it cannot parse with only a warning, and the program would run
    # on the default. The line's text is not shown: it may hold the token.
    bad = [str(b.original.line) for b in parse_stream(io.StringIO(text)) if b.error]
    if bad:
        lines = f"line {bad[0]} is" if len(bad) == 1 else f"lines {', '.join(bad)} are"
        raise ConfigError(
            f"Settings file {env_file}: {lines} not KEY=value "
            "(an unclosed quote, or a space instead of =?)"
        )
    read = dotenv_values(stream=io.StringIO(text))
    return {k: v for k, v in read.items() if v is not None}


def unknown_names(env_file: Path) -> list[str]:
    """A note for each name in ``env_file`` that is not a setting (a misspelling would be ignored
    without a word), suggesting the closest setting."""
    settings = [f.name.upper() for f in fields(Settings)]
    notes = []
    for name in _read_env_file(env_file):
        if name in settings:
            continue
        close = difflib.get_close_matches(name.upper(), settings, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        notes.append(f"{name} is not a setting, so it is ignored{hint}")
    return notes


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Read settings from ``env_file`` then the environment (which wins unless it is empty);
    raise ConfigError."""
    values = _read_env_file(env_file) if env_file is not None else {}
    environ = os.environ if environ is None else environ
    # An empty variable counts as unset, as an empty value in the file does: it would otherwise
    # discard the file's value for the built-in default (`DATABASE_PATH= securitybrief status`).
    values.update({name: value for name, value in environ.items() if value.strip()})
    kwargs: dict[str, Any] = {}
    problems: list[str] = []
    for f in fields(Settings):
        raw = values.get(f.name.upper())
        if raw is None or raw.strip() == "":
            continue
        try:
            kwargs[f.name] = _PARSERS[f.name](raw)
        except ValueError as exc:
            shown = "(hidden)" if f.name in {"telegram_bot_token", "webhook_secret"} else repr(raw)
            problems.append(f"{f.name.upper()}={shown}: {exc}")
    if problems:
        raise ConfigError("Invalid settings:\n  " + "\n  ".join(problems))
    return Settings(**kwargs)
