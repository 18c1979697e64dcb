"""Changing the time zone or delivery time, and DST jumps across midnight: one brief a local day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botharness import plan_all
from sqlite_utils import Database

from bot.config import Settings
from bot.delivery import ledger
from bot.models import Brief, Source, Story
from bot.storage.chats import ensure_chat, get_chat, set_delivery, set_subscribed
from bot.storage.db import open_db

CHAT = 5
CHECK = timedelta(minutes=5)  # the delivery check's period in these tests
GRACE = timedelta(hours=12)

Change = tuple[datetime, dict[str, str]]  # when, and set_delivery's keywords (/time, /timezone)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _brief(now: datetime) -> Brief:
    source = Source("BBC World", "Strike", "https://example.com/a", now)
    story = Story("s1", "Strike", "BBC World reports: x.", "Europe", ("conflict",), 3.0, (source,))
    return Brief(now, 36, (story,))


def _deliver(db: Database, now: datetime) -> list[tuple[str, datetime]]:
    """Send every planned daily brief at once, as the broadcaster records it; (key, due) each."""
    sent = []
    for item in ledger.pending_page(db, ("", 0, "")):
        ledger.record_delivered(db, item, ledger.content(db, item.content_key)[1], now)
        sent.append((item.local_date, datetime.fromisoformat(item.due_at)))
    return sent


def _briefs(
    db_path: Path, start: datetime, end: datetime, setup: dict[str, str], changes: list[Change]
) -> list[tuple[str, datetime]]:
    """A chat set up with ``setup`` subscribes at ``start`` and makes ``changes`` at their times;
    the briefs it gets up to ``end`` with a delivery check every CHECK: (key, due) each."""
    db = open_db(db_path)
    ensure_chat(db, CHAT, "private", None, Settings(), start)
    if setup:
        set_delivery(db, CHAT, start, **setup)
    set_subscribed(db, CHAT, True, start)
    sent: list[tuple[str, datetime]] = []
    clock, waiting = start, sorted(changes)
    while clock < end:
        while waiting and waiting[0][0] <= clock:
            set_delivery(db, CHAT, clock, **waiting.pop(0)[1])
        plan_all(db, 1, _brief(clock), clock, GRACE)
        sent += _deliver(db, clock)
        clock += CHECK
    db.close()
    return sent


def _local(sent: list[tuple[str, datetime]], zone: str) -> list[str]:
    return [f"{due.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}" for _, due in sent]


@pytest.mark.parametrize(
    "setup, start, changes, end, seen_in, expected",
    [
        # Auckland -> Los Angeles after the brief of Auckland's 10 March (11:00 on the 9th in LA):
        # LA's 10 March still gets its 07:00 brief, though Auckland's brief was keyed 2026-03-10.
        (
            {"timezone": "Pacific/Auckland"},
            _utc(2026, 3, 9, 12),
            [(_utc(2026, 3, 9, 19), {"timezone": "America/Los_Angeles"})],
            _utc(2026, 3, 12),
            "America/Los_Angeles",
            ["2026-03-09 11:00", "2026-03-10 07:00", "2026-03-11 07:00"],
        ),
        # Los Angeles -> Auckland after LA's 10 March brief (03:00 on the 11th in Auckland):
        # Auckland's 11 March has had its brief; the next is the 12th's.
        (
            {"timezone": "America/Los_Angeles"},
            _utc(2026, 3, 10, 12),
            [(_utc(2026, 3, 10, 15), {"timezone": "Pacific/Auckland"})],
            _utc(2026, 3, 13),
            "Pacific/Auckland",
            ["2026-03-11 03:00", "2026-03-12 07:00", "2026-03-13 07:00"],
        ),
        # The default zone (UTC) brings a US West Coast user the first brief at 23:00 the evening
        # before; they set their zone that evening. The next morning's brief still comes.
        (
            {},
            _utc(2026, 1, 13, 12),
            [(_utc(2026, 1, 14, 7, 30), {"timezone": "America/Los_Angeles"})],
            _utc(2026, 1, 16),
            "America/Los_Angeles",
            ["2026-01-13 23:00", "2026-01-14 07:00", "2026-01-15 07:00"],
        ),
        # A user flies east to Tokyo: at 14:00 there on 10 March, their UTC brief (16:00 Tokyo)
        # has not come yet and Tokyo's 07:00 has passed, so Tokyo's 10 March gets it now.
        (
            {},
            _utc(2026, 3, 8, 12),
            [(_utc(2026, 3, 10, 5), {"timezone": "Asia/Tokyo"})],
            _utc(2026, 3, 11, 12),
            "Asia/Tokyo",
            ["2026-03-09 16:00", "2026-03-10 14:00", "2026-03-11 07:00"],
        ),
    ],
    ids=[
        "auckland-to-la",
        "la-to-auckland",
        "utc-to-la-the-evening-before",
        "utc-to-tokyo-before-brief",
    ],
)
def test_a_zone_change_neither_skips_a_local_day_nor_gives_one_two_briefs(
    tmp_path: Path,
    setup: dict[str, str],
    start: datetime,
    changes: list[Change],
    end: datetime,
    seen_in: str,
    expected: list[str],
) -> None:
    sent = _briefs(tmp_path / "t.db", start, end, setup, changes)
    assert _local(sent, seen_in) == expected


@pytest.mark.parametrize(
    "change_at, new_time, expected",
    [
        # 08:00, today's 09:00 brief still to come: moved to 07:30, already past, it comes now.
        (
            _utc(2026, 3, 10, 8),
            "07:30",
            ["2026-03-09 09:00", "2026-03-10 08:00", "2026-03-11 07:30"],
        ),
        # After today's brief, an earlier or a later time starts tomorrow: never twice a day.
        (
            _utc(2026, 3, 10, 10),
            "07:30",
            ["2026-03-09 09:00", "2026-03-10 09:00", "2026-03-11 07:30"],
        ),
        (
            _utc(2026, 3, 10, 10),
            "11:00",
            ["2026-03-09 09:00", "2026-03-10 09:00", "2026-03-11 11:00"],
        ),
        # Moved later, still ahead today: it comes at the new time.
        (
            _utc(2026, 3, 10, 8),
            "10:00",
            ["2026-03-09 09:00", "2026-03-10 10:00", "2026-03-11 10:00"],
        ),
    ],
    ids=["earlier-past-before-brief", "earlier-after-brief", "later-after-brief", "later-ahead"],
)
def test_moving_the_delivery_time_keeps_one_brief_a_day(
    tmp_path: Path, change_at: datetime, new_time: str, expected: list[str]
) -> None:
    setup = {"delivery_time": "09:00"}
    changes = [(change_at, {"delivery_time": new_time})]
    sent = _briefs(tmp_path / "t.db", _utc(2026, 3, 9, 8), _utc(2026, 3, 11, 12), setup, changes)
    assert _local(sent, "UTC") == expected


def test_a_new_subscriber_setting_zone_and_time_after_the_slot_starts_tomorrow(
    tmp_path: Path,
) -> None:
    # Subscribed at 12:00 in Tokyo under the default zone: the first brief is Tokyo's next 08:00,
    # as for any /subscribe after the day's slot (a day not yet begun is not a skipped one).
    start = _utc(2026, 11, 28, 3)
    db = open_db(tmp_path / "t.db")
    ensure_chat(db, CHAT, "private", None, Settings(), start)
    set_subscribed(db, CHAT, True, start)
    set_delivery(db, CHAT, start, timezone="Asia/Tokyo")
    assert get_chat(db, CHAT).next_due == "2026-11-28T22:00:00+00:00"  # 07:00 on the 29th
    set_delivery(db, CHAT, start, delivery_time="08:00")
    assert get_chat(db, CHAT).next_due == "2026-11-28T23:00:00+00:00"


def test_a_dst_jump_across_midnight_gives_every_local_day_its_brief(tmp_path: Path) -> None:
    # Nuuk jumps 23:00 -> 00:00 in the night of 28 March 2026: 23:30 that day is read as it would
    # be without the jump, 00:30 on the 29th, and it is the 28th's brief.
    setup = {"timezone": "America/Nuuk", "delivery_time": "23:30"}
    sent = _briefs(tmp_path / "t.db", _utc(2026, 3, 27, 12), _utc(2026, 3, 31, 6), setup, [])
    assert [key for key, _ in sent] == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"]
    assert _local(sent, "America/Nuuk") == [
        "2026-03-27 23:30",
        "2026-03-29 00:30",
        "2026-03-29 23:30",
        "2026-03-30 23:30",
    ]


def test_a_brief_a_dst_jump_put_past_midnight_is_sent_late_within_grace(tmp_path: Path) -> None:
    # The bot is down 00:30-00:50 in Nuuk on the 29th: the 28th's brief, due 00:30 (after local
    # midnight by the jump alone), is 20 minutes late and within grace, so it goes out.
    start = _utc(2026, 3, 28, 12)
    db = open_db(tmp_path / "t.db")
    ensure_chat(db, CHAT, "private", None, Settings(), start)
    set_delivery(db, CHAT, start, timezone="America/Nuuk", delivery_time="23:30")
    set_subscribed(db, CHAT, True, start)
    assert plan_all(db, 1, _brief(start), _utc(2026, 3, 29, 1, 50), GRACE) == (1, 0)
    rows = db.query("select local_date, due_at from deliveries")
    assert [(r["local_date"], r["due_at"]) for r in rows] == [
        ("2026-03-28", "2026-03-29T01:30:00+00:00")
    ]
    assert get_chat(db, CHAT).next_due == "2026-03-30T00:30:00+00:00"  # 23:30 on the 29th
