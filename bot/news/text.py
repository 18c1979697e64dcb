"""Text clean-up shared by the pipeline: HTML to text, canonical URLs, tokens, sentences."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import pysbd
import Stemmer

from bot.news import lexicon
from bot.news.html_text import html_to_text

# WordPress and friends append "The post X appeared first on Y." to every description.
_BOILERPLATE_RE = re.compile(
    r"\s*(The post .{1,300}? appeared first on .{1,120}?\.|Continue reading\.*|Read more\.*)\s*$",
    re.I,
)
_WS_RE = re.compile(r"\s+")
# Control characters (C0 and C1: a Windows-1252 quote read as Latin-1 is one; NEL, U+0085, is
# left to part words as the whitespace it is) and invisible marks that only get in the way:
# soft hyphen, zero-width space, word joiner and invisible operators, byte-order mark. ZWNJ and
# ZWJ stay: Persian words and emoji sequences need them.
_CONTROL_RE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u2060-\u2064\ufeff]"
)


def strip_html(raw: str | None) -> str:
    """HTML fragment to plain text: scripts dropped, tags removed, entities unescaped."""
    if not raw:
        return ""
    return normalise_space(html_to_text(raw))


# Longer than any boilerplate the pattern can match, so only the tail is ever searched.
_BOILERPLATE_TAIL = 600


def drop_boilerplate(text: str) -> str:
    """Remove trailing feed boilerplate such as "The post … appeared first on …"."""
    head, tail = text[:-_BOILERPLATE_TAIL], text[-_BOILERPLATE_TAIL:]
    return head + _BOILERPLATE_RE.sub("", tail)


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace and drop control characters."""
    return _WS_RE.sub(" ", _CONTROL_RE.sub("", text)).strip()


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit < 2:
        return "…"[:limit]
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:- ")
    return cut + "…"


def canonical_url(url: str) -> str:
    """The URL that identifies an article: no fragment, no tracking parameters; never raises."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
        scheme = parts.scheme.lower() or "http"
        if scheme not in ("http", "https"):
            return url  # not a web page's address: nothing to normalise
        host = (parts.hostname or "").lower()
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal keeps its brackets
        if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
            host = f"{host}:{port}"
        query = _without_tracking(parts.query, lexicon.current().tracking_params)
        path = parts.path or "/"
        if not host:  # without a host, extra leading slashes would read as one on the next pass
            path = "/" + path.lstrip("/")
        # The query ends the URL, and whitespace there would be stripped on the next pass.
        result = urlunsplit((scheme, host, path, query.rstrip(), ""))
        # Strip again: removing a query or fragment can leave whitespace (e.g. U+0085) at the end.
        return result.strip()
    except ValueError:
        # An impossible port, a broken IPv6 literal or unencodable text: not a URL we can
        # normalise, so it identifies itself (items with such links are dropped by parse).
        return url


# Referral tags ("?ref=rss", "?via=rss"): dropped only when their value holds no digit, since a
# few sites name a page by them ("?ref=4521") and dropping that would merge different articles.
_REFERRAL_PARAMS = frozenset({"ref", "via"})


def _without_tracking(query: str, tracking: frozenset[str]) -> str:
    # Only whole tracking pairs go: decoding and re-encoding the rest would turn bytes that are
    # not UTF-8 into U+FFFD (merging different articles) and rewrite the links users are sent.
    def is_tracking(pair: str) -> bool:
        raw_key, _, value = pair.partition("=")
        key = unquote_plus(raw_key).lower()
        if key in _REFERRAL_PARAMS:
            return not any(c.isdigit() for c in unquote_plus(value))
        return key.startswith("utm_") or key in tracking

    return "&".join(pair for pair in query.split("&") if not is_tracking(pair))


_TOKEN_RE = re.compile(r"[a-z0-9\u00c0-\u024f\u0400-\u04ff]+(?:['’-][a-z0-9\u00c0-\u024f]+)*")


# Combining marks (the main blocks) that NFC leaves standing alone: "İ".lower() makes "i" and
# U+0307, and a mark the token pattern does not know would split its word in two.
_COMBINING_RE = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold_for_tokens(text: str) -> str:
    """``text`` lower-cased in one form: NFC, "İ" as "i", no stray combining marks."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFC", text).replace("İ", "I").lower()
    return _COMBINING_RE.sub("", text)


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of ``text``."""
    return _TOKEN_RE.findall(fold_for_tokens(text))


def content_terms(text: str) -> list[str]:
    """Tokens worth comparing documents by: no stopwords, no short tokens, light stemming."""
    stopwords, stem = _vocabulary()
    stems = (stem(t) for t in tokens(text) if len(t) > 2 and t not in stopwords)
    return [s for s in stems if s not in stopwords]


_STEMMER = Stemmer.Stemmer("english")


def _make_vocabulary(
    lex: lexicon.Lexicon,
) -> tuple[frozenset[str], Callable[[str], str]]:
    # Outlets alternate between country and adjective ("Chinese coast guard", "China's coast
    # guard"): places.toml marks the spellings that name a place ("chinese>china").
    same_place = lex.same_place
    # A place's own name is not stemmed either: "Ukraine" must meet "Ukrainian" (both
    # "ukraine"), where the stemmer alone would make it "ukrain".
    places = {place: place for place in same_place.values()}

    @lru_cache(maxsize=1 << 16)  # news vocabulary repeats: most tokens are seen thousands of times
    def stem(token: str) -> str:
        # Snowball (Porter 2) folds "strikes"/"striking", "Houthis"/"Houthi"; place spellings
        # fold first, so "Israeli", "Israelis" and "Israel's" all meet "Israel".
        if token.endswith(("'s", "’s")):
            token = token[:-2]
        place = (
            same_place.get(token)
            or places.get(token)
            or (same_place.get(token[:-1]) if token.endswith("s") else None)
        )
        if place is not None:
            return place
        return _STEMMER.stemWord(token)

    return lex.stopwords, stem


_vocabulary = lexicon.derived(_make_vocabulary)


# pysbd knows abbreviations ("Sen.", "U.S.", "D-R.I."), initials and quotations that close after
# the full stop; on the real captures a regular expression split ~10% of descriptions wrongly.
_SEGMENTER = pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping abbreviations and closing quotes with their sentence."""
    return list(_split_cached(text)) if text else []


@lru_cache(maxsize=1 << 14)  # a brief is rebuilt every fetch round from mostly the same texts
def _split_cached(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _SEGMENTER.segment(text) if s.strip())
