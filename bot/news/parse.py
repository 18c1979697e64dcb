"""Feed bytes to cleaned articles: feedparser, HTML stripped, canonical URLs, sane dates."""

from __future__ import annotations

import calendar
import codecs
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8
from lxml import etree

from bot.languages import language_code
from bot.models import Article, FeedSpec
from bot.news.fastrss import entries_from_root, fast_entries
from bot.news.language import detect_language
from bot.news.staleness import published_time
from bot.news.text import canonical_url, drop_boilerplate, strip_html, truncate

log = logging.getLogger(__name__)

MAX_TITLE = 300
MAX_DESCRIPTION = 1200
# Feeds with slightly fast clocks are common; only clearly future dates are clamped.
FUTURE_TOLERANCE = timedelta(minutes=5)

# Feeds carry tens of items; a body with more is cut here so that work per feed stays bounded.
MAX_ENTRIES = 200
# Raw HTML per field before it is turned into text: far more than a 1,200-character description.
MAX_FIELD_HTML = 64_000
# feedparser's fallback ("loose") parser slows down superlinearly on some malformed input
# (deeply nested tags); malformed bodies larger than this are repaired with lxml first.
LOOSE_MAX = 64_000
# What a repaired document may keep: bounded text per node and in total, so feedparser's
# time (about 0.6 s per MB) stays well inside the per-feed budget.
REPAIRED_TEXT = 16_000
REPAIRED_ATTRIBUTE = 2_000
REPAIRED_MAX = 1_000_000
REPAIRED_NODES = 50_000
# Decoders that are superlinear (punycode) or raise outside UnicodeDecodeError (idna).
UNSAFE_CODECS = frozenset({"punycode", "idna"})

