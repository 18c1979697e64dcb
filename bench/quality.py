"""The brief's quality on real news: the pipeline run on each real capture, scored against our labels.

For each capture in ../shared/corpora (see bench/corpus.py), every feed file goes through the
pipeline's own ingest (parse, score, store into a fresh SQLite file) and build_brief with the
capture's ``captured_at`` as now, exactly like ``securitybrief digest --json``. The brief's stories
are then matched to bench/labels/<capture>.json by canonical URL. Figures (issue #10):

- stories shown: up to BRIEF_STORIES (7); only stories that clear the brief's bar are shown;
- precision: mean over stories of 1 (security), 0.5 (borderline), 0 (not), by the headline article;
- recall: share of security events reported by >= 3 outlets that appear as a story, out of
  as many of them as the brief has stories (a 7-story brief cannot carry 15 such events);
- coverage: the stories' event outlet counts, over the best possible pick of as many events;
- duplicates: stories whose majority event is another story's majority event;
- purity: share of stories whose sources are all one event;
- completeness: mean over stories of cited outlets / outlets that reported the event;
- multi-outlet: share of stories citing >= 2 outlets;
- grounded: share of summaries with 1-3 sentences, <= 600 characters, naming a cited outlet,
  repeating no sentence, and >= 80% of their content words found in the cited articles;
- stale: cited sources labelled stale.

Below the table, the clustering itself over every story of the window, not only the brief's few:
B-cubed precision and recall of the stories against the labelled events, over every report
labelled security (yes or borderline, not stale) that is in a story. Precision is, per report,
the share of its story's reports that are its event's; recall the share of its event's reports
in its story. They move in small steps where purity moves in sevenths, so a change to clustering
shows there first; they have no goal in the issue.

Run: .venv/bin/python bench/quality.py [--verbose] [--fixtures] [CAPTURE ...]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import corpus  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.models import Article, Brief, FeedSpec, Story  # noqa: E402
from bot.news.fetch import FetchResult  # noqa: E402
from bot.news.pipeline import build_brief, ingest  # noqa: E402
from bot.news.text import canonical_url, content_terms, split_sentences  # noqa: E402
from bot.storage import news_store  # noqa: E402
from bot.storage.db import open_db  # noqa: E402

GOALS = {
    "precision": (">=", 0.95),
    "recall": (">=", 0.8),
    "coverage": (">=", 0.85),
    "duplicates": ("<=", 0),
    "purity": (">=", 0.9),
    "completeness": (">=", 0.8),
    "multi_outlet": (">=", 0.6),
    "grounded": (">=", 1.0),
    "stale": ("<=", 0),
}
_SCORE = {"yes": 1.0, "borderline": 0.5, "no": 0.0}
_VERBS = "(?:reports|adds|quotes|says)"


@dataclass
class Run:
    """One capture's brief and what the labels say about it."""

    name: str
    brief: Brief
    labels: dict[str, dict]  # canonical URL -> label
    articles: dict[str, Article]  # canonical URL -> stored article
    stories_of: dict[str, str] = field(default_factory=dict)  # canonical URL -> story id
    figures: dict[str, float] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)


def run_capture(name: str, settings: Settings | None = None) -> Run:
    """Build the brief of one capture through the pipeline's own ingest and build_brief."""
    settings = settings or Settings()
    info = corpus.capture_info(name)
    now = datetime.fromisoformat(info["captured_at"])
    labels = {canonical_url(u): lab for u, lab in corpus.load_labels(name).items()}
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "quality.db")
        try:
            for file, outlet in sorted(info["outlets"].items()):
                body = (corpus.CORPORA / name / file).read_bytes()
                spec = FeedSpec(outlet, f"https://capture.invalid/{name}/{file}")
                result = FetchResult(spec, status=200, body=body, content_type="application/xml")
                ingest(db, result, settings, now)
            brief = build_brief(db, settings, now)[1].top(settings.brief_stories)
            since = now - timedelta(hours=settings.brief_window_hours)
            articles = {a.url: a for a in news_store.recent_articles(db, since)}
            assigned = news_store.story_assignments(db, since)
        finally:
            db.close()
    run = Run(name, brief, labels, articles, {canonical_url(u): s for u, s in assigned.items()})
    measure(run)
    run.figures.update(bcubed(run))
    return run


def bcubed(run: Run) -> dict[str, float]:
    """B-cubed precision and recall of every story in the window against the labelled events."""
    security = {
        url: _event(run, url)
        for url, label in run.labels.items()
        if label["s"] != "no" and not label.get("stale") and url in run.stories_of
    }
    in_story: Counter[str] = Counter(run.stories_of[u] for u in security)
    in_event: Counter[str] = Counter(security.values())
    both: Counter[tuple[str, str]] = Counter((run.stories_of[u], e) for u, e in security.items())
    n = len(security) or 1
    pairs = [(run.stories_of[u], e) for u, e in security.items()]
    return {
        "reports": len(security),
        "b3_precision": sum(both[p] / in_story[p[0]] for p in pairs) / n,
        "b3_recall": sum(both[p] / in_event[p[1]] for p in pairs) / n,
    }


