"""The /settings menu: texts, inline keyboards and the callback data they carry."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import time
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.news.relevance import REGIONS, TOPICS
from bot.storage.chats import LENGTHS, ChatSettings
from bot.storage.watchlists import ALERT, WatchTerm

# Bumped whenever the callback format changes, so buttons on old messages are recognised as stale.
VERSION = "v1"
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Kyiv",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Africa/Lagos",
    "Africa/Nairobi",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
)
TOPIC_KEYS = tuple(TOPICS)


class Action(StrEnum):
    """The prefix of each button's callback data; handlers.BUTTONS maps every one to its handler."""

    SUBSCRIBE = "sub"
    DONE = "done"
    MENU = "menu"
    TIME_MENU = "time"
    ZONE_MENU = "tz"
    REGION_MENU = "reg"
    TOPIC_MENU = "top"
    TIME = "t"
    ZONE = "z"
    LENGTH = "len"
    REGION = "r"
    TOPIC = "p"
    WATCHLIST = "wl"
    UNWATCH = "wx"
    WATCH_MODE = "wm"
    QUIET = "q"


@dataclass(frozen=True)
class Callback:
    """A decoded button press."""

    action: str
    arg: str = ""


def data(action: Action, arg: str = "") -> str:
    """Encode a button's callback data (always well under Telegram's 64 bytes)."""
    return f"{VERSION}:{action}:{arg}"


def parse(raw: str | None) -> Callback | None:
    """Decode callback data; None for anything stale or foreign."""
    parts = (raw or "").split(":", 2)
    if len(parts) != 3 or parts[0] != VERSION:
        return None
    return Callback(parts[1], parts[2])


def _b(text: str, action: Action, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data(action, arg))


def subscribe_keyboard() -> InlineKeyboardMarkup:
    """The single Subscribe button under /start."""
    return InlineKeyboardMarkup([[_b("✅ Subscribe to the daily brief", Action.SUBSCRIBE)]])


def _describe(chosen: frozenset[str] | None, labels: dict[str, str] | None = None) -> str:
    if chosen is None:
        return "all"
    if not chosen:
        return "none"
    return ", ".join(sorted((labels or {}).get(c, c) for c in chosen))


def settings_text(chat: ChatSettings) -> str:
    """The settings summary shown above the menu (Telegram HTML)."""
    status = "✅ subscribed" if chat.subscribed else "not subscribed (send /subscribe)"
    return (
        "⚙️ <b>Settings</b>\n"
        f"Daily brief: {status}\n"
        f"Time: <b>{chat.delivery_time}</b> ({chat.timezone})\n"
        f"Length: <b>{chat.brief_length}</b> ({chat.story_count} stories)\n"
        f"Regions: {_describe(chat.regions)}\n"
        f"Topics: {_describe(chat.topics, TOPICS)}"
    )


def main_menu(chat: ChatSettings) -> InlineKeyboardMarkup:
    """The top-level settings keyboard."""
    lengths = [
        _b(("• " if chat.brief_length == key else "") + f"{key.title()} ({n})", Action.LENGTH, key)
        for key, n in LENGTHS.items()
    ]
    return InlineKeyboardMarkup(
        [
            [
                _b(f"🕖 Time {chat.delivery_time}", Action.TIME_MENU),
                _b(f"🌍 {chat.timezone}", Action.ZONE_MENU),
            ],
            lengths,
            [_b("🗺 Regions", Action.REGION_MENU), _b("🏷 Topics", Action.TOPIC_MENU)],
            [_b("👁 Watchlist", Action.WATCHLIST)],
            [_b("Done", Action.DONE)],
        ]
    )


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def time_menu(chat: ChatSettings) -> InlineKeyboardMarkup:
    """Hours of the day; minutes are kept (use /time for exact minutes)."""
    minute = chat.delivery_time[3:]
    hours = [_b(f"{h:02d}:{minute}", Action.TIME, f"{h:02d}:{minute}") for h in range(24)]
    return InlineKeyboardMarkup([*_rows(hours, 6), [_b("« Back", Action.MENU)]])


