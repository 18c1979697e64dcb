"""One to three attributed sentences per story: the headline's event first, then what others add."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.models import Article
from bot.news import lexicon
from bot.news.cluster import Vector, cosine, tfidf
from bot.news.text import content_terms, split_sentences

MAX_CHARS = 500
MAX_SENTENCES = 3
REDUNDANT = 0.45
# A later sentence must also say something the chosen ones do not: at least this share of its
# content terms new ("Trump dismissed the concerns of military families about worsening
# conditions on the USS Abraham Lincoln" adds little to "Trump downplayed concerns over
# conditions for sailors aboard the USS Abraham Lincoln", though its cosine is under REDUNDANT).
NEW_TERMS = 0.4
# A sentence from another outlet must be about the headline's event, not the story's theme.
ON_EVENT = 0.12
_MIN_LEN, _MAX_LEN = 30, 320
_ENDS = ".!?\"'”’"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# Not a report: a photo caption ("... in Albany, New York, on February 25, 2024.", "… on July
# 27, 2026, in Milford, Michigan."), a question ("What are conditions like on the Lincoln?") or
# a columnist's first person ("I thought of this reading ...", "We answer your questions").
_NOT_REPORT = re.compile(
    rf"(?:\bon {_MONTH} \d{{1,2}}, \d{{4}}(?:,? in [A-Z][^.]{{0,60}})?\.?|\?)[\"'”’]?$"
    r"|^(?:I|I['’](?:m|ve|d)|We|We['’](?:re|ve)|My|Our)\b"
)


# A caption says where or when ("… in northwestern Syria on Tuesday", "… in San Diego in 2021").
_WHERE_OR_WHEN = re.compile(
    r"\b(?:in|on|at|near|off|outside|during) (?:the )?(?:[A-Z]|\d{4}\b)"
    r"|\blast (?:year|week|month)\b"
)
_WORDS = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
_CONTRACTED = ("n't", "n’t", "'s", "’s", "'re", "’re", "'m", "’m", "'ve", "’ve", "'ll", "’ll")
_INFINITIVE = re.compile(r"\bto [a-z]")  # a headline's future: "Trump to visit Alaska"


@dataclass(frozen=True)
class _Rules:
    junk: tuple[str, ...]  # lower-cased phrases
    presenter_verbs: tuple[str, ...]
    presenter: re.Pattern[str]
    dangling: frozenset[str]
    speech: frozenset[str]
    clause_words: frozenset[str]  # finite verbs and subject pronouns
    labels: frozenset[str]  # paragraph labels, lower-cased, straight apostrophes


def _make_rules(lex: lexicon.Lexicon) -> _Rules:
    # A presenter's line ends with its verb after a name ("… Nancy Cordes has more.") or gives
    # the name its role first ("… Bloomberg Intelligence, discusses …") or its outlet ("NPR's
    # Rob Schmitz speaks with …"). "Russia has more troops …" and "Putin discusses Ukraine with
    # Xi" report.
    verbs = "|".join(re.escape(v) for v in sorted(lex.presenters, key=len, reverse=True))
    verbs = verbs or "(?!)"
    presenter = re.compile(
        rf"(?<![\w'’.-])[A-Z][\w'’.-]*+[\"”]?(?: (?:{verbs})\.?[\"”]?$|, (?:{verbs})\b(?! than\b))"
        # … or its outlet's: "NPR's Rob Schmitz speaks with …".
        rf"|^[A-Z][\w.&-]*+(?: [A-Z][\w.&-]*+)?['’]s? (?:[A-Z][\w'’-]*+ ){{1,3}}(?:{verbs})\b"
    )
    clause_words = lex.finite_verbs | lex.subjects
    return _Rules(
        lex.junk, lex.presenters, presenter, lex.dangling, lex.speech, clause_words, lex.labels
    )


_rules = lexicon.derived(_make_rules)


def _is_junk(sentence: str) -> bool:
    """True for feed furniture: a junk phrase as whole words, or a presenter's line."""
    rules = _rules()
    low = sentence.lower()
    for phrase in rules.junk:
        # Whole words: "subscribe" is junk, "subscribers" in a report is not.
        start = low.find(phrase)
        while start >= 0:
            end = start + len(phrase)
            if not (_joined(low, start - 1, phrase[0]) or _joined(low, end, phrase[-1])):
                return True
            start = low.find(phrase, start + 1)
    return any(v in low for v in rules.presenter_verbs) and bool(rules.presenter.search(sentence))


