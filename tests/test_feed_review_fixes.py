"""Faults a feed review reproduced: bodies cut off in transit, items sharing a placeholder guid,
and UTF-8 served as Latin-1; and what a second review found the first fixes damaged."""

from __future__ import annotations

import gzip
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from feed_server import FeedServer, _Handler
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.models import FeedSpec, FetchResult
from bot.news.fetch import fetch_feed, make_client
from bot.news.parse import LOOSE_MAX, parse_feed
from bot.news.pipeline import ingest, refresh
from bot.news.text import normalise_space
from bot.storage import news_store
from bot.storage.db import open_db

NOW = datetime.now(UTC).replace(microsecond=0)
SPEC = FeedSpec("Probe", "https://example.com/feed.xml", "en")
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# An element in a namespace the fast path does not know: the item goes to feedparser instead.
SLOW = "<x:y xmlns:x='urn:x'>1</x:y>"


def _item(i: int, link: str, guid: str = "", extra: str = "") -> str:
    published = format_datetime(NOW - timedelta(minutes=10 * i + 5))
    return (
        f"<item><title>Missile strike {i} kills soldiers in Kharkiv, Ukraine says</title>"
        f"<link>{link}</link>{guid}<description>A Russian missile strike killed soldiers in "
        f"Kharkiv, Ukraine's military said.</description><pubDate>{published}</pubDate>"
        f"{extra}</item>"
    )


