"""Ordering stories: independent outlets x relevance x recency."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from bot.models import Article
from bot.news.cluster import NEAR_COPY_THRESHOLD, Vector, cosine

HALF_LIFE_HOURS = 18.0
MAX_RELEVANCE = 8.0
# A story's relevance counts fully from here: below it, an event weighs as a fraction of an
# outlet per outlet, so many outlets' borderline story does not beat a clear security event.
FULL_RELEVANCE = 3.0


def independent_outlets(articles: Sequence[Article], vectors: Sequence[Vector]) -> int:
    """Distinct outlets, counting a syndicated near-copy of another outlet's report once."""
    kept: list[tuple[str, Vector]] = []
    for article, vec in zip(articles, vectors, strict=True):
        if any(outlet == article.outlet for outlet, _ in kept):
            continue
        if any(cosine(vec, other) >= NEAR_COPY_THRESHOLD for _, other in kept):
            continue
        kept.append((article.outlet, vec))
    return len(kept)


def story_score(
    articles: Sequence[Article],
    vectors: Sequence[Vector],
    now: datetime,
    scoring: Sequence[Article],
) -> float:
    """The ranking score of one story; its relevance comes from its ``scoring`` reports
    (those over the relevance bar: reports under it only join a story)."""
    outlets = independent_outlets(articles, vectors)
    scores = sorted(min(a.score, MAX_RELEVANCE) for a in scoring)
    relevance = scores[len(scores) // 2]  # the median report, not the loudest one
    newest = max(a.published for a in articles)
    age_hours = max((now - newest).total_seconds() / 3600, 0.0)
    recency = 0.5 ** (age_hours / HALF_LIFE_HOURS)
    # Outlets lead: among clearly relevant stories, one more independent outlet always ranks
    # higher; relevance and recency (together below one outlet) order stories with as many.
    weight = min(1.0, relevance / FULL_RELEVANCE)
    return outlets * weight + 0.999 * relevance / MAX_RELEVANCE * recency


def majority(values: Sequence[str | None]) -> str | None:
    """The most common non-empty value, first seen wins ties."""
    counts = Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else None


def merged_topics(articles: Sequence[Article], limit: int = 3) -> tuple[str, ...]:
    """The topics most articles of a story share."""
    counts: Counter[str] = Counter()
    for article in articles:
        counts.update(article.topics)
    return tuple(t for t, _ in counts.most_common(limit))
