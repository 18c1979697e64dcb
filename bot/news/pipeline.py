"""The news pipeline end to end: fetch, parse, score, store, cluster, summarise, rank."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache

import httpx
from sqlite_utils import Database

from bot.config import Settings
from bot.models import Article, Brief, FeedSpec, FetchResult, Source, Story
from bot.news.cluster import Cluster, Vector, cluster_articles, cosine, is_roundup
from bot.news.fetch import fetch_all
from bot.news.parse import FeedParseError, parse_feed
from bot.news.rank import majority, merged_topics, story_score
from bot.news.relevance import score_article
from bot.news.render import LINKED_SOURCES
from bot.news.staleness import baseline_undated
from bot.news.summarise import headline_only, is_clip, summarise, usable
from bot.news.watch import Matcher, article_text
from bot.storage import news_store, watchlists

log = logging.getLogger(__name__)


@dataclass
class RefreshReport:
    """What one fetch round did."""

    fetched: int = 0
    not_modified: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    skipped_backoff: int = 0
    new_articles: int = 0
    watch_matches: int = 0


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def score(articles: Sequence[Article], weight: float) -> None:
    """Attach relevance score, topics and region to each article."""
    for article in articles:
        rel = score_article(article.title, article.description, weight, article.published.year)
        article.score, article.topics, article.region = rel.score, rel.topics, rel.region


def ingest(
    db: Database, result: FetchResult, settings: Settings, now: datetime
) -> tuple[int, str | None]:
    """Parse one fetch result, store its new articles and the feed's health: (new count, error)."""
    interval = timedelta(minutes=settings.fetch_interval_minutes)
    try:
        return _ingest(db, result, settings, now, interval)
    except sqlite3.OperationalError:
        raise  # a database that cannot be written is every feed's problem, not this one's
    except Exception as exc:  # anything else one feed causes is that feed's error alone
        error = news_store.short_error(f"could not be read ({type(exc).__name__}: {exc})")
        log.warning("feed %s failed: %s", result.spec.name, error, exc_info=True)
        news_store.save_fetch_result(db, result, now, interval, error=error)
        return 0, error


def _ingest(
    db: Database, result: FetchResult, settings: Settings, now: datetime, interval: timedelta
) -> tuple[int, str | None]:
    if result.error or result.not_modified:
        news_store.save_fetch_result(db, result, now, interval)
        if result.error:
            log.warning("feed %s failed: %s", result.spec.name, result.error)
        return 0, result.error
    try:
        parsed = parse_feed(
            result.body,
            result.spec,
            now,
            timedelta(hours=settings.brief_window_hours),
            settings.brief_language,
            result.content_type,
            base_url=result.final_url,
        )
    except FeedParseError as exc:
        error = news_store.short_error(str(exc))
        news_store.save_fetch_result(db, result, now, interval, error=error)
        log.warning("feed %s unusable: %s", result.spec.name, error)
        return 0, error
    if parsed.warning:
        log.info("feed %s: %s", result.spec.name, parsed.warning)
    if parsed.skipped_broken:
        log.info("feed %s: %d unreadable items dropped", result.spec.name, parsed.skipped_broken)
    score(parsed.articles, result.spec.weight)
    new = news_store.save_articles(db, parsed.articles, now)
    # A body cut short keeps its items but not its validators: with them the next answer would
    # be 304 ("unchanged") and the items after the cut never read.
    incomplete = f"{parsed.cut_short}; {parsed.entries} items read" if parsed.cut_short else None
    if incomplete:
        log.warning("feed %s incomplete: %s", result.spec.name, incomplete)
    news_store.save_fetch_result(
        db, result, now, interval, items=parsed.entries, incomplete=incomplete
    )
    return new, None


async def refresh(
    db: Database,
    settings: Settings,
    specs: Sequence[FeedSpec],
    client: httpx.AsyncClient,
    now: datetime | None = None,
    force: bool = False,
    on_done: Callable[[FetchResult], None] | None = None,
) -> RefreshReport:
    """Fetch every due feed and store what is new."""
    now = now or utcnow()
    news_store.save_feed_specs(db, specs)
    due = list(specs) if force else news_store.feeds_due(db, specs, now)
    report = RefreshReport(skipped_backoff=len(specs) - len(due))
    results = await fetch_all(
        client,
        due,
        news_store.validators(db),
        settings.fetch_concurrency,
        settings.fetch_timeout_seconds,
        settings.fetch_max_bytes,
        on_done,
    )
    for result in results:
        new, error = ingest(db, result, settings, now)
        report.new_articles += new
        if error:
            report.failed[result.spec.name] = error
        elif result.not_modified:
            report.not_modified += 1
        else:
            report.fetched += 1
    report.watch_matches = watch_round(db, settings, now)
    log.info(
        "fetch round: %d fetched, %d unchanged, %d failed, %d backing off, %d new articles, "
        "%d watchlist matches",
        report.fetched,
        report.not_modified,
        len(report.failed),
        report.skipped_backoff,
        report.new_articles,
        report.watch_matches,
    )
    return report


