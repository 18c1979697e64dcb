"""Plain data types shared by the pipeline stages, storage and renderers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime


@dataclass(frozen=True)
class FeedSpec:
    """One feed the bot reads: where it is and how much to trust it."""

    name: str
    url: str
    language: str | None = None
    weight: float = 1.0


@dataclass
class Article:
    """One cleaned feed item."""

    url: str  # canonical URL, the article's identity
    feed_url: str
    outlet: str
    title: str
    description: str
    published: datetime  # timezone-aware UTC
    language: str | None = None
    guid: str | None = None
    score: float = 0.0
    topics: tuple[str, ...] = ()
    region: str | None = None
    story_id: str | None = None
    body: str = ""  # full article text, when FULL_TEXT fetched it


@dataclass(frozen=True)
class Source:
    """One outlet's report inside a story."""

    outlet: str
    title: str
    url: str
    published: datetime


@dataclass(frozen=True)
class Story:
    """One event, merged across outlets, ready to show."""

    id: str
    headline: str
    summary: str
    region: str | None
    topics: tuple[str, ...]
    score: float
    sources: tuple[Source, ...]
    is_update: bool = False
    watch_terms: tuple[str, ...] = ()  # the chat's watchlist terms it matched, if any
    # (outlet, url) of its reports not listed as sources: a chat shown one has seen the story.
    other_reports: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Brief:
    """The ranked stories of one brief."""

    generated_at: datetime
    window_hours: int
    stories: tuple[Story, ...] = field(default_factory=tuple)

    def top(self, count: int) -> Brief:
        """The same brief cut to its ``count`` best stories."""
        return replace(self, stories=self.stories[:count])


@dataclass(frozen=True)
class Validators:
    """What the server told us last time, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass
class FetchResult:
    """The outcome of fetching one feed."""

    spec: FeedSpec
    status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    elapsed: float = 0.0
    final_url: str | None = None  # where the body came from, after redirects

    @property
    def not_modified(self) -> bool:
        """True when the server answered 304 to our conditional request."""
        return self.status == 304
