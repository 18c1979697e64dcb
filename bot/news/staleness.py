"""When an item is news: dates in its URL, and undated items a feed has carried all along."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_YEAR = r"/((?:19|20)\d\d)"
_MONTH = r"(0?[1-9]|1[0-2])"
_DAY = r"(0?[1-9]|[12]\d|3[01])"
# /2021/09/20/, /2026/aug/21/, /2021/09/ (month only): a path segment of its own, so the
# number a slug opens with ("/2026/11/3-us-soldiers-killed…", "/2026/5-things…") is no date.
# The price: /2024/01/05-slug reads as January 2024 (its month, not its day), and /2024-01/
# as no date; a stale page then passes for up to a month, but a fresh one is never dropped.
# /2020-12-16-slug, /20201216_slug: a full date, which a slug may follow.
_URL_DATES = (
    re.compile(_YEAR + r"/(0?[1-9]|1[0-2]|[a-z]{3})(?:/" + _DAY + r")?(?=[/.]|$)", re.I),
    re.compile(_YEAR + "-" + _MONTH + "-" + _DAY + r"(?=[/.\-_]|$)"),
    re.compile(_YEAR + r"(0[1-9]|1[0-2])([0-2]\d|3[01])(?=[/.\-_]|$)"),
)
# A URL date is a local calendar day: allow for the widest time-zone offset before trusting it.
ZONE_SLACK = timedelta(hours=14)


def url_date(url: str) -> datetime | None:
    """The latest moment a date in the URL's path allows (end of that day or month), or None."""
    path = url.split("?", 1)[0].split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else ""
    latest = None
    for pattern in _URL_DATES:
        for match in pattern.finditer(path):
            moment = _day_end(*match.groups())
            if moment is not None:
                latest = moment if latest is None else max(latest, moment)
    return latest


def _day_end(year: str, month_text: str, day_text: str | None) -> datetime | None:
    """The last second of that day (or month, without a day); None for no such date."""
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower())
    if month is None:
        return None
    try:
        day = int(day_text) if day_text else calendar.monthrange(int(year), month)[1]
        return datetime(int(year), month, day, 23, 59, 59, tzinfo=UTC)
    except ValueError:
        return None


# An undated item is stored with its first-seen time as its date, exactly; a dated item is kept
# strictly before it (a future or "now" date is clamped just under now), so the two stay apart.
# Times are stored to the second, so "just under" is the second before now's.
_DATED_BEFORE = timedelta(seconds=1)


def published_time(feed_time: datetime | None, url: str, now: datetime) -> datetime:
    """When the item was published: its feed date, else first seen (now); an older URL date wins."""
    latest_dated = now.replace(microsecond=0) - _DATED_BEFORE
    published = now if feed_time is None else min(feed_time, latest_dated)
    in_url = url_date(url)
    if in_url is not None and in_url + ZONE_SLACK < published:
        # An evergreen page a feed re-dates (or never dated) is as old as its address says.
        return in_url
    return published


def baseline_undated(rows: Iterable[dict]) -> set[str]:
    """URLs of undated items that came in their feed's first fetch: carried, not new.

    An undated item is stored with its first-seen time as its date (published == first_seen);
    items present in the very first fetch of a feed may be years old, so they are not news.
    """
    rows = list(rows)
    first_fetch: dict[str, str] = {}
    for row in rows:
        feed = row["feed_url"]
        if feed not in first_fetch or row["first_seen"] < first_fetch[feed]:
            first_fetch[feed] = row["first_seen"]
    return {
        row["url"]
        for row in rows
        if row["published"] == row["first_seen"]
        and row["first_seen"] == first_fetch[row["feed_url"]]
    }
