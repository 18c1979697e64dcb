"""When is a chat due: local time, both sides of the date line, daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from botharness import plan_all

from bot.config import Settings
from bot.models import Brief, Source, Story
from bot.storage.chats import ensure_chat, set_delivery, set_subscribed
from bot.storage.db import open_db
from bot.timezones import next_due


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "zone, local, after, expected",
    [
        # UTC+14: 07:00 on the 28th local is 17:00 on the 27th in UTC.
        ("Pacific/Kiritimati", "07:00", _utc(2026, 11, 27, 12), _utc(2026, 11, 27, 17)),
        # UTC-11, across the date line: 07:00 on the 27th local is 18:00 on the 27th UTC.
        ("Pacific/Pago_Pago", "07:00", _utc(2026, 11, 27, 12), _utc(2026, 11, 27, 18)),
        ("Asia/Kolkata", "07:00", _utc(2026, 11, 27, 12), _utc(2026, 11, 28, 1, 30)),
        ("UTC+05:45", "07:00", _utc(2026, 11, 27, 12), _utc(2026, 11, 28, 1, 15)),
        # Berlin springs forward at 02:00 on 29 March 2026: 07:00 is then UTC+2.
        ("Europe/Berlin", "07:00", _utc(2026, 3, 28, 7), _utc(2026, 3, 29, 5)),
        ("Europe/Berlin", "07:00", _utc(2026, 3, 27, 7), _utc(2026, 3, 28, 6)),
        # 02:30 does not exist that night; the brief comes at the instant the clock jumps past it.
        ("Europe/Berlin", "02:30", _utc(2026, 3, 28, 12), _utc(2026, 3, 29, 1, 30)),
        # Falling back on 25 October 2026: 02:30 happens twice; the first one counts.
        ("Europe/Berlin", "02:30", _utc(2026, 10, 24, 12), _utc(2026, 10, 25, 0, 30)),
        ("America/New_York", "07:00", _utc(2026, 11, 1, 5), _utc(2026, 11, 1, 12)),
    ],
)
def test_next_due(zone: str, local: str, after: datetime, expected: datetime) -> None:
    assert next_due(zone, local, after) == expected


def _brief(now: datetime) -> Brief:
    source = Source("BBC World", "Strike", "https://example.com/a", now)
    story = Story(
        "s1", "Strike", "BBC World reports: x.", "Europe", ("armed_conflict",), 3.0, (source,)
    )
    return Brief(now, 36, (story,))


@pytest.mark.parametrize(
    "zone, local",
    [
        ("Pacific/Kiritimati", "07:00"),
        ("Pacific/Pago_Pago", "23:59"),
        ("Europe/Berlin", "02:30"),
        ("America/New_York", "01:30"),
        ("Australia/Lord_Howe", "02:15"),
    ],
)
def test_minute_by_minute_over_a_dst_change_gives_one_delivery_per_local_day(
    tmp_path, zone: str, local: str
) -> None:
    db = open_db(tmp_path / "t.db")
    # 25 Oct 2026 (Europe), 1 Nov 2026 (US) and 4 Oct 2026 (Lord Howe, half-hour DST) are all inside.
    start = _utc(2026, 10, 3, 0)
    ensure_chat(db, 5, "private", None, Settings(), start)
    set_delivery(db, 5, start, timezone=zone, delivery_time=local)
    set_subscribed(db, 5, True, start)
    clock = start
    while clock < start + timedelta(days=31):
        plan_all(db, 1, _brief(clock), clock, timedelta(hours=12))
        clock += timedelta(minutes=3)  # a check every 3 min keeps the test quick; lateness <= 3 min
    rows = list(db.query("select local_date, due_at from deliveries order by due_at"))
    dates = [r["local_date"] for r in rows]
    assert len(dates) == len(set(dates)) == 31
    hour, minute = map(int, local.split(":"))
    for row in rows:
        due_local = datetime.fromisoformat(row["due_at"]).astimezone(ZoneInfo(zone))
        assert due_local.date().isoformat() == row["local_date"]
        # The chosen wall time, or (on the night it does not exist) just after the clock jumps.
        late = (due_local.hour * 60 + due_local.minute) - (hour * 60 + minute)
        assert 0 <= late < 60


def test_missed_delivery_is_sent_late_within_grace_but_not_past_local_midnight(tmp_path) -> None:
    db = open_db(tmp_path / "t.db")
    start = _utc(2026, 11, 27, 12)
    for chat_id, zone in [(1, "UTC"), (2, "Asia/Tokyo")]:
        ensure_chat(db, chat_id, "private", None, Settings(), start)
        set_delivery(db, chat_id, start, timezone=zone, delivery_time="07:00")
        set_subscribed(db, chat_id, True, start)
    # The bot was down from 27 Nov 12:00 UTC until 28 Nov 16:00 UTC.
    # UTC chat: due 28 Nov 07:00 UTC, now 9 h late but still 28 Nov locally -> sent.
    # Tokyo chat: due 28 Nov 07:00 JST (27 Nov 22:00 UTC); it is 29 Nov 01:00 JST now -> missed.
    planned, missed = plan_all(db, 1, _brief(start), _utc(2026, 11, 28, 16), timedelta(hours=12))
    assert (planned, missed) == (1, 1)
    assert [r["chat_id"] for r in db.query("select chat_id from deliveries")] == [1]
    # Both are rescheduled for their next local morning, never twice.
    dues = {r["chat_id"]: r["next_due"] for r in db.query("select chat_id, next_due from chats")}
    assert dues == {1: "2026-11-29T07:00:00+00:00", 2: "2026-11-28T22:00:00+00:00"}


def test_a_brief_late_by_under_15_minutes_goes_out_even_past_local_midnight(tmp_path) -> None:
    # Due 23:55 local; the delivery check comes after midnight. Within 15 minutes it still goes
    # out (the grace period does not matter then); later, the local day has passed: missed.
    start = _utc(2026, 11, 28, 12)
    for late, expected in ((10, (1, 0)), (20, (0, 1))):
        db = open_db(tmp_path / f"late{late}.db")
        ensure_chat(db, 1, "private", None, Settings(), start)
        set_delivery(db, 1, start, timezone="UTC", delivery_time="23:55")
        set_subscribed(db, 1, True, start)
        now = _utc(2026, 11, 28, 23, 55) + timedelta(minutes=late)
        assert plan_all(db, 1, _brief(start), now, timedelta(0)) == expected, late
        db.close()