def _joined(text: str, at: int, edge: str) -> bool:
    """True when a phrase's letter ``edge`` runs on into the word character at ``at``."""
    if not 0 <= at < len(text) or not (edge.isalnum() or edge == "_"):
        return False
    return text[at].isalnum() or text[at] == "_"


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
        if parts and _cut_short(text, parts):
            parts = parts[:-1]
        out += [_unlabelled(part) for part in parts[:12]]
    return out


_OPEN_CLOSE = (("“", "”"), ("(", ")"), ("[", "]"))
_DANGLING_MARKS = ",;:-–—(/&“‘"


def _cut_short(text: str, parts: Sequence[str]) -> bool:
    """True when the text's last piece is a fragment that the feed cut off."""
    if text.rstrip().endswith(("…", "...")):
        return True
    last = parts[-1]
    if last[-1] in _ENDS:
        return False
    # A standfirst often goes without its full stop ("The United States has just 11 carriers
    # in service, … two are already in the Middle East"). An unstopped end is a cut only with
    # evidence: other sentences that were stopped ("… said. It will get done privat"), a
    # dangling last word ("… the far left as just"), or a quote or bracket left open.
    if len(parts) > 1 or last[-1] in _DANGLING_MARKS:
        return True
    words = last.split()
    if words[-1].lower() in _rules().dangling:
        return True
    return any(last.count(o) > last.count(c) for o, c in _OPEN_CLOSE) or last.count('"') % 2 == 1


# Axios and others head paragraphs with a label ("Why it matters:", "Driving the news:", "Zoom
# in:", "Yes, but:"): a capitalised word, up to three lower-case ones and a colon, before a
# capital. One word alone is a name or a title ("Trump: South Korea …", "Dune: Part Three …").
_LABEL = re.compile(r"([A-Z][a-z]+(?:,? [a-z'’]+){1,3}): (?=[\"“]?[A-Z0-9])")


def _unlabelled(sentence: str) -> str:
    match = _LABEL.match(sentence)
    if match is None or _is_junk(sentence):
        return sentence  # "Content warning: …" stays junk
    if match.group(1).lower().replace("’", "'") not in _rules().labels:
        return sentence  # "Police said: …", "Israeli military: …" attribute, they do not label
    return sentence[match.end() :]


_CLIP_TITLE = re.compile(r"^\s*(watch|video|listen)\s*[:|]", re.I)
_CLIP_PATH = re.compile(r"/(video|videos|watch|audio)/", re.I)


def is_clip(article: Article) -> bool:
    """True for a video or audio item: a clip to play, not a report to read."""
    return bool(_CLIP_TITLE.search(article.title) or _CLIP_PATH.search(article.url))


def _is_caption(sentence: str) -> bool:
    """True for a sentence without a finite verb that says where or when: a photo's caption."""
    if not _WHERE_OR_WHEN.search(sentence) or _INFINITIVE.search(sentence):
        return False
    clause_words = _rules().clause_words
    for word in _WORDS.findall(sentence):
        word = word.lower()
        # Plurals count as verbs too ("ships"): a sentence is dropped only when nothing could be.
        if word in clause_words or word.endswith(_CONTRACTED):
            return False
        if len(word) > 3 and (word.endswith("ed") or (word[-1] == "s" and word[-2] != "s")):
            return False
    return True


def _quotable(sentence: str) -> bool:
    return (
        _MIN_LEN <= len(sentence) <= _MAX_LEN
        and not _is_junk(sentence)
        and not _NOT_REPORT.search(sentence)
        and not _is_caption(sentence)
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
        told = {term for c in chosen for term in c.vector}
        for cand in pool:
            relevance = cosine(cand.vector, event)
            if chosen and relevance < ON_EVENT:
                continue
            overlap = max((cosine(cand.vector, c.vector) for c in chosen), default=0.0)
            if overlap >= REDUNDANT or (chosen and _new_share(cand, told) < NEW_TERMS):
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


def _new_share(cand: Candidate, told: set[str]) -> float:
    """The share of the candidate's content terms that no chosen sentence has."""
    if not cand.vector:
        return 0.0
    return sum(term not in told for term in cand.vector) / len(cand.vector)


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
