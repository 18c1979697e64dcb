"""Text clean-up shared by the pipeline: HTML to text, canonical URLs, tokens, sentences."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.news.html_text import html_to_text

# WordPress and friends append "The post X appeared first on Y." to every description.
_BOILERPLATE_RE = re.compile(
    r"\s*(The post .{1,300}? appeared first on .{1,120}?\.|Continue reading\.*|Read more\.*)\s*$",
    re.I,
)
_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "ocid",
        "cmpid",
        "cmp",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "sr_share",
        "taid",
        "xtor",
        "rss",
        "ito",
    }
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
    return head + _BOILERPLATE_RE.sub("", tail) if head else _BOILERPLATE_RE.sub("", tail)


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
        host = (parts.hostname or "").lower()
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal keeps its brackets
        if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
            host = f"{host}:{port}"
        query = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
        ]
        return urlunsplit((scheme, host, parts.path or "/", urlencode(query, doseq=True), ""))
    except ValueError:
        # An impossible port, a broken IPv6 literal or unencodable text: not a URL we can
        # normalise, so it identifies itself (items with such links are dropped by parse).
        return url


_TOKEN_RE = re.compile(r"[a-z0-9\u00c0-\u024f\u0400-\u04ff]+(?:['’-][a-z0-9\u00c0-\u024f]+)*")

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "said",
        "says",
        "say",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "new",
        "after",
        "amid",
        "over",
        "week",
        "year",
        "years",
        "day",
        "days",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "one",
        "two",
        "three",
        "first",
        "last",
        "least",
        "according",
        "told",
        "reported",
        "report",
        "reports",
        "news",
        "latest",
        "live",
        "update",
        "updates",
        "people",
    ]
)


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of ``text``."""
    return _TOKEN_RE.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """Tokens worth comparing documents by: no stopwords, no short tokens, light stemming."""
    stems = (_stem(t) for t in tokens(text) if len(t) > 2 and t not in STOPWORDS)
    return [s for s in stems if s not in STOPWORDS]


# Outlets alternate between country and adjective ("Chinese coast guard", "China's coast guard").
DEMONYMS = {
    "chinese": "china",
    "russian": "russia",
    "ukrainian": "ukraine",
    "israeli": "israel",
    "iranian": "iran",
    "german": "germany",
    "french": "france",
    "british": "britain",
    "uk": "britain",
    "american": "us",
    "philippine": "philippines",
    "filipino": "philippines",
    "japanese": "japan",
    "korean": "korea",
    "pakistani": "pakistan",
    "indian": "india",
    "afghan": "afghanistan",
    "syrian": "syria",
    "iraqi": "iraq",
    "yemeni": "yemen",
    "lebanese": "lebanon",
    "palestinian": "palestine",
    "sudanese": "sudan",
    "somali": "somalia",
    "nigerian": "nigeria",
    "malian": "mali",
    "burkinabe": "burkina",
    "burkinabé": "burkina",
    "congolese": "congo",
    "ethiopian": "ethiopia",
    "libyan": "libya",
    "egyptian": "egypt",
    "turkish": "turkey",
    "polish": "poland",
    "taiwanese": "taiwan",
    "venezuelan": "venezuela",
    "colombian": "colombia",
    "mexican": "mexico",
    "haitian": "haiti",
    "belarusian": "belarus",
    "georgian": "georgia",
    "armenian": "armenia",
    "azerbaijani": "azerbaijan",
    "saudi": "saudi",
    "emirati": "uae",
    "qatari": "qatar",
    "burmese": "myanmar",
    # Capitals standing for their governments ("Moscow denies…").
    "moscow": "russia",
    "kremlin": "russia",
    "beijing": "china",
    "kyiv": "ukraine",
    "kiev": "ukraine",
    "tehran": "iran",
    "pyongyang": "korea",
    "seoul": "korea",
    "kinshasa": "congo",
    "drc": "congo",
}


@lru_cache(maxsize=1 << 16)  # news vocabulary repeats: most tokens are seen thousands of times
def _stem(token: str) -> str:
    # Just enough folding that "strike"/"strikes", "missile"/"missiles" meet.
    if token in DEMONYMS:
        return DEMONYMS[token]
    if token.endswith("'s") or token.endswith("’s"):
        token = token[:-2]
        if token in DEMONYMS:
            return DEMONYMS[token]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        token = token[:-1]
        return DEMONYMS.get(token, token)
    if len(token) > 5 and token.endswith("ing"):
        return token[:-3]
    if len(token) > 5 and token.endswith("ed") and not token.endswith("eed"):
        return token[:-2]
    return token


_SENTENCE_RE = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Gen|Lt|Col|Maj|Capt|Sgt|Adm|Rep|Sen|Gov|St|Jr|Sr|No|Vol|U\.S|U\.N|U\.K|E\.U|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$"
)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping common abbreviations intact."""
    pieces = _SENTENCE_RE.split(text)
    sentences: list[str] = []
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if sentences and (
            _ABBREVIATIONS.search(sentences[-1]) or re.search(r"\b[A-Z]\.$", sentences[-1])
        ):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences
