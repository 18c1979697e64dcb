"""Grouping articles about the same event into stories (TF-IDF cosine, incremental)."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot.models import Article
from bot.news import lexicon
from bot.news.relevance import place_names
from bot.news.text import content_terms, tokens

Vector = dict[str, float]

SIMILARITY_THRESHOLD = 0.18
NEAR_COPY_THRESHOLD = 0.85
EVENT_LINK = 0.2  # a story's reports must each be this close to its central report
SAME_REPORT = 0.35  # ... or this close over title and lede together
APART_FACTOR = 1.5  # how much closer reports must be when their titles name different places
MERGE_FACTOR = 1.4  # centroids are smoother than single articles, so merging needs more overlap
_QUERY_TERMS = 10  # an article looks for clusters through its strongest terms only
_POSTINGS_SCANNED = 40  # newest clusters per term; keeps each lookup O(1)
_CANDIDATES = 12  # clusters compared in full: those sharing most of the article's strong terms
_LINKED = 3  # of which the closest by centroid are compared member by member
_CENTROID_TERMS = 60
_FIRST_SENTENCE = 300
_SPLIT_SAMPLE = 32  # reports a candidate head is compared with when a story is cut into events
_SAMPLE = 4  # member vectors an article is compared with
_SAMPLE_SEEDS = 2  # of which the first reports, always kept
LEDE_WORDS = 60
# A report under the relevance bar joins a story only as nearly the same report as one of its
# scoring reports, within a brief window of it: an event's plain wording, not its theme.
JOIN_SIMILARITY = 0.55
JOIN_WINDOW = timedelta(hours=36)


_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][\w’'-]+")


def article_terms(article: Article) -> list[str]:
    """The terms an article is compared by: its title twice, its lede, and names once more."""
    lede_text = " ".join(article.description.split()[:LEDE_WORDS])
    title = content_terms(article.title)
    # Names (capitalised words not opening a sentence) tell events apart better than verbs do.
    names = content_terms(" ".join(_NAME.findall(article.title) + _NAME.findall(lede_text)))
    return title + title + content_terms(lede_text) + names


def idf_table(documents: Iterable[Sequence[str]]) -> tuple[dict[str, float], float]:
    """Smoothed inverse document frequency per term, plus the value for unseen terms."""
    df: Counter[str] = Counter()
    n = 0
    for terms in documents:
        n += 1
        df.update(set(terms))
    default = math.log((n + 1) / 1) + 1
    return {t: math.log((n + 1) / (c + 1)) + 1 for t, c in df.items()}, default


def tfidf(terms: Sequence[str], idf: Mapping[str, float], default_idf: float) -> Vector:
    """A unit-length TF-IDF vector (sublinear tf)."""
    counts = Counter(terms)
    vec = {t: (1 + math.log(c)) * idf.get(t, default_idf) for t, c in counts.items()}
    norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
    return {t: w / norm for t, w in vec.items()}


def cosine(a: Vector, b: Vector) -> float:
    """Cosine similarity of two unit vectors."""
    if len(a) > len(b):
        a, b = b, a
    # Skipping absent terms only drops "+ 0.0" terms: same sum, bit for bit, ~10% faster.
    return sum(w * b[t] for t, w in a.items() if t in b)


@dataclass
class Cluster:
    """A growing story: its members and the normalised sum of their vectors."""

    id: str
    members: list[int] = field(default_factory=list)
    total: Vector = field(default_factory=dict)
    centroid: Vector = field(default_factory=dict)
    # The first reports and the latest ones: an article joins only when it is close to these
    # on average (average link), so a story cannot drift from its event to the event's theme.
    sample: list[Vector] = field(default_factory=list)
    centre: int | None = None  # the report every other member was found close to

    def add(self, index: int, vec: Vector) -> None:
        """Add an article vector and refresh the (pruned) centroid."""
        self.members.append(index)
        if len(self.sample) < _SAMPLE:
            self.sample.append(vec)
        else:
            self.sample[_SAMPLE_SEEDS + len(self.members) % (_SAMPLE - _SAMPLE_SEEDS)] = vec
        for t, w in vec.items():
            self.total[t] = self.total.get(t, 0.0) + w
        if len(self.total) > 2 * _CENTROID_TERMS:
            # Pruning the tail keeps big stories cheap to compare; it holds little weight.
            top = sorted(self.total.items(), key=lambda kv: kv[1], reverse=True)[:_CENTROID_TERMS]
            self.total = dict(top)
        norm = math.sqrt(sum(w * w for w in self.total.values())) or 1.0
        self.centroid = {t: w / norm for t, w in self.total.items()}


def new_story_id(article: Article) -> str:
    """A stable id for a story first seen through ``article``."""
    return "s" + hashlib.sha1(article.url.encode()).hexdigest()[:12]


@dataclass
class Clustering:
    """The stories found, and the vectors and IDF they were found with (reused downstream)."""

    clusters: list[Cluster]
    vectors: list[Vector]
    idf: dict[str, float]
    default_idf: float


def cluster_articles(
    articles: Sequence[Article],
    existing: Mapping[str, str] | None = None,
    threshold: float = SIMILARITY_THRESHOLD,
    plain: Sequence[Article] = (),
    carried: Collection[str] = frozenset(),
) -> Clustering:
    """Assign every article to a story; articles already in a story stay there.

    ``plain`` reports (under the relevance bar) only join stories (see :func:`join_plain`);
    of them, the ``carried`` URLs (undated, there since a feed's first fetch) only as near-copies.
    """
    existing = existing or {}
    docs = [article_terms(a) for a in articles]
    idf, default_idf = idf_table(docs)
    vectors = [tfidf(d, idf, default_idf) for d in docs]
    clusters: dict[str, Cluster] = {}
    postings: defaultdict[str, list[str]] = defaultdict(list)

    def index(cluster: Cluster, vec: Vector) -> None:
        for term in _strongest(vec, _QUERY_TERMS):
            ids = postings[term]
            if cluster.id in ids:
                ids.remove(cluster.id)
            ids.append(cluster.id)

    # Known assignments first, so new articles can join yesterday's stories.
    order = sorted(
        range(len(articles)), key=lambda i: (articles[i].url not in existing, articles[i].published)
    )
    for i in order:
        vec = vectors[i]
        story_id = existing.get(articles[i].url)
        if story_id is None:
            story_id = _best_match(vec, clusters, postings, threshold) or new_story_id(articles[i])
        cluster = clusters.get(story_id)
        if cluster is None:
            cluster = clusters[story_id] = Cluster(story_id)
        cluster.add(i, vec)
        index(cluster, vec)
    merged = _merge_close(clusters, vectors, threshold * MERGE_FACTOR)
    event_vectors = [tfidf(event_terms(a), idf, default_idf) for a in articles]
    # Every cluster's own id is taken before any part is named: a part named after one of its
    # reports must not take the id another cluster already holds (two events, one id).
    taken = {c.id for c in merged}
    stories = [
        part
        for c in merged
        for part in split_event(
            c, vectors, event_vectors, articles, _kept(c, articles, existing), taken
        )
    ]
    if plain:
        plain_vectors = [tfidf(article_terms(a), idf, default_idf) for a in plain]
        join_plain(stories, articles, vectors, plain, plain_vectors, carried)
        vectors = vectors + plain_vectors
    return Clustering(stories, vectors, idf, default_idf)


def join_plain(
    stories: Sequence[Cluster],
    articles: Sequence[Article],
    vectors: Sequence[Vector],
    plain: Sequence[Article],
    plain_vectors: Sequence[Vector],
    carried: Collection[str] = frozenset(),
) -> None:
    """Let reports under the relevance bar join the story whose event they plainly report.

    An event is security news when one report of it scores as such; other outlets' plainly
    worded reports of the same happening ("Trump dismisses concerns over USS Lincoln") are then
    its reports too. They only join, never found or merge stories, and only when nearly the
    same report as one that scores, published close to it, from an outlet the story lacks.
    A ``carried`` report (undated, maybe years old) must be a near-copy of one, such as the
    same wire story. Plain report ``k`` joins as member ``len(articles) + k``.
    """
    postings: defaultdict[str, list[int]] = defaultdict(list)
    outlets: list[set[str]] = []
    for n, story in enumerate(stories):
        outlets.append({articles[i].outlet for i in story.members})
        for i in story.members:
            for term in _strongest(vectors[i], _QUERY_TERMS):
                postings[term].append(n)
    base = len(articles)
    for k, (article, vec) in enumerate(zip(plain, plain_vectors, strict=True)):
        shared: Counter[int] = Counter()
        for term in _strongest(vec, _QUERY_TERMS):
            shared.update(set(postings.get(term, ())[-_POSTINGS_SCANNED:]))
        best = None
        best_sim = NEAR_COPY_THRESHOLD if article.url in carried else JOIN_SIMILARITY
        for n, _ in shared.most_common(_LINKED):
            if article.outlet in outlets[n]:
                continue
            for i in stories[n].members[:_SPLIT_SAMPLE]:
                if i >= base or abs(articles[i].published - article.published) > JOIN_WINDOW:
                    continue
                sim = cosine(vec, vectors[i])
                if sim >= best_sim:
                    best, best_sim = n, sim
        if best is not None:
            stories[best].members.append(base + k)
            outlets[best].add(article.outlet)


def event_terms(article: Article) -> list[str]:
    """What an article says happened: its title and its first sentence, names counted again."""
    first = article.description.split(". ", 1)[0][:_FIRST_SENTENCE]
    names = content_terms(" ".join(_NAME.findall(article.title)))
    return content_terms(article.title) * 2 + content_terms(first) + names


def _kept(cluster: Cluster, articles: Sequence[Article], existing: Mapping[str, str]) -> set[int]:
    """The members that were already in the story this cluster continues (by its id)."""
    return {i for i in cluster.members if existing.get(articles[i].url) == cluster.id}


def split_event(
    cluster: Cluster,
    vectors: Sequence[Vector],
    event_vectors: Sequence[Vector],
    articles: Sequence[Article],
    kept: Collection[int] = (),
    taken: set[str] | None = None,
) -> list[Cluster]:
    """Cut a cluster down to single events, each its reports around the one that states it.

    Similar wording across a whole cluster is the signature of a theme (one war, one leader);
    an event's reports are each close to the report that states it. The report with the most
    close neighbours heads the first event (a round-up never does: it is close to every event
    it lists); the members close to it form the story, and the rest are grouped again.
    The ids of new parts are added to ``taken`` (story ids in use), and avoid those already in it.
    """
    taken = {cluster.id} if taken is None else taken
    members = list(cluster.members)
    if len(members) < 2:
        cluster.centre = members[0]
        return [cluster]

    places = {i: title_places(articles[i].title) for i in members}

    def same_event(i: int, j: int) -> bool:
        # Titles that each name a place the other does not ("Gaza" and "southern Lebanon",
        # beside the "Israeli" both share) tell different happenings unless otherwise close.
        apart = places[i] and places[j] and not places[i] & places[j]
        link = EVENT_LINK * (APART_FACTOR if apart else 1.0)
        return (
            cosine(event_vectors[i], event_vectors[j]) >= link
            or cosine(vectors[i], vectors[j]) >= SAME_REPORT
        )

    centrality = {i: cosine(vectors[i], cluster.centroid) for i in members}
    roundups = {i for i in members if is_roundup(articles[i].title)}
    left = set(members)

    def near(centre: int) -> set[int]:
        return {centre} | {j for j in left if j != centre and same_event(centre, j)}

    parts: list[Cluster] = []
    while left:
        ordered = sorted(left)
        # Neighbours are counted against an even sample of a big cluster: linear, not quadratic.
        step = max(1, len(ordered) // _SPLIT_SAMPLE)
        sample = ordered[::step]
        heads = [i for i in ordered if i not in roundups] or ordered
        rank = {
            i: (sum(j != i and same_event(i, j) for j in sample), centrality[i], -i) for i in heads
        }
        centre = _one_happening_head(max(heads, key=rank.__getitem__), rank, near, articles)
        story = near(centre)
        left -= story
        part = Cluster(_part_id(cluster.id, parts, story, centre, articles, taken), centre=centre)
        for i in sorted(story, key=lambda i: articles[i].published):
            part.add(i, vectors[i])
        parts.append(part)
    # The story id stays with the event whose reports already had it: a chat that was sent the
    # story knows it by that id, so it must not pass to another event cut from the same cluster.
    had = set(kept)
    holder = max(parts, key=lambda p: (len(had.intersection(p.members)), p.centre in had))
    if had and holder is not parts[0] and had.intersection(holder.members):
        holder.id, parts[0].id = parts[0].id, holder.id
    return parts


def _part_id(
    cluster_id: str,
    parts: Sequence[Cluster],
    story: set[int],
    centre: int,
    articles: Sequence[Article],
    taken: set[str],
) -> str:
    """The first event keeps the cluster's id; each other one is named after its own reports.

    The cluster is named after its first report, which may end up in a later event: that event
    is then named after its next report, so no two stories share an id (``taken`` holds every
    id in use, and gets the new one).
    """
    if not parts:
        return cluster_id
    others = sorted(story - {centre}, key=lambda i: (articles[i].published, articles[i].url))
    base = new_story_id(articles[centre])
    # A one-report event whose id is taken (an earlier round gave it to another event): suffixed.
    suffixed = (f"{base}-{n}" for n in itertools.count(len(parts)))
    ids = (new_story_id(articles[i]) for i in others)
    chosen = next(c for c in itertools.chain([base], ids, suffixed) if c not in taken)
    taken.add(chosen)
    return chosen


def _one_happening_head(
    best: int,
    rank: Mapping[int, tuple[int, float, int]],
    near: Callable[[int], set[int]],
    articles: Sequence[Article],
) -> int:
    """The best head, or the best that states one happening when the best joins two.

    A title joining two happenings ("X as Y") is close to the reports of both, so as a head it
    gathers both into one story. The best head that states one happening takes its place when
    that leaves out two or more of its reports (the other happening's, told again) or none;
    when it leaves out a single report, the joined title was one happening told with its cause
    ("famine spreads as the siege cuts off food"), and it stays.
    """
    if not is_compound(articles[best].title):
        return best
    others = [i for i in rank if not is_compound(articles[i].title)]
    if not others:
        return best
    alt = max(others, key=rank.__getitem__)
    return best if len(near(best) - near(alt) - {best}) == 1 else alt


def _roundup_terms(lex: lexicon.Lexicon) -> tuple[frozenset[str], tuple[str, ...]]:
    words = frozenset(t for t in lex.roundup if " " not in t)
    return words, tuple(f" {t} " for t in lex.roundup if " " in t)


_roundup = lexicon.derived(_roundup_terms)


def title_places(title: str) -> frozenset[str]:
    """The places a title names (relevance's place list), folded ("Israeli" -> "israel")."""
    return frozenset(place_names(title))


# "X as Y", "X while Y", "X, a day after Y": one clause per happening. The "as" must lead a
# clause of three words or more, so "such as", "as well as" and "claims Hormuz as US territory"
# are not joins.
_COMPOUND = re.compile(
    r"(?<!such)(?<!well)(?<!same) as (?!well )(?=\S+ \S+ \S+)|, a day after | while ",
    re.IGNORECASE,
)


def is_compound(title: str) -> bool:
    """True for a title that joins two happenings in one sentence ("X as Y")."""
    return bool(_COMPOUND.search(title))


# A podcast episode or newsletter lists its items as sentences: "X. And, Y", "X. Plus: Y"
# (the comma or colon keeps "U.S. And Israel Strike Iran" a single event).
_NEXT_ITEM = re.compile(r"[.?!]\s+(?:And|Plus|Also)[,:]\s")


def is_roundup(title: str) -> bool:
    """True for a live page, newsletter or other title that lists several events."""
    if ";" in title or _NEXT_ITEM.search(title):
        return True
    words, phrases = _roundup()
    toks = tokens(title)
    if words.intersection(toks):
        return True
    text = f" {' '.join(toks)} "
    return any(p in text for p in phrases)


def _merge_close(
    clusters: dict[str, Cluster], vectors: Sequence[Vector], threshold: float
) -> list[Cluster]:
    """Second pass: merge stories whose members ended up close (order effects of one pass)."""
    ordered = sorted(clusters.values(), key=lambda c: len(c.members), reverse=True)
    postings: defaultdict[str, list[Cluster]] = defaultdict(list)
    kept: list[Cluster] = []
    for cluster in ordered:
        candidates = {
            id(c): c
            for t in _strongest(cluster.centroid, _QUERY_TERMS)
            for c in postings[t][-_POSTINGS_SCANNED:]
        }
        near = sorted(
            candidates.values(), key=lambda c: cosine(cluster.centroid, c.centroid), reverse=True
        )[:_LINKED]
        linked = [(_group_link(cluster, c), c) for c in near]
        score, best = max(linked, key=lambda pair: pair[0], default=(0.0, None))
        if best is not None and score >= threshold:
            for index in cluster.members:
                best.add(index, vectors[index])
            continue
        kept.append(cluster)
        for term in _strongest(cluster.centroid, _QUERY_TERMS):
            postings[term].append(cluster)
    return kept


def _group_link(a: Cluster, b: Cluster) -> float:
    """Average similarity between the sampled members of two clusters."""
    return sum(link(vec, b) for vec in a.sample) / len(a.sample)


def link(vec: Vector, cluster: Cluster) -> float:
    """Average similarity of an article to the cluster's sampled members."""
    sample = cluster.sample
    return sum(cosine(vec, other) for other in sample) / len(sample)


def _strongest(vec: Vector, k: int) -> list[str]:
    if len(vec) <= k:
        return list(vec)
    return sorted(vec, key=vec.__getitem__, reverse=True)[:k]


def _best_match(
    vec: Vector,
    clusters: Mapping[str, Cluster],
    postings: Mapping[str, list[str]],
    threshold: float,
) -> str | None:
    # Up to 10 x 40 clusters share a strong term; with many stories in the window comparing
    # them all made clustering grow ~n^1.6. Compare only those sharing the most strong terms
    # (ties: the article's stronger term first), which keeps the cost per article constant.
    shared: Counter[str] = Counter()
    for term in _strongest(vec, _QUERY_TERMS):
        ids = postings.get(term)
        if ids:
            shared.update(ids[-_POSTINGS_SCANNED:])
    near = sorted(
        ((cosine(vec, clusters[cid].centroid), cid) for cid, _ in shared.most_common(_CANDIDATES)),
        reverse=True,
    )[:_LINKED]
    best_id, best = None, threshold
    for to_centroid, cid in near:
        # Half centroid (a big story's shared core), half average link (no drift to a theme).
        sim = 0.5 * (to_centroid + link(vec, clusters[cid]))
        if sim >= best:
            best_id, best = cid, sim
    return best_id
