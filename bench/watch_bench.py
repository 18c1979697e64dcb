"""Watchlist matching benchmark: every chat's terms against one fetch round's new articles.

10,000 chats with 20 terms each (200,000 terms; a few thousand distinct, popular ones shared
by many chats, as real watchlists are) against 2,000 new synthetic articles (title,
description). Times the one-pass match (build the Aho–Corasick automaton over the distinct
terms, scan every article once, expand the matched terms to the chats that watch them) and,
separately, the same round as the bot runs it on SQLite (distinct terms read from
`watch_terms`, matches written to `watch_matches`, one row per article and term whoever watches
it). Memory: the automaton's own size and the process's peak RSS.

Run: .venv/bin/python bench/watch_bench.py [--chats 10000] [--terms 20] [--articles 2000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_facts, peak_rss_mb, rss_mb  # noqa: E402
from synthetic import generate  # noqa: E402

from bot.news.watch import Matcher, article_text, normalise  # noqa: E402
from bot.storage import watchlists  # noqa: E402
from bot.storage.db import open_db  # noqa: E402

NOW = datetime(2026, 8, 15, 12, tzinfo=UTC)


def _articles(count: int) -> list[tuple[str, str]]:
    corpus = generate(count, NOW)
    out = []
    for feed in corpus.feeds:
        for entry in feedparser.parse(feed.body).entries:
            out.append((entry.link, article_text(entry.title, entry.get("summary", ""))))
    return out[:count]


def _vocabulary(articles: list[tuple[str, str]], rng: random.Random) -> list[str]:
    """Terms users would follow: names and two-word phrases from the news, plus names the
    round does not mention (most of a watchlist is quiet most of the time)."""
    words = sorted({w for _, text in articles for w in text.split() if len(w) > 4})
    pairs = sorted(
        {
            " ".join(p)
            for _, text in articles[:400]
            for p in zip(text.split(), text.split()[1:], strict=False)
        }
    )
    invented = [f"{rng.choice(words)[:4]}{rng.randrange(10**6)}" for _ in range(4000)]
    return rng.sample(words, min(1500, len(words))) + rng.sample(pairs, 500) + invented


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--terms", type=int, default=20)
    parser.add_argument("--articles", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(20260815)
    articles = _articles(args.articles)
    vocab = _vocabulary(articles, rng)
    # Popularity is skewed: a few terms are on many lists.
    weights = [1 / (i + 1) ** 0.8 for i in range(len(vocab))]
    watch: dict[str, list[int]] = defaultdict(list)
    rows = []
    for chat in range(args.chats):
        chosen: set[str] = set()
        while len(chosen) < args.terms:
            chosen.update(rng.choices(vocab, weights, k=args.terms - len(chosen)))
        for term in chosen:
            key = normalise(term)
            watch[key].append(chat)
            rows.append((chat, key, term, "alert", NOW.isoformat()))
    before = rss_mb()

    start = time.perf_counter()
    matcher = Matcher(watch)
    built = time.perf_counter()
    matches = list(matcher.match(articles))
    scanned = time.perf_counter()
    # The fan-out to chats is counted, not stored: the bot keeps one row per article and term
    # and joins chats at planning time, so a term on 5,000 lists costs one row, not 5,000.
    hits = sum(len(watch[key]) for _, key in matches)
    done = time.perf_counter()
    after = rss_mb()
    stats = matcher.automaton.get_stats()

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        with db.atomic():
            db.conn.executemany(
                "insert into watch_terms (chat_id, key, term, mode, created_at) values (?, ?, ?, ?, ?)",
                rows,
            )
        sql_start = time.perf_counter()
        sql_matcher = Matcher(watchlists.all_keys(db))
        stored = watchlists.record_matches(db, list(sql_matcher.match(articles)), NOW)
        sql_done = time.perf_counter()
        db.close()

    facts = machine_facts()
    print(f"machine: {facts}")
    print(
        f"{args.chats:,} chats x {args.terms} terms = {len(rows):,} terms "
        f"({len(watch):,} distinct) vs {len(articles):,} articles"
    )
    print(
        f"in memory: build {built - start:.3f} s, scan {scanned - built:.3f} s, "
        f"count chats {done - scanned:.3f} s, total {done - start:.3f} s; "
        f"{len(matches):,} article-term matches, {hits:,} (chat, article) hits"
    )
    print(
        f"on SQLite (read terms, match, write hits): {sql_done - sql_start:.3f} s, "
        f"{stored:,} article-term matches stored (chats join through watch_terms)"
    )
    print(
        f"memory: automaton {stats['total_size'] / 2**20:.1f} MB; matching added "
        f"{after - before:.0f} MB of RSS ({before:.0f} MB before, with the corpus and term "
        f"lists); peak {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
