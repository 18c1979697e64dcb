"""The scheduled fetch job: rebuilds the brief and prunes what nothing needs any more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from botharness import Clock, running_bot
from fake_telegram import FakeTelegram

from bot.config import Settings
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
