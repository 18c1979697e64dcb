"""Hostile feeds: each one fails alone, with a clear health entry, and never stops the run."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fake_telegram import parse_telegram_html
from feed_server import SCRIPTS_LINK, WRONG_CHARSET_LINK, FeedServer

from bot.config import Settings
from bot.models import FeedSpec
from bot.news.fetch import make_client
from bot.news.pipeline import build_brief, refresh
from bot.news.render import render_html, render_json, render_text
from bot.news.text import canonical_url
from bot.storage import news_store
from bot.storage.db import open_db


async def _run(settings: Settings, specs: list[FeedSpec]) -> tuple[dict, dict]:
    db = open_db(settings.database_path)
    async with make_client(settings.fetch_timeout_seconds) as client:
        report = await refresh(db, settings, specs, client)
    health = {row["name"]: row for row in news_store.feed_health(db)}
    db.close()
    return report.failed, health


@pytest.mark.parametrize(
    "endpoint, error",
    [
        ("huge.xml", "over the 5,000,000-byte cap"),
        ("huge_declared.xml", "over the 5,000,000-byte cap"),
        ("gzip_bomb.xml", "over the 5,000,000-byte cap"),
        ("stall.xml", "timed out after 2 s"),
        ("blocked.html", "HTML page where a feed was expected"),
        ("blocked403.xml", "HTTP 403"),
    ],
)
async def test_hostile_feed_fails_alone_with_a_clear_error(
    feed_server: FeedServer, settings: Settings, endpoint: str, error: str
) -> None:
    good = FeedSpec("BBC World", feed_server.feed_url("bbc_world.xml"), "en")
    bad = FeedSpec("Hostile", feed_server.hostile_url(endpoint))
    started = time.monotonic()
    failed, health = await _run(settings, [bad, good])
    assert time.monotonic() - started < 10
    assert list(failed) == ["Hostile"]
    assert error in failed["Hostile"]
    assert health["Hostile"]["consecutive_failures"] == 1
    assert error in health["Hostile"]["last_error"]
    assert health["Hostile"]["next_attempt"] is not None  # backing off
    assert health["BBC World"]["last_error"] is None
    assert health["BBC World"]["item_count"] > 5


async def test_broken_xml_keeps_what_is_readable_and_says_so(
    feed_server: FeedServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    good = FeedSpec("BBC World", feed_server.feed_url("bbc_world.xml"), "en")
    broken = FeedSpec("Broken", feed_server.hostile_url("invalid.xml"), "en")
    with caplog.at_level("INFO"):
        failed, health = await _run(settings, [broken, good])
    assert failed == {}
    assert "feed Broken: feed has errors but was readable" in caplog.text
    assert health["BBC World"]["item_count"] > 5


async def test_xml_bomb_does_not_expand(feed_server: FeedServer, settings: Settings) -> None:
    spec = FeedSpec("Bomb", feed_server.hostile_url("bomb.xml"))
    failed, health = await _run(settings, [spec])
    db = open_db(settings.database_path)
    longest = db.execute(
        "select max(length(title) + length(description)) from articles"
    ).fetchone()[0]
    db.close()
    # Either refused outright or parsed without expanding the entities.
    assert "Bomb" in failed or (longest or 0) < 2000


async def test_failing_feed_backs_off_exponentially(
    feed_server: FeedServer, settings: Settings
) -> None:
    spec = FeedSpec("Broken", feed_server.hostile_url("blocked.html"))
    db = open_db(settings.database_path)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    waits = []
    async with make_client(2.0) as client:
        for _ in range(4):
            await refresh(db, settings, [spec], client, now=now)
            row = db["feeds"].get(spec.url)
            waits.append(news_store.from_iso(row["next_attempt"]) - now)
            skipped = await refresh(db, settings, [spec], client, now=now + timedelta(seconds=1))
            assert skipped.skipped_backoff == 1
            now = news_store.from_iso(row["next_attempt"])
    assert waits == [timedelta(minutes=30 * 2**i) for i in range(4)]
    db.close()


async def test_wrong_declared_charset_still_yields_readable_text(
    feed_server: FeedServer, settings: Settings
) -> None:
    spec = FeedSpec("Charset", feed_server.hostile_url("wrong_charset.xml"), "en")
    failed, _ = await _run(settings, [spec])
    assert failed == {}
    db = open_db(settings.database_path)
    row = db["articles"].get(canonical_url(WRONG_CHARSET_LINK))
    db.close()
    # The bytes are windows-1252 despite the utf-8 label; the text must come out right anyway.
    assert row["title"] == "Rebels launch “final offensive” on Goma’s outskirts, army says"
    assert "a café owner said “we’re leaving now”" in row["description"]


async def test_script_and_stray_characters_are_escaped_in_every_output(
    feed_server: FeedServer, settings: Settings
) -> None:
    spec = FeedSpec("Scripts", feed_server.hostile_url("scripts.xml"), "en")
    failed, _ = await _run(settings, [spec])
    assert failed == {}
    db = open_db(settings.database_path)
    row = db["articles"].get(canonical_url(SCRIPTS_LINK))
    assert "<script" not in row["title"] and "<iframe" not in row["description"]
    assert "5 < 10" in row["title"] and "&" in row["title"]
    brief = build_brief(db, replace(settings, relevance_threshold=0.01))
    db.close()
    story = next(s for s in brief.stories if s.sources[0].url == canonical_url(SCRIPTS_LINK))
    html = "\n".join(render_html(brief))
    assert "5 &lt; 10" in html and "Troops &amp; rebels" in html
    for message in render_html(brief):
        parse_telegram_html(message)  # raises if Telegram would refuse it
    assert "<script" not in render_text(brief)
    as_json = json.loads(render_json(brief))
    assert any(s["headline"] == story.headline for s in as_json["stories"])
    assert "onerror" not in render_json(brief)
