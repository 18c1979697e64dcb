"""Text clean-up shared by the pipeline: HTML to text, canonical URLs, tokens, sentences."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import pysbd
import Stemmer

from bot.news import lexicon
from bot.news.html_text import html_to_text

# WordPress and friends append "The post X appeared first on Y." to every description; others
# "Read more at The Daily Beast.", "Read it at ESPN", "Read the full story at The Verge.",
# "(Source: Bloomberg)" or a photo's credit ("(Image credit: Aurore Marechal)").
_BOILERPLATE_RE = re.compile(
    r"\s*(The post .{1,300}? appeared first on .{1,120}?\.|Continue reading\.*"
    r"|Read (?:more|it|the full story)(?: (?:at|on) [^.]{1,80})?\.*"
    r"|\((?:Source|(?:Image |Photo )?Credit): [^()]{1,80}\))\s*$",
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
# A ZWNJ joins nothing next to a space or an end ("on Friday \u200cat"): only between letters.
_LOOSE_ZWNJ_RE = re.compile(r"(?:^|(?<=\s))\u200c+|\u200c+(?=\s|$)")
# Feeds leave spaces where a link or tag ended: 'had “ not yet made a decision ” …', "Marape ,".
# A mark followed by a letter keeps its space: "a .45-calibre", "the ’90s", a ” opening a quote;
# a possessive never has one ("Iran ’s").
_SPACE_BEFORE_RE = re.compile(r" (?=[,.;:!?)\]”’][,.;:!?)\]”’\"]*+(?: |$)|['’]s\b)")
_SPACE_AFTER_RE = re.compile(r"([“(\[])(?<![^ ][“(\[]) ")


def strip_html(raw: str | None) -> str:
    """HTML fragment to plain text: scripts dropped, tags removed, entities unescaped."""
    if not raw:
        return ""
    return normalise_space(html_to_text(raw))


# Longer than any boilerplate the pattern can match, so only the tail is ever searched.
_BOILERPLATE_TAIL = 600


def drop_boilerplate(text: str) -> str:
    """A description without furniture: photo credits, datelines, spliced headlines, "Read more"."""
    if not text:
        return text
    cleaning = _cleaning()
    # The patterns below start with the space before a sentence: one goes before the text too.
    text = " " + text
    cut = text
    if cleaning.agency_heads.search(cut):
        cut = cleaning.credits.sub(" ", cut)
    cut = _drop_shouting(cut)
    lowered = cut.lower().replace("’", "'")
    if any(start in lowered for start in cleaning.furniture_starts):
        cut = cleaning.furniture.sub(_end_before, cut)
    if cut is not text:
        text = _WS_RE.sub(" ", cut)
    for _ in range(2):  # "September 19, 2021 7:45 PM. SINGAPORE - When …"
        text, found = _DATELINE_RE.subn(" ", text)
        if not found:
            break
    text = text.strip()
    for _ in range(2):  # "… Read more. (Source: Bloomberg)"
        head, tail = text[:-_BOILERPLATE_TAIL], text[-_BOILERPLATE_TAIL:]
        trimmed = _BOILERPLATE_RE.sub("", tail)
        if trimmed == tail:
            break
        text = head + trimmed
    return text


def normalise_space(text: str) -> str:
    """Collapse whitespace, drop control characters and loose marks, close up spaced punctuation."""
    text = _CONTROL_RE.sub("", text)
    if "\u200c" in text:
        text = _LOOSE_ZWNJ_RE.sub("", text)
    text = _WS_RE.sub(" ", text).strip()
    if " " not in text:
        return text
    return _SPACE_AFTER_RE.sub(r"\1", _SPACE_BEFORE_RE.sub("", text))


@dataclass(frozen=True)
class _Cleaning:
    credits: re.Pattern[str]
    agency_heads: re.Pattern[str]  # a credit holds one of these: text without any has none
    furniture: re.Pattern[str]
    furniture_starts: tuple[str, ...]  # likewise, lower-cased, with straight apostrophes


# A photo credit starts a sentence (or follows "|", "—", "(" or "©" there) and ends with an
# agency: names, initials and separators ("Name / REUTERS", "Name/AFP via Getty Images", "Photo
# by Name/Anadolu via Getty Images.", "—Name—Bloomberg/Getty Images"), then the next sentence.
_CREDIT_START = r" (?:(?<=^ )|(?<=[.!?…] )|(?<=[.!?][\"”’)] ))(?:[|©(—–]+ ?)?"
# A word of a name: capitalised, initials ("U.S.", "Y."), a handle before a slash, a particle. A
# word ending in a full stop is not one ("2026.", "Feb."): the credit does not reach back past
# the sentence before it.
_CREDIT_WORD = (
    r"(?:(?:[A-Z]\.)++|[A-Z][\w'’&-]*+(?:\.[\w'’&-]++)*+|[a-z][\w.-]*+(?=/)"
    r"|(?:the|of|and|de|da|del|van|von|der|al|el|la|le|di|du|credit)(?=[ :]))"
)
_CREDIT_SEP = r"(?: ?[/;,:|—–]++ ?| (?:via|by|for) | )"
_CREDIT_LAST_SEP = r"(?: ?[/;,:—–]++ ?| (?:via|by) )"
# After the agency: a photographer ("AP Photo/Meg Kinnard") or a second source ("/Instagram").
_CREDIT_TAIL = r"(?:/[A-Z][\w'’-]*+(?: [A-Z]\.)?(?: [A-Z][\w'’-]*+)?)?"
_CREDIT_END = r"\)?\.?(?=\s+[\"“‘(]?[A-Z0-9]|\s*$)"


def _agency(name: str) -> str:
    # "Getty Images" also as "Getty Ima", "Getty I" …: feeds cut a credit short like any text.
    # One letter left is a cut only before a capital ("Getty I Human remains …"), and never an
    # "A": "Anadolu A Texas court …" is a credit before a sentence.
    *head, last = name.split(" ")
    if not head:
        return re.escape(name) + r"(?!\w)"
    least = 2 if last[0] in "Aa" else 1
    start = re.escape(" ".join([*head, last[:least]]))
    longer = ""
    for char in reversed(last[least:]):
        longer = f"{re.escape(char)}(?:{longer})?" if longer else re.escape(char)
    if not longer:
        return start + r"(?!\w)"
    remnant = r"(?= [A-Z])" if least == 1 else r"(?!\w)"
    return rf"{start}(?:{longer}(?!\w)|{remnant})"


def _make_cleaning(lex: lexicon.Lexicon) -> _Cleaning:
    names = sorted({n for a in lex.agencies for n in (a, a.upper())}, key=lambda n: (-len(n), n))
    agencies = "|".join(_agency(n) for n in names) or "(?!)"
    # A lone agency name at a sentence start is a credit only in full and in several words
    # ("Getty Images The sudden death …"): "Reuters reported" is a sentence.
    whole = "|".join(re.escape(n) + r"(?!\w)" for n in names if " " in n) or "(?!)"
    credits = re.compile(
        f"{_CREDIT_START}(?:(?:{_CREDIT_WORD}{_CREDIT_SEP}){{0,12}}{_CREDIT_WORD}"
        f"{_CREDIT_LAST_SEP}(?>{agencies})|(?>{whole})){_CREDIT_TAIL}{_CREDIT_END}"
    )
    heads = re.compile("|".join(sorted({re.escape(n.split(" ")[0]) for n in names})) or "(?!)")
    phrases = sorted(lex.furniture, key=len, reverse=True)
    furniture = "|".join(re.escape(p).replace("'", "['’]") for p in phrases) or "(?!)"
    starts = tuple(sorted({p.lower().replace("’", "'")[:12] for p in phrases}))
    return _Cleaning(
        credits,
        heads,
        re.compile(rf" ?(?<!\w)(?:{furniture})(?: (?:{furniture}))*+(?!\w)", re.I),
        starts,
    )


_cleaning = lexicon.derived(_make_cleaning)


def _end_before(match: re.Match[str]) -> str:
    # Furniture parts a standfirst from the text: the standfirst is a sentence of its own.
    before = match.string[: match.start()].rstrip()
    return "." if before and (before[-1].isalnum() or before[-1] in "”’\"'") else ""


_WORD_RE = re.compile(r"\S+")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*$")
# Fox splices related headlines in capitals into its descriptions ("… the AISLE People who …").
_SHOUTED_RUN = 5
# Five words without a lower-case ASCII letter at a sentence's start: every run has them (most
# descriptions do not, and skip the word-by-word look).
_MAYBE_SHOUTED_START = re.compile(r"\s*+(?:[^\sa-z]++\s++){4}[^\sa-z]")
_MAYBE_SHOUTED = re.compile(r"[.!?…][\"'”’)\]]*+\s++(?:[^\sa-z]++\s++){4}[^\sa-z]")


def _drop_shouting(text: str) -> str:
    """``text`` without runs of five or more words in capitals that start a sentence."""
    if not (_MAYBE_SHOUTED_START.match(text) or _MAYBE_SHOUTED.search(text)):
        return text
    if not any(c.islower() for c in text):
        return text  # a feed written all in capitals
    words = [m.span() for m in _WORD_RE.finditer(text)]
    kept: list[str] = []
    done = 0  # text before this has been kept or cut
    i = 0
    while i < len(words):
        if i and not _ENDS_SENTENCE.search(text[slice(*words[i - 1])]):
            i += 1
            continue
        shouted: list[int] = []
        j = i
        while j < len(words):
            word = text[slice(*words[j])]
            if word.isupper():
                shouted.append(j)
            elif any(c.isalpha() for c in word):
                break  # lower case, or a script without capitals (Arabic, Chinese)
            j += 1
        quoted = bool(shouted) and _quoted([text[slice(*words[k])] for k in shouted])
        # A capital word before a lower-case one begins the next sentence ("… AISLE A man …").
        if shouted and j < len(words) and text[words[j][0]].islower():
            shouted.pop()
        last = text[slice(*words[shouted[-1]])] if shouted else ""
        if len(shouted) >= _SHOUTED_RUN and not _ENDS_SENTENCE.search(last) and not quoted:
            end = shouted[-1]
            while end + 1 < j and not any(c.isalpha() for c in text[slice(*words[end + 1])]):
                end += 1  # the run's dashes and numbers go with it
            kept.append(text[done : words[i][0]])
            done = words[end][1]
        # Every later start inside this run would find the same run's end, with fewer words.
        i = max(j, i + 1)
    return "".join(kept) + text[done:] if kept else text


_QUOTES = '"“”'


def _quoted(run: list[str]) -> bool:
    # A leader's post in capitals ("THE UNITED STATES WILL NOT ALLOW …," Trump wrote) is news;
    # single quotes are a spliced headline's own ("… US WILL 'WIN' AS TALKS FADE").
    return run[0][0] in _QUOTES or any(word.rstrip(",.")[-1:] in _QUOTES for word in run)


_MONTHS = (
    "January|February|March|April|May|June|July|August|September|Sept|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
)
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
# What starts a report rather than tells it: a time stamp ("September 19, 2021 7:45 PM"), a
# dated dateline ("Monday, August 17, 2026 – ") or a place's ("NEW YORK (AP) — ", "AUSTIN — ",
# "PIERRE, S.D. — ", "EXCLUSIVE - DETROIT, MI - "), its dash before a space ("U.S.–China
# talks" is none).
_DATELINE_RE = re.compile(
    # A time stamp or a dated dateline at a sentence's start ("… via Getty Images. Monday, …").
    r" (?:(?<=^ )|(?<=[.!?] )|(?<=[.!?][\"”’)] ))(?:"
    rf"(?:(?:{_WEEKDAYS}),? )?(?:{_MONTHS})\.? \d{{1,2}},? \d{{4}},? \d{{1,2}}:\d{{2}}"
    r"(?: ?[AaPp]\.?[Mm]\b\.?)?\.?"
    rf"|(?:{_WEEKDAYS}), (?:{_MONTHS})\.? \d{{1,2}},? \d{{4}} ?[–—-]+"
    # A place's only at the text's start: a sentence may open "NATO – Russia relations …".
    r"|(?<=^ )(?:[A-Z][A-Z'’.-]{2,}+(?: [A-Z][A-Z'’.-]++){0,3}"
    r"(?:, [A-Z][\w.'’-]*+(?: [A-Z][\w.'’-]*+){0,3})?"
    r"\*?(?: \([A-Z][A-Za-z ]{0,20}\))?(?: ?(?:—|–|--) | - )){1,3}"
    r") ?(?=[\"“‘]?[A-Z0-9])"
)


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


# pysbd still cuts after an abbreviation that ends a name or a place ("Rep. Eric Swalwell,
# D-Calif." | ", admitted …", "the new L.A.." | "school board …") and leaves an ellipsis's last
# stop on its own ("the U.S. Navy is.." | "."): a piece that cannot start a sentence goes back
# (not a link: "pic.twitter.com/…" after a quoted post is no sentence's end).
_CONTINUES = re.compile(r"(?!pic\.|https?:|www\.)(?:[,;:)\]]|[a-z](?![A-Z])|\W*+$)")


@lru_cache(maxsize=1 << 14)  # a brief is rebuilt every fetch round from mostly the same texts
def _split_cached(text: str) -> tuple[str, ...]:
    pieces: list[str] = []
    for piece in _SEGMENTER.segment(text):
        if pieces and _CONTINUES.match(piece.lstrip()):
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return tuple(s.strip() for s in pieces if s.strip())