_DECLARED_ENCODING = re.compile(r"""encoding\s*=\s*["']?([\w.:-]{1,40})""", re.I)
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]{1,40})""", re.I)
_PROLOGUE_CODECS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp037")
_DOCTYPE = re.compile(rb"<!doctype", re.I)
# "<" as the first character in UTF-32 and UTF-16, both byte orders (XML 1.0, appendix F).
_WIDE_STARTS = (
    ("utf-32-le", re.compile(rb"<\x00\x00\x00", re.S)),
    ("utf-32-be", re.compile(rb"\x00\x00\x00<", re.S)),
    ("utf-16-le", re.compile(rb"<\x00[^\x00]\x00", re.S)),
    ("utf-16-be", re.compile(rb"\x00<\x00[^\x00]", re.S)),
)
# The root element: "<" and a character that cannot start a declaration or instruction.
_ROOT = re.compile(rb"<[^?!]")
_HTML_ROOTS = (b"<!doctype html", b"<html", b"<head", b"<body")
# "&" that starts none of XML's own entities or a character reference: a bare "&" or an
# HTML entity such as "&nbsp;", which lxml would drop.
_REFERENCE = rb"(?:amp|lt|gt|quot|apos|#[0-9]{1,8}|#x[0-9a-fA-F]{1,8});"
_STRAY_AMPERSAND = re.compile(rb"&(?!" + _REFERENCE + rb")")
_XML_REFERENCE = re.compile(rb"&amp;(" + _REFERENCE + rb")")
_REFERENCE_STARTS = (b"&amp;", b"&lt;", b"&gt;", b"&quot;", b"&apos;", b"&#")
# Numeric character references to what XML 1.0 does not allow: a C0 control other than tab,
# line feed and carriage return; or, long enough for it, a surrogate, U+FFFE, U+FFFF or a code
# point past U+10FFFF.
_CONTROL_CHAR_REF = re.compile(
    rb"&#(?:[xX]0*(?:[0-8bcefBCEF]|1[0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));"
)
_LONG_CHAR_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,8})|0*([0-9]{5,10}));")
_FEED_HEADERS = {"content-type": "application/xml; charset=utf-8"}


class FeedParseError(ValueError):
    """The bytes are not a usable feed (block page, broken XML, no items)."""


@dataclass
class ParsedFeed:
    """What one feed body yielded."""

    articles: list[Article] = field(default_factory=list)
    declared_language: str | None = None
    entries: int = 0
    skipped_old: int = 0
    skipped_broken: int = 0
    warning: str | None = None
    cut_short: str | None = None  # why the body looks cut off in transit (its items are kept)


def _check_codecs(body: bytes, content_type: str | None) -> None:
    """Refuse a charset whose decoder would be slow or raise an unexpected error."""
    names = _CHARSET.findall(content_type or "")
    head = body[:512]
    for codec in _PROLOGUE_CODECS:
        names += _DECLARED_ENCODING.findall(head.decode(codec, "ignore"))
    for name in names:
        try:
            canonical = codecs.lookup(name).name
        except LookupError:
            continue  # unknown names are skipped by feedparser's own fallbacks
        if canonical in UNSAFE_CODECS:
            raise FeedParseError(f"unsupported character set {name!r}")


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16's, which it starts with
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _wide_codec(body: bytes) -> tuple[str, int] | None:
    """A UTF-16/32 body's codec and the length of its byte-order mark, if it has one.

    Without a mark the codec is told by how "<" is encoded (XML 1.0, appendix F).
    """
    for bom, codec in _WIDE_BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    head = body[:4]
    for codec, pattern in _WIDE_STARTS:
        if pattern.match(head):
            return codec, 0
    return None


def _to_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """The body as UTF-8 (feedparser's detection rules) and what was odd about its encoding."""
    _check_codecs(body, content_type)
    wide = _wide_codec(body)
    if wide:
        # Decoded here: feedparser reads an unmarked one as UTF-8 (NULs and all) and trusts a
        # declaration over the mark. A UTF-8 mark and declaration make it take the text as is.
        codec, mark = wide
        text = body[mark:].decode(codec, "replace").encode("utf-8", "replace")
        body = codecs.BOM_UTF8 + _declare_utf8(text)
    content_type = _trusted_content_type(body, content_type)
    info: dict = {}
    headers = {"content-type": content_type} if content_type else {}
    try:
        data = convert_to_utf8(headers, body, info)
    except Exception as exc:  # any codec may fail its own way; the feed is unusable, not the run
        raise FeedParseError(f"unreadable character encoding: {type(exc).__name__}") from None
    if not info.get("encoding"):
        data = data.decode("utf-8", "replace").encode("utf-8")
    elif _is_latin1(info["encoding"]):
        # Each character came from one byte: take the bytes back and read them as browsers do.
        latin1 = data.decode("utf-8").encode("latin-1")
        data = codecs.charmap_decode(latin1, "strict", _WINDOWS_1252)[0].encode("utf-8")
    problem = info.get("bozo_exception")
    return _declare_utf8(data), (str(problem) if problem else None)


# What a document labelled ISO-8859-1 means by bytes 0x80-0x9F (WHATWG Encoding: that label is
# windows-1252): curly quotes and dashes, not C1 controls. The five bytes windows-1252 leaves
# undefined stay the controls they are in Latin-1 (and are stripped with the others).
_WINDOWS_1252 = "".join(bytes([b]).decode("cp1252", "ignore") or chr(b) for b in range(256))


# Charsets whose text is never valid UTF-8 with multi-byte sequences, short of mojibake.
_LATIN1_FAMILY = frozenset({"iso8859-1", "cp1252", "iso8859-15"})


def _trusted_content_type(body: bytes, content_type: str | None) -> str | None:
    """``content_type``, saying UTF-8 instead when it claims Latin-1 for a UTF-8 body."""
    labels = _CHARSET.findall(content_type or "")
    if not labels or not all(_in_latin1_family(label) for label in labels) or body.isascii():
        return content_type
    declared = _XML_DECL_ENCODING.match(body)
    if declared and declared.group(4).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return content_type  # the document says Latin-1 too: both are believed
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return content_type
    # The mirror of reading cp1252 bytes labelled utf-8: a server's default charset is often
    # Latin-1 whatever the feed is written in, and its bytes tell the truth.
    media_type = (content_type or "").split(";", 1)[0].strip() or "application/xml"
    return f"{media_type}; charset=utf-8"


def _in_latin1_family(name: str) -> bool:
    try:
        return codecs.lookup(name).name in _LATIN1_FAMILY
    except LookupError:
        return False


def _is_latin1(encoding: str) -> bool:
    """Whether ``encoding`` names ISO-8859-1 ("latin1", "l1", "iso_8859-1" ...)."""
    try:
        return codecs.lookup(encoding).name == "iso8859-1"
    except LookupError:
        return False


# The XML declaration's encoding pseudo-attribute, to say "utf-8" once the body is UTF-8.
_XML_DECL_ENCODING = re.compile(
    rb"""\A(\xef\xbb\xbf)?(\s*<\?xml\b[^>]{0,200}?\bencoding\s*=\s*)(["'])([^"'>]{0,40})\3"""
)


def _declare_utf8(data: bytes) -> bytes:
    """The UTF-8 body with a declaration that says so (it may still name the original codec)."""
    return _XML_DECL_ENCODING.sub(rb'\1\2"utf-8"', data, count=1)


def _looks_like_html(data: bytes) -> bool:
    """True when the document's first element (after declarations and comments) is HTML."""
    head = data[:2048].lstrip().lower()
    while True:
        if head.startswith(b"<?"):
            end = head.find(b"?>")
            head = head[end + 2 :].lstrip() if end >= 0 else b""
        elif head.startswith(b"<!--"):
            end = head.find(b"-->", 4)
            head = head[end + 3 :].lstrip() if end >= 0 else b""
        else:
            return head.startswith(_HTML_ROOTS)


def _neutralise_doctype(data: bytes) -> bytes:
    """Drop a DOCTYPE (and its internal subset) from the prologue: no entity is ever declared."""
    root = _ROOT.search(data)
    end = root.start() if root else len(data)
    doctype = _DOCTYPE.search(data, 0, end)
    if doctype is None:
        return data
    return data[: doctype.start()] + b"\n" + data[end:]


def _fix_char_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match.groups()
    code = int(hex_digits, 16) if hex_digits else int(decimal)
    if 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF) or code > 0x10FFFF:
        return b"&#xFFFD;"
    return match.group(0)


