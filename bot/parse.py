"""Feed bytes to cleaned articles: feedparser, HTML stripped, canonical URLs, sane dates."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import feedparser

from bot.language import detect_language
from bot.models import Article, FeedSpec
from bot.text import canonical_url, strip_html, truncate

MAX_TITLE = 300
MAX_DESCRIPTION = 1200
# Feeds with slightly fast clocks are common; only clearly future dates are clamped.
FUTURE_TOLERANCE = timedelta(minutes=5)

_HTML_START = re.compile(
    rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!doctype\s+html|<html|<head|<body)", re.I | re.S
)


class FeedParseError(ValueError):
    """The bytes are not a usable feed (block page, broken XML, no items)."""


@dataclass
class ParsedFeed:
    """What one feed body yielded."""

    articles: list[Article] = field(default_factory=list)
    declared_language: str | None = None
    entries: int = 0
    skipped_old: int = 0
    skipped_language: int = 0
    warning: str | None = None


def _looks_like_html(body: bytes) -> bool:
    return bool(_HTML_START.match(body[:2048]))


def _entry_time(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError):
                continue
    return None


def _language(declared: str | None) -> str | None:
    if not declared:
        return None
    return declared.strip().lower().replace("_", "-").split("-")[0] or None


def parse_feed(
    body: bytes,
    spec: FeedSpec,
    now: datetime,
    window: timedelta = timedelta(hours=36),
    brief_language: str | None = "en",
    content_type: str | None = None,
) -> ParsedFeed:
    """Parse a feed body into cleaned, windowed, same-language articles."""
    if _looks_like_html(body):
        raise FeedParseError("got an HTML page where a feed was expected (block page or paywall?)")
    headers = {"content-type": content_type} if content_type else None
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    if not parsed.entries:
        if parsed.bozo:
            raise FeedParseError(f"not a valid feed: {parsed.bozo_exception}")
        if not parsed.version:
            raise FeedParseError("not an RSS or Atom feed")
    declared = _language(spec.language) or _language(parsed.feed.get("language"))
    result = ParsedFeed(declared_language=declared, entries=len(parsed.entries))
    if parsed.bozo and parsed.entries:
        result.warning = f"feed has errors but was readable: {parsed.bozo_exception}"
    seen: set[str] = set()
    for entry in parsed.entries:
        article = _article(entry, spec, now)
        if article is None or article.url in seen or (article.guid and article.guid in seen):
            continue
        seen.add(article.url)
        if article.guid:
            seen.add(article.guid)
        if article.published < now - window:
            result.skipped_old += 1
            continue
        article.language = declared or detect_language(f"{article.title}. {article.description}")
        if brief_language and article.language and article.language != brief_language:
            result.skipped_language += 1
            continue
        result.articles.append(article)
    return result


def _article(entry: feedparser.FeedParserDict, spec: FeedSpec, now: datetime) -> Article | None:
    title = truncate(strip_html(entry.get("title")), MAX_TITLE)
    link = entry.get("link") or ""
    guid = entry.get("id") or None
    if (
        not link.startswith(("http://", "https://"))
        and guid
        and guid.startswith(("http://", "https://"))
    ):
        link = guid
    if not title or not link.startswith(("http://", "https://")):
        return None
    description = strip_html(entry.get("summary") or entry.get("description"))
    if description == title:
        description = ""
    published = _entry_time(entry) or now
    if published > now + FUTURE_TOLERANCE:
        published = now
    return Article(
        url=canonical_url(link),
        feed_url=spec.url,
        outlet=spec.name,
        title=title,
        description=truncate(description, MAX_DESCRIPTION),
        published=published,
        guid=guid,
    )
