"""The acceptance run of the news pipeline: `securitybrief digest` against real local feeds."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

from botharness import cli
from feed_server import FeedServer, load_labels

from bot.news.text import canonical_url, split_sentences
from bot.storage.db import open_db

LABELS = {canonical_url(url): label for url, label in load_labels().items()}


def securitybrief(*args: str, db_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI the way a user would, on its own database (and no developer's .env)."""
    return cli(*args, DATABASE_PATH=str(db_path), FETCH_TIMEOUT_SECONDS="3")


def _events_by_outlet() -> dict[str, set[str]]:
    """Event id -> outlets whose fresh English items report it (what a perfect brief would merge)."""
    from feed_server import OUTLET_NAMES

    outlets: dict[str, set[str]] = defaultdict(set)
    for name in OUTLET_NAMES:
        path = Path(__file__).parent / "fixtures" / "feeds" / name
        text = path.read_text("utf-8", errors="replace")
        for url, label in load_labels().items():
            if (
                label["event"]
                and not label["stale"]
                and label["language"] == "en"
                and url.replace("&", "&amp;") in text
            ):
                outlets[label["event"]].add(OUTLET_NAMES[name])
    return outlets


def test_digest_prints_a_security_only_brief_with_each_event_once(
    feeds_file: Path, tmp_path: Path
) -> None:
    result = securitybrief(
        "digest", "--feeds", str(feeds_file), "--json", db_path=tmp_path / "b.db"
    )
    assert result.returncode == 0, result.stderr
    brief = json.loads(result.stdout)
    assert set(brief) == {"generated_at", "window_hours", "stories"}
    assert brief["window_hours"] == 36
    stories = brief["stories"]
    assert len(stories) == 7

    expected_outlets = _events_by_outlet()
    seen_events: set[str] = set()
    all_sentences: list[str] = []
    for story in stories:
        labels = [LABELS[canonical_url(src["url"])] for src in story["sources"]]
        assert all(lab["security"] for lab in labels), story["headline"]
        assert not any(lab["stale"] for lab in labels), story["headline"]
        assert all(lab["language"] == "en" for lab in labels), story["headline"]
        events = {lab["event"] for lab in labels}
        assert len(events) == 1, f"{story['headline']} mixes events {events}"
        event = events.pop()
        assert event not in seen_events, f"{event} appears twice"
        seen_events.add(event)
        outlets = {src["outlet"] for src in story["sources"]}
        assert outlets == expected_outlets[event], (
            f"{event}: {outlets} != {expected_outlets[event]}"
        )
        assert len(story["summary"]) <= 520
        all_sentences += split_sentences(story["summary"])
        assert set(story) >= {"id", "headline", "summary", "region", "topics", "score", "sources"}
        assert story["region"] and story["topics"]
    assert len(all_sentences) == len(set(all_sentences)), "a summary sentence is repeated"
    scores = [s["score"] for s in stories]
    assert scores == sorted(scores, reverse=True)


def test_digest_text_output_is_readable(feeds_file: Path, tmp_path: Path) -> None:
    result = securitybrief("digest", "--feeds", str(feeds_file), db_path=tmp_path / "b.db")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Security Brief — ")
    assert sum(1 for line in lines if line[:2] in {f"{i}." for i in range(1, 10)}) == 7
    assert " reports: " in result.stdout


def test_second_fetch_of_unchanged_feeds_is_conditional_and_stores_nothing(
    feed_server: FeedServer, feeds_file: Path, tmp_path: Path
) -> None:
    db_path = tmp_path / "c.db"
    first = securitybrief("fetch", "--feeds", str(feeds_file), db_path=db_path)
    assert first.returncode == 0, first.stderr
    db = open_db(db_path)
    articles_after_first = db["articles"].count
    assert articles_after_first > 50
    db.close()
    feed_server.requests.clear()

    second = securitybrief("fetch", "--feeds", str(feeds_file), db_path=db_path)
    assert second.returncode == 0, second.stderr
    assert "0 new articles" in second.stdout
    feed_requests = [r for r in feed_server.requests if r["path"].startswith("/feeds/")]
    assert len(feed_requests) == len(feed_server.fixture_names())
    assert all(
        "if-none-match" in r["headers"] and "if-modified-since" in r["headers"]
        for r in feed_requests
    )
    assert {r["status"] for r in feed_requests} == {304}
    db = open_db(db_path)
    assert db["articles"].count == articles_after_first
    db.close()
