"""Hostile feeds: each one fails alone, with a clear health entry, and never stops the run."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botharness import cli
from fake_telegram import parse_telegram_html
from feed_server import SCRIPTS_LINK, WRONG_CHARSET_LINK, FeedServer

from bot.config import Settings
from bot.models import FeedSpec
from bot.news import pipeline
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
    _, brief = build_brief(db, replace(settings, relevance_threshold=0.01))
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


ODD_ITEMS = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Odd Wire</title>
<language>en</language>
<item><title>Gunmen attack army checkpoint near Zarqan, killing four soldiers</title>
<link>https://odd.example/impossible-port</link><link>https://odd.example:99999/news/port</link>
<description>The link of this item has a port no URL can have.</description></item>
<item><title>Militants shell border town as ceasefire talks stall</title>
<link>https://odd.example/news/far-future</link><pubDate>Fri, 31 Dec 9999 23:59:59 -1200</pubDate>
<description>Its date is in year 9999.</description></item>
<item><title>Airstrike destroys weapons depot outside the capital, army says</title>
<link>https://odd.example/news/depot</link><pubDate>{{ago:1h}}</pubDate>
<description>An airstrike destroyed a weapons depot, the army said.</description></item>
</channel></rss>"""
ODD_PORT = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Port Wire</title>
<item><title>Rebels seize airport after heavy fighting, officials say</title>
<link>https://port.example:99999/news/airport</link><pubDate>{{ago:1h}}</pubDate></item>
<item><title>Troops retake airport after rebels withdraw overnight, army says</title>
<link>https://port.example/news/retaken</link><pubDate>{{ago:1h}}</pubDate></item>
</channel></rss>"""


def _bad_feeds(server: FeedServer) -> list[FeedSpec]:
    server.set_body("empty.xml", b"")
    server.set_body("odd.xml", ODD_ITEMS.encode())
    server.set_body("port.xml", ODD_PORT.encode())
    return [
        FeedSpec("Empty Wire", server.custom_url("empty.xml")),
        FeedSpec("Odd Wire", server.custom_url("odd.xml"), "en"),
        FeedSpec("Port Wire", server.custom_url("port.xml"), "en"),
        FeedSpec("BBC World", server.feed_url("bbc_world.xml"), "en"),
    ]


async def test_one_bad_feed_never_stops_the_others(
    feed_server: FeedServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 9, item 1: an empty 200, a port of 99999 and a year-9999 date each aborted the round.
    with caplog.at_level("WARNING"):
        failed, health = await _run(settings, _bad_feeds(feed_server))
    assert list(failed) == ["Empty Wire"]
    assert "feed Empty Wire unusable: empty body" in caplog.text
    assert health["Empty Wire"]["consecutive_failures"] == 1
    assert health["Empty Wire"]["next_attempt"] is not None  # backing off
    assert "empty body" in health["Empty Wire"]["last_error"]
    for name in ("Odd Wire", "Port Wire", "BBC World"):
        assert health[name]["last_error"] is None and health[name]["item_count"] > 0
    db = open_db(settings.database_path)
    urls = {row["url"]: row for row in db["articles"].rows}
    db.close()
    # The item with the impossible port is dropped; the year-9999 one is kept as undated.
    assert "https://odd.example/news/depot" in urls
    assert "https://odd.example/news/far-future" in urls
    assert not any("99999" in url for url in urls)
    assert "https://port.example/news/retaken" in urls
    assert (
        sum(row["feed_url"] == feed_server.feed_url("bbc_world.xml") for row in urls.values()) > 5
    )


async def test_an_unforeseen_fault_in_one_feed_is_that_feeds_error(
    feed_server: FeedServer,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Parsing has no known way left to raise anything but FeedParseError, so a fault is
    # injected: whatever one feed raises must stay that feed's error.
    real = pipeline.parse_feed

    def parse(body: bytes, spec: FeedSpec, *args: object) -> object:
        if spec.name == "Cursed":
            raise RecursionError("maximum recursion depth exceeded")
        return real(body, spec, *args)

    monkeypatch.setattr(pipeline, "parse_feed", parse)
    specs = [
        FeedSpec("Cursed", feed_server.feed_url("aljazeera.xml")),
        FeedSpec("BBC World", feed_server.feed_url("bbc_world.xml"), "en"),
    ]
    with caplog.at_level("WARNING"):
        failed, health = await _run(settings, specs)
    assert list(failed) == ["Cursed"]
    assert "RecursionError" in health["Cursed"]["last_error"]
    assert health["Cursed"]["next_attempt"] is not None
    assert "feed Cursed failed: could not be read (RecursionError" in caplog.text
    assert health["BBC World"]["item_count"] > 5


def test_digest_prints_the_brief_whatever_a_feed_sends(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    lines = [
        f'[[feeds]]\nname = "{spec.name}"\nurl = "{spec.url}"\n' for spec in _bad_feeds(feed_server)
    ]
    feeds = tmp_path / "feeds.toml"
    feeds.write_text("\n".join(lines))
    result = cli("digest", "--feeds", str(feeds), DATABASE_PATH=str(tmp_path / "d.db"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "1 feed(s) failed" in result.stderr
    assert "feed Empty Wire unusable: empty body" in result.stderr
    assert result.stdout.startswith("Security Brief — ")
    assert "Airstrike destroys weapons depot outside the capital" in result.stdout
    assert "BBC World: https://" in result.stdout


async def test_a_feed_url_httpx_cannot_use_fails_alone(
    feed_server: FeedServer, settings: Settings
) -> None:
    # Not an httpx.HTTPError: the port fails inside the connection attempt.
    specs = [
        FeedSpec("Bad Port", "http://127.0.0.1:99999/feed.xml"),
        FeedSpec("BBC World", feed_server.feed_url("bbc_world.xml"), "en"),
    ]
    failed, health = await _run(settings, specs)
    assert list(failed) == ["Bad Port"]
    assert "port must be 0-65535" in health["Bad Port"]["last_error"]
    assert health["BBC World"]["item_count"] > 5
