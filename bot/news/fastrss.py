"""A fast path for the most common feed: plain UTF-8 RSS 2.0, read with lxml.

feedparser is thorough but slow (~15x); anything unusual (another charset, DTDs or entities,
Atom or RDF, unknown or repeated item elements, odd dates) returns None here and goes to
feedparser, so both paths yield the same entries.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

from lxml import etree

_FAST_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)
_FAST_ITEM_TAGS = frozenset(
    {"title", "link", "guid", "pubDate", "description", "category", "author", "comments"}
    | {"enclosure", "source", "{http://search.yahoo.com/mrss/}thumbnail"}
    | {"{http://purl.org/dc/elements/1.1/}creator"}
)
_UTF8 = (None, "utf-8", "utf8")
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([\w.-]+)", re.I)
_CHARSET = re.compile(r"charset=\"?([\w.-]+)", re.I)
_DECLARATIONS = re.compile(rb"<!(doctype|entity)", re.I)
# The RFC 822 dates read here: those email.utils and feedparser read alike. A four-digit year
# (they expand two digits differently, and "0024" too), a numeric zone or a name both know with
# the same offset. Zone-less dates (feedparser: undated), "+08:00", "+05", "ET", "GMT+2" and
# military letters all go to feedparser, which is the reference.
_RFC822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun),?\s+)?[0-9]{1,2}\s+"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+[1-9][0-9]{3}\s+"
    r"[0-9]{2}:[0-9]{2}(?::[0-9]{2})?\s+"
    r"(?:[+-](?:[01][0-9]|2[0-3])[0-5][0-9]|ut|utc|gmt|z|[aecmp][sd]t)",
    re.I | re.A,
)


def fast_entries(
    body: bytes, content_type: str | None, limit: int | None = None
) -> tuple[list[dict], str | None] | None:
    """Entries of a plain UTF-8 RSS 2.0 feed as feedparser would give them, else None."""
    declared = _XML_ENCODING.match(body[:200])
    header = _CHARSET.search(content_type or "")
    if (declared and declared.group(1).decode().lower() not in _UTF8) or (
        header and header.group(1).lower() not in _UTF8
    ):
        return None
    if _DECLARATIONS.search(body):
        return None  # unexpanded entities would silently cut text short
    try:
        body.decode("utf-8")
        root = etree.fromstring(body, _FAST_XML)
    except (UnicodeDecodeError, etree.XMLSyntaxError):
        return None
    return entries_from_root(root, limit)


def entries_from_root(
    root: etree._Element, limit: int | None = None
) -> tuple[list[dict], str | None] | None:
    """Entries of a parsed plain RSS 2.0 document as feedparser would give them, else None."""
    channel = root.find("channel") if root.tag == "rss" else None
    if channel is None or len(root) != 1:
        return None
    entries: list[dict] = []
    for item in channel.iterfind("item"):
        if limit is not None and len(entries) >= limit:
            break
        fields: dict = {}
        for child in item:
            tag = child.tag
            if tag == "category":
                continue
            if tag not in _FAST_ITEM_TAGS or tag in fields or len(child):
                return None  # unknown, repeated or nested elements: feedparser's rules apply
            fields[tag] = child
        entry: dict = {}
        for key, tag in (("title", "title"), ("link", "link"), ("id", "guid")):
            if tag in fields:
                entry[key] = (fields[tag].text or "").strip()
        if "description" in fields:
            entry["summary"] = (fields["description"].text or "").strip()
        guid = fields.get("guid")
        if "link" not in entry and guid is not None and guid.get("isPermaLink", "true") == "true":
            entry["link"] = entry.get("id", "")
            entry["guidislink"] = True  # as feedparser marks it: an id, maybe not an address
        if "pubDate" in fields:
            published = _rfc822((fields["pubDate"].text or "").strip())
            if published is None:
                return None  # an odd date format: feedparser knows dozens
            entry["published_parsed"] = published
        entries.append(entry)
    if not entries:
        return None
    language = channel.findtext("language")
    return entries, language.strip() if language else None


def _rfc822(text: str) -> time.struct_time | None:
    """An RSS date as the UTC struct_time feedparser would give, or None to leave it to feedparser."""
    if not _RFC822.fullmatch(text):
        return None
    try:
        return parsedate_to_datetime(text).utctimetuple()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # "31 Feb", or year 9999 west of UTC: feedparser decides