def _feed(items: str, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (
        f'{declaration}<rss version="2.0"><channel><title>x</title><language>en</language>'
        f"{items}</channel></rss>\n"
    ).encode()


def _news(count: int, extra: str = "") -> bytes:
    return _feed("".join(_item(i, f"https://e.com/news/{i}", extra=extra) for i in range(count)))


# --- a scripted server: answers in turn, with one ETag for all, honouring If-None-Match ---------


class _Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        server: _ScriptServer = self.server  # type: ignore[assignment]
        server.requests.append(dict(self.headers))
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, coding = server.answers[min(len(server.requests), len(server.answers)) - 1]
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", '"v1"')
        if coding:
            self.send_header("Content-Encoding", coding)
        # No length: the connection's close ends the body, as when one is cut off in transit.
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


class _ScriptServer(ThreadingHTTPServer):
    def __init__(self, answers: list[tuple[bytes, str | None]]) -> None:
        super().__init__(("127.0.0.1", 0), _Scripted)
        self.answers = answers
        self.requests: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/feed.xml"


@pytest.fixture
def scripted() -> Iterator[Callable[[list[tuple[bytes, str | None]]], _ScriptServer]]:
    """Start a scripted feed server on 127.0.0.1 for the answers given."""
    servers: list[_ScriptServer] = []

    def start(answers: list[tuple[bytes, str | None]]) -> _ScriptServer:
        server = _ScriptServer(answers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


async def _rounds(settings: Settings, url: str, rounds: int) -> list[tuple[dict, dict, int]]:
    """Each round's failures, the feed's health row and the articles stored after it."""
    spec = FeedSpec("Probe", url, "en")
    db = open_db(settings.database_path)
    seen = []
    async with make_client(5.0) as client:
        for _ in range(rounds):
            report = await refresh(db, settings, [spec], client, force=True)
            (health,) = news_store.feed_health(db)
            stored = db.execute("select count(*) from articles").fetchone()[0]
            seen.append((report.failed, health, stored))
    db.close()
    return seen


# --- 1. a body cut off in transit ---------------------------------------------------------------


async def test_a_compressed_body_cut_off_in_transit_keeps_its_items_but_not_its_validators(
    scripted: Callable, settings: Settings
) -> None:
    packed = gzip.compress(_news(10), mtime=0)
    server = scripted([(packed[: len(packed) // 2], "gzip"), (packed, "gzip")])
    (failed, health, stored), (failed2, health2, stored2) = await _rounds(settings, server.url, 2)
    # What the cut stream inflates to is a document cut short: told like a plain one.
    assert failed == {} and stored < 10
    assert "body ends inside <rss>" in health["last_error"] and health["etag"] is None
    # No validators were kept, so the second request asks for the whole feed and gets it.
    assert "If-None-Match" not in server.requests[1]
    assert failed2 == {} and stored2 == 10 and health2["etag"] == '"v1"'


async def test_a_plain_body_cut_off_in_transit_keeps_its_items_but_not_its_validators(
    scripted: Callable, settings: Settings
) -> None:
    full = _news(10)
    server = scripted([(full[: len(full) // 2], None), (full, None)])
    (failed, health, stored), (failed2, health2, stored2) = await _rounds(settings, server.url, 2)
    # The items it has are kept (a broken body is no failure), and its health says what happened.
    assert failed == {} and 0 < stored < 10
    assert "body ends inside <rss>" in health["last_error"]
    assert "no element found" in health["last_error"]
    assert health["consecutive_failures"] == 0 and health["etag"] is None
    assert "If-None-Match" not in server.requests[1]
    assert failed2 == {} and stored2 == 10
    assert health2["etag"] == '"v1"' and health2["last_error"] is None


def _pack(coding: str, data: bytes) -> bytes:
    if coding == "raw deflate":
        return zlib.compress(data)[2:-4]
    return zlib.compress(data) if coding == "deflate" else gzip.compress(data, mtime=0)


@pytest.fixture
def labelled(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make the feed server label every body with the Content-Encoding appended to the list."""
    coding: list[str] = []
    send_header = _Handler.send_header

    def label(self: _Handler, keyword: str, value: str) -> None:
        send_header(self, keyword, value)
        if keyword == "Content-Type" and coding:
            send_header(self, "Content-Encoding", coding[0])

    monkeypatch.setattr(_Handler, "send_header", label)
    yield coding


def _ingest_once(body: bytes) -> tuple[int, str | None, str | None]:
    """Ingest ``body`` as a fresh fetch with an ETag: (articles stored, feed's error, ETag kept)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_path=Path(folder) / "cut.db")
        db = open_db(settings.database_path)
        ingest(db, FetchResult(SPEC, status=200, body=body, etag='"v1"'), settings, NOW)
        stored = db.execute("select count(*) from articles").fetchone()[0]
        error, etag = db.execute("select last_error, etag from feeds").fetchone()
        db.close()
    return stored, error, etag


@PROPERTY
@given(coding=st.sampled_from(["gzip", "deflate", "raw deflate"]), cut=st.floats(0, 1))
@example(coding="gzip", cut=0.999)  # the trailer (checksum and length) alone is missing
async def test_any_cut_of_a_compressed_body_is_an_error_or_the_whole_feed(
    feed_server: FeedServer, labelled: list[str], coding: str, cut: float
) -> None:
    full = _news(10)
    packed = _pack(coding, full)
    at = int(len(packed) * cut)
    feed_server.set_body(f"cut-{at}.xml", packed[:at])
    labelled[:] = ["deflate" if coding == "raw deflate" else coding]
    async with make_client(5.0) as client:
        client.headers["Accept-Encoding"] = "identity"  # the server sends our bytes as they are
        result = await fetch_feed(client, FeedSpec("Cut", feed_server.custom_url(f"cut-{at}.xml")))
    if result.error:
        return  # a failed fetch: recorded against the feed, its validators not kept
    stored, error, etag = _ingest_once(result.body)
    if error is None:
        assert stored == 10 and etag == '"v1"'
    else:
        assert etag is None


BIG = _news(40, extra=f"<comments>{'c' * (LOOSE_MAX // 40)}</comments>")


@PROPERTY
@given(body=st.sampled_from([_news(10), _news(10, SLOW), BIG]), cut=st.floats(0, 1))
@example(body=_news(10), cut=0.5)
@example(body=BIG, cut=0.7)
def test_any_cut_of_a_plain_body_is_an_error_or_the_whole_feed(body: bytes, cut: float) -> None:
    stored, error, etag = _ingest_once(body[: int(len(body) * cut)])
    # Never a silent partial success: the whole feed, or the feed's health says what went wrong
    # and keeps no validators (the next request asks for the whole feed).
    if error is None:
        assert stored == body.count(b"<item>") and etag == '"v1"'
    else:
        assert etag is None


# --- 2. items sharing a guid or a link ----------------------------------------------------------


@pytest.mark.parametrize("extra", ["", SLOW])
def test_items_sharing_a_placeholder_guid_are_all_kept(extra: str) -> None:
    guid = '<guid isPermaLink="false">undefined</guid>'
    items = "".join(_item(i, f"https://e.com/news/{i}", guid, extra) for i in range(10))
    parsed = parse_feed(_feed(items), SPEC, NOW)
    assert [a.url for a in parsed.articles] == [f"https://e.com/news/{i}" for i in range(10)]


@pytest.mark.parametrize("extra", ["", SLOW])
def test_one_story_listed_in_several_sections_stays_one_article(extra: str) -> None:
    guid = '<guid isPermaLink="false">ex-story-5531</guid>'
    items = "".join(
        _item(0, f"https://e.com/{section}/story-5531", guid, extra)
        for section in ("world", "europe", "ukraine")
    )
    parsed = parse_feed(_feed(items), SPEC, NOW)
    assert [a.url for a in parsed.articles] == ["https://e.com/world/story-5531"]


def _shapes(news: bytes) -> list[bytes]:
    """Closed feeds in unusual shapes, each with a stray "&" so that the parser reports a problem."""
    body = news.replace(b"</title>", b" & more</title>", 1)
    rss = body[body.index(b"<rss") :]
    return [
        b"<!-- also as <feed> -->" + rss,
        body + b"<!-- </rss-cache: hit -->",
        body.replace(b"<rss", b"<RSS"),
        body.replace(b"?>", b"?><?xml-stylesheet href='a.xsl'?>", 1).replace(b"</rss>", b"</rss >"),
    ]


@pytest.mark.parametrize("shape", range(4))
def test_a_closed_feed_with_errors_is_not_called_cut_short(shape: int) -> None:
    stored, error, etag = _ingest_once(_shapes(_news(3))[shape])
    # Its items are read and its validators kept: a feed called cut short would lose its ETag
    # at every fetch, and with it every 304.
    assert stored == 3 and etag == '"v1"'
    assert error is None or "cut off" not in error


# --- 3. UTF-8 served as Latin-1 ----------------------------------------------------------------


async def test_utf8_served_as_latin1_reads_as_utf8_and_latin1_still_as_latin1(
    feed_server: FeedServer, settings: Settings
) -> None:
    title = (
        "Russia\u2019s \u201cmissile\u201d strike kills soldiers in Kharkiv, caf\u00e9 owner says"
    )
    utf8 = _feed(
        _item(0, "https://e.com/utf8").replace(
            "Missile strike 0 kills soldiers in Kharkiv, Ukraine says", title
        )
    )
    latin1 = _feed(
        _item(1, "https://e.com/latin1").replace(
            "Missile strike 1 kills soldiers in Kharkiv, Ukraine says",
            "Caf\u00e9 attack in S\u00e3o Paulo kills two soldiers",
        ),
        '<?xml version="1.0" encoding="iso-8859-1"?>',
    )
    feed_server.set_body("utf8.xml", utf8, "text/xml; charset=ISO-8859-1")
    feed_server.set_body(
        "latin1.xml", latin1.decode().encode("latin-1"), "text/xml; charset=ISO-8859-1"
    )
    specs = [
        FeedSpec("UTF-8", feed_server.custom_url("utf8.xml"), "en"),
        FeedSpec("Latin-1", feed_server.custom_url("latin1.xml"), "en"),
    ]
    db = open_db(settings.database_path)
    async with make_client(5.0) as client:
        report = await refresh(db, settings, specs, client)
    titles = {r["url"]: r["title"] for r in db.query("select url, title from articles")}
    db.close()
    assert report.failed == {}
    assert titles["https://e.com/utf8"] == title
    assert titles["https://e.com/latin1"] == "Caf\u00e9 attack in S\u00e3o Paulo kills two soldiers"


def test_latin1_said_by_header_and_document_is_read_as_latin1() -> None:
    title = "ALERTA EN PER\u00da\u00a0: sismo"
    body = (
        _feed(
            f"<item><title>{title}</title><link>https://e.com/a</link></item>",
            '<?xml version="1.0" encoding="iso-8859-1"?>',
        )
        .decode()
        .encode("latin-1")
    )
    body.decode("utf-8")  # the trap: these Latin-1 bytes are valid UTF-8 too ("PER\u06a0")
    parsed = parse_feed(
        body, SPEC, NOW, brief_language=None, content_type="text/xml; charset=iso-8859-1"
    )
    assert [a.title for a in parsed.articles] == ["ALERTA EN PER\u00da: sismo"]


LETTERS = st.text(
    st.characters(categories=["L", "N", "Zs"]) | st.sampled_from("\u2019\u201c\u201d\u2014-.,"),
    min_size=1,
    max_size=80,
)


@PROPERTY
@given(title=LETTERS.filter(lambda t: not t.isascii() and normalise_space(t)))
def test_any_utf8_title_labelled_latin1_comes_back_as_written(title: str) -> None:
    body = _feed(f"<item><title>{escape(title)}</title><link>https://e.com/a</link></item>")
    parsed = parse_feed(
        body, SPEC, NOW, brief_language=None, content_type="text/xml; charset=iso-8859-1"
    )
    assert [a.title for a in parsed.articles] == [normalise_space(title)]
