"""Storage: whole-row round trips and pruning of what is no longer needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Article, Brief, Source, Story
from bot.storage import news_store
from bot.storage.db import open_db

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _article(url: str, published: datetime, story_id: str | None = None) -> Article:
    return Article(
        url,
        "https://feed",
        "BBC World",
        "Title",
        "Desc.",
        published,
        "en",
        "g",
        2.5,
        ("armed_conflict",),
        "Europe",
        story_id,
    )


def test_article_round_trip_is_whole(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    article = _article("https://a/1", NOW)
    assert news_store.save_articles(db, [article, article], NOW) == 1
    assert db["articles"].get("https://a/1") == {
        "url": "https://a/1",
        "guid": "g",
        "feed_url": "https://feed",
        "outlet": "BBC World",
        "title": "Title",
        "description": "Desc.",
        "published": "2026-11-28T12:00:00+00:00",
        "first_seen": "2026-11-28T12:00:00+00:00",
        "last_seen": "2026-11-28T12:00:00+00:00",
        "language": "en",
        "score": 2.5,
        "topics": '["armed_conflict"]',
        "region": "Europe",
        "story_id": None,
        "body": None,
    }
    assert news_store.recent_articles(db, NOW - timedelta(hours=1)) == [article]


def test_brief_round_trip(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    source = Source("BBC World", "T", "https://a/1", NOW)
    brief = Brief(NOW, 36, (Story("s1", "H", "S.", None, ("terrorism",), 1.5, (source,), True),))
    brief_id = news_store.save_brief(db, brief)
    assert news_store.latest_brief(db) == (brief_id, brief)


def test_prune_keeps_what_is_needed(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    old, recent = NOW - timedelta(days=40), NOW - timedelta(hours=2)
    for story_id in ("old", "new"):
        db["stories"].insert({"id": story_id, "headline": "h"})
    # The old article was last in its feed 40 days ago; the new one is in it now.
    news_store.save_articles(db, [_article("https://a/old", old, "old")], old)
    news_store.save_articles(db, [_article("https://a/new", recent, "new")], NOW)
    old_brief = news_store.save_brief(db, Brief(NOW - timedelta(days=9), 36))
    news_store.save_brief(db, Brief(NOW - timedelta(days=8), 36))
    db["sent_stories"].insert_all(
        [
            {"chat_id": 1, "story_id": "old", "sent_at": news_store.iso(old)},
            {"chat_id": 1, "story_id": "new", "sent_at": news_store.iso(recent)},
        ]
    )
    for started in (old, old + timedelta(days=1), recent):
        db["broadcasts"].insert({"started_at": news_store.iso(started), "due": 1, "sent": 1})
    removed = news_store.prune(db, NOW)
    assert removed["articles"] == 1 and removed["stories"] == 1 and removed["sent_stories"] == 1
    # Delivery runs are kept a month; the newest always, for /stats.
    assert removed["broadcasts"] == 2
    assert [r["url"] for r in db.query("select url from articles")] == ["https://a/new"]
    assert [r["id"] for r in db.query("select id from stories")] == ["new"]
    # The newest brief survives even when old: /latest must always have something to show.
    assert [r["id"] for r in db.query("select id from briefs")] == [old_brief + 1]
    assert news_store.prune(db, NOW + timedelta(days=60))["broadcasts"] == 0  # the newest stays


def test_an_old_article_its_feed_still_carries_is_kept_and_stays_seen(tmp_path: Path) -> None:
    # Pruned, it would come back at the next fetch as a new article, and be sent again.
    db = open_db(tmp_path / "t.db")
    old = NOW - timedelta(days=40)
    evergreen = _article("https://a/evergreen", old)
    news_store.save_articles(db, [evergreen], old)
    db["sent_articles"].insert(
        {"chat_id": 1, "url": evergreen.url, "story_id": "s", "sent_at": news_store.iso(old)}
    )
    assert news_store.save_articles(db, [evergreen], NOW - timedelta(hours=1)) == 0  # still in
    removed = news_store.prune(db, NOW)
    assert removed["articles"] == 0 and removed["sent_articles"] == 0
    row = db["articles"].get(evergreen.url)
    assert (row["first_seen"], row["last_seen"]) == (
        news_store.iso(old),
        news_store.iso(NOW - timedelta(hours=1)),
    )
    # Once its feed drops it for the whole keep period, it and its ledger row go.
    removed = news_store.prune(db, NOW + timedelta(days=31))
    assert removed["articles"] == 1 and removed["sent_articles"] == 1


def test_prune_forgets_old_watch_matches_and_orphaned_watch_stories(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    old, recent = NOW - timedelta(days=40), NOW - timedelta(hours=2)
    news_store.save_articles(db, [_article("https://a/old", old)], old)
    news_store.save_articles(db, [_article("https://a/new", recent)], NOW)
    db["watch_matches"].insert_all(
        [
            {
                "url": "https://a/old",
                "key": "azov",
                "state": "done",
                "found_at": news_store.iso(old),
            },
            {
                "url": "https://a/new",
                "key": "azov",
                "state": "new",
                "found_at": news_store.iso(recent),
            },
        ]
    )
    db["watch_articles"].insert_all(
        [
            {"url": "https://a/old", "story_id": "w-old"},
            {"url": "https://a/new", "story_id": "w-new"},
        ]
    )
    db["watch_stories"].insert_all(
        [
            {"id": sid, "payload": "{}", "updated_at": news_store.iso(NOW)}
            for sid in ("w-old", "w-new")
        ]
    )
    removed = news_store.prune(db, NOW)
    assert removed["articles"] == 1
    assert removed["watch_matches"] == removed["watch_articles"] == removed["watch_stories"] == 1
    assert [r[0] for r in db.execute("select url from watch_matches")] == ["https://a/new"]
    assert [r[0] for r in db.execute("select url from watch_articles")] == ["https://a/new"]
    assert [r[0] for r in db.execute("select id from watch_stories")] == ["w-new"]


def test_a_later_report_joins_the_existing_story(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.news.pipeline import build_brief

    db = open_db(tmp_path / "t.db")
    settings = Settings()
    first = Article(
        "https://bbc/1",
        "f",
        "BBC World",
        "Russian drone strike kills 12 in Kharkiv apartment block",
        "Russian drones hit apartment blocks in Kharkiv overnight, killing 12 people.",
        NOW - timedelta(hours=3),
        "en",
        None,
        5.0,
        ("armed_conflict",),
        "Russia and Ukraine",
    )
    news_store.save_articles(db, [first], NOW)
    story_id = build_brief(db, settings, NOW)[1].stories[0].id
    later = Article(
        "https://dw/9",
        "g",
        "DW",
        "Kharkiv: Russian drone attack on apartment blocks kills 12",
        "Twelve people died when Russian drones struck apartment blocks in Kharkiv.",
        NOW - timedelta(hours=1),
        "en",
        None,
        5.0,
        ("armed_conflict",),
        "Russia and Ukraine",
    )
    news_store.save_articles(db, [later], NOW)
    _, brief = build_brief(db, settings, NOW + timedelta(minutes=30))
    assert [s.id for s in brief.stories] == [story_id]
    assert {s.outlet for s in brief.stories[0].sources} == {"BBC World", "DW"}
    assert db["articles"].get("https://dw/9")["story_id"] == story_id
