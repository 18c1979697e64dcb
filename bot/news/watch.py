"""Watchlist terms: parsing what users type, and matching every chat's terms in one pass.

A term is plain text (a word or a quoted phrase), never a regular expression: matching is
whole-word, case- and accent-insensitive, and runs through one Aho–Corasick automaton over
all chats' distinct terms, so a fetch round costs one pass over its new articles however
many chats watch however many terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import ahocorasick

from bot.news import lexicon

MAX_TERM_CHARS = 64
MAX_TERMS = 20
_NOT_WORD = re.compile(r"[\W_]+")
_QUOTES = "\"'“”‘’«»„"
# Letters NFKD does not take apart, as their plain Latin spelling (after casefold): the names
# users type without them ("Wroclaw", "Lodz", "Tromso", "Diyarbakir") must still match.
_UNFOLDED = dict(zip("łøđðıħŧĸƒ", "loddihtkf", strict=True)) | {"æ": "ae", "œ": "oe", "þ": "th"}
# A regular expression, not str.translate: that costs ~50 µs per article even when none occurs.
_UNFOLDED_RE = re.compile(f"[{''.join(_UNFOLDED)}]")


class TermError(ValueError):
    """A term we cannot watch, with the reason in plain words."""


@dataclass(frozen=True)
class Term:
    """A watchlist term: as the user typed it, and the key it is matched by."""

    display: str
    key: str


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by single spaces (no leading or trailing one)."""
    folded = text.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", _UNFOLDED_RE.sub(_plain_letter, folded))
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def _plain_letter(match: re.Match[str]) -> str:
    return _UNFOLDED[match.group()]


def parse_term(raw: str) -> Term:
    """A term from what the user typed after /watch; TermError says what is wrong with it."""
    text = " ".join(raw.split())
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if not text:
        raise TermError("empty")
    if len(text) > MAX_TERM_CHARS:
        raise TermError("too long")
    key = normalise(text)
    if not key:
        raise TermError("only punctuation")
    return Term(text, key)


def new_term(raw: str) -> Term:
    """A term to add to a watchlist: as :func:`parse_term`, but not only common words."""
    term = parse_term(raw)
    # "IS" or "the" would match nearly every article: one alert per story of every round.
    stopwords = lexicon.current().stopwords
    if all(word in stopwords for word in term.key.split()):
        raise TermError("too common")
    return term


def article_text(title: str, description: str, body: str = "") -> str:
    """The text of an article that terms are matched against, normalised and padded."""
    return f" {normalise(' '.join((title, description, body)))} "


class Matcher:
    """An Aho–Corasick automaton over distinct term keys; whole words by padding with spaces."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.automaton = ahocorasick.Automaton()
        # Keys stored before normalise last changed ("wrocław") still match, and are reported
        # as the keys they are stored by; several may now share one form.
        stored: dict[str, set[str]] = {}
        for key in set(keys):
            stored.setdefault(normalise(key), set()).add(key)
        for folded, originals in stored.items():
            if folded:
                self.automaton.add_word(f" {folded} ", tuple(originals))
        self.size = len(self.automaton)
        if self.size:
            self.automaton.make_automaton()

    def find(self, text: str) -> set[str]:
        """The keys that occur in ``text`` (as made by :func:`article_text`) as whole words."""
        if not self.size:
            return set()
        return {key for _, keys in self.automaton.iter(text) for key in keys}

    def match(self, articles: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
        """(url, key) for every key found in every (url, text) pair, one pass per article."""
        for url, text in articles:
            for key in self.find(text):
                yield url, key
