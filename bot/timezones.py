"""Time zones: understanding what people type (IANA names, cities, UTC offsets) and local delivery times."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
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


def slot(timezone: str, delivery_time: str, day: date) -> datetime:
    """The instant (in UTC) the local clock in ``timezone`` shows ``delivery_time`` on ``day``.

    A wall time skipped by a DST jump is taken as it would be without the jump (README, Daily
    delivery): 02:30 on Berlin's spring-forward night is 03:30, and Nuuk's 23:30 on 28 March
    2026 (the clock jumps 23:00 -> 00:00) is 00:30 on the 29th, still the 28th's brief.
    """
    hour, minute = (int(part) for part in delivery_time.split(":"))
    # fold=0 reads a skipped time with the offset from before the jump.
    return datetime.combine(day, time(hour, minute), zone(timezone)).astimezone(UTC)


def next_due(
    timezone: str, delivery_time: str, after: datetime, done: date | None = None
) -> datetime:
    """The first moment after ``after`` when the local clock in ``timezone`` shows
    ``delivery_time`` (see :func:`slot`), for a local date after ``done`` when given."""
    # From yesterday: its slot can fall after midnight when a DST jump skips it.
    day = after.astimezone(zone(timezone)).date() - timedelta(days=1)
    if done is not None:
        day = max(day, done + timedelta(days=1))
    for offset in range(4):
        candidate = slot(timezone, delivery_time, day + timedelta(days=offset))
        if candidate > after:
            return candidate.astimezone(after.tzinfo)
    raise AssertionError("unreachable: a local time recurs within three days")


def slot_date(timezone: str, delivery_time: str, moment: datetime) -> date:
    """The local date whose ``delivery_time`` slot ``moment`` is (a slot a DST jump pushed past
    midnight belongs to the day before); for any other moment, the date the clock shows."""
    shown = moment.astimezone(zone(timezone)).date()
    before = shown - timedelta(days=1)
    return before if slot(timezone, delivery_time, before) == moment.astimezone(UTC) else shown


def local_day(timezone: str, moment: datetime, claimed: date) -> date:
    """The local date of ``moment`` in ``timezone``: ``claimed`` when the clock shows it then or
    ``moment`` stands for a wall time of ``claimed`` skipped by a DST jump, else the clock's date."""
    tz = zone(timezone)
    shown = moment.astimezone(tz).date()
    if shown == claimed:
        return claimed
    # A skipped wall time is read with the offset from before the jump, as slot() does.
    offset = (moment - timedelta(days=1)).astimezone(tz).utcoffset() or timedelta(0)
    wall = (moment.astimezone(UTC) + offset).replace(tzinfo=None)
    skipped = wall.replace(tzinfo=tz).astimezone(UTC) == moment.astimezone(UTC)
    return claimed if skipped and wall.date() == claimed else shown
