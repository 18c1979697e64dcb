"""Explainable security relevance scoring for a news item's title and description.

The scorer is a weighted lexicon, not a model: every point of a score can be traced
to a matched term, a penalty, a cap or the feed weight listed in ``Relevance.reasons``.

Terms borrow from ACLED event types (battles, explosions/remote violence, violence
against civilians, riots, strategic developments), CAMEO root codes 13-20 (threaten,
protest violently, exhibit military posture, reduce relations, coerce, assault, fight,
unconventional mass violence) and UCDP conflict vocabulary.

Scoring rules:

* A term is *strong* when its weight is >= 1.0; one strong term passes the default
  threshold on its own. Weaker terms (attack, strike, war, forces, ...) only count
  when the article also has a strong term, or when they sit right next to a named
  place ("Sudan war", "Israeli strikes", "war in Ukraine"), which upgrades them.
* Title matches weigh 1.5x description matches; each term counts once per field;
  each topic's contribution is capped.
* Negative contexts (sport, business, labour, entertainment, weather, tech, health,
  figurative use) subtract; neutral phrases ("hunger strike", "war on drugs",
  "artificial intelligence") swallow their words so those add nothing.
* "war on drugs" is deliberately neutral: on its own it is policy rhetoric, so a
  story scores only if real violence terms (cartel gunmen, clashes, ...) appear.
* The South Caucasus (Armenia, Azerbaijan, Georgia's Tbilisi) is filed under
  "Central Asia", following ACLED's "Caucasus and Central Asia" region; Egypt is
  "Middle East". The bare word "Georgia" is left out: it is too often the US state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import compress, count

from bot.news import lexicon
from bot.news.text import fold_for_tokens

__all__ = ["REGIONS", "TOPICS", "Relevance", "score_article"]

# Both come from bot/news/data (topics.toml, places.toml); an operator's LEXICON_FILE may add
# terms and places to them but no new topic or region, so these stay valid for the whole run.
TOPICS: dict[str, str] = dict(lexicon.current().topics)
REGIONS: tuple[str, ...] = lexicon.current().regions

TITLE_FACTOR = 1.5
TOPIC_CAP = 4.0
STRONG_WEIGHT = 1.0
ANCHORED_WEIGHT = 1.2

_NEGATIVE = "negative"
_NEUTRAL = "neutral"


@dataclass(frozen=True)
class Relevance:
    """Score, topics, region and the reasons behind them for one article."""

    score: float
    topics: tuple[str, ...]
    region: str | None
    reasons: tuple[str, ...]
    # The distinct terms that counted, by root ("terrorist" and "terrorism" are one): one word
    # repeated is thinner evidence than two.
    terms: frozenset[str] = frozenset()


# Weak terms that turn strong right next to a place: "Sudan war", "Israeli strike",
# "Gaza death toll" (place first) or "war in Ukraine", "explosion at Quetta", "hackers
# linked to North Korea", "kidnapped in Niger" (place after one or two connector words,
# or right after a verb whose object it is: "bomb Oman"). "<place> attack" is
# left out: "England's attack" is usually cricket or football. Places weighing under
# ANCHOR_MIN_PLACE (US, UK, EU, NATO, London...) anchor nothing: "attack on London"
# is more often a politician's speech than a bomb.
_WAR_WORDS = {"war", "wars", "conflict", "fighting", "explosion", "explosions"}
_WAR_WORDS |= {"blast", "blasts", "clashes", "hackers", "hacker", "hack", "hacks"}
_ANCHOR_BEFORE = frozenset(_WAR_WORDS | {"army", "military", "strike", "strikes", "forces"})
_ANCHOR_BEFORE |= {"death toll"}
# Verbs whose object is the place, right after them: "threatens to bomb Oman".
_ANCHOR_OBJECT = frozenset({"bomb", "bombs", "bombed"})
_ANCHOR_AFTER = frozenset(_WAR_WORDS | _ANCHOR_OBJECT | {"attack", "attacks"})
_ANCHOR_AFTER |= {"kidnapped", "kidnapping", "abducted"}
_ANCHORABLE = _ANCHOR_BEFORE | _ANCHOR_AFTER
_CONNECTORS = {"in", "on", "at", "near", "off", "against", "with", "across", "over", "linked"}
_CONNECTORS |= {"tied", "to", "backed", "by", "from"}
ANCHOR_MIN_PLACE = 0.8

_TERM_RE = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
# Runtime tokens are runs of letters, digits, "'" and "-" (stray edge "'"/"-" trimmed
# afterwards). ASCII text, nearly all feed text, skips the regex: a byte translate plus
# split is about three times faster than findall.
_TOKEN_RE = re.compile(r"[^\W_][\w'-]*")
_ASCII_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789'-")
_ASCII_TABLE = bytes(c if c in _ASCII_WORD else 32 for c in range(256))
_US_RE = re.compile(r"\bU\.S\.(?:A\.)?|\bUSA?\b")
_NORMALIZE = str.maketrans({"’": "'", "‘": "'", "‐": "-", "‑": "-", "–": "-", "—": " "})
_VOWELS = frozenset("aeiou")


_KIND_NONE, _KIND_STRONG, _KIND_WEAK, _KIND_NEGATIVE = range(4)
_TOPIC_ORDER = {topic: i for i, topic in enumerate(TOPICS)}


class _Entry:
    """One lexicon term: its topic contribution and/or the region it points to."""

    __slots__ = ("term", "topic", "weight", "region", "region_weight")

    def __init__(self, term: str) -> None:
        self.term = term
        self.topic: str | None = None
        self.weight = 0.0
        self.region: str | None = None
        self.region_weight = 0.0


class _Hit:
    """One spelling of an entry, with its reason text precomputed per field."""

    __slots__ = ("entry", "label", "kind", "values", "reasons", "anchor")

    def __init__(self, entry: _Entry, form: tuple[str, ...]) -> None:
        self.entry = entry
        self.label = f"'{' '.join(form)}'" if len(form) > 1 else form[0]
        topic = entry.topic
        if topic is None or topic == _NEUTRAL:
            self.kind = _KIND_NONE
        elif topic == _NEGATIVE:
            self.kind = _KIND_NEGATIVE
        else:
            self.kind = _KIND_STRONG if entry.weight >= STRONG_WEIGHT else _KIND_WEAK
        self.values = (round(entry.weight * TITLE_FACTOR, 2), round(entry.weight, 2))
        self.reasons = tuple(f"{_fmt(v)} {self.label} [{topic}]" for v in self.values)
        self.anchor = self.kind == _KIND_WEAK and " ".join(form) in _ANCHORABLE


# first token -> (one-word hit, {second token: ((remaining tokens, hit), ...) longest first})
_Index = dict[str, tuple[_Hit | None, dict[str, tuple[tuple[list[str], _Hit], ...]]]]


def _fmt(value: float) -> str:
    text = f"{value:+.2f}"
    return text[:-1] if text.endswith("0") else text


def _inflect(word: str) -> set[str]:
    forms = {word}
    if len(word) < 3 or not word[-1].isalpha():
        return forms
    if word[-1] == "y" and word[-2] not in _VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied", word + "ing"}
        return forms
    forms.add(word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s"))
    if word[-1] == "e":
        forms |= {word + "d", word[:-1] + "ing"}
    else:
        forms |= {word + "ed", word + "ing"}
        if (
            len(word) <= 4
            and word[-1] not in _VOWELS
            and word[-1] not in "wxy"
            and word[-2] in _VOWELS
            and word[-3] not in _VOWELS
        ):
            forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


def _forms(term: str, inflect: str) -> list[tuple[str, ...]]:
    """Token tuples a term matches: hyphen and spaced spellings, inflected last word."""
    spellings = {tuple(_TERM_RE.findall(term))}
    if "-" in term:
        spellings.add(tuple(_TERM_RE.findall(term.replace("-", " "))))
    out: list[tuple[str, ...]] = []
    for toks in spellings:
        if not toks:
            continue
        if inflect == "full":
            lasts = _inflect(toks[-1])
        elif inflect == "plural" and not toks[-1].endswith("s"):
            lasts = {toks[-1], toks[-1] + "s"}
        else:
            lasts = {toks[-1]}
        out.extend(toks[:-1] + (last,) for last in sorted(lasts))
    return out


def _build(
    terms: Mapping[str, tuple[str, float]], places: Mapping[str, tuple[str, float]]
) -> _Index:
    explicit: dict[tuple[str, ...], _Entry] = {}
    generated: dict[tuple[str, ...], _Entry] = {}
    entries: dict[str, _Entry] = {}

    def add(term: str, exact: bool, inflect: str) -> _Entry:
        entry = entries.get(term)
        if entry is None:
            entry = entries[term] = _Entry(term)
        base = set(_forms(term, "none"))
        for form in _forms(term, "none" if exact else inflect):
            (explicit if form in base else generated).setdefault(form, entry)
        return entry

    for raw, (topic, weight) in terms.items():
        entry = add(raw.rstrip("="), raw.endswith("="), "full")
        if entry.topic is None:  # first listing wins
            entry.topic, entry.weight = topic, weight
    for raw, (region, weight) in places.items():
        entry = add(raw.rstrip("="), raw.endswith("="), "plural")
        if entry.region is None:
            entry.region, entry.region_weight = region, weight

    keys = generated | explicit  # a listed spelling beats another term's inflection
    singles: dict[str, _Hit] = {}
    phrases: dict[str, dict[str, list[tuple[list[str], _Hit]]]] = {}
    for form, entry in keys.items():
        hit = _Hit(entry, form)
        if len(form) == 1:
            singles[form[0]] = hit
        else:
            by_second = phrases.setdefault(form[0], {})
            by_second.setdefault(form[1], []).append((list(form[2:]), hit))
    index: _Index = {}
    for first in singles.keys() | phrases.keys():
        by_second = {
            second: tuple(sorted(cands, key=lambda c: -len(c[0])))
            for second, cands in phrases.get(first, {}).items()
        }
        index[first] = (singles.get(first), by_second)
    return index


_index = lexicon.derived(lambda lex: _build(lex.terms, lex.places))
# Framing terms are matched like topic terms, in an index of their own.
_framing_index = lexicon.derived(lambda lex: _build({t: ("framing", 1.0) for t in lex.framing}, {}))


def _tokens(text: str) -> list[str]:
    if not text:
        return []
    if "US" in text or "U.S" in text:
        # Upper-case "US" is the country; lower-cased it would be the pronoun.
        text = _US_RE.sub(" usa ", text)
    if text.isascii():
        low = text.lower()
        toks = low.encode("ascii").translate(_ASCII_TABLE).decode("ascii").split()
    else:
        # One form whatever the feed sent: "İstanbul" and decomposed accents stay one word.
        low = fold_for_tokens(text.translate(_NORMALIZE))
        toks = _TOKEN_RE.findall(low)
    if "'" in low:
        toks = [t.strip("'-").removesuffix("'s") if "'" in t else t for t in toks]
    if "-" in low:
        index = _index()
        toks = [
            part
            for t in toks
            for part in (t.strip("-").split("-") if "-" in t and t not in index else (t,))
        ]
    return toks


def _scan(tokens: list[str], index: _Index | None = None) -> list[tuple[int, int, _Hit]]:
    """Longest-match lexicon hits as (start, end, hit); phrases swallow their words."""
    index = _index() if index is None else index
    out: list[tuple[int, int, _Hit]] = []
    end = 0
    last = len(tokens) - 1
    for i in compress(count(), map(index.__contains__, tokens)):
        if i < end:
            continue
        single, by_second = index[tokens[i]]
        hit = None
        if by_second and i < last:
            for rest, candidate in by_second.get(tokens[i + 1], ()):
                j = i + 2 + len(rest)
                if not rest or tokens[i + 2 : j] == rest:
                    hit, end = candidate, j
                    break
        if hit is None:
            if single is None:
                continue
            hit, end = single, i + 1
        out.append((i, end, hit))
    return out


def _anchor(
    tokens: list[str], start: int, end: int, matches: list[tuple[int, int, _Hit]]
) -> str | None:
    """Label of "<place> <term>" or "<term> in <place>", if the weak term has one."""
    term = " ".join(tokens[start:end])
    for p_start, p_end, hit in matches:
        if hit.entry.region is None or hit.entry.region_weight < ANCHOR_MIN_PLACE:
            continue
        if p_end == start and term in _ANCHOR_BEFORE:
            return "'" + " ".join(tokens[p_start:end]) + "'"
        if (
            # A place after the term, past a connector ("attack in Gaza"); right after it only
            # as the verb's object ("bomb Oman"). A place before it ("Eurovision entry bombed")
            # is no anchor of these.
            (end < p_start or (term in _ANCHOR_OBJECT and p_start == end))
            and p_start <= end + 2
            and term in _ANCHOR_AFTER
            and all(t in _CONNECTORS for t in tokens[end:p_start])
        ):
            return "'" + " ".join(tokens[start:p_end]) + "'"
    return None


def _root(term: str) -> str:
    """What a term is about, spelling and inflection aside: its first four letters."""
    # "terrorist"/"terrorism", "air strike"/"airstrike", "bomb"/"bombing" share them; distinct
    # words rarely do (military and militant are the price).
    return "".join(c for c in term.lower() if c.isalpha())[:4]


def place_names(text: str) -> list[str]:
    """The places ``text`` names, each by the place it stands for ("Israeli" -> "israel")."""
    same = lexicon.current().same_place
    out: list[str] = []
    for _, _, hit in _scan(_tokens(text)):
        if hit.entry.region is not None:
            term = hit.entry.term
            out.append(same.get(term, term))
    return out


_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
HISTORY_YEARS = 5  # a title year this much older than the article makes it history


def _past_year(title: str, year: int | None) -> str | None:
    if year is None:
        return None
    for match in _YEAR.finditer(title):
        if int(match.group(1)) <= year - HISTORY_YEARS:
            return f"'{match.group(1)}' (history)"
    return None


def _framing(title: str) -> str | None:
    """The first feature/culture/market framing term of a title, if any."""
    for _, _, hit in _scan(_tokens(title), _framing_index()):
        return hit.label
    return None


def _pick_region(scores: dict[str, float], first: dict[str, int]) -> str | None:
    if not scores:
        return None
    return max(scores, key=lambda r: (scores[r], -first[r]))


# One positive match: (topic, value, reason, weak, term); weak ones wait for a strong one.
_Positive = tuple[str, float, str, bool, str]


@dataclass
class _Matches:
    """What a title and description matched, before the totals."""

    positives: list[_Positive] = field(default_factory=list)
    penalties: list[tuple[float, str]] = field(default_factory=list)
    region_scores: dict[str, float] = field(default_factory=dict)
    region_first: dict[str, int] = field(default_factory=dict)
    strong: bool = False


def score_article(
    title: str, description: str = "", weight: float = 1.0, year: int | None = None
) -> Relevance:
    """Score how clearly an article is security news, with topics, region and reasons.

    ``year`` is the year the article was published: a title naming a year long before it
    ("Zulu battle in 1879", "the 2015 attacks") is history, framed like a feature.
    """
    found = _matches(title, description)
    region = _pick_region(found.region_scores, found.region_first)
    if not found.positives and not found.penalties:
        return Relevance(0.0, (), region, ())
    totals, reasons, counted = _totals(found)
    raw = sum(totals.values()) + sum(value for value, _ in found.penalties)
    score = max(0.0, raw) * weight
    framed = (_framing(title) or _past_year(title, year)) if score > 0 else None
    if framed is not None:
        # A feature, anniversary, market or culture piece written with war words: its terms
        # are real, the news is not. Lowered as a whole rather than excepted case by case.
        factor = lexicon.current().framing_factor
        score *= factor
        reasons.append(f"x{factor:g} {framed} [framing]")
    if weight != 1.0 and score > 0:
        reasons.append(f"x{weight:g} feed weight")
    topics = tuple(sorted(totals, key=lambda t: (-totals[t], _TOPIC_ORDER[t])))
    return Relevance(round(score, 3), topics, region, tuple(reasons), frozenset(counted))


def _matches(title: str, description: str) -> _Matches:
    """Every lexicon entry the title and the description match, each once per field."""
    found = _Matches()
    for field_no, text in enumerate((title, description)):
        tokens = _tokens(text)
        matches = _scan(tokens) if tokens else ()
        factor = TITLE_FACTOR if field_no == 0 else 1.0
        seen: set[_Entry] = set()
        for start, end, hit in matches:
            if hit.entry in seen:
                continue
            seen.add(hit.entry)
            _add_region(found, hit.entry, factor, field_no * 100_000 + start)
            _add_match(found, hit, field_no, factor, _anchored(hit, tokens, start, end, matches))
    return found


def _add_region(found: _Matches, entry: _Entry, factor: float, position: int) -> None:
    if entry.region is not None:
        found.region_scores[entry.region] = (
            found.region_scores.get(entry.region, 0.0) + entry.region_weight * factor
        )
        found.region_first.setdefault(entry.region, position)


def _anchored(
    hit: _Hit, tokens: list[str], start: int, end: int, matches: list[tuple[int, int, _Hit]]
) -> str | None:
    """The place a weak term stands next to ("Sudan war"), which makes it strong."""
    if hit.kind == _KIND_WEAK and hit.anchor:
        return _anchor(tokens, start, end, matches)
    return None


def _add_match(
    found: _Matches, hit: _Hit, field_no: int, factor: float, anchor: str | None
) -> None:
    entry = hit.entry
    if hit.kind == _KIND_NONE:
        return
    if hit.kind == _KIND_NEGATIVE:
        found.penalties.append((hit.values[field_no], hit.reasons[field_no]))
        return
    if anchor is not None:
        value = round(ANCHORED_WEIGHT * factor, 2)
        reason = f"{_fmt(value)} {anchor} [{entry.topic}]"
        found.positives.append((entry.topic, value, reason, False, entry.term))
        found.strong = True
        return
    weak = hit.kind == _KIND_WEAK
    found.strong = found.strong or not weak
    found.positives.append(
        (entry.topic, hit.values[field_no], hit.reasons[field_no], weak, entry.term)
    )


def _totals(found: _Matches) -> tuple[dict[str, float], list[str], set[str]]:
    """Per-topic totals (capped), the reasons in order, and the distinct roots that counted."""
    reasons: list[str] = []
    totals: dict[str, float] = {}
    ignored: list[str] = []
    counted: set[str] = set()
    for topic, value, reason, weak, term in found.positives:
        if weak and not found.strong:
            label = reason.split(" ", 1)[1]
            ignored.append(f"ignored {label}: weak term without a strong one")
            continue
        totals[topic] = totals.get(topic, 0.0) + value
        reasons.append(reason)
        counted.add(_root(term))
    for topic, total in totals.items():
        if total > TOPIC_CAP + 1e-9:
            reasons.append(f"{_fmt(TOPIC_CAP - total)} cap [{topic}]")
            totals[topic] = TOPIC_CAP
    reasons.extend(reason for _, reason in found.penalties)
    reasons.extend(ignored)
    return totals, reasons, counted