def _fix_char_refs(data: bytes) -> bytes:
    """References to characters XML forbids made harmless: controls as spaces, non-characters
    as U+FFFD (feedparser's loose parser raises on some, and lxml refuses to write them back)."""
    if b"&#" not in data:
        return data
    # A form feed or the like from pasted text parted words: a space keeps them apart.
    data = _CONTROL_CHAR_REF.sub(b" ", data)
    return _LONG_CHAR_REF.sub(_fix_char_ref, data)


def _escape_stray_ampersands(data: bytes) -> bytes:
    """Bare "&" and HTML entities ("&nbsp;") as text, which strip_html decodes later."""
    if _STRAY_AMPERSAND.search(data) is None:
        return data
    # Either way costs time per replacement: replace the stray ones when they are fewer,
    # else escape every "&" and restore the references (bytes.replace runs at C speed).
    references = sum(data.count(token) for token in _REFERENCE_STARTS)
    if references > data.count(b"&") - references:
        return _STRAY_AMPERSAND.sub(b"&amp;", data)
    return _XML_REFERENCE.sub(rb"&\1", data.replace(b"&", b"&amp;"))


def _detach(element: etree._Element) -> None:
    """Remove ``element`` from its parent; the root (an ``<entry>`` or ``<a:b>`` document) stays."""
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


def _repair(data: bytes) -> tuple[etree._Element, str | None]:
    """A large or malformed document read with lxml and cut to bounded size: (root, first error)."""
    parser = etree.XMLParser(
        recover=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(_escape_stray_ampersands(data), parser)
    except etree.XMLSyntaxError as exc:
        raise FeedParseError(f"not a valid feed: {exc}") from None
    if root is None:
        raise FeedParseError("not a valid feed: no XML elements")
    errors = parser.error_log.filter_from_errors()
    warning = f"{errors[0].message.strip()} (line {errors[0].line})" if errors else None
    items = root.xpath("//*[local-name()='item' or local-name()='entry']")
    for item in items[MAX_ENTRIES:]:
        _detach(item)
    if root.xpath("count(//*) + count(//@*)") > REPAIRED_NODES:
        raise FeedParseError(f"not a feed: more than {REPAIRED_NODES:,} elements and attributes")
    for text in root.xpath(f"//text()[string-length(.) > {REPAIRED_TEXT}]"):
        parent = text.getparent()
        if text.is_text:
            parent.text = text[:REPAIRED_TEXT]
        elif text.is_tail:
            parent.tail = text[:REPAIRED_TEXT]
    for element in root.xpath(f"//*[@*[string-length(.) > {REPAIRED_ATTRIBUTE}]]"):
        for name, value in element.attrib.items():
            if len(value) > REPAIRED_ATTRIBUTE:
                element.set(name, value[:REPAIRED_ATTRIBUTE])
    budget = REPAIRED_MAX
    for item in items[:MAX_ENTRIES]:
        budget -= len(etree.tostring(item, encoding="utf-8")) if budget > 0 else 0
        if budget < 0:
            _detach(item)
    # Elements whose namespace prefix was never declared would fail feedparser's XML parser.
    for element in root.xpath("//*[contains(name(), ':') and namespace-uri() = '']"):
        _detach(element)
    return root, warning


def _entry_time(entry: dict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)  # the stored value: feedparser's aliases warn
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError, TypeError):
                continue  # year 9999, year 0 and friends: as if undated
    return None