def _event(run: Run, url: str) -> str:
    label = run.labels.get(url)
    return (label or {}).get("e") or f"single:{url}"


def _events(run: Run) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Event -> outlets reporting it in the capture; event -> security label of the event."""
    outlets: dict[str, set[str]] = defaultdict(set)
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    by_url = {canonical_url(i.link): i.outlet for i in corpus.items(run.name)}
    for url, label in run.labels.items():
        if label.get("stale"):
            continue
        event = _event(run, url)
        outlets[event].add(by_url.get(url, url))
        kinds[event][label["s"]] += 1
    return outlets, {e: c.most_common(1)[0][0] for e, c in kinds.items()}


def grounded(story: Story, articles: dict[str, Article]) -> str | None:
    """None when the summary is grounded and attributed; else why not."""
    summary = story.summary
    outlets = {s.outlet for s in story.sources}
    if len(summary) > 600:
        return f"{len(summary)} characters"
    attribution = re.compile(
        "(?:^|(?<=\\s))(" + "|".join(re.escape(o) for o in outlets) + f") {_VERBS}:\\s"
    )
    if not attribution.search(summary):
        return f"names no cited outlet ({sorted(outlets)})"
    body = attribution.sub(" ", summary).strip()
    if re.search(rf"(?:^|\s)[A-Z][\w.&' -]{{1,40}} {_VERBS}:\s", body):
        return "attributes a sentence to an outlet it does not cite"
    sentences = split_sentences(body)
    if not 1 <= len(sentences) <= 3:
        return f"{len(sentences)} sentences"
    keys = [re.sub(r"\W+", " ", s.lower()).strip() for s in sentences]
    if len(set(keys)) < len(keys):
        return "repeats a sentence"
    cited = " ".join(
        f"{a.title} {a.description} {a.body}"
        for a in (articles.get(s.url) for s in story.sources)
        if a is not None
    )
    known = set(content_terms(cited))
    words = content_terms(body)
    if words and sum(w in known for w in words) / len(words) < 0.8:
        return f"{sum(w in known for w in words)}/{len(words)} content words in cited articles"
    return None


def measure(run: Run) -> None:
    """Fill in the figures of one run."""
    stories = run.brief.stories
    event_outlets, event_kind = _events(run)
    security = {e: len(o) for e, o in event_outlets.items() if event_kind.get(e) == "yes"}
    majors: list[str] = []
    precision = purity = completeness = multi = ground = 0.0
    stale = 0
    notes: dict[str, list[str]] = defaultdict(list)
    for story in stories:
        urls = [s.url for s in story.sources]
        lead = run.labels.get(urls[0], {"s": "no"})
        precision += _SCORE[lead["s"]]
        events = Counter(_event(run, u) for u in urls)
        major = events.most_common(1)[0][0]
        majors.append(major)
        purity += len(events) == 1
        outlets = {s.outlet for s in story.sources if _event(run, s.url) == major}
        completeness += min(1.0, len(outlets) / max(1, len(event_outlets.get(major, ()))))
        multi += len({s.outlet for s in story.sources}) >= 2
        why = grounded(story, run.articles)
        ground += why is None
        stale_here = sum(bool(run.labels.get(u, {}).get("stale")) for u in urls)
        stale += stale_here
        if lead["s"] != "yes":
            notes[story.id].append(f"headline labelled {lead['s']}")
        if len(events) > 1:
            notes[story.id].append(f"mixes events {dict(events)}")
        if why:
            notes[story.id].append(f"summary: {why}")
        if not story.summary.startswith(f"{story.sources[0].outlet} "):
            notes[story.id].append("summary does not open with the headline's outlet")
        if stale_here:
            notes[story.id].append(f"{stale_here} stale source(s)")
    n = len(stories) or 1
    shown = Counter(majors)
    must = [e for e, c in security.items() if c >= 3]
    picked = sum(security.get(e, 0) for e in shown)
    best = sum(sorted(security.values(), reverse=True)[: len(stories)])
    run.figures = {
        "stories": len(stories),
        "precision": precision / n,
        # A brief of n stories can carry at most n must-have events.
        "recall": sum(e in shown for e in must) / min(len(must), n) if must else 1.0,
        "coverage": picked / best if best else 1.0,
        "duplicates": sum(c - 1 for c in shown.values()),
        "purity": purity / n,
        "completeness": completeness / n,
        "multi_outlet": multi / n,
        "grounded": ground / n,
        "stale": stale,
    }
    missed = sorted((e for e in must if e not in shown), key=lambda e: -security[e])
    run.notes = dict(notes)
    run.notes["_missed"] = [f"{e} ({security[e]} outlets)" for e in missed]


def _ok(key: str, value: float) -> bool:
    op, goal = GOALS[key]
    return value >= goal - 1e-9 if op == ">=" else value <= goal


def _fmt(key: str, value: float) -> str:
    text = (
        f"{value:.2f}"
        if isinstance(value, float) and key not in ("duplicates", "stale")
        else f"{value:g}"
    )
    return text + ("" if _ok(key, value) else " ✗")


def print_table(runs: list[Run]) -> dict[str, float]:
    """Per-capture figures and their mean (sums for counts), marked where a goal is missed."""
    overall: dict[str, float] = {}
    for key in GOALS:
        values = [r.figures[key] for r in runs]
        overall[key] = sum(values) if key in ("duplicates", "stale") else sum(values) / len(values)
    names = [r.name for r in runs] + ["overall"]
    print(f"| figure (goal) | {' | '.join(names)} |")
    print("|---|" + "---|" * len(names))
    # A brief shows only the stories that clear the bar, so it may be shorter than 7.
    counts = [f"{r.figures['stories']:g}" for r in runs]
    print(f"| stories shown | {' | '.join(counts)} | {sum(r.figures['stories'] for r in runs):g} |")
    for key, (op, goal) in GOALS.items():
        cells = [_fmt(key, r.figures[key]) for r in runs] + [_fmt(key, overall[key])]
        print(f"| {key} ({op} {goal:g}) | {' | '.join(cells)} |")
    print("\nClustering over every story in the window (B-cubed, no goal):\n")
    print(f"| figure | {' | '.join(names)} |")
    print("|---|" + "---|" * len(names))
    for key in ("reports", "b3_precision", "b3_recall"):
        values = [r.figures[key] for r in runs]
        total = sum(values) if key == "reports" else sum(values) / len(values)
        cells = [f"{v:g}" if key == "reports" else f"{v:.2f}" for v in [*values, total]]
        print(f"| {key.replace('_', ' ')} | {' | '.join(cells)} |")
    return overall


def verbose(run: Run) -> None:
    """The stories with problems, with the labels of their sources, and missed events."""
    print(f"\n## {run.name}")
    for i, story in enumerate(run.brief.stories, 1):
        problems = run.notes.get(story.id)
        if not problems:
            continue
        print(f"{i}. {story.headline}  [{'; '.join(problems)}]")
        print(f"   {story.summary}")
        for s in story.sources:
            lab = run.labels.get(s.url, {})
            print(f"   - {s.outlet}: {lab.get('s')} {lab.get('e')} {s.title[:90]}")
    if run.notes.get("_missed"):
        print("   missed: " + ", ".join(run.notes["_missed"]))


def fixture_check() -> None:
    """The old regression on the invented fixtures (tests/fixtures)."""
    from feed_server import OUTLET_NAMES, FeedServer, load_labels

    from bot.news.parse import parse_feed
    from bot.news.pipeline import make_stories, score

    now = datetime.now().astimezone()
    labels = {canonical_url(u): lab for u, lab in load_labels().items()}
    server = FeedServer(now=now)
    articles: list[Article] = []
    for path in sorted(server.fixtures_dir.iterdir()):
        spec = FeedSpec(OUTLET_NAMES.get(path.name, path.stem), f"http://fixtures/{path.name}")
        parsed = parse_feed(server.render(path.name).encode(), spec, now, timedelta(hours=36))
        score(parsed.articles, spec.weight)
        articles += parsed.articles
    picked = [a for a in articles if a.score >= 1.0]
    tp = sum(labels[a.url]["security"] for a in picked)
    relevant = sum(labels[a.url]["security"] for a in articles)
    stories, members = make_stories(picked, {}, now)
    mixed = sum(len({labels[u]["event"] for u in members[s.id]}) > 1 for s in stories)
    print(f"fixtures: precision {tp / len(picked):.3f}, recall {tp / relevant:.3f}, ", end="")
    print(f"mixed stories {mixed} of {len(stories)}")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("captures", nargs="*")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--fixtures", action="store_true", help="also run the fixture regression")
    args = parser.parse_args()
    names = args.captures or corpus.captures()
    if not names:
        print(f"no captures found in {corpus.CORPORA}", file=sys.stderr)
        sys.exit(2)
    runs = [run_capture(name) for name in names]
    print_table(runs)
    if args.verbose:
        for run in runs:
            verbose(run)
    if args.fixtures:
        fixture_check()


if __name__ == "__main__":
    main()
