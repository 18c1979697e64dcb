"""The scheduled fetch job: rebuilds the brief and prunes what nothing needs any more."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botharness import Clock, running_bot
from fake_telegram import FakeTelegram
from feed_server import FeedServer, _Handler

from bot.config import Settings
from bot.storage import news_store
from bot.storage.news_store import iso


async def test_the_fetch_job_rebuilds_the_brief_and_prunes_old_rows(
    fake: FakeTelegram, settings: Settings
) -> None:
    clock = Clock(datetime.now(UTC))
    async with running_bot(fake, settings, clock, schedule_jobs=True) as app:
        db = app.bot_data.services.db
        old = iso(clock.now - timedelta(days=40))
        db["articles"].insert(
            {
                "url": "https://example.org/2026/old-story",
                "feed_url": "https://example.org/feed",
                "outlet": "Example",
                "title": "A story from last season",
                "published": old,
                "first_seen": old,
            }
        )
        (job,) = app.job_queue.get_jobs_by_name("fetch")
        await job.run(app)
        urls = {r["url"] for r in db.query("select url from articles")}
        assert "https://example.org/2026/old-story" not in urls  # pruned by the job
        assert len(urls) > 10  # the fixture feeds were fetched and stored
        assert db.execute("select count(*) from briefs").fetchone()[0] == 1


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
async def test_a_feed_that_sends_a_non_ascii_etag_is_fetched_every_round(
    fake: FakeTelegram,
    settings: Settings,
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoding: str,
) -> None:
    # httpx reads such an ETag but cannot send it back: once stored, every round failed.
    raw = '"café"'.encode(encoding).decode("latin-1")  # send_header writes Latin-1 bytes
    send_header = _Handler.send_header
    monkeypatch.setattr(
        _Handler,
        "send_header",
        lambda self, keyword, value: send_header(
            self, keyword, raw if keyword == "ETag" else value
        ),
    )
    feeds = tmp_path / "one.toml"
    feeds.write_text(feed_server.feeds_toml(["bbc_world.xml"]))
    clock = Clock(datetime.now(UTC))
    async with running_bot(
        fake, replace(settings, feeds_file=feeds), clock, schedule_jobs=True
    ) as app:
        svc = app.bot_data.services
        (job,) = app.job_queue.get_jobs_by_name("fetch")
        for round_ in range(3):
            await job.run(app)
            report = svc.newsroom.last_report
            assert report is not None and report.failed == {}, round_
            assert report.fetched + report.not_modified == 1, round_
            clock.advance(minutes=30)
        (row,) = news_store.feed_health(svc.db)
    assert row["consecutive_failures"] == 0 and row["last_error"] is None
    assert row["etag"] is None  # never stored
    requests = feed_server.requests_to("/feeds/bbc_world.xml")
    assert len(requests) >= 3
    assert all("if-none-match" not in r["headers"] for r in requests)
