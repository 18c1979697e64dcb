"""Tests for the fixture feed server and the fixture feeds and labels it serves."""

from __future__ import annotations

import asyncio
import calendar
import gzip
import threading
import time
import tomllib
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import feedparser
import httpx
import pytest
from feed_server import (
    FIXTURES_FEEDS,
    OUTLET_NAMES,
    SCRIPTS_TITLE,
    STALE_FIXTURES,
    FeedServer,
    fixture_files,
    fixture_language,
    load_labels,
    parse_ago,
    render_placeholders,
)

NOW = datetime(2025, 6, 3, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    """One server for the module, with a fixed clock."""
    with FeedServer(now=NOW) as srv:
        yield srv


@pytest.fixture(scope="module")
def parsed(server: FeedServer) -> dict[str, Any]:
    """Every fixture fetched over HTTP and parsed by feedparser, keyed by file name."""
    out = {}
    with httpx.Client() as client:
        for name in server.fixture_names():
            resp = client.get(server.feed_url(name))
            assert resp.status_code == 200
            out[name] = feedparser.parse(resp.content, response_headers=dict(resp.headers))
    return out


def _entry_time(entry: Any) -> datetime | None:
    st = entry.get("published_parsed") or entry.get("updated_parsed")
    if st is None:
        return None
    return datetime.fromtimestamp(calendar.timegm(st), UTC)


# --- placeholders ---------------------------------------------------------------------------


def test_parse_ago() -> None:
    """Placeholder amounts parse in all units, compound and negative."""
    assert parse_ago("3h") == timedelta(hours=3)
    assert parse_ago("90m") == timedelta(minutes=90)
    assert parse_ago("400d") == timedelta(days=400)
    assert parse_ago("1d2h") == timedelta(hours=26)
    assert parse_ago("-2h") == timedelta(hours=-2)
    with pytest.raises(ValueError):
        parse_ago("3x")


def test_render_placeholders_formats() -> None:
    """RFC 822 for {{ago}}, ISO 8601 for {{iso-ago}}; the newest past date is reported."""
    text, newest = render_placeholders(
        "<a>{{ago:3h}}</a><b>{{iso-ago:90m}}</b><c>{{ago:-2h}}</c>", NOW
    )
    assert "<a>" + format_datetime(NOW - timedelta(hours=3), usegmt=True) + "</a>" in text
    assert "<b>2025-06-03T10:30:00Z</b>" in text
    assert "Tue, 03 Jun 2025 14:00:00 GMT" in text
    assert newest == NOW - timedelta(minutes=90)


def test_no_placeholder_left(server: FeedServer) -> None:
    """Every placeholder in every fixture is substituted."""
    for name in server.fixture_names():
        assert "{{" not in server.render(name), name


def test_dates_relative_to_now(parsed: dict[str, Any]) -> None:
    """Fresh items lie within the last 31 h (one is 2 h in the future); stale ones ~400 days old."""
    future = undated = 0
    for name, feed in parsed.items():
        for entry in feed.entries:
            when = _entry_time(entry)
            if when is None:
                undated += 1
                continue
            age = NOW - when
            if name in STALE_FIXTURES:
                assert timedelta(days=395) <= age <= timedelta(days=415), (name, entry.link)
            elif age < timedelta(0):
                future += 1
                assert age == timedelta(hours=-2), entry.link
            else:
                assert age <= timedelta(hours=31), (name, entry.link, age)
    assert future == 1
    assert undated >= 2


def test_default_now_is_construction_time() -> None:
    """Without ``now`` the server renders relative to the current time."""
    srv = FeedServer()
    assert abs((datetime.now(UTC) - srv.now).total_seconds()) < 5


# --- fixtures and labels --------------------------------------------------------------------


def test_every_fixture_parses_cleanly(parsed: dict[str, Any]) -> None:
    """No fixture feed is bozo and every one has items with links and titles."""
    assert len(parsed) >= 10
    for name, feed in parsed.items():
        assert not feed.bozo, (name, feed.get("bozo_exception"))
        assert feed.entries, name
        for entry in feed.entries:
            assert entry.get("link") and entry.get("title"), name


def test_labels_cover_every_item_exactly(parsed: dict[str, Any]) -> None:
    """labels.json has exactly one well-formed label per distinct item link."""
    labels = load_labels()
    links = {entry.link for feed in parsed.values() for entry in feed.entries}
    assert set(labels) == links
    for link, label in labels.items():
        assert set(label) == {"security", "event", "stale", "language"}, link
        assert isinstance(label["security"], bool) and isinstance(label["stale"], bool)
        assert label["language"] in {"en", "fr", "de"}
        assert (label["event"] is not None) == label["security"], link


def test_labels_match_feeds(parsed: dict[str, Any]) -> None:
    """Stale flags match the stale fixture; languages match what feeds declare."""
    labels = load_labels()
    for name, feed in parsed.items():
        declared = fixture_language((FIXTURES_FEEDS / name).read_text(encoding="utf-8"))
        for entry in feed.entries:
            label = labels[entry.link]
            assert label["stale"] == (name in STALE_FIXTURES), entry.link
            if declared:
                assert label["language"] == declared, entry.link
    undeclared = [
        n
        for n in parsed
        if fixture_language((FIXTURES_FEEDS / n).read_text(encoding="utf-8")) is None
    ]
    assert undeclared, "one feed must declare no language"
    assert any(labels[e.link]["language"] == "de" for n in undeclared for e in parsed[n].entries)
    assert any(label["language"] == "fr" for label in labels.values())


def test_counts(parsed: dict[str, Any]) -> None:
    """Enough outlets, multi-outlet security events and non-security items."""
    labels = load_labels()
    fresh_outlets = [n for n in parsed if n not in STALE_FIXTURES]
    assert len(fresh_outlets) >= 9
    outlets_per_event: dict[str, set[str]] = defaultdict(set)
    for name, feed in parsed.items():
        for entry in feed.entries:
            label = labels[entry.link]
            if label["event"]:
                outlets_per_event[label["event"]].add(name)
    multi = {e: o for e, o in outlets_per_event.items() if len(o) >= 2}
    assert len(multi) >= 8
    assert all(len(o) <= 6 for o in multi.values())
    non_security = [lk for lk, lab in labels.items() if not lab["security"]]
    assert len(non_security) >= 15
    stale_security = [lk for lk, lab in labels.items() if lab["stale"] and lab["security"]]
    assert stale_security


def test_tricky_cases_present(parsed: dict[str, Any]) -> None:
    """Duplicate GUIDs, tracking-parameter URL variants and a syndicated copy are present."""
    dup = False
    for feed in parsed.values():
        ids = [e.get("id") for e in feed.entries]
        dup = dup or len(ids) != len(set(ids))
    assert dup
    links = [e.link for feed in parsed.values() for e in feed.entries]
    assert any("utm_source=rss" in lk for lk in links)
    stripped = defaultdict(set)
    for lk in links:
        stripped[lk.split("?")[0].split("#")[0]].add(lk)
    assert any(len(v) >= 2 for v in stripped.values())
    titles = [e.title for feed in parsed.values() for e in feed.entries]
    assert any("Japan says it landed near its waters" in t for t in titles if "ICBM" in t)
    assert sum("Japan says it landed near its waters" in t for t in titles) >= 2


# --- HTTP behaviour -------------------------------------------------------------------------


def test_headers_and_conditional_get(server: FeedServer) -> None:
    """ETag and Last-Modified are sent; If-None-Match and If-Modified-Since give 304."""
    url = server.feed_url("bbc_world.xml")
    first = httpx.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    last_modified = first.headers["last-modified"]
    assert first.headers["content-type"].startswith("application/rss+xml")
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert httpx.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    older = format_datetime(NOW - timedelta(days=2), usegmt=True)
    assert httpx.get(url, headers={"If-Modified-Since": older}).status_code == 200
    assert httpx.get(server.feed_url("defenseone.xml")).headers["etag"] != etag


def test_gzip(server: FeedServer) -> None:
    """Accept-Encoding: gzip gets a gzipped body with Content-Encoding."""
    url = server.feed_url("guardian_world.xml")
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["content-encoding"] == "gzip"
        raw = b"".join(resp.iter_raw())
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content)


