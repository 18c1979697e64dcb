"""Text clean-up shared by the pipeline: HTML to text, canonical URLs, tokens, sentences."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pysbd
import Stemmer

from bot.news import lexicon

_BLOCK_RE = re.compile(r"<(script|style|iframe|noscript|template)\b.*?(</\1\s*>|$)", re.I | re.S)
# A tag needs a name right after "<", so "5 < 10" survives as text.
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>|<!--.*?-->", re.S)
_BREAK_RE = re.compile(r"</?(br|p|div|li|h\d)\b[^>]*>", re.I)
# WordPress and friends append "The post X appeared first on Y." to every description.
_BOILERPLATE_RE = re.compile(
    r"\s*(The post .{1,300}? appeared first on .{1,120}?\.|Continue reading\.*|Read more\.*)\s*$",
    re.I,
)
_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")

# From bot/news/data/text.toml (plus LEXICON_FILE); rebound by _use_lexicon when that changes.
TRACKING_PARAMS: frozenset[str] = lexicon.current().tracking_params


def strip_html(raw: str | None) -> str:
    """HTML fragment to plain text: scripts dropped, tags removed, entities unescaped."""
    if not raw:
        return ""
    text = _BLOCK_RE.sub(" ", raw)
    text = _BREAK_RE.sub(" ", text)
    text = _TAG_RE.sub("", text)
    # Twice, because feeds often double-escape ("&amp;amp;", "&amp;#8217;").
    text = html.unescape(html.unescape(text)) if "&amp;" in text else html.unescape(text)
    return normalise_space(text)


def drop_boilerplate(text: str) -> str:
    """Remove trailing feed boilerplate such as "The post … appeared first on …"."""
    return _BOILERPLATE_RE.sub("", text)


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace and drop control characters."""
    return _WS_RE.sub(" ", _CONTROL_RE.sub("", text)).strip()


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:- ")
    return cut + "…"


def canonical_url(url: str) -> str:
    """The URL that identifies an article: no fragment, no tracking parameters."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower() or "http"
    host = (parts.hostname or "").lower()
    if parts.port and not (
        (scheme == "http" and parts.port == 80) or (scheme == "https" and parts.port == 443)
    ):
        host = f"{host}:{parts.port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query, doseq=True), ""))


_TOKEN_RE = re.compile(r"[a-z0-9\u00c0-\u024f\u0400-\u04ff]+(?:['’-][a-z0-9\u00c0-\u024f]+)*")

STOPWORDS: frozenset[str] = lexicon.current().stopwords
# Outlets alternate between country and adjective ("Chinese coast guard", "China's coast guard"):
# places.toml marks the spellings that name a place ("chinese>china", "kremlin>russia").
DEMONYMS: dict[str, str] = lexicon.current().same_place


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of ``text``."""
    return _TOKEN_RE.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """Tokens worth comparing documents by: no stopwords, no short tokens, light stemming."""
    stems = (_stem(t) for t in tokens(text) if len(t) > 2 and t not in STOPWORDS)
    return [s for s in stems if s not in STOPWORDS]


_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=1 << 16)  # news vocabulary repeats: most tokens are seen thousands of times
def _stem(token: str) -> str:
    # Snowball (Porter 2) folds "strikes"/"striking", "Houthis"/"Houthi", "evacuated"/"evacuation";
    # place spellings fold first, so "Israeli", "Israelis" and "Israel's" all meet "Israel".
    if token.endswith(("'s", "’s")):
        token = token[:-2]
    place = DEMONYMS.get(token) or (DEMONYMS.get(token[:-1]) if token.endswith("s") else None)
    if place is not None:
        return place
    return _STEMMER.stemWord(token)


def _use_lexicon(lex: lexicon.Lexicon) -> None:
    global TRACKING_PARAMS, STOPWORDS, DEMONYMS
    TRACKING_PARAMS, STOPWORDS, DEMONYMS = lex.tracking_params, lex.stopwords, lex.same_place
    _stem.cache_clear()


lexicon.subscribe(_use_lexicon)


# pysbd knows abbreviations ("Sen.", "U.S.", "D-R.I."), initials and quotations that close after
# the full stop; on the real captures a regular expression split ~10% of descriptions wrongly.
_SEGMENTER = pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping abbreviations and closing quotes with their sentence."""
    return list(_split_cached(text)) if text else []


@lru_cache(maxsize=1 << 14)  # a brief is rebuilt every fetch round from mostly the same texts
def _split_cached(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _SEGMENTER.segment(text) if s.strip())
