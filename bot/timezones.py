"""Time zones: understanding what people type (IANA names, cities, UTC offsets) and local delivery times."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.I)


class UnknownTimezone(ValueError):
    """The text names no time zone we know."""


@cache
def _zones_by_lower() -> dict[str, str]:
    zones = available_timezones()
    table = {z.lower(): z for z in zones}
    cities: dict[str, list[str]] = {}
    for z in zones:
        if "/" in z and not z.startswith(("Etc/", "SystemV/")):
            cities.setdefault(z.rsplit("/", 1)[1].lower(), []).append(z)
    for city, matches in cities.items():
        if len(matches) == 1:
            table.setdefault(city, matches[0])
    return table


def parse_timezone(text: str) -> str:
    """Canonical name for what the user typed: ``Europe/Berlin``, ``berlin``, ``UTC+5:30``."""
    raw = text.strip()
    if raw.upper() in {"UTC", "GMT", "Z"}:
        return "UTC"
    match = _OFFSET.match(raw)
    if match:
        sign, hours, minutes = match[1], int(match[2]), int(match[3] or 0)
        if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
            raise UnknownTimezone(
                f"{raw} is not a real UTC offset (they run from -12:00 to +14:00)"
            )
        if hours == 0 and minutes == 0:
            return "UTC"
        return f"UTC{sign}{hours:02d}:{minutes:02d}"
    key = raw.replace(" ", "_").lower()
    found = _zones_by_lower().get(key)
    if found is None:
        raise UnknownTimezone(f"I don't know the time zone {raw!r}")
    return found


def zone(name: str) -> tzinfo:
    """The tzinfo for a canonical name from :func:`parse_timezone`."""
    match = _OFFSET.match(name) if name.upper().startswith("UTC") and len(name) > 3 else None
    if match:
        minutes = int(match[2]) * 60 + int(match[3] or 0)
        return timezone(timedelta(minutes=minutes if match[1] == "+" else -minutes), name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(f"I don't know the time zone {name!r}") from None


def next_due(timezone: str, delivery_time: str, after: datetime) -> datetime:
    """The first moment after ``after`` when the local clock in ``timezone`` shows ``delivery_time``."""
    tz = zone(timezone)
    hour, minute = (int(part) for part in delivery_time.split(":"))
    local = after.astimezone(tz)
    day = local.date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), time(hour, minute), tz)
        # A wall time skipped by a DST jump resolves to the instant just after the jump.
        candidate = candidate.astimezone(after.tzinfo)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a local time recurs within three days")
