"""FULL_TEXT: article text improves summaries when reachable, and costs nothing when offline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from feed_server import FeedServer

from bot.storage.db import open_db

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


def _digest(feeds: Path, tmp_path: Path, full_text: str) -> tuple[dict, float]:
    env = {
        **os.environ,
        "DATABASE_PATH": str(tmp_path / f"ft{full_text}.db"),
        "FULL_TEXT": full_text,
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            "/nonexistent",
            "digest",
            "--feeds",
            str(feeds),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), time.monotonic() - started


def test_full_text_feeds_the_summary(feed_server: FeedServer, tmp_path: Path) -> None:
    feeds = _setup(feed_server, tmp_path, f"{feed_server.url}/custom")
    without, _ = _digest(feeds, tmp_path, "false")
    assert without["stories"][0]["summary"].startswith("Outlet")
    assert "mortars" not in without["stories"][0]["summary"]

    brief, _ = _digest(feeds, tmp_path, "true")
    story = brief["stories"][0]
    assert {s["outlet"] for s in story["sources"]} == {"Outlet A", "Outlet B"}
    assert "mortars and rockets" in story["summary"] or "began before dawn" in story["summary"]
    assert "Subscribe to our newsletter" not in story["summary"]
    db = open_db(tmp_path / "fttrue.db")
    bodies = [r[0] for r in db.execute("select body from articles order by url")]
    assert all(b and "Zarqan" in b and "Home | World" not in b for b in bodies)


def test_full_text_offline_is_skipped_quickly(feed_server: FeedServer, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    feeds = _setup(feed_server, tmp_path, f"http://127.0.0.1:{closed}")
    brief, elapsed = _digest(feeds, tmp_path, "true")
    summary = brief["stories"][0]["summary"]
    assert summary.endswith("reports: Insurgents attack Zarqan army garrison, killing soldiers.")
    assert elapsed < 20