def test_request_log(server: FeedServer) -> None:
    """Requests are logged with path, method, lower-case headers and status."""
    httpx.get(server.feed_url("un_news.xml"), headers={"X-Probe": "yes"})
    httpx.head(server.feed_url("un_news.xml"))
    entries = server.requests_to("/feeds/un_news.xml")
    assert entries[-2]["method"] == "GET" and entries[-1]["method"] == "HEAD"
    assert entries[-2]["headers"]["x-probe"] == "yes"
    assert entries[-2]["status"] == 200


def test_not_found_and_custom(server: FeedServer) -> None:
    """Unknown paths give 404; set_body serves arbitrary content and status."""
    assert httpx.get(f"{server.url}/feeds/nope.xml").status_code == 404
    assert httpx.get(f"{server.url}/feeds/../labels.json").status_code == 404
    assert httpx.get(f"{server.url}/elsewhere").status_code == 404
    server.set_body("odd/feed.xml", b"<rss><channel><pubDate>{{ago:1h}}</pubDate></channel></rss>")
    resp = httpx.get(server.custom_url("odd/feed.xml"))
    assert resp.status_code == 200 and b"Tue, 03 Jun 2025 11:00:00 GMT" in resp.content
    server.set_body("gone.xml", b"gone", "text/plain", status=410)
    resp = httpx.get(f"{server.url}/custom/gone.xml")
    assert resp.status_code == 410 and resp.text == "gone"
    assert resp.headers["content-type"] == "text/plain"


