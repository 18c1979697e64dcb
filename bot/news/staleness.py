"""When an item is news: dates in its URL, and undated items a feed has carried all along."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
# /2021/09/20/, /2026/aug/21/, /2020-12-16, /20201216/, /2021/09/ (month only).
_URL_DATE = re.compile(
    r"/((?:19|20)\d\d)(?:[/-](0?[1-9]|1[0-2]|[a-z]{3})(?:[/-](0?[1-9]|[12]\d|3[01]))?|"
    r"(0[1-9]|1[0-2])([0-2]\d|3[01]))(?=[/.\-_]|$)",
    re.I,
)
# A URL date is a local calendar day: allow for the widest time-zone offset before trusting it.
ZONE_SLACK = timedelta(hours=14)


def url_date(url: str) -> datetime | None:
    """The latest moment a date in the URL's path allows (end of that day or month), or None."""
    path = url.split("?", 1)[0].split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else ""
    latest = None
    for match in _URL_DATE.finditer(path):
        year, month_text, day_text, compact_month, compact_day = match.groups()
        if compact_month:
            month, day = int(compact_month), int(compact_day)
        else:
            if month_text.isdigit():
                month = int(month_text)
            elif month_text.lower() in _MONTHS:
                month = _MONTHS[month_text.lower()]
            else:
                continue
            day = int(day_text) if day_text else calendar.monthrange(int(year), month)[1]
        try:
            moment = datetime(int(year), month, day, 23, 59, 59, tzinfo=UTC)
        except ValueError:
            continue
        latest = moment if latest is None else max(latest, moment)
    return latest


# An undated item is stored with its first-seen time as its date, exactly; a dated item is kept
# strictly before it (a future or "now" date is clamped just under now), so the two stay apart.
_DATED_BEFORE = timedelta(microseconds=1)


def published_time(feed_time: datetime | None, url: str, now: datetime) -> datetime:
    """When the item was published: its feed date, else first seen (now); an older URL date wins."""
    published = now if feed_time is None else min(feed_time, now - _DATED_BEFORE)
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
