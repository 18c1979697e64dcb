"""What a daily brief holds: unsent stories, updates once, a short line when nothing is new."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botharness import plan_all

from bot.config import Settings
from bot.delivery.ledger import Seen, as_sent, planned_story, record_sent_stories, seen
from bot.delivery.planning import NOTHING_NEW, select_stories
from bot.models import Brief, Source, Story
from bot.storage.chats import ensure_chat, set_filter, set_subscribed
from bot.storage.db import open_db
from bot.storage.news_store import story_from_dict, story_to_dict

NOW = datetime(2026, 11, 28, 7, tzinfo=UTC)


def _story(sid: str, outlets: list[str], region: str = "Europe") -> Story:
    sources = tuple(Source(o, "T", f"https://{o}/{sid}", NOW) for o in outlets)
    return Story(sid, f"H {sid}", "S.", region, ("armed_conflict",), 1.0, sources)


def _chat(db, chat_id: int = 1):
    ensure_chat(db, chat_id, "private", None, Settings(), NOW - timedelta(days=1))
    return set_subscribed(db, chat_id, True, NOW - timedelta(days=1))


def test_sent_story_returns_as_update_with_only_its_new_reports(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    chat = _chat(db)
    a = _story("a", ["BBC"])
    brief = Brief(NOW, 36, (a, _story("b", ["DW"])))
    assert [s.id for s in select_stories(brief, chat, Seen())] == ["a", "b"]
    sent = Seen({"a": ("BBC", 0), "b": ("DW", 0)}, frozenset({"https://BBC/a", "https://DW/b"}))
    assert select_stories(brief, chat, sent) == ()
    grown = Brief(NOW, 36, (_story("a", ["BBC", "Al Jazeera"]),))
    chosen = select_stories(grown, chat, sent)
    assert [(s.id, s.is_update) for s in chosen] == [("a", True)]
    # Only the new report is cited, and the summary says what is new.
    assert [src.outlet for src in chosen[0].sources] == ["Al Jazeera"]
    assert "Al Jazeera now reports it" in chosen[0].summary
    # Headed by the new report it links, not by the earlier outlet's headline.
    assert chosen[0].headline == chosen[0].sources[0].title
    after = Seen({"a": ("Al Jazeera", 1)}, sent.urls | {"https://Al Jazeera/a"})
    assert select_stories(grown, chat, after) == ()  # nothing new since the update


def test_outlets_shown_before_an_update_stay_seen_after_it(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    chat = _chat(db)
    first = _story("a", ["BBC", "DW"])
    record_sent_stories(db, 1, [as_sent(planned_story(first, 0))], "daily", NOW)
    grown = _story("a", ["BBC", "DW", "Al Jazeera"])
    (update,) = select_stories(Brief(NOW, 36, (grown,)), chat, seen(db, 1))
    record_sent_stories(db, 1, [as_sent(planned_story(update, 0))], "daily", NOW)
    # BBC's closest report is now a follow-up article: BBC was shown on this story already.
    follow_up = replace(
        grown, sources=(Source("BBC", "T", "https://BBC/a-2", NOW), *grown.sources[1:])
    )
    assert select_stories(Brief(NOW, 36, (follow_up,)), chat, seen(db, 1)) == ()


def test_an_outlet_whose_name_holds_a_comma_stays_seen_on_its_story(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    chat = _chat(db)
    first = _story("a", ["Reuters, Asia", "DW"])
    record_sent_stories(db, 1, [as_sent(planned_story(first, 0))], "daily", NOW)
    # The outlet's next article on the story is the same report again, not news.
    follow_up = replace(first, sources=(Source("Reuters, Asia", "T", "https://R/a-2", NOW),))
    assert select_stories(Brief(NOW, 36, (follow_up,)), chat, seen(db, 1)) == ()
    # A fingerprint stored by an earlier release (comma-joined) still reads as its outlets.
    old = Seen({"a": ("BBC,DW", 0)}, frozenset())
    grown = _story("a", ["BBC", "DW", "Al Jazeera"])
    (update,) = select_stories(Brief(NOW, 36, (grown,)), chat, old)
    assert [s.outlet for s in update.sources] == ["Al Jazeera"]


def test_a_regrouped_story_holding_a_report_the_chat_saw_comes_as_an_update(
    tmp_path: Path,
) -> None:
    db = open_db(tmp_path / "t.db")
    chat = _chat(db)
    # Yesterday: story "old", one Daily Beast report.
    record_sent_stories(db, 1, [("old", '["Beast"]', False, ("https://Beast/1",))], "daily", NOW)
    # Today the event is grouped again under a new id; the Beast's closer report is listed and
    # the one the chat saw is among the story's other reports.
    story = replace(
        _story("new", ["Beast", "Forbes"]),
        other_reports=(("Beast", "https://Beast/1"),),
    )
    (chosen,) = select_stories(Brief(NOW, 36, (story,)), chat, seen(db, 1))
    assert chosen.is_update and [s.outlet for s in chosen.sources] == ["Forbes"]
    # Stored and read back (the brief's JSON), the story still knows that report.
    stored = story_from_dict(json.loads(json.dumps(story_to_dict(story))))
    assert stored.other_reports == (("Beast", "https://Beast/1"),)


def test_an_update_from_many_outlets_names_a_few_and_counts_the_rest(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    chat = _chat(db)
    outlets = [f"Outlet {n}" for n in range(20)]
    seen_one = Seen({"a": ("Outlet 0", 0)}, frozenset({"https://Outlet 0/a"}))
    (update,) = select_stories(Brief(NOW, 36, (_story("a", outlets),)), chat, seen_one)
    assert "Outlet 1, Outlet 2, Outlet 3 and 16 more now report it." in update.summary
    assert len(update.summary) <= 600 and "Outlet 19" not in update.summary


def test_a_story_regrouped_under_a_new_id_is_still_seen_by_its_articles(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    chat = _chat(db)
    record_sent_stories(db, 1, [("a", "BBC", False, ("https://BBC/a",))], "latest", NOW)
    regrouped = replace(_story("a", ["BBC", "DW"]), id="z")
    chosen = select_stories(Brief(NOW, 36, (regrouped,)), chat, seen(db, 1))
    assert [(s.id, s.is_update, [x.url for x in s.sources]) for s in chosen] == [
        ("z", True, ["https://DW/a"])
    ]


def test_filters_and_length_apply(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    _chat(db)
    chat = set_filter(db, 1, "regions", frozenset({"Africa"}), NOW)
    stories = tuple(_story(str(i), ["BBC"], "Africa" if i % 2 else "Europe") for i in range(20))
    chosen = select_stories(Brief(NOW, 36, stories), chat, Seen())
    assert len(chosen) == 5 and all(s.region == "Africa" for s in chosen)


def test_nothing_new_is_one_short_line_and_shared_content_is_built_once(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    for chat_id in (1, 2, 3):
        _chat(db, chat_id)
    db.execute("update chats set next_due = ?", [(NOW - timedelta(minutes=1)).isoformat()])
    brief = Brief(NOW, 36, (_story("a", ["BBC"]),))
    record_sent_stories(db, 3, [("a", "BBC", False, ("https://BBC/a",))], "latest", NOW)
    assert plan_all(db, 1, brief, NOW, timedelta(hours=12)) == (3, 0)
    contents = {
        r["key"]: json.loads(r["messages"]) for r in db.query("select key, messages from contents")
    }
    assert len(contents) == 2  # chats 1 and 2 share one rendered brief
    keys = {
        r["chat_id"]: r["content_key"]
        for r in db.query("select chat_id, content_key from deliveries")
    }
    assert keys[1] == keys[2] != keys[3]
    assert contents[keys[3]] == [NOTHING_NEW]
    assert "H a" in contents[keys[1]][0]
