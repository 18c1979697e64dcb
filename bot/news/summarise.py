"""Two or three attributed sentences per story, chosen across all its outlets."""

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
_MIN_LEN, _MAX_LEN = 30, 320
_JUNK = re.compile(
    r"(read more|click here|sign up|subscribe|continue reading|the post .* appeared first|"
    r"all rights reserved|follow us|watch:|listen:|photo:|image:)",
    re.I,
)


@dataclass(frozen=True)
class Candidate:
    """A sentence that could go into the summary, with where it came from."""

    text: str
    outlet: str
    position: int
    vector: Vector


def candidates(
    articles: Sequence[Article], idf: Mapping[str, float], default_idf: float
) -> list[Candidate]:
    """Every usable sentence of every article's description (then full text, if fetched)."""
    found: list[Candidate] = []
    seen: set[str] = set()
    for article in articles:
        sentences = split_sentences(article.description) + split_sentences(article.body)[:12]
        for position, sentence in enumerate(sentences):
            key = re.sub(r"\W+", " ", sentence.lower()).strip()
            if key in seen or not (_MIN_LEN <= len(sentence) <= _MAX_LEN) or _JUNK.search(sentence):
                continue
            seen.add(key)
            if sentence[-1] not in ".!?\"'”’…":
                sentence += "."
            vec = tfidf(content_terms(sentence), idf, default_idf)
            found.append(Candidate(sentence, article.outlet, position, vec))
    return found


def choose(found: Sequence[Candidate], centroid: Vector) -> list[Candidate]:
    """Pick central, early, non-redundant sentences (MMR with a lead prior)."""
    scored = [(cosine(c.vector, centroid) + (0.15 if c.position == 0 else 0.0), c) for c in found]
    chosen: list[Candidate] = []
    budget = MAX_CHARS
    while scored and len(chosen) < MAX_SENTENCES:
        best_value, best = None, None
        for relevance, cand in scored:
            overlap = max((cosine(cand.vector, c.vector) for c in chosen), default=0.0)
            if overlap >= REDUNDANT:
                continue
            value = (
                relevance
                - 0.5 * overlap
                + (0.05 if chosen and cand.outlet not in {c.outlet for c in chosen} else 0.0)
            )
            if best_value is None or value > best_value:
                best_value, best = value, cand
        if best is None:
            break
        scored = [(r, c) for r, c in scored if c is not best]
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
        if cand.outlet == previous:
            parts.append(cand.text)
            continue
        if '"' in cand.text or "“" in cand.text:
            verb = "quotes"
        elif index == 0:
            verb = "reports"
        else:
            verb = "adds" if cand.outlet in {c.outlet for c in chosen[:index]} else "reports"
        parts.append(f"{cand.outlet} {verb}: {cand.text}")
        previous = cand.outlet
    return " ".join(parts)


def summarise(
    articles: Sequence[Article], centroid: Vector, idf: Mapping[str, float], default_idf: float
) -> str:
    """An attributed summary of at most about 500 characters for one story."""
    chosen = choose(candidates(articles, idf, default_idf), centroid)
    if not chosen:
        lead = articles[0]
        return f"{lead.outlet} reports: {lead.title}."
    return attribute(chosen)
