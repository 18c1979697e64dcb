"""FULL_TEXT: article text improves summaries when reachable, costs nothing when offline, and
never comes from a private address (feeds choose the links)."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botharness import cli, free_port
from feed_server import FeedServer
from sqlite_utils import Database

from bot.config import Settings
from bot.models import Brief
from bot.news.feeds import load_feeds
from bot.news.fetch import make_client
from bot.news.fulltext import MAX_REDIRECTS, enrich, is_public
from bot.news.pipeline import build_brief, refresh
from bot.storage.db import open_db

# The test servers live on this machine; the default check refuses them, as it must.
LOCAL = ipaddress.ip_address("127.0.0.1")


def only_local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """The address check the tests pass: 127.0.0.1 (the feed server) and nothing else."""
    return address == LOCAL


ARTICLE = """<!DOCTYPE html><html><head><title>{title}</title></head><body>
<nav>Home | World | Sport</nav><article><h1>{title}</h1>
<p>{body}</p>
<p>Officials said the Zarqan garrison remained under the control of government troops on Monday.</p>
</article><footer>Subscribe to our newsletter</footer></body></html>"""

BODIES = {
    "a": "Insurgents attacked the Zarqan army garrison with mortars and rockets overnight, killing nine soldiers, the defence ministry said.",
    "b": "The assault on the Zarqan garrison began before dawn and lasted six hours, according to a military spokesman quoted by state media.",
}


def _feed(server: FeedServer, key: str, outlet: str, article_base: str) -> str:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>{outlet}</title><language>en</language>
<item><title>Insurgents attack Zarqan army garrison, killing soldiers</title>
<link>{article_base}/article-{key}.html</link><guid>{key}-1</guid>
<description>Attack on garrison.</description><pubDate>{{{{ago:2h}}}}</pubDate></item></channel></rss>"""


def _setup(server: FeedServer, tmp_path: Path, article_base: str) -> Path:
    lines = []
    for key, outlet in [("a", "Outlet A"), ("b", "Outlet B")]:
        server.set_body(f"feed-{key}.xml", _feed(server, key, outlet, article_base).encode())
        server.set_body(
            f"article-{key}.html",
            ARTICLE.format(title="Zarqan garrison attack", body=BODIES[key]).encode(),
            "text/html",
        )
        lines.append(
            f'[[feeds]]\nname = "{outlet}"\nurl = "{server.custom_url(f"feed-{key}.xml")}"\n'
        )
    path = tmp_path / "feeds.toml"
    path.write_text("\n".join(lines))
    return path


def _digest(feeds: Path, tmp_path: Path, full_text: str) -> tuple[dict, float, str]:
    started = time.monotonic()
    result = cli(
        "digest",
        "--feeds",
        str(feeds),
        "--json",
        DATABASE_PATH=str(tmp_path / f"ft{full_text}.db"),
        FULL_TEXT=full_text,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), time.monotonic() - started, result.stderr


async def _brief_with_full_text(
    server: FeedServer, tmp_path: Path, article_base: str
) -> tuple[Brief, Database, int]:
    """What `digest` does with FULL_TEXT on, in process, with the local address check."""
    feeds = _setup(server, tmp_path, article_base)
    settings = Settings(
        database_path=tmp_path / "inproc.db", feeds_file=feeds, fetch_timeout_seconds=2.0
    )
    db = open_db(settings.database_path)
    async with make_client(2.0) as client:
        await refresh(db, settings, load_feeds(feeds), client)
        brief = build_brief(db, settings)[1].top(settings.brief_stories)
        stored = await enrich(db, client, brief.stories, allow=only_local)
    return build_brief(db, settings)[1].top(settings.brief_stories), db, stored


async def test_full_text_feeds_the_summary(feed_server: FeedServer, tmp_path: Path) -> None:
    without, _, _ = _digest(_setup(feed_server, tmp_path, "https://x.example"), tmp_path, "false")
    assert without["stories"][0]["summary"].startswith("Outlet")
    assert "mortars" not in without["stories"][0]["summary"]

    brief, db, stored = await _brief_with_full_text(
        feed_server, tmp_path, f"{feed_server.url}/custom"
    )
    assert stored == 2
    story = brief.stories[0]
    assert {s.outlet for s in story.sources} == {"Outlet A", "Outlet B"}
    assert "mortars and rockets" in story.summary or "began before dawn" in story.summary
    assert "Subscribe to our newsletter" not in story.summary
    bodies = [r[0] for r in db.execute("select body from articles order by url")]
    assert all(b and "Zarqan" in b and "Home | World" not in b for b in bodies)
    db.close()


