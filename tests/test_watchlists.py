"""Watchlists: matching rules, commands and their replies, groups, buttons, quiet hours."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from botharness import button_data, running_bot, say, wait_until
from fake_telegram import FakeTelegram
from sqlite_utils import Database

from bot.config import Settings
from bot.delivery.ledger import as_sent, planned_story, record_sent_stories
from bot.delivery.planning import compose
from bot.models import Article, Brief, Source, Story
from bot.news import pipeline
from bot.news.pipeline import watch_round
from bot.news.watch import Matcher, TermError, article_text, normalise, parse_term
from bot.storage import watchlists
from bot.storage.chats import ensure_chat, set_length
from bot.storage.db import open_db
from bot.storage.news_store import iso, save_articles
from bot.telegram.throttle import Throttle

USER = 515


def _found(terms: list[str], title: str, description: str = "") -> set[str]:
    keys = {parse_term(t).key: t for t in terms}
    return {keys[k] for k in Matcher(keys).find(article_text(title, description))}


def test_whole_words_any_case_any_accents_no_patterns() -> None:
    terms = ["ISIS", "São Paulo", '"Black Sea Fleet"', "Zelensky", "a.*b"]
    assert _found(terms, "A crisis deepens in Sao Paulo") == {"São Paulo"}
    assert _found(terms, "isis claims attack", "BLACK SEA FLEET moves") == {
        "ISIS",
        '"Black Sea Fleet"',
    }
    assert _found(terms, "Zelenskyy speaks", "the Black Sea fleets") == set()
    assert _found(terms, "Zelensky's visit") == {"Zelensky"}  # punctuation ends a word
    assert _found(terms, "a.*b") == {"a.*b"} and _found(terms, "axxb") == set()
    assert normalise("  Ünïcödé—TEXT ") == "unicode text"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("", "empty"), ('""', "empty"), ("?!…", "only punctuation"), ("x" * 65, "too long")],
)
def test_bad_terms_say_why(raw: str, reason: str) -> None:
    with pytest.raises(TermError, match=reason):
        parse_term(raw)


def test_quiet_hours_run_over_midnight() -> None:
    night = (time(22), time(7))
    at = [datetime(2026, 8, 15, h, 30, tzinfo=UTC) for h in (21, 22, 3, 7, 12)]
    assert [watchlists.in_quiet(night, t) for t in at] == [False, True, True, False, False]
    assert not watchlists.in_quiet(None, at[1])
    assert watchlists.in_quiet((time(9), time(17)), at[4])


async def _say(fake: FakeTelegram, chat_id: int, text: str, from_user: int | None = None) -> str:
    return (await say(fake, chat_id, text, from_user=from_user))[0]["parsed_text"]


async def test_every_bad_input_gets_its_reply(fake: FakeTelegram, settings: Settings) -> None:
    # Dozens of replies to one chat in a second: Telegram's per-chat pacing is tested elsewhere.
    fake.set_rate_limits(per_chat_rate=None)
    chats = iter(range(900, 960))

    def chat() -> int:
        chat_id = next(chats)
        fake.add_private_chat(chat_id)
        return chat_id

    async with running_bot(fake, settings) as app:
        # Many commands from one user in a few seconds: the throttle is tested elsewhere.
        app.bot_data.services.throttle = Throttle(limit=1000, window=10.0)
        db = app.bot_data.services.db
        first = chat()
        assert "Send a word or a phrase" in await _say(fake, first, "/watch")
        assert "Send a word or a phrase" in await _say(fake, first, '/watch ""')
        assert "no letters or digits" in await _say(fake, first, "/watch ?!")
        assert "at most 64 characters" in await _say(fake, first, "/watch " + "y" * 65)
        assert "Watching: “Wagner”" in await _say(fake, first, "/watch Wagner")
        assert "one phrase" not in await _say(fake, first, "/watch Prigozhin")
        listed = await _say(fake, first, "/watch Kharkiv, Odesa")
        assert "Watching: “Kharkiv, Odesa”" in listed and "one phrase, commas and all" in listed
        assert "already on your watchlist" in await _say(fake, first, "/watch WAGNER")
        assert "Now an alert" in await _say(fake, first, "/alert wagner")
        assert "already on your watchlist as an alert" in await _say(fake, first, "/alert Wagner")
        full = chat()
        for n in range(20):
            assert "Watching" in await _say(fake, full, f"/watch term{n}")
        assert "watchlist is full (20 terms)" in await _say(fake, full, "/watch Mariupol")
        assert len(watchlists.terms(db, full)) == 20
        other = chat()
        assert "isn't on your watchlist" in await _say(fake, other, "/unwatch Wagner")
        assert "👁 Watchlist\nEmpty." in await _say(fake, other, "/unwatch")
        assert "isn't a time range" in await _say(fake, other, "/quiet soon")
        assert "isn't a time range" in await _say(fake, other, "/quiet 25:00-07:00")
        assert "start and an end that differ" in await _say(fake, other, "/quiet 07:00-07:00")
        assert "Quiet hours for alerts: 22:00–07:00" in await _say(fake, other, "/quiet")
        assert "Quiet hours 23:00–06:30" in await _say(fake, other, "/quiet 23:00-06:30")
        assert watchlists.quiet(db, other) == (time(23), time(6, 30))
        assert "Quiet hours off" in await _say(fake, other, "/quiet off")
        assert watchlists.quiet(db, other) is None
        assert "Empty" in await _say(fake, other, "/watchlist")


async def test_watchlist_buttons_remove_and_switch(fake: FakeTelegram, settings: Settings) -> None:
    fake.set_rate_limits(per_chat_rate=None)  # many replies in a row; pacing is tested elsewhere
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        db = app.bot_data.services.db
        await _say(fake, USER, '/watch "Black Sea Fleet"')
        await _say(fake, USER, "/alert Wagner")
        await _say(fake, USER, "/watchlist")
        menu = fake.messages_to(USER)[-1]
        assert "Black Sea Fleet — brief" in menu["parsed_text"]
        assert "Wagner — 🔔 alert" in menu["parsed_text"]
        fake.press_button(USER, menu["message_id"], button_data(menu, "✖ Wagner"))
        await wait_until(
            lambda: [t.term for t in watchlists.terms(db, USER)] == ["Black Sea Fleet"]
        )
        menu = fake.messages_to(USER)[-1]
        fake.press_button(USER, menu["message_id"], button_data(menu, "→ 🔔 alert"))
        await wait_until(lambda: watchlists.terms(db, USER)[0].mode == watchlists.ALERT)
        await wait_until(lambda: "Fleet — 🔔 alert" in fake.messages_to(USER)[-1]["parsed_text"])
        menu = fake.messages_to(USER)[-1]
        fake.press_button(USER, menu["message_id"], button_data(menu, "Any hour"))
        await wait_until(lambda: watchlists.quiet(db, USER) is None)
        await wait_until(
            lambda: "Quiet hours for alerts: off" in fake.messages_to(USER)[-1]["parsed_text"]
        )
        menu = fake.messages_to(USER)[-1]
        fake.press_button(USER, menu["message_id"], button_data(menu, "23:00-06:00"))
        await wait_until(lambda: watchlists.quiet(db, USER) == (time(23), time(6)))
        # The settings menu leads to the same watchlist.
        await _say(fake, USER, "/settings")
        settings_menu = fake.messages_to(USER)[-1]
        fake.press_button(
            USER, settings_menu["message_id"], button_data(settings_menu, "Watchlist")
        )
        await wait_until(lambda: "👁 Watchlist" in fake.messages_to(USER)[-1]["parsed_text"])


async def test_group_non_admin_cannot_change_the_watchlist(
    fake: FakeTelegram, settings: Settings
) -> None:
    group = -100300
    fake.add_group(group, "Analysts", admins={1})
    async with running_bot(fake, settings) as app:
        db = app.bot_data.services.db
        for command in ("/watch Wagner", "/alert Wagner", "/quiet off"):
            assert "Only group admins" in await _say(fake, group, command, from_user=2)
        assert watchlists.terms(db, group) == []
        assert "Watching" in await _say(fake, group, "/watch Wagner", from_user=1)
        assert "Only group admins" in await _say(fake, group, "/unwatch Wagner", from_user=2)
        await _say(fake, group, "/watchlist", from_user=2)  # looking is fine
        menu = fake.messages_to(group)[-1]
        fake.press_button(group, menu["message_id"], button_data(menu, "✖ Wagner"), from_user=2)
        await wait_until(
            lambda: any("Only group admins" in (a.get("text") or "") for a in fake.callback_answers)
        )
        assert [t.term for t in watchlists.terms(db, group)] == ["Wagner"]


def test_a_term_only_in_the_article_text_matches_once_the_text_is_fetched(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 8, 15, 12, tzinfo=UTC)
    db = open_db(tmp_path / "w.db")
    settings = Settings(database_path=tmp_path / "w.db")
    db["watch_terms"].insert(
        {"chat_id": 1, "key": "azov", "term": "Azov", "mode": "brief", "created_at": iso(now)}
    )
    article = Article(
        "https://example.org/a",
        "https://example.org/feed",
        "Example",
        "Port shelled",
        "Shelling hit the port overnight.",
        now - timedelta(hours=1),
    )
    save_articles(db, [article], now)
    assert watch_round(db, settings, now) == 0
    db.execute("update articles set body = 'The Azov regiment said it held the port.'")
    later = now + timedelta(minutes=30)
    assert watch_round(db, settings, later) == 1
    assert [r[0] for r in db.execute("select key from watch_matches")] == ["azov"]
    assert watch_round(db, settings, later + timedelta(minutes=30)) == 0  # stored once


def test_watched_stories_the_section_leaves_out_still_come_as_top_stories(tmp_path: Path) -> None:
    now = datetime(2026, 8, 15, 12, tzinfo=UTC)
    path = tmp_path / "w.db"
    db = open_db(path)
    ensure_chat(db, 1, "private", None, Settings(database_path=path), now)
    chat = set_length(db, 1, "full", now)  # up to 10 stories
    db["watch_terms"].insert(
        {"chat_id": 1, "key": "ukraine", "term": "Ukraine", "mode": "brief", "created_at": iso(now)}
    )
    stories = [
        Story(
            f"s{i}",
            f"Ukraine event {i}",
            "…",
            "Europe",
            ("armed_conflict",),
            10.0 - i,
            (Source(f"Outlet{i}", f"Ukraine event {i}", f"https://x.example/{i}", now),),
        )
        for i in range(8)
    ]
    watchlists.save_stories(db, stories, {s.id: [s.sources[0].url] for s in stories}, now)
    watchlists.record_matches(db, [(s.sources[0].url, "ukraine") for s in stories], now)
    watch, top = compose(db, chat, Brief(now, 36, tuple(stories)), now)
    # The section holds five; the other three are still the chat's top stories, not lost.
    assert [s.id for s in watch] == ["s0", "s1", "s2", "s3", "s4"]
    assert [s.id for s in top] == ["s5", "s6", "s7"]
    # A watched story the chat has seen, whose new reports do not name the term, comes back
    # as an update among the top stories.
    record_sent_stories(db, 1, [as_sent(planned_story(s, 0)) for s in stories], "alert", now)
    more = (
        Source("Reuters", "Kyiv says front held overnight", "https://x.example/r", now),
        Source("AP", "Front holds near Pokrovsk, Kyiv says", "https://x.example/ap", now),
    )
    grown = replace(stories[0], sources=stories[0].sources + more)
    watch, top = compose(db, chat, Brief(now, 36, (grown,)), now)
    assert watch == () and [(s.id, s.is_update) for s in top] == [("s0", True)]
    assert [s.outlet for s in top[0].sources] == ["Reuters", "AP"]
    db.close()


AZOV_NOW = datetime(2026, 8, 15, 12, tzinfo=UTC)
PORT = (
    "port",
    "Example",
    "Azov port shelled overnight",
    "Shelling hit the Azov port, officials said.",
)
FERRY = (
    "ferry",
    "Other",
    "Azov Sea ferry stopped by navy",
    "The navy stopped a ferry in the Sea of Azov.",
)


def _azov_watcher(tmp_path: Path) -> tuple[Database, Settings]:
    """A database where chat 1 follows "Azov" as an alert."""
    settings = Settings(database_path=tmp_path / "w.db")
    db = open_db(settings.database_path)
    db["watch_terms"].insert(
        {"chat_id": 1, "key": "azov", "term": "Azov", "mode": "alert", "created_at": iso(AZOV_NOW)}
    )
    return db, settings


def _report(report: tuple[str, str, str, str], published: datetime) -> Article:
    """A clearly scoring report (slug, outlet, title, text) published at ``published``."""
    slug, outlet, title, text = report
    feed = "https://example.org/feed"
    return Article(f"https://example.org/{slug}", feed, outlet, title, text, published, score=3.0)


def _watch_summaries(db: Database) -> list[str]:
    """The stored watch stories' summaries, sorted."""
    return sorted(
        json.loads(p)["summary"] for (p,) in db.execute("select payload from watch_stories")
    )