def test_feeds_toml(server: FeedServer) -> None:
    """feeds_toml lists every fixture with its outlet name, URL and declared language."""
    data = tomllib.loads(server.feeds_toml())
    feeds = {f["name"]: f for f in data["feeds"]}
    assert len(feeds) == len(fixture_files())
    assert feeds["BBC World"]["url"] == server.feed_url("bbc_world.xml")
    assert feeds["BBC World"]["language"] == "en"
    assert feeds[OUTLET_NAMES["lemonde_fr.xml"]]["language"] == "fr"
    assert "language" not in feeds[OUTLET_NAMES["intl_wire.xml"]]
    assert feeds["Long War Journal"]["weight"] == 1.2
    subset = tomllib.loads(server.feeds_toml(["dw_world.rdf"]))["feeds"]
    assert subset == [{"name": "DW", "url": server.feed_url("dw_world.rdf"), "language": "en"}]


def test_feeds_toml_loads_with_project_parser(server: FeedServer) -> None:
    """The project's own feeds-file parser accepts feeds_toml()."""
    from bot.news.feeds import parse_feeds_toml

    specs = parse_feeds_toml(server.feeds_toml(), "fixture feeds")
    assert len(specs) == len(server.fixture_names())
    assert {s.language for s in specs} == {"en", "fr", None}


# --- hostile endpoints ----------------------------------------------------------------------


def test_hostile_broken_and_blocked(server: FeedServer) -> None:
    """invalid/bomb are broken or dangerous XML; blocked pages are HTML."""
    invalid = httpx.get(server.hostile_url("invalid.xml"))
    assert invalid.status_code == 200 and feedparser.parse(invalid.content).bozo
    bomb = httpx.get(server.hostile_url("bomb.xml"))
    assert b"<!ENTITY lol9" in bomb.content and len(bomb.content) < 5000
    blocked = httpx.get(server.hostile_url("blocked.html"))
    assert blocked.status_code == 200 and blocked.headers["content-type"].startswith("text/html")
    assert "Access Denied" in blocked.text
    b403 = httpx.get(server.hostile_url("blocked403.xml"))
    assert b403.status_code == 403 and b403.content.startswith(b'<?xml version="1.0"?>')
    assert b"<html" in b403.content
    assert httpx.get(server.hostile_url("nope.xml")).status_code == 404


def test_hostile_wrong_charset(server: FeedServer) -> None:
    """wrong_charset.xml claims utf-8 but is windows-1252."""
    resp = httpx.get(server.hostile_url("wrong_charset.xml"))
    assert "charset=utf-8" in resp.headers["content-type"]
    assert b'encoding="utf-8"' in resp.content
    with pytest.raises(UnicodeDecodeError):
        resp.content.decode("utf-8")
    text = resp.content.decode("windows-1252")
    assert "“final offensive”" in text and "café" in text


def test_hostile_scripts(server: FeedServer) -> None:
    """After XML parsing the title literally contains the script tag, '<' and '&'."""
    resp = httpx.get(server.hostile_url("scripts.xml"))
    root = ET.fromstring(resp.content)
    items = root.findall("./channel/item")
    assert items[0].findtext("title") == SCRIPTS_TITLE
    assert "<iframe" in (items[0].findtext("description") or "")
    assert "onerror=" in (items[0].findtext("description") or "")
    assert "<script>" in (items[1].findtext("title") or "")
    assert not feedparser.parse(resp.content).bozo


def test_hostile_huge_is_streamed(server: FeedServer) -> None:
    """huge.xml streams more than 12 MB without a Content-Length."""
    total = 0
    with httpx.stream("GET", server.hostile_url("huge.xml")) as resp:
        assert "content-length" not in resp.headers
        for chunk in resp.iter_bytes():
            total += len(chunk)
    assert total > 12 * 1024 * 1024


def test_stall_blocks_neither_requests_nor_stop() -> None:
    """A stalled response does not delay other requests, and stop() returns promptly."""
    srv = FeedServer(now=NOW)
    srv.start()
    outcome: dict[str, Any] = {}

    def stalled_client() -> None:
        try:
            with httpx.stream("GET", srv.hostile_url("stall.xml"), timeout=40) as resp:
                outcome["status"] = resp.status_code
                outcome["body"] = resp.read()
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=stalled_client, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not srv.requests_to("/hostile/stall.xml") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.requests_to("/hostile/stall.xml"), "stall request never reached the server"

    started = time.monotonic()
    assert httpx.get(srv.feed_url("npr_world.xml"), timeout=5).status_code == 200
    assert time.monotonic() - started < 2

    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 3
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert outcome.get("status") == 200
    assert "body" not in outcome or outcome["body"] == b""


async def test_async_clients_share_the_server(server: FeedServer) -> None:
    """An async client fetches several feeds concurrently while a stalled request is pending."""
    async with httpx.AsyncClient(timeout=5) as client:
        stalled = asyncio.create_task(client.get(server.hostile_url("stall.xml"), timeout=30))
        names = ["bbc_world.xml", "defenseone.xml", "dw_world.rdf", "lemonde_fr.xml"]
        started = time.monotonic()
        responses = await asyncio.gather(*(client.get(server.feed_url(n)) for n in names))
        assert time.monotonic() - started < 2
        assert [r.status_code for r in responses] == [200] * len(names)
        stalled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stalled