def watch_round(db: Database, settings: Settings, now: datetime) -> int:
    """Match this round's new articles (all of them, not only security news) against every
    chat's watchlist terms in one pass, then regroup the matched articles into stories."""
    keys = watchlists.all_keys(db)
    if not keys:
        return 0
    matcher = Matcher(keys)
    # New articles, plus those whose text FULL_TEXT fetched since (after the brief was built,
    # so one round later): matching again is harmless, each (article, term) is stored once.
    since = now - timedelta(hours=settings.brief_window_hours)
    rows = db.execute(
        "select url, title, description, body from articles where first_seen = ? "
        "or (body is not null and body != '' and first_seen >= ?)",
        [news_store.iso(now), news_store.iso(since)],
    )
    texts = ((url, article_text(t or "", d or "", b or "")) for url, t, d, b in rows)
    hits = watchlists.record_matches(db, list(matcher.match(texts)), now)
    if hits:
        group_watched(db, settings, now)
    return hits


def group_watched(db: Database, settings: Settings, now: datetime) -> None:
    """Group the window's matched articles into stories the way the brief groups articles."""
    since = now - timedelta(hours=settings.brief_window_hours)
    articles = watchlists.matched_articles(db, since)
    # Ids the brief gave these articles win, so one event keeps one id across brief and watchlist.
    existing = {**watchlists.assignments(db), **news_store.story_assignments(db, since)}
    # Each is some chat's alert or watch section: every one gets its summary (the last round's
    # when nothing it links changed: re-summarising hundreds each round held the event loop).
    earlier = watchlists.stored_stories(db)
    stories, members = make_stories(
        articles, existing, now, summaries=len(articles), before=earlier
    )
    watchlists.save_stories(db, stories, members, now)


# A stored brief keeps more than it shows, so per-chat filters and "not sent before" still fill it.
STORED_STORIES = 40


def make_stories(
    articles: Sequence[Article],
    existing: dict[str, str],
    now: datetime,
    plain: Sequence[Article] = (),
    carried: Collection[str] = frozenset(),
    shown: Callable[[Story], bool] = lambda story: True,
    summaries: int | None = None,
    before: Mapping[str, Story] | None = None,
) -> tuple[list[Story], dict[str, list[str]]]:
    """Cluster articles into stories, scored and ranked; the ones a brief can show summarised.

    ``plain`` are the window's reports under the relevance bar: they may join a story as more
    outlets' reports of its event (cluster.join_plain), never make one; the ``carried`` ones
    (undated, there since their feed's first fetch) only as near-copies of a scoring report.
    The first ``summaries`` (default STORED_STORIES) stories a brief would show are summarised;
    a story of ``before`` (by id) with the same headline and links keeps the summary it had.
    """
    clustering = cluster_articles(articles, existing, plain=plain, carried=carried)
    clusters, vectors = clustering.clusters, clustering.vectors
    scoring = len(articles)
    articles = [*articles, *plain]
    idf, default_idf = clustering.idf, clustering.default_idf
    drafts: list[tuple[Story, list[Article], Cluster]] = []
    members: dict[str, list[str]] = {}
    for cluster in clusters:
        order = sorted(cluster.members, key=lambda i: articles[i].published)
        group = [articles[i] for i in order]
        # split_event heads every story with a scoring report: one under the bar never leads.
        lead = articles[cluster.members[0] if cluster.centre is None else cluster.centre]
        by_url = {articles[i].url: vectors[i] for i in cluster.members}
        lead = _headline_report(lead, group, by_url)
        sources = _sources(group, lead, by_url)
        # Only the articles a reader can open: every sentence must come from a linked source,
        # and a story's message links its first LINKED_SOURCES outlets only.
        cited = {s.url for s in sources[:LINKED_SOURCES]}
        linked = [lead] + [a for a in group if a.url in cited and a is not lead]
        story = Story(
            id=cluster.id,
            headline=lead.title,
            summary=headline_only(lead),
            region=majority([a.region for a in group]),
            topics=merged_topics(group),
            score=story_score(
                group, [vectors[i] for i in order], now, [articles[i] for i in order if i < scoring]
            ),
            sources=sources,
            other_reports=_other_reports(group, sources),
        )
        drafts.append((story, linked, cluster))
        members[cluster.id] = [a.url for a in group]
    drafts.sort(key=lambda d: d[0].score, reverse=True)
    # Summaries only where a brief can show them: the sentence splitter is the costly part.
    stories: list[Story] = []
    summarised, wanted = 0, STORED_STORIES if summaries is None else summaries
    for story, linked, cluster in drafts:
        if summarised < wanted and shown(story):
            kept = _same_summary(story, (before or {}).get(story.id))
            if kept == headline_only(linked[0]):
                kept = None  # the text FULL_TEXT fetches since may give it a sentence to quote
            summary = kept or summarise(linked, cluster.centroid, idf, default_idf)
            story = replace(story, summary=summary)
            summarised += 1
        stories.append(story)
    return stories, members


MAX_SOURCES = 20


