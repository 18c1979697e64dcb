"""/healthz's verdict (README, Webhook mode): "degraded" when no fetch succeeded for three
fetch intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.config import Settings
from bot.models import FeedSpec, FetchResult
from bot.ops.status import health
from bot.storage import news_store
from bot.storage.db import open_db

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SETTINGS = Settings(fetch_interval_minutes=30)
INTERVAL = timedelta(minutes=SETTINGS.fetch_interval_minutes)
GOOD, BAD = FeedSpec("Good", "https://good/feed"), FeedSpec("Bad", "https://bad/feed")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_db(tmp_path / "t.db")


def _fetched(db: Database, spec: FeedSpec, at: datetime, error: str | None = None) -> None:
    news_store.save_fetch_result(db, FetchResult(spec, 200, error=error), at, INTERVAL)


def test_never_fetched_is_degraded(db: Database) -> None:
    assert health(db, SETTINGS, NOW) == {
        "status": "degraded",
        "last_fetch": None,
        "last_broadcast": None,
        "failing_feeds": [],
    }


@pytest.mark.parametrize(
    ("ago", "status"),
    [(INTERVAL, "ok"), (3 * INTERVAL, "ok"), (3 * INTERVAL + timedelta(minutes=1), "degraded")],
)
def test_degraded_once_the_last_fetch_is_older_than_three_intervals(
    db: Database, ago: timedelta, status: str
) -> None:
    _fetched(db, GOOD, NOW - ago)
    body = health(db, SETTINGS, NOW)
    assert body["status"] == status
    assert body["last_fetch"] == news_store.iso(NOW - ago)


def test_recent_failed_fetches_do_not_count_as_a_fetch_that_succeeded(db: Database) -> None:
    _fetched(db, GOOD, NOW - 4 * INTERVAL)
    _fetched(db, GOOD, NOW - timedelta(minutes=5), error="HTTP 503")
    _fetched(db, BAD, NOW - timedelta(minutes=5), error="HTTP 404")
    body = health(db, SETTINGS, NOW)
    assert body["status"] == "degraded"
    assert body["last_fetch"] == news_store.iso(NOW - timedelta(minutes=5))
    assert body["failing_feeds"] == ["Bad", "Good"]
    _fetched(db, BAD, NOW - timedelta(minutes=1))  # one feed works again
    assert health(db, SETTINGS, NOW)["status"] == "ok"


def test_the_last_broadcast_is_the_last_recorded(db: Database) -> None:
    for started in (NOW - timedelta(days=1), NOW - timedelta(hours=1)):
        db["broadcasts"].insert({"started_at": news_store.iso(started), "due": 1})
    assert health(db, SETTINGS, NOW)["last_broadcast"] == news_store.iso(NOW - timedelta(hours=1))
