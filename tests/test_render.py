"""Rendering: Telegram HTML that Telegram accepts, split between stories within 4,096 characters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from fake_telegram import MAX_ENTITIES, parse_telegram_html, parse_telegram_html_entities, utf16_len

from bot.models import Brief, Source, Story
from bot.news.render import (
    TELEGRAM_LIMIT,
    nothing_new_html,
    plain_text,
    render_html,
    render_html_parts,
    render_text,
    telegram_length,
)

NOW = datetime(2026, 11, 28, 7, tzinfo=UTC)


def _story(i: int, summary_len: int = 480) -> Story:
    sources = tuple(
        Source(f"Outlet {j} & Co", f"T{j}", f"https://example.com/{i}/{j}?a=1&b=<2>", NOW)
        for j in range(12)
    )
    summary = (
        "Outlet 1 reports: Troops & rebels clash as 5 < 10 near the “border” — 𝕏 emoji 🛡. " * 10
    )[:summary_len]
    return Story(
        f"s{i}",
        f"Headline {i} <b>not bold</b> & more",
        summary,
        "Europe",
        ("armed_conflict", "terrorism"),
        5.0,
        sources,
    )


def test_long_brief_splits_between_stories_and_every_message_is_valid() -> None:
    brief = Brief(NOW, 36, tuple(_story(i) for i in range(10)))
    messages = render_html(brief)
    assert len(messages) >= 2
    for message in messages:
        plain = parse_telegram_html(message)  # raises if Telegram would refuse it
        assert utf16_len(plain) == telegram_length(message) <= TELEGRAM_LIMIT
    joined = "\n".join(messages)
    for i in range(10):
        assert joined.count(f"Headline {i} &lt;b&gt;not bold&lt;/b&gt; &amp; more</a></b>") == 1
    # Each story sits whole in one message.
    assert all(m.count("<b>") == m.count("</b>") for m in messages)
    assert (
        '<a href="https://example.com/0/0?a=1&amp;b=&lt;2&gt;">Outlet 0 &amp; Co</a>' in messages[0]
    )
    assert "+4 more" in messages[0]  # 12 outlets, 8 linked


def test_no_message_carries_more_entities_than_telegram_keeps() -> None:
    # Telegram keeps a message's first 100 entities and drops the rest without an error: a
    # "full" brief (10 stories, 5 watched, 8 linked outlets each) with short summaries fits
    # 4,096 characters in one message but would lose its last stories' links and bold.
    watch = tuple(replace(_story(90 + i, 100), watch_terms=("Kyiv",)) for i in range(5))
    brief = Brief(NOW, 36, tuple(_story(i, 100) for i in range(10)))
    messages, parts = render_html_parts(brief, watch=watch)
    counts = [len(parse_telegram_html_entities(m)[1]) for m in messages]
    assert sum(counts) > MAX_ENTITIES and max(counts) <= MAX_ENTITIES
    for story, part in zip((*watch, *brief.stories), parts, strict=True):
        headline = f"Headline {story.id[1:]} &lt;b&gt;not bold"
        assert [i for i, m in enumerate(messages) if headline in m] == [part]


def test_each_story_is_recorded_in_the_message_that_carries_it() -> None:
    # A brief cut short records only the stories of the parts that arrived: the part of each
    # story comes from the split itself, watchlist stories first, even for a story cut short.
    watch = (_story(90), replace(_story(91), summary="x" * 5000))  # too long: only its headline
    brief = Brief(NOW, 36, tuple(_story(i) for i in range(10)))
    messages, parts = render_html_parts(brief, watch=watch)
    assert messages == render_html(brief, watch=watch) and len(parts) == 12
    assert parts == sorted(parts) and parts[-1] == len(messages) - 1 > 0
    for story, part in zip((*watch, *brief.stories), parts, strict=True):
        headline = f"Headline {story.id[1:]} &lt;b&gt;not bold"
        assert [i for i, m in enumerate(messages) if headline in m] == [part]


def test_empty_brief_says_so() -> None:
    messages = render_html(Brief(NOW, 36))
    assert len(messages) == 1
    assert "No security stories cleared the bar" in parse_telegram_html(messages[0])
    assert "No security stories cleared the bar" in render_text(Brief(NOW, 36))


def test_update_marker_in_html_and_text() -> None:
    story = _story(1, 100)
    brief = Brief(NOW, 36, (replace(story, is_update=True),))
    assert "🔄 <i>Update</i>" in render_html(brief)[0]
    assert "[Update] Headline 1" in render_text(brief)


def test_no_message_ends_on_a_bare_section_heading() -> None:
    # Summary lengths sweep where the watchlist section ends near a message's limit.
    for length in range(300, 520, 5):
        watch = tuple(_story(i, length) for i in range(5))
        top = tuple(_story(10 + i) for i in range(5))
        messages = render_html(Brief(NOW, 36, top), watch=watch)
        assert not any(m.rstrip().endswith("</b>") for m in messages[:-1]), length
        # Each heading is in the message that holds its first story.
        with_top = next(m for m in messages if "<b>Top stories</b>" in m)
        assert "<b>6. " in with_top.split("<b>Top stories</b>", 1)[1]


def test_nothing_new_lists_only_the_headlines_one_message_holds() -> None:
    # BRIEF_STORIES=40 with 300-character headlines: the one-line answer must still be sendable.
    stories = tuple(
        replace(_story(i), headline=f"Headline {i} " + "🛡 war & peace " * 19) for i in range(40)
    )
    message = nothing_new_html(Brief(NOW, 36, stories))
    plain = parse_telegram_html(message)
    assert utf16_len(plain) <= TELEGRAM_LIMIT
    assert plain.startswith("🛡 ") and "Headline 0 " in plain
    shown = plain.count("• Headline ")
    assert 10 < shown < 40
    # Whole headlines only, in order: none cut half-way.
    assert plain.rstrip().endswith("war & peace")
    assert f"Headline {shown - 1} " in plain and f"Headline {shown} " not in plain


def test_plain_text_drops_the_formatting_and_keeps_within_the_limit() -> None:
    assert plain_text('<b>1. <a href="https://e.com/?a=1&amp;b=2">A &amp; B</a></b>') == "1. A & B"
    long = plain_text("<i>" + "🛡" * 3000 + "</i>")  # 6,000 UTF-16 units
    assert TELEGRAM_LIMIT - 1 <= utf16_len(long) <= TELEGRAM_LIMIT and long.endswith("🛡…")


def test_the_header_time_is_said_in_utc_whatever_zone_the_brief_was_built_in() -> None:
    auckland = datetime(2020, 12, 17, 9, 28, tzinfo=timezone(timedelta(hours=13)))
    brief = Brief(auckland, 36, (_story(1, 100),))
    assert "16 Dec 2020, 20:28 UTC" in render_html(brief)[0]
    assert "16 Dec 2020, 20:28 UTC" in render_text(brief)