def _same_summary(story: Story, earlier: Story | None) -> str | None:
    """``earlier``'s summary when it summarised the same headline and linked reports."""
    if earlier is None or earlier.headline != story.headline:
        return None
    links = [s.url for s in story.sources[:LINKED_SOURCES]]
    return earlier.summary if [s.url for s in earlier.sources[:LINKED_SOURCES]] == links else None


MAX_OTHER_REPORTS = 40


def _other_reports(
    group: Sequence[Article], sources: Sequence[Source]
) -> tuple[tuple[str, str], ...]:
    """The story's reports it does not list (an outlet's second article, outlets past the cap)."""
    listed = {s.url for s in sources}
    return tuple((a.outlet, a.url) for a in group if a.url not in listed)[:MAX_OTHER_REPORTS]


def _headline_report(
    centre: Article, group: Sequence[Article], vectors: dict[str, Vector]
) -> Article:
    """The report a story is headed and linked by: its centre, if a reader can read it.

    The headline's own article must state the event: a headline-only item gives way to the
    closest report with a sentence to say it with, and a video or audio clip to the closest
    such report that is not a clip either, when the story has one.
    """
    if usable(centre) and not is_clip(centre):
        return centre
    closest = sorted(group, key=lambda a: -cosine(vectors[a.url], vectors[centre.url]))
    readable = [a for a in closest if usable(a) and not is_roundup(a.title)]
    return next((a for a in readable if not is_clip(a)), readable[0] if readable else centre)


def _sources(
    group: Sequence[Article], lead: Article, vectors: dict[str, Vector]
) -> tuple[Source, ...]:
    """One source per outlet: the lead, then each outlet's report closest to the lead, capped."""
    # The closest report, not the first: an outlet's other article in the story may be its
    # comment or a side event, and the source listed must be the one that reports the headline.
    closeness = {a.url: cosine(vectors[a.url], vectors[lead.url]) for a in group}
    chosen: dict[str, Article] = {lead.outlet: lead}
    # An outlet's own report before its live page or newsletter that merely mentions the event.
    for article in sorted(group, key=lambda a: (is_roundup(a.title), -closeness[a.url])):
        chosen.setdefault(article.outlet, article)
    return tuple(
        Source(a.outlet, a.title, a.url, a.published) for a in list(chosen.values())[:MAX_SOURCES]
    )


# A story one outlet alone reports makes the brief only when its headline report is clearly
# security news, this many times the relevance threshold: a short brief beats a padded one.
CLEAR_SINGLE = 3.0
# ... and says so in this many distinct security terms: one word said twice ("Rouhani calls
# 'terrorist' Trump") is name-calling as often as news. The labelled real items that clear the
# bar above score 0.76 on the brief's precision scale with one distinct term, 0.89 with more.
SINGLE_TERMS = 2


def _clearing_bar(articles: Sequence[Article], threshold: float) -> Callable[[Story], bool]:
    """Whether a story is worth a brief: several outlets report it, or one report clearly scores."""
    by_url = {a.url: a for a in articles}

    @cache  # asked while summarising and again when the brief is cut: scored once
    def clear(url: str) -> bool:
        article = by_url.get(url)
        if article is None or article.score < CLEAR_SINGLE * threshold:
            return False
        # A live page or newsletter is several events, not one: beside other outlets, another
        # report leads the story (_headline_report); alone, it is no story.
        if is_roundup(article.title):
            return False
        # Its headline must say so itself, with a strong term: a description's passing mention
        # is not the event, and a headline's weak war word alone is usually figurative.
        if score_article(article.title, year=article.published.year).score < threshold:
            return False
        return len(score_article(article.title, article.description).terms) >= SINGLE_TERMS

    def clears(story: Story) -> bool:
        return len({s.outlet for s in story.sources}) >= 2 or clear(story.sources[0].url)

    return clears


def build_brief(db: Database, settings: Settings, now: datetime | None = None) -> tuple[int, Brief]:
    """Cluster the window's security articles into ranked stories; store them and the brief.

    Returns the stored brief's id and the brief.
    """
    now = now or utcnow()
    since = now - timedelta(hours=settings.brief_window_hours)
    window = news_store.recent_articles(db, since)
    articles = [a for a in window if a.score >= settings.relevance_threshold]
    carried = baseline_undated(news_store.undated_feeds_articles(db, since))
    if carried:
        articles = [a for a in articles if a.url not in carried]
    # A carried undated item is news only as one more outlet's report of a current event.
    plain = [a for a in window if a.score < settings.relevance_threshold or a.url in carried]
    assignments = {a.url: a.story_id for a in window if a.story_id is not None}
    clears = _clearing_bar(articles, settings.relevance_threshold)
    stories, members = make_stories(articles, assignments, now, plain, carried, clears)
    news_store.save_stories(db, stories, members, now)
    shown = [story for story in stories if clears(story)]
    brief = Brief(now, settings.brief_window_hours, tuple(shown[:STORED_STORIES]))
    return news_store.save_brief(db, brief), brief
