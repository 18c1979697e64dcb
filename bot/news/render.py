"""Showing a brief: Telegram HTML (split into messages), plain text and JSON."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC

from bot.models import Brief, Story
from bot.news.relevance import TOPICS
from bot.news.text import split_sentences
from bot.storage.news_store import brief_to_dict

TELEGRAM_LIMIT = 4096
# Telegram keeps a message's first 100 formatting entities and silently drops the rest: a
# story past them would lose its links and bold without any error.
TELEGRAM_ENTITIES = 100
# A story's message links this many outlets, then says "+N more" (a long list buries it).
LINKED_SOURCES = 8
_TAG = re.compile(r"<[^>]+>")
_OPENING_TAG = re.compile(r"<[a-zA-Z]")  # text is escaped, so every one is an entity


def telegram_length(message: str) -> int:
    """Length of a Telegram HTML message as Telegram counts it: parsed text, UTF-16 units."""
    return _utf16(html.unescape(_TAG.sub("", message)))


def plain_text(message: str, limit: int = TELEGRAM_LIMIT) -> str:
    """A Telegram HTML message's text without its formatting, cut to ``limit`` UTF-16 units."""
    text = html.unescape(_TAG.sub("", message))
    if _utf16(text) <= limit:
        return text
    cut = text[: limit - 1]
    while _utf16(cut) > limit - 1:  # astral characters count twice
        cut = cut[:-1]
    return cut + "…"


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entity_count(message: str) -> int:
    """Formatting entities (bold, italic, links) a Telegram HTML message makes."""
    return len(_OPENING_TAG.findall(message))


def fits(message: str, limit: int = TELEGRAM_LIMIT) -> bool:
    """Whether Telegram shows the message whole: within its length and entity limits."""
    return telegram_length(message) <= limit and entity_count(message) <= TELEGRAM_ENTITIES


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _labels(story: Story) -> str:
    labels = [story.region] if story.region else []
    labels += [TOPICS.get(t, t) for t in story.topics[:2]]
    return " · ".join(labels)


def _outlets(story: Story) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for source in story.sources:
        seen.setdefault(source.outlet, source.url)
    return list(seen.items())


def story_html(story: Story, number: int) -> str:
    """One story as a Telegram HTML block."""
    lead = story.sources[0]
    marker = "🔄 <i>Update</i> · " if story.is_update else ""
    outlets = _outlets(story)
    links = [f'<a href="{_e(url)}">{_e(name)}</a>' for name, url in outlets[:LINKED_SOURCES]]
    if len(outlets) > LINKED_SOURCES:
        links.append(f"+{len(outlets) - LINKED_SOURCES} more")
    lines = [
        f'<b>{number}. {marker}<a href="{_e(lead.url)}">{_e(story.headline)}</a></b>',
        _e(story.summary),
    ]
    labels = _labels(story)
    lines.append((f"<i>{_e(labels)}</i> — " if labels else "") + "Sources: " + ", ".join(links))
    if story.watch_terms:
        lines.append("👁 <i>Matched: " + ", ".join(f"“{_e(t)}”" for t in story.watch_terms) + "</i>")
    return "\n".join(lines)


WATCH_HEADING = "👁 <b>On your watchlist</b>"
TOP_HEADING = "<b>Top stories</b>"


def alert_html(story: Story) -> str:
    """A watchlist alert: the term, the headline, one attributed sentence, the links."""
    lead = story.sources[0]
    links = [f'<a href="{_e(url)}">{_e(name)}</a>' for name, url in _outlets(story)]
    terms = ", ".join(f"“{_e(t)}”" for t in story.watch_terms)
    return "\n".join(
        [
            f"🔔 <b>Watchlist</b>: {terms}",
            f'<b><a href="{_e(lead.url)}">{_e(story.headline)}</a></b>',
            _e(first_sentence(story.summary)),
            "Sources: " + ", ".join(links[:LINKED_SOURCES]),
        ]
    )


def first_sentence(text: str) -> str:
    """The first sentence of an attributed summary (each sentence names its outlet)."""
    return (split_sentences(text) or [text.strip()])[0]


def _utc_day(brief: Brief) -> str:
    return brief.generated_at.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def header_html(brief: Brief, title: str = "Security Brief") -> str:
    """The first lines of a brief message."""
    day = _utc_day(brief)
    outlets = {s.outlet for story in brief.stories for s in story.sources}
    return (
        f"🛡 <b>{_e(title)}</b> — {day}\n"
        f"<i>{len(brief.stories)} stories from {len(outlets)} outlets, last {brief.window_hours} h</i>"
    )