def parse_feed(
    body: bytes,
    spec: FeedSpec,
    now: datetime,
    window: timedelta = timedelta(hours=36),
    brief_language: str | None = "en",
    content_type: str | None = None,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse a feed body into cleaned, windowed, same-language articles, or FeedParseError.

    Relative links are taken relative to ``base_url``: the address the body came from after
    redirects, when known, else the feed's own.
    """
    base = base_url or spec.url
    if not body.strip():
        raise FeedParseError("empty body where a feed was expected")
    data, encoding_problem = _to_utf8(body, content_type)
    if _looks_like_html(data):
        raise FeedParseError("got an HTML page where a feed was expected (block page or paywall?)")
    data = _fix_char_refs(_neutralise_doctype(data))
    received = data
    repaired = None
    if len(data) <= LOOSE_MAX:
        fast = fast_entries(data, "application/xml; charset=utf-8", MAX_ENTRIES)
    else:
        # Read once with lxml's recovering parser, then bounded; well-formed plain RSS
        # is taken from that tree, anything else goes to feedparser at a bounded size.
        root, repaired = _repair(data)
        fast = entries_from_root(root, MAX_ENTRIES) if repaired is None else None
        if fast is None:
            data = etree.tostring(root, encoding="utf-8", xml_declaration=True)
            if len(data) > 2 * REPAIRED_MAX:
                raise FeedParseError("not a feed: too much text outside its items")
    if fast is not None:
        entries, feed_language = fast
        declared = language_code(spec.language) or language_code(feed_language)
        return _collect(entries, spec, base, now, window, brief_language, declared, None)
    # A stream, never bytes: feedparser opens a bytes value that names a file ("/dev/zero").
    # No sanitising: every field goes through strip_html to plain text, and renderers escape it.
    try:
        parsed = feedparser.parse(
            io.BytesIO(data), response_headers=_FEED_HEADERS, sanitize_html=False
        )
    except Exception as exc:  # its loose parser fails its own ways on broken markup (KeyError)
        reason = f"{type(exc).__name__}: {exc}"[:100]
        raise FeedParseError(f"not a valid feed: feedparser could not read it ({reason})") from exc
    problem = repaired or encoding_problem or (parsed.bozo_exception if parsed.bozo else None)
    if not parsed.entries:
        if problem:
            raise FeedParseError(f"not a valid feed: {problem}")
        if not parsed.get("version"):
            raise FeedParseError("not an RSS or Atom feed")
    declared = language_code(spec.language) or language_code(parsed.feed.get("language"))
    warning = f"feed has errors but was readable: {problem}" if problem else None
    result = _collect(parsed.entries, spec, base, now, window, brief_language, declared, warning)
    root = _unclosed_root(received) if problem else None
    if root:
        result.cut_short = f"body ends inside <{root}>, cut off in transit? ({problem})"
    return result


# The names a feed's root has (any namespace prefix dropped), and an element's name.
_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
_NAME = re.compile(rb"[^?!\s/>][^\s/>]{0,99}")
# What the prologue may hold before the root, and where each such part ends.
_PROLOGUE_ENDS = ((b"<?", b"?>"), (b"<!--", b"-->"), (b"<!", b">"))


def _root_element(data: bytes) -> re.Match[bytes] | None:
    """The root element's name: the first one past declarations, instructions and comments."""
    at = data.find(b"<")
    while at >= 0:
        end = next(
            (
                data.find(close, at + len(open_))
                for open_, close in _PROLOGUE_ENDS
                if data.startswith(open_, at)
            ),
            None,
        )
        if end is None:
            return _NAME.match(data, at + 1)
        if end < 0:
            return None
        at = data.find(b"<", end)
    return None


def _unclosed_root(data: bytes) -> str | None:
    """The feed's root element when the body never closes it: the rest was lost on the way."""
    match = _root_element(data)
    if match is None:
        return None
    name = match.group()
    if name.decode("utf-8", "replace").rpartition(":")[2].lower() not in _FEED_ROOTS:
        return None  # junk before the feed (a PHP warning): no telling where it should end
    # A feed's root holds no element of its own name, so its end tag anywhere after it closes it.
    closing = re.compile(rb"</" + re.escape(name) + rb"\s*>", re.I)
    return None if closing.search(data, match.end()) else name.decode("utf-8", "replace")


def _collect(
    entries: list,
    spec: FeedSpec,
    base: str,
    now: datetime,
    window: timedelta,
    brief_language: str | None,
    declared: str | None,
    warning: str | None,
) -> ParsedFeed:
    result = ParsedFeed(declared_language=declared, entries=len(entries), warning=warning)
    articles: list[Article] = []
    for entry in entries[:MAX_ENTRIES]:
        try:
            article = _article(entry, spec, base, now)
        except Exception:  # one odd item is dropped; it must never cost the feed
            log.debug("feed %s: dropped an item", spec.name, exc_info=True)
            result.skipped_broken += 1
            continue
        if article is not None:
            articles.append(article)
    placeholders = _placeholder_guids(articles)
    seen: set[str] = set()
    for article in articles:
        guid = article.guid if article.guid not in placeholders else None
        if article.url in seen or (guid and guid in seen):
            continue
        seen.add(article.url)
        if guid:
            seen.add(guid)
        if article.published < now - window:
            result.skipped_old += 1
            continue
        article.language = declared or detect_language(f"{article.title}. {article.description}")
        if not brief_language or not article.language or article.language == brief_language:
            result.articles.append(article)
    return result


# Items of one feed under one guid are one article listed twice (in two sections, or its link
# or title changed on the way); a guid that this many differently titled items share identifies
# none of them ("undefined", the site's home page).
PLACEHOLDER_SHARERS = 3


def _placeholder_guids(articles: list[Article]) -> set[str]:
    """The guids PLACEHOLDER_SHARERS or more items with different titles share."""
    titles: dict[str, set[str]] = {}
    for article in articles:
        if article.guid:
            titles.setdefault(article.guid, set()).add(article.title)
    return {guid for guid, seen in titles.items() if len(seen) >= PLACEHOLDER_SHARERS}


def _usable_link(value: object, base: str, relative: bool = True) -> str | None:
    """``value`` when it is an http(s) URL with a host and a possible port; a link without a
    scheme ("story-1.html", "/news/1", "//host/news/1") is taken relative to ``base``, the
    feed's address, though a path-relative one only when ``relative`` (it may be a bare id)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    try:
        if _resolvable(value, relative):
            value = urljoin(base, value)
        if not value.startswith(("http://", "https://")):
            return None
        value.encode("utf-8")  # a lone surrogate: not a link anyone can follow
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port such as 99999
    except ValueError:  # a broken IPv6 literal, an impossible port, ...
        return None
    return value if parts.hostname else None


def _resolvable(value: str, relative: bool) -> bool:
    """Whether ``value`` is a reference without a scheme, for ``urljoin`` to resolve."""
    if not value or value.startswith("#") or any(c.isspace() for c in value):
        return False  # text, or a place on the feed's own page: not an article's address
    if value.startswith("/"):
        return True
    # A path ("story-1.html", "./a", "world/a") or a query ("?p=12"); a bare word is no address,
    # and neither is a host written without its scheme ("www.example.com/world/x"): read as a
    # path it would point at the feed's own server.
    looks_like_path = value.startswith("?") or "/" in value or "." in value
    first = value.split("/", 1)[0]
    looks_like_host = "/" in value and "." in first and not first.startswith(".")
    return relative and looks_like_path and not looks_like_host and not urlsplit(value).scheme


def _field(entry: dict, *keys: str) -> str:
    for key in keys:
        value = entry.get(key)
        if value and isinstance(value, str):
            return value[:MAX_FIELD_HTML]
    return ""


def _article(entry: dict, spec: FeedSpec, base: str, now: datetime) -> Article | None:
    title = truncate(strip_html(_field(entry, "title")), MAX_TITLE)
    guid = entry.get("id") if isinstance(entry.get("id"), str) else None
    # A link that is only the guid ("12345", taken for a permalink) is not a relative address.
    from_guid = bool(entry.get("guidislink"))
    link = _usable_link(entry.get("link"), base, not from_guid) or _usable_link(guid, base, False)
    if not title or not link:
        return None
    description = drop_boilerplate(strip_html(_field(entry, "summary", "description")))
    if description == title:
        description = ""
    published = published_time(_entry_time(entry), link, now)
    if published > now + FUTURE_TOLERANCE:
        published = now
    return Article(
        url=canonical_url(link),
        feed_url=spec.url,
        outlet=spec.name,
        title=title,
        description=truncate(description, MAX_DESCRIPTION),
        published=published,
        guid=guid or None,
    )