async def test_full_text_offline_is_skipped_quickly(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    closed = free_port()
    started = time.monotonic()
    brief, db, stored = await _brief_with_full_text(
        feed_server, tmp_path, f"http://127.0.0.1:{closed}"
    )
    db.close()
    assert stored == 0
    summary = brief.stories[0].summary
    assert summary.endswith("reports: Insurgents attack Zarqan army garrison, killing soldiers.")
    assert time.monotonic() - started < 20


def test_digest_never_fetches_article_links_on_this_machine(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    # The real command with its default address check: the links point at 127.0.0.1.
    feeds = _setup(feed_server, tmp_path, f"{feed_server.url}/custom")
    brief, _, stderr = _digest(feeds, tmp_path, "true")
    assert feed_server.requests_to("/custom/article-a.html") == []
    assert feed_server.requests_to("/custom/article-b.html") == []
    assert "mortars" not in brief["stories"][0]["summary"]
    assert "refused (127.0.0.1 is not a public address)" in stderr
    db = open_db(tmp_path / "fttrue.db")
    assert [r[0] for r in db.execute("select body from articles")] == [None, None]
    db.close()


@pytest.fixture
def second_host() -> Iterator[FeedServer]:
    """Another machine as far as addresses go: a server on 127.0.0.2."""
    with FeedServer(host="127.0.0.2") as server:
        yield server


async def test_redirects_are_checked_again_and_capped(
    feed_server: FeedServer, second_host: FeedServer, tmp_path: Path
) -> None:
    page = ARTICLE.format(title="Zarqan garrison attack", body=BODIES["a"]).encode()
    second_host.set_body("secret.html", page, "text/html")
    feed_server.set_body("real-b.html", page.replace(b"mortars", b"shells"), "text/html")
    # a: one hop to an address the check refuses; b: one hop on the allowed host.
    feed_server.set_redirect("article-a.html", second_host.custom_url("secret.html"))
    feed_server.set_redirect("article-b.html", "/custom/real-b.html")
    brief, db, stored = await _brief_with_full_text(
        feed_server, tmp_path, f"{feed_server.url}/custom"
    )
    bodies = dict(db.execute("select url, body from articles").fetchall())
    assert second_host.requests == []
    assert stored == 1
    assert bodies[feed_server.custom_url("article-a.html")] is None
    assert "shells" in bodies[feed_server.custom_url("article-b.html")]

    # A chain of MAX_REDIRECTS hops is followed; one hop more is given up without a request.
    for name, hops in (("long", MAX_REDIRECTS + 1), ("short", MAX_REDIRECTS)):
        feed_server.set_redirect("article-a.html", f"/custom/{name}-1.html")
        for hop in range(1, hops):
            feed_server.set_redirect(f"{name}-{hop}.html", f"/custom/{name}-{hop + 1}.html")
        feed_server.set_body(f"{name}-{hops}.html", page, "text/html")
        feed_server.clear_requests()
        async with make_client(2.0) as client:
            stored = await enrich(db, client, brief.stories, allow=only_local)
        requested = [r["path"] for r in feed_server.requests]
        assert requested[0] == "/custom/article-a.html"
        if name == "long":
            assert stored == 0 and len(requested) == MAX_REDIRECTS + 1
            assert f"/custom/long-{hops}.html" not in requested
        else:
            assert stored == 1 and requested[-1] == f"/custom/short-{hops}.html"
    db.close()


async def test_a_consent_page_a_link_redirects_to_is_not_the_article(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    consent = """<!DOCTYPE html><html><body><main><h1>We value your privacy</h1>
<p>We and our 842 partners store and access information on your device, such as cookies, and
process personal data for personalised advertising and content, audience research and services
development. Select Accept all to agree, or Manage settings to choose.</p></main></body></html>"""
    feed_server.set_body("consent.html", consent.encode(), "text/html")
    feed_server.set_redirect("article-a.html", "/custom/consent.html")
    brief, db, stored = await _brief_with_full_text(
        feed_server, tmp_path, f"{feed_server.url}/custom"
    )
    bodies = dict(db.execute("select url, body from articles").fetchall())
    assert stored == 1  # b's page is its article; a's redirect ends on a consent page
    assert bodies[feed_server.custom_url("article-a.html")] is None
    assert "privacy" not in brief.stories[0].summary and "partners" not in brief.stories[0].summary
    db.close()


@pytest.mark.parametrize(
    "address, public",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("172.16.5.4", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
    ],
)
def test_only_public_addresses_pass_the_default_check(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
