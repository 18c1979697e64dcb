"""Quality check on the labelled fixture feeds: relevance precision/recall, clustering purity.

Run: .venv/bin/python bench/quality.py
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from feed_server import OUTLET_NAMES, FeedServer, load_labels  # noqa: E402

from bot.models import Article, FeedSpec  # noqa: E402
from bot.news.parse import parse_feed  # noqa: E402
from bot.news.pipeline import make_stories, score  # noqa: E402
from bot.news.text import canonical_url  # noqa: E402


def fixture_articles(now: datetime) -> list[Article]:
    """Every fresh English article of the fixtures, parsed and scored like the pipeline does."""
    server = FeedServer(now=now)
    articles: list[Article] = []
    for path in sorted(server.fixtures_dir.iterdir()):
        body = server.render(path.name).encode("utf-8")
        spec = FeedSpec(OUTLET_NAMES.get(path.name, path.stem), f"http://fixtures/{path.name}")
        parsed = parse_feed(body, spec, now, timedelta(hours=36), "en")
        score(parsed.articles, spec.weight)
        articles += parsed.articles
    return articles


def evaluate(threshold: float = 1.0, verbose: bool = False) -> dict[str, float]:
    """Precision, recall, purity and completeness on the labelled fixtures."""
    now = datetime.now(UTC)
    labels = {canonical_url(u): lab for u, lab in load_labels().items()}
    articles = fixture_articles(now)
    truth = [labels[a.url]["security"] for a in articles]
    predicted = [a.score >= threshold for a in articles]
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    fp = sum(p and not t for t, p in zip(truth, predicted, strict=True))
    fn = sum(t and not p for t, p in zip(truth, predicted, strict=True))
    if verbose:
        for a, t, p in zip(articles, truth, predicted, strict=True):
            if t != p:
                print(f"  {'FP' if p else 'FN'} {a.score:.2f} {a.outlet}: {a.title}")
    relevant = [a for a, p in zip(articles, predicted, strict=True) if p]
    stories, members = make_stories(relevant, {}, now)
    by_url = {a.url: a for a in relevant}
    majority_total = 0
    event_clusters: dict[str, set[str]] = defaultdict(set)
    labelled = 0
    for story in stories:
        events = Counter(labels[u]["event"] for u in members[story.id] if labels[u]["event"])
        if not events:
            continue
        labelled += sum(events.values())
        majority_total += events.most_common(1)[0][1]
        for event in events:
            event_clusters[event].add(story.id)
        if verbose and (len(events) > 1):
            print(f"  MIXED {dict(events)}: {[by_url[u].title for u in members[story.id]]}")
    split = {e: len(c) for e, c in event_clusters.items() if len(c) > 1}
    if verbose and split:
        print(f"  SPLIT events: {split}")
    return {
        "articles": len(articles),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "purity": majority_total / labelled if labelled else 0.0,
        "events_split": len(split),
        "events": len(event_clusters),
    }


if __name__ == "__main__":
    figures = evaluate(verbose="-v" in sys.argv)
    print(f"articles (fresh, English): {figures['articles']}")
    print(f"relevance precision: {figures['precision']:.3f}")
    print(f"relevance recall:    {figures['recall']:.3f}")
    print(f"clustering purity:   {figures['purity']:.3f}")
    print(f"events split across stories: {figures['events_split']} of {figures['events']}")
