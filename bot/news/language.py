"""Cheap per-item language detection for feeds that do not declare a language."""

from __future__ import annotations

import re

from bot.news.text import tokens

# Function words are the most reliable short-text signal and cost one set lookup per token;
# a statistical detector would be 100x slower for the 20,000-item target.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "of",
            "and",
            "to",
            "in",
            "is",
            "was",
            "for",
            "on",
            "that",
            "with",
            "as",
            "by",
            "at",
            "from",
            "has",
            "have",
            "are",
            "were",
            "it",
            "its",
            "this",
            "be",
            "an",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "des",
            "du",
            "de",
            "un",
            "une",
            "et",
            "est",
            "dans",
            "pour",
            "sur",
            "au",
            "aux",
            "par",
            "qui",
            "que",
            "avec",
            "ont",
            "sont",
            "été",
            "pas",
            "plus",
            "ce",
            "cette",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "im",
            "den",
            "dem",
            "des",
            "ein",
            "eine",
            "nicht",
            "mit",
            "von",
            "zu",
            "auf",
            "für",
            "sich",
            "bei",
            "wird",
            "wurde",
            "sind",
            "nach",
            "auch",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "del",
            "de",
            "un",
            "una",
            "y",
            "es",
            "en",
            "por",
            "para",
            "con",
            "que",
            "se",
            "al",
            "fue",
            "han",
            "son",
            "como",
            "su",
            "sus",
            "más",
        ]
    ),
    "it": frozenset(
        [
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "del",
            "della",
            "dei",
            "di",
            "un",
            "una",
            "e",
            "è",
            "in",
            "per",
            "con",
            "che",
            "sono",
            "stato",
            "alla",
            "nel",
            "non",
            "più",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "do",
            "da",
            "dos",
            "das",
            "de",
            "um",
            "uma",
            "e",
            "é",
            "em",
            "por",
            "para",
            "com",
            "que",
            "foi",
            "são",
            "não",
            "mais",
            "ao",
            "na",
            "no",
        ]
    ),
    "nl": frozenset(
        [
            "de",
            "het",
            "een",
            "en",
            "van",
            "in",
            "is",
            "op",
            "te",
            "dat",
            "voor",
            "met",
            "zijn",
            "niet",
            "door",
            "werd",
            "aan",
            "bij",
        ]
    ),
}
_SCRIPTS = [
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("fa", re.compile(r"[\u06a9\u06af\u06cc]")),
]


def detect_language(text: str) -> str | None:
    """Best guess at the ISO 639-1 language of ``text``, or None when unsure."""
    if not text:
        return None
    letters = sum(ch.isalpha() for ch in text)
    for code, pattern in _SCRIPTS:
        if letters and len(pattern.findall(text)) > letters * 0.3:
            return code
    words = tokens(text)
    if not words:
        return None
    counts = {code: sum(w in vocab for w in words) for code, vocab in _FUNCTION_WORDS.items()}
    best = max(counts, key=counts.__getitem__)
    if counts[best] == 0:
        return None
    runner_up = max(v for k, v in counts.items() if k != best)
    if counts[best] == runner_up:
        return None
    return best