BOTH_SUMMARIES = [
    "Example reports: Shelling hit the Azov port, officials said.",
    "Other reports: The navy stopped a ferry in the Sea of Azov.",
]


def test_every_watched_story_gets_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each watch story is some chat's alert: none may keep its headline as its summary because
    # the brief summarises only as many stories as it stores (here 1, in the bot 40).
    monkeypatch.setattr(pipeline, "STORED_STORIES", 1)
    db, settings = _azov_watcher(tmp_path)
    hour_ago = AZOV_NOW - timedelta(hours=1)
    save_articles(db, [_report(PORT, hour_ago), _report(FERRY, hour_ago)], AZOV_NOW)
    assert watch_round(db, settings, AZOV_NOW) == 2
    assert _watch_summaries(db) == BOTH_SUMMARIES
    db.close()


async def test_a_term_stored_under_an_earlier_releases_key_can_be_removed(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    now = datetime.now(UTC)
    db = open_db(settings.database_path)
    # Keyed as releases before "ł" was folded stored it; a match on it waits too.
    db["watch_terms"].insert(
        {"chat_id": USER, "key": "łodz", "term": "Łódź", "mode": "alert", "created_at": iso(now)}
    )
    db["watch_matches"].insert(
        {"url": "https://x.example/1", "key": "łodz", "state": "new", "found_at": iso(now)}
    )
    db.close()
    async with running_bot(fake, settings) as app:
        db = app.bot_data.services.db
        assert [r[0] for r in db.execute("select key from watch_terms")] == ["lodz"]
        assert [r[0] for r in db.execute("select key from watch_matches")] == ["lodz"]
        reply = await say(fake, USER, "/unwatch Łódź")
        assert "isn't on your watchlist" not in reply[-1]["parsed_text"]
        assert db.execute("select count(*) from watch_terms").fetchone()[0] == 0


def test_a_watch_story_that_links_the_same_reports_keeps_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every watch story is summarised each round with a match; one whose headline and links
    # did not change keeps the summary it had, rather than be summarised again.
    db, settings = _azov_watcher(tmp_path)
    save_articles(db, [_report(PORT, AZOV_NOW - timedelta(hours=1))], AZOV_NOW)
    calls: list[int] = []
    summarise = pipeline.summarise
    monkeypatch.setattr(
        pipeline,
        "summarise",
        lambda *a: calls.append(1) or summarise(*a),  # type: ignore[func-returns-value]
    )
    assert watch_round(db, settings, AZOV_NOW) == 1 and len(calls) == 1
    later = AZOV_NOW + timedelta(minutes=30)
    save_articles(db, [_report(FERRY, later - timedelta(minutes=5))], later)
    assert watch_round(db, settings, later) == 1
    assert len(calls) == 2  # the new story only
    assert _watch_summaries(db) == BOTH_SUMMARIES
    db.close()


def test_a_headline_only_watch_summary_is_made_again_once_the_text_is_fetched(
    tmp_path: Path,
) -> None:
    db, settings = _azov_watcher(tmp_path)
    clip = ("azov", "Example", "Azov port shelled", "")
    save_articles(db, [_report(clip, AZOV_NOW - timedelta(hours=1))], AZOV_NOW)
    assert watch_round(db, settings, AZOV_NOW) == 1
    assert _watch_summaries(db) == ["Example reports: Azov port shelled."]  # nothing to quote
    db.execute("update articles set body = 'Shelling hit the Azov port overnight, officials said.'")
    later = AZOV_NOW + timedelta(minutes=30)
    assert watch_round(db, settings, later) == 0  # the text adds no new match ...
    save_articles(db, [_report(FERRY, later - timedelta(minutes=5))], later)
    assert watch_round(db, settings, later) == 1  # ... a later one regroups the watch stories
    payloads = [json.loads(p) for (p,) in db.execute("select payload from watch_stories")]
    port = next(p for p in payloads if p["headline"] == "Azov port shelled")
    assert (
        port["summary"] == "Example reports: Shelling hit the Azov port overnight, officials said."
    )
    db.close()
