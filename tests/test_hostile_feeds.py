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
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.models import FeedSpec
from bot.news import pipeline
from bot.news.fetch import make_client
from bot.news.parse import LOOSE_MAX, FeedParseError, ParsedFeed, parse_feed
from bot.news.pipeline import build_brief, refresh
from bot.news.render import render_html, render_json, render_text
from bot.news.text import canonical_url
from bot.ops.doctor import check_feeds
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

    def parse(body: bytes, spec: FeedSpec, *args: object, **kwargs: object) -> object:
        if spec.name == "Cursed":
            raise RecursionError("maximum recursion depth exceeded")
        return real(body, spec, *args, **kwargs)  # type: ignore[arg-type]

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


NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SPEC = FeedSpec("Broken", "http://broken.example/feed")
# Found by fuzzing: feedparser's loose parser raised KeyError: 'links' out of parse_feed.
LINKS_KEYERROR = b"<feed<item<link</item</link>"
# Found by fuzzing: past LOOSE_MAX, the lxml repair tried to remove the root from its parent.
UNDECLARED_PREFIX_ROOT = b"<a:b>" + b"x" * 70_000 + b"</a:b>"
ENTRY_ROOT = (
    b'<?xml version="1.0" encoding="utf-8"?><entry xmlns="http://www.w3.org/2005/Atom">'
    b"<title>Troops advance</title><link href='https://e.example/a'/>"
    + b"".join(b"<summary>" + b"a" * 15_000 + b"</summary>" for _ in range(80))
    + b"</entry>"
)
ITEM_ROOT = (
    b"<item><title>Troops advance</title><link>https://e.example/a</link>"
    + b"".join(b"<description>" + b"a" * 15_000 + b"</description>" for _ in range(80))
    + b"</item>"
)


def _parse_or_refuse(body: bytes) -> ParsedFeed | None:
    """parse_feed's result, None for a FeedParseError (with a message); anything else fails."""
    try:
        return parse_feed(body, SPEC, NOW, timedelta(days=36500), None)
    except FeedParseError as exc:
        assert str(exc)
        return None


def test_markup_that_breaks_feedparser_is_a_parse_error() -> None:
    with pytest.raises(FeedParseError, match=r"feedparser could not read it \(KeyError: 'links'\)"):
        parse_feed(LINKS_KEYERROR, SPEC, NOW)


@pytest.mark.parametrize(
    "body",
    [UNDECLARED_PREFIX_ROOT, ENTRY_ROOT, ITEM_ROOT],
    ids=["undeclared-prefix-root", "entry-root", "item-root"],
)
def test_a_large_document_whose_root_would_be_cut_parses_or_is_refused(body: bytes) -> None:
    assert len(body) > LOOSE_MAX
    _parse_or_refuse(body)


async def test_doctor_reports_a_feed_that_breaks_the_parser_and_checks_the_others(
    feed_server: FeedServer, settings: Settings, tmp_path: Path
) -> None:
    feed_server.set_body("keyerror.xml", LINKS_KEYERROR)
    feed_server.set_body("entry.xml", ENTRY_ROOT)
    feed_server.set_body("prefix.xml", UNDECLARED_PREFIX_ROOT)
    feeds = tmp_path / "broken.toml"
    feeds.write_text(
        "".join(
            f'[[feeds]]\nname = "{name}"\nurl = "{feed_server.custom_url(path)}"\n\n'
            for name, path in [
                ("KeyError", "keyerror.xml"),
                ("Entry", "entry.xml"),
                ("Prefix", "prefix.xml"),
            ]
        )
        + f'[[feeds]]\nname = "BBC World"\nurl = "{feed_server.feed_url("bbc_world.xml")}"\n'
    )
    async with make_client(2.0) as client:
        checks = await check_feeds(replace(settings, feeds_file=feeds), client)
    found = {c.what: c for c in checks}
    assert not found["Feed KeyError"].ok
    assert "not a valid feed" in found["Feed KeyError"].detail
    assert not found["Feed Prefix"].ok
    assert "Feed Entry" in found  # an Atom entry document: read or refused, never a crash
    assert found["Feed BBC World"].ok


_CONTAINERS = ["feed", "channel", "rss", "a:b"]
_ITEMS = ["item", "entry"]
_FIELDS = ["link", "title", "summary", "a:b"]


@st.composite
def broken_feed_markup(draw: st.DrawFn) -> bytes:
    """A small feed skeleton with tags swapped, dropped or left open; some past LOOSE_MAX."""
    container = draw(st.sampled_from(_CONTAINERS))
    tokens = [f"<{container}>"]
    for item in draw(st.lists(st.sampled_from(_ITEMS), min_size=1, max_size=3)):
        tokens.append(f"<{item}>")
        for name in draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=3)):
            text = draw(st.sampled_from(["https://e.example/a", "x", "&", ""]))
            tokens += [f"<{name}>", text, f"</{name}>"]
        tokens.append(f"</{item}>")
    tokens.append(f"</{container}>")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["misnest", "drop", "open"]))
        ends = [i for i in range(len(tokens) - 1) if tokens[i][:2] == tokens[i + 1][:2] == "</"]
        if kind == "misnest" and ends:
            # An element closed after its parent ("<link>x</item></link>") broke feedparser.
            at = draw(st.sampled_from(ends))
            tokens[at], tokens[at + 1] = tokens[at + 1], tokens[at]
        elif tokens:
            at = draw(st.integers(0, len(tokens) - 1))
            if kind == "drop":
                del tokens[at]
            else:
                tokens[at] = tokens[at].removesuffix(">")
    if draw(st.integers(0, 7)) == 0:
        # Past LOOSE_MAX the lxml repair runs, with the container (maybe "a:b") as the root.
        tokens.insert(draw(st.integers(0, len(tokens))), "x" * (LOOSE_MAX + 1))
    return "".join(tokens).encode()


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(broken_feed_markup())
@example(LINKS_KEYERROR)
@example(UNDECLARED_PREFIX_ROOT)
@example(ENTRY_ROOT)
def test_any_broken_feed_markup_gives_articles_or_a_parse_error(body: bytes) -> None:
    _parse_or_refuse(body)


async def test_a_stored_validator_that_cannot_be_sent_is_not_sent(
    feed_server: FeedServer, settings: Settings
) -> None:
    # Stored before such values were dropped: httpx raised on every later request, for good.
    spec = FeedSpec("BBC World", feed_server.feed_url("bbc_world.xml"), "en")
    db = open_db(settings.database_path)
    news_store.save_feed_specs(db, [spec])
    db["feeds"].update(
        spec.url, {"etag": '"café"', "last_modified": "sam., 28 déc. 2026 10:00:00 GMT"}
    )
    db.close()
    failed, health = await _run(settings, [spec])
    assert failed == {}
    assert health["BBC World"]["item_count"] > 5
    assert health["BBC World"]["etag"].isascii()  # the server's own, sent next time
    (request,) = feed_server.requests_to("/feeds/bbc_world.xml")
    assert "if-none-match" not in request["headers"]
    assert "if-modified-since" not in request["headers"]
