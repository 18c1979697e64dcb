"""Time zones: understanding what people type (IANA names, cities, UTC offsets) and local delivery times."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Hours, or hours and minutes as "05:30", "0530" or "530".
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,4})(?::(\d{2}))?$", re.I)
_STORED_OFFSET = re.compile(r"^UTC([+-])(\d{2}):(\d{2})$")
# Real UTC offsets, in minutes: from Baker Island's -12:00 to Kiribati's +14:00.
_EARLIEST, _LATEST = -12 * 60, 14 * 60
# tzdata's zone for "no time zone set" (its clocks read "-00"): not a place anyone lives.
_NOT_PLACES = frozenset({"Factory"})


class UnknownTimezone(ValueError):
    """The text names no time zone we know."""


@cache
def _tzdata() -> tuple[frozenset[str], dict[str, str]]:
    """Every zone and link name of the tzdata package, and the zone each link points to."""
    # The package's compact source (zic's input format): "Z name ..." and "L target name" lines.
    source = resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text("utf-8")
    zones: set[str] = set()
    links: dict[str, str] = {}
    for fields in map(str.split, source.splitlines()):
        if fields[:1] == ["Z"]:
            zones.add(fields[1])
        elif fields[:1] == ["L"]:
            links[fields[2]] = fields[1]
    return frozenset(zones | links.keys()) - _NOT_PLACES, links


@cache
def _country_zones() -> frozenset[str]:
    """The zones tzdata's zone.tab lists by country (a merged zone keeps its row: Europe/Oslo)."""
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    rows = (line.split("\t") for line in table.splitlines() if line and line[0] != "#")
    return frozenset(row[2] for row in rows)


def _canonical(name: str) -> str:
    """The name the bot stores for a tzdata name: current, and fixed offsets in its own form."""
    _, links = _tzdata()
    target = links.get(name, name)
    if target.startswith("Etc/"):
        # "Etc/GMT+5" is UTC-05:00 (POSIX's sign): shown as typed, it reads as the opposite.
        offset = datetime(2000, 1, 1, tzinfo=ZoneInfo(target)).utcoffset() or timedelta(0)
        return _offset_name(int(offset.total_seconds()) // 60)
    # A renamed place ("Europe/Kiev") is a link no country uses any more. Area-less names
    # ("Iceland", "EST") stay: their link may now point to another country's equal clock.
    if "/" in name and name not in _country_zones():
        return target
    return name


def _offset_name(minutes: int) -> str:
    if minutes == 0:
        return "UTC"
    sign, size = "+" if minutes > 0 else "-", abs(minutes)
    return f"UTC{sign}{size // 60:02d}:{size % 60:02d}"


def _key(text: str) -> str:
    """What a zone or city is looked up by: no accents ("São Paulo"), underscores, lower case."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace(" ", "_").lower()


@cache
def _zones_by_key() -> dict[str, str]:
    """Zone names and unambiguous city names, as :func:`_key` folds them -> the name to store."""
    names, _ = _tzdata()
    table = {_key(z): _canonical(z) for z in names}
    cities: dict[str, set[str]] = {}
    for z in names:
        if "/" in z and not z.startswith("Etc/"):
            cities.setdefault(_key(z.rsplit("/", 1)[1]), set()).add(_canonical(z))
    for city, matches in cities.items():
        if len(matches) == 1:
            table.setdefault(city, matches.pop())
    return table


def _plain_dashes(text: str) -> str:
    """``text`` with full-width forms folded (NFKC) and every dash or minus sign as "-"."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join("-" if c == "\u2212" or unicodedata.category(c) == "Pd" else c for c in folded)


def _offset_minutes(typed: str, match: re.Match[str]) -> int:
    """The offset in minutes: "+5", "+05:30" or "+0530"; UnknownTimezone if no real one."""
    digits, minutes = match[2], int(match[3] or 0)
    if match[3] is None and len(digits) > 2:  # "+530", "+0530"
        digits, minutes = digits[:-2], int(digits[-2:])
    total = int(digits) * 60 + minutes
    total = total if match[1] == "+" else -total
    # Real offsets are whole, half or quarter hours: "+123" is a slip, not UTC+01:23.
    if minutes % 15 or minutes >= 60 or not _EARLIEST <= total <= _LATEST:
        raise UnknownTimezone(
            f"{typed} is not a real UTC offset (they run from -12:00 to +14:00): try one such as "
            "+05:30"
        )
    return total


def parse_timezone(text: str) -> str:
    """Canonical name for what the user typed: ``Europe/Berlin``, ``berlin``, ``UTC+5:30``."""
    typed = text.strip()
    raw = _plain_dashes(typed)
    if raw.upper() in {"UTC", "GMT", "Z"}:
        return "UTC"
    match = _OFFSET.match(raw)
    if match:
        return _offset_name(_offset_minutes(typed, match))
    found = _zones_by_key().get(_key(raw))
    if found is None:
        raise UnknownTimezone(f"I don't know the time zone {typed!r}")
    return found


def zone(name: str) -> tzinfo:
    """The tzinfo for a canonical name from :func:`parse_timezone`."""
    match = _STORED_OFFSET.match(name)
    if match:
        minutes = int(match[2]) * 60 + int(match[3])
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
