"""Parsing: the lxml fast path agrees with feedparser, and item clean-up rules hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from feed_server import FeedServer

import bot.news.parse
from bot.models import FeedSpec
from bot.news.fastrss import fast_entries
from bot.news.parse import parse_feed

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SERVER = FeedServer(now=NOW)


@pytest.mark.parametrize("name", SERVER.fixture_names())
def test_fast_path_and_feedparser_give_the_same_articles(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = SERVER.render(name).encode()
    spec = FeedSpec(name, f"http://x/{name}")
    fast = parse_feed(body, spec, NOW, timedelta(days=3650), None)
    monkeypatch.setattr(bot.news.parse, "fast_entries", lambda *args: None)
    slow = parse_feed(body, spec, NOW, timedelta(days=3650), None)
    assert fast.articles == slow.articles
    assert fast.declared_language == slow.declared_language


def test_fast_path_takes_plain_rss_and_declines_the_rest() -> None:
    rss = SERVER.render("bbc_world.xml").encode()
    assert fast_entries(rss, "application/rss+xml") is not None
    assert fast_entries(SERVER.render("defenseone.xml").encode(), None) is None  # Atom
    assert fast_entries(rss, "text/xml; charset=windows-1252") is None
    assert fast_entries(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><rss/>', None) is None


def _rss(items: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def test_item_rules() -> None:
    items = (
        "<item><title>Undated item</title><link>https://a/1</link></item>"
        "<item><title>From the future</title><link>https://a/2</link><pubDate>Mon, 30 Nov 2026 12:00:00 GMT</pubDate></item>"
        "<item><title>Too old</title><link>https://a/3</link><pubDate>Tue, 24 Nov 2026 12:00:00 GMT</pubDate></item>"
        "<item><title>Dup by guid</title><link>https://a/4</link><guid>g1</guid></item>"
        "<item><title>Dup by guid again</title><link>https://a/5</link><guid>g1</guid></item>"
        "<item><title>Tracking</title><link>https://a/6?utm_source=rss#top</link></item>"
        "<item><title>Tracking again</title><link>https://a/6?utm_medium=feed</link></item>"
        "<item><title>Boilerplate</title><link>https://a/7</link><description>&lt;p&gt;Troops moved.&lt;/p&gt;&lt;p&gt;The post Boilerplate appeared first on Frontline Monitor.&lt;/p&gt;</description></item>"
    )
    parsed = parse_feed(_rss(items), FeedSpec("T", "http://t"), NOW)
    by_url = {a.url: a for a in parsed.articles}
    assert list(by_url) == [
        "https://a/1",
        "https://a/2",
        "https://a/4",
        "https://a/6",
        "https://a/7",
    ]
    assert by_url["https://a/1"].published == NOW  # undated: first seen, exactly
    # A future date is clamped to just before now, so it never reads as "undated".
    assert NOW - timedelta(milliseconds=1) < by_url["https://a/2"].published < NOW
    assert parsed.skipped_old == 1
    assert by_url["https://a/7"].description == "Troops moved."


def test_html_block_page_is_an_error() -> None:
    with pytest.raises(bot.news.parse.FeedParseError, match="HTML page"):
        parse_feed(
            b"<!DOCTYPE html><html><body>Access denied</body></html>",
            FeedSpec("T", "http://t"),
            NOW,
        )
