"""One to three attributed sentences per story: the headline's event first, then what others add."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.models import Article
from bot.news.cluster import Vector, cosine, tfidf
from bot.news.text import content_terms, split_sentences

MAX_CHARS = 500
MAX_SENTENCES = 3
REDUNDANT = 0.45
# A sentence from another outlet must be about the headline's event, not the story's theme.
ON_EVENT = 0.12
_MIN_LEN, _MAX_LEN = 30, 320
_JUNK = re.compile(
    r"(read more|click here|sign up|subscribe|continue reading|the post .* appeared first|"
    r"all rights reserved|follow us|watch:|listen:|photo:|image:)",
    re.I,
)
_ENDS = ".!?\"'”’"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# Not a report: a photo caption ("... in Albany, New York, on February 25, 2024."), a question
# ("What are conditions like on the Lincoln?") or a columnist's first person ("I thought of
# this reading ...", "We answer your questions").
_NOT_REPORT = re.compile(
    rf"(?:\bon {_MONTH} \d{{1,2}}, \d{{4}}\.?|\?)[\"'”’]?$"
    r"|^(?:I|I['’](?:m|ve|d)|We|We['’](?:re|ve)|My|Our)\b"
)


@dataclass(frozen=True)
class Candidate:
    """A sentence that could go into the summary, with the cited article it came from."""

    text: str
    outlet: str
    position: int
    vector: Vector
    url: str


def _sentences(article: Article) -> list[str]:
    """Whole sentences of the article's description (then full text): no cut-off tails."""
    out: list[str] = []
    for text in (article.description, article.body):
        parts = split_sentences(text)
        # Feeds cut descriptions mid-sentence ("… Netanyahu ex…"): a last piece without
        # closing punctuation is a fragment, not a sentence.
        if parts and (parts[-1][-1] not in _ENDS or parts[-1].endswith("...")):
            parts = parts[:-1]
        out += parts[:12]
    return out


_CLIP_TITLE = re.compile(r"^\s*(watch|video|listen)\s*[:|]", re.I)
_CLIP_PATH = re.compile(r"/(video|videos|watch|audio)/", re.I)


def is_clip(article: Article) -> bool:
    """True for a video or audio item: a clip to play, not a report to read."""
    return bool(_CLIP_TITLE.search(article.title) or _CLIP_PATH.search(article.url))


def _quotable(sentence: str) -> bool:
    return (
        _MIN_LEN <= len(sentence) <= _MAX_LEN
        and not _JUNK.search(sentence)
        and not _NOT_REPORT.search(sentence)
    )


def usable(article: Article) -> bool:
    """True when the article has a sentence a summary could open with."""
    return any(_quotable(sentence) for sentence in _sentences(article))


def candidates(
    articles: Sequence[Article], idf: Mapping[str, float], default_idf: float
) -> list[Candidate]:
    """Every usable sentence of the given (cited) articles, in article order."""
    found: list[Candidate] = []
    seen: set[str] = set()
    for article in articles:
        for position, sentence in enumerate(_sentences(article)):
            key = re.sub(r"\W+", " ", sentence.lower()).strip()
            if key in seen or not _quotable(sentence):
                continue
            seen.add(key)
            vec = tfidf(content_terms(sentence), idf, default_idf)
            found.append(Candidate(sentence, article.outlet, position, vec, article.url))
    return found


def choose(found: Sequence[Candidate], event: Vector, lead_url: str) -> list[Candidate]:
    """The lead article's opening sentence, then central, non-redundant ones from others."""
    chosen: list[Candidate] = []
    budget = MAX_CHARS
    own = [c for c in found if c.url == lead_url]
    if own:
        first = max(own, key=lambda c: cosine(c.vector, event) + (0.2 if c.position == 0 else 0.0))
        chosen.append(first)
        budget -= len(first.text) + len(first.outlet) + 10
    pool = [c for c in found if c not in chosen]
    while pool and len(chosen) < MAX_SENTENCES:
        best_value, best = None, None
        for cand in pool:
            relevance = cosine(cand.vector, event)
            if chosen and relevance < ON_EVENT:
                continue
            overlap = max((cosine(cand.vector, c.vector) for c in chosen), default=0.0)
            if overlap >= REDUNDANT:
                continue
            new_outlet = chosen and cand.outlet not in {c.outlet for c in chosen}
            value = relevance - 0.5 * overlap + (0.1 if new_outlet else 0.0)
            value += 0.1 if cand.position == 0 else 0.0
            if best_value is None or value > best_value:
                best_value, best = value, cand
        if best is None:
            break
        pool.remove(best)
        cost = len(best.text) + len(best.outlet) + 10
        if cost > budget:
            continue
        chosen.append(best)
        budget -= cost
    return chosen


def attribute(chosen: Sequence[Candidate]) -> str:
    """Join chosen sentences, saying which outlet reported each."""
    parts: list[str] = []
    previous = None
    for index, cand in enumerate(chosen):
        text = cand.text if cand.text[-1] in _ENDS + "…" else cand.text + "."
        if cand.outlet == previous:
            parts.append(text)
            continue
        if '"' in text or "“" in text:
            verb = "quotes"
        elif index == 0:
            verb = "reports"
        else:
            verb = "adds" if cand.outlet in {c.outlet for c in chosen[:index]} else "reports"
        parts.append(f"{cand.outlet} {verb}: {text}")
        previous = cand.outlet
    return " ".join(parts)


def summarise(
    articles: Sequence[Article], centroid: Vector, idf: Mapping[str, float], default_idf: float
) -> str:
    """An attributed summary of the cited ``articles`` (the headline article first)."""
    if not articles:
        return ""
    lead = articles[0]
    event = tfidf(content_terms(f"{lead.title} {lead.description}"), idf, default_idf) or centroid
    chosen = choose(candidates(articles, idf, default_idf), event, lead.url)
    if not chosen:
        return headline_only(lead)
    return attribute(chosen)


def headline_only(article: Article) -> str:
    """The summary of a story whose articles have no sentence to quote: the headline, attributed."""
    title = article.title.strip()
    ended = title and title[-1] in _ENDS + "…"
    return f"{article.outlet} reports: {title if ended else title + '.'}"