def split_messages(
    blocks: Sequence[str], limit: int = TELEGRAM_LIMIT, separator: str = "\n\n"
) -> list[str]:
    """Pack blocks into as few messages as fit, splitting only between blocks."""
    return _pack(blocks, limit, separator)[0]


def _pack(
    blocks: Sequence[str], limit: int = TELEGRAM_LIMIT, separator: str = "\n\n"
) -> tuple[list[str], list[int]]:
    """The messages, and the index of the message each block went into."""
    messages: list[str] = []
    placed: list[int] = []
    current = ""
    for block in blocks:
        candidate = f"{current}{separator}{block}" if current else block
        if fits(candidate, limit):
            current = candidate
        else:
            if current:
                messages.append(current)
            current = block if fits(block, limit) else _shorten(block, limit)
        placed.append(len(messages))
    if current:
        messages.append(current)
    return messages, placed


def _shorten(block: str, limit: int) -> str:
    # Only reachable with absurd inputs; keeps the headline line, which is always valid HTML.
    first_line = block.split("\n", 1)[0]
    return first_line if fits(first_line, limit) else "(story too long to show)"


def render_html(
    brief: Brief,
    title: str = "Security Brief",
    empty_note: str | None = None,
    watch: Sequence[Story] = (),
) -> list[str]:
    """The brief as Telegram HTML messages, each within Telegram's length limit; the chat's
    watchlist stories, if any, come first under their own heading."""
    return render_html_parts(brief, title, empty_note, watch)[0]


def render_html_parts(
    brief: Brief,
    title: str = "Security Brief",
    empty_note: str | None = None,
    watch: Sequence[Story] = (),
) -> tuple[list[str], list[int]]:
    """:func:`render_html`, and the message each story (watchlist ones first) went into."""
    blocks = [header_html(replace(brief, stories=(*watch, *brief.stories)), title)]
    at: list[int] = []  # each story's block

    def add(stories: Sequence[Story], first: int, heading: str | None) -> None:
        for number, story in enumerate(stories, first):
            at.append(len(blocks))
            block = story_html(story, number)
            # A heading travels with its first story, so no message ends on a bare heading.
            blocks.append(f"{heading}\n\n{block}" if heading and number == first else block)

    if not watch and not brief.stories:
        blocks.append(_e(empty_note or "No security stories cleared the bar in this window."))
    add(watch, 1, WATCH_HEADING)
    add(brief.stories, len(watch) + 1, TOP_HEADING if watch else None)
    messages, placed = _pack(blocks)
    return messages, [placed[i] for i in at]


NOTHING_NEW_LATEST = "Nothing new has cleared the bar since you last looked."


def nothing_new_html(current: Brief, any_stories: bool = True) -> str:
    """One line saying nothing is new, then the current top headlines without links."""
    if not current.stories:
        if any_stories:
            return _e(
                "No stories match your region and topic filters right now. /settings changes them."
            )
        return _e("No security stories cleared the bar in this window.")
    message = f"🛡 {_e(NOTHING_NEW_LATEST)} The top headlines now:"
    # One message, as many headlines as fit (BRIEF_STORIES may be set high).
    for story in current.stories:
        longer = f"{message}\n• {_e(story.headline)}"
        if telegram_length(longer) > TELEGRAM_LIMIT:
            break
        message = longer
    return message


def render_text(brief: Brief, title: str = "Security Brief") -> str:
    """The brief as plain text for a terminal."""
    day = _utc_day(brief)
    out = [f"{title} — {day}", f"{len(brief.stories)} stories, last {brief.window_hours} h", ""]
    if not brief.stories:
        out.append("No security stories cleared the bar in this window.")
    for i, story in enumerate(brief.stories, 1):
        marker = "[Update] " if story.is_update else ""
        out.append(f"{i}. {marker}{story.headline}")
        out.append(f"   {story.summary}")
        labels = _labels(story)
        if labels:
            out.append(f"   {labels}")
        for name, url in _outlets(story):
            out.append(f"   - {name}: {url}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(brief: Brief) -> str:
    """The brief as one JSON object."""
    return json.dumps(brief_to_dict(brief), ensure_ascii=False, indent=2)