def timezone_menu(chat: ChatSettings) -> InlineKeyboardMarkup:
    """Common time zones; any other via /timezone."""
    zones = [
        _b(("• " if z == chat.timezone else "") + z, Action.ZONE, str(i))
        for i, z in enumerate(COMMON_ZONES)
    ]
    return InlineKeyboardMarkup([*_rows(zones, 2), [_b("« Back", Action.MENU)]])


def _toggles(
    action: Action, options: list[tuple[str, str]], chosen: frozenset[str] | None
) -> InlineKeyboardMarkup:
    buttons = [
        _b(("✅ " if chosen is None or key in chosen else "▫️ ") + label, action, str(i))
        for i, (key, label) in enumerate(options)
    ]
    return InlineKeyboardMarkup(
        [*_rows(buttons, 2), [_b("All", action, "all"), _b("« Back", Action.MENU)]]
    )


def region_menu(chat: ChatSettings) -> InlineKeyboardMarkup:
    """Toggle regions to follow."""
    return _toggles(Action.REGION, [(r, r) for r in REGIONS], chat.regions)


def topic_menu(chat: ChatSettings) -> InlineKeyboardMarkup:
    """Toggle topics to follow."""
    return _toggles(Action.TOPIC, [(k, TOPICS[k]) for k in TOPIC_KEYS], chat.topics)


def toggle(
    chosen: frozenset[str] | None, key: str, universe: tuple[str, ...]
) -> frozenset[str] | None:
    """Flip one option; following everything again collapses back to None."""
    current = frozenset(universe) if chosen is None else chosen
    flipped = current - {key} if key in current else current | {key}
    return None if flipped == frozenset(universe) else flipped


def term_id(key: str) -> str:
    """A short, fixed-length id of a term for callback data (a term may be 64 characters)."""
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def quiet_label(window: tuple[time, time] | None) -> str:
    """Quiet hours as shown to users: ``22:00–07:00``, or ``off``."""
    return "off" if window is None else f"{window[0]:%H:%M}–{window[1]:%H:%M}"


def watchlist_text(terms: list[WatchTerm], quiet: tuple[time, time] | None) -> str:
    """The watchlist: each term with its mode, and the quiet hours (Telegram HTML)."""
    lines = ["👁 <b>Watchlist</b>"]
    if not terms:
        lines.append(
            "Empty. <code>/watch Wagner</code> adds a term to your brief, "
            "<code>/alert Wagner</code> alerts you when it appears."
        )
    for t in terms:
        mode = "🔔 alert" if t.mode == ALERT else "brief"
        lines.append(f"• {html.escape(t.term, quote=False)} — {mode}")
    lines.append(
        f"Quiet hours for alerts: {quiet_label(quiet)} (<code>/quiet 22:00-07:00</code>, <code>/quiet off</code>)"
    )
    return "\n".join(lines)


def watchlist_menu(terms: list[WatchTerm]) -> InlineKeyboardMarkup:
    """A row per term: remove it, or switch it between brief and alert mode."""
    rows = [
        [
            _b(f"✖ {t.term[:24]}", Action.UNWATCH, term_id(t.key)),
            _b(
                "→ brief" if t.mode == ALERT else "→ 🔔 alert",
                Action.WATCH_MODE,
                term_id(t.key),
            ),
        ]
        for t in terms
    ]
    quiet = [_b(f"🌙 {q}", Action.QUIET, q) for q in QUIET_CHOICES] + [
        _b("🔔 Any hour", Action.QUIET, "off")
    ]
    return InlineKeyboardMarkup([*rows, quiet, [_b("« Settings", Action.MENU)]])


QUIET_CHOICES = ("22:00-07:00", "23:00-06:00")
