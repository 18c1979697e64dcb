"""HTML fragments to plain text with lxml's HTML parser: linear in the input, never raises."""

from __future__ import annotations

import html
import re
from html.entities import html5

from lxml import etree

# Their content is code or embedded documents, never prose worth keeping.
DROPPED = frozenset({"script", "style", "iframe", "noscript", "template", "object", "svg"})
# Elements that separate words: "<p>One</p><p>Two</p>" must not become "OneTwo".
BREAKS = frozenset(
    {"br", "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th"}
    | {"blockquote", "section", "article", "figure", "figcaption", "hr", "dt", "dd", "table"}
    | {"title", "head", "body"}
)

# A paragraph is a sentence even when its writer left off the full stop, as standfirsts do
# ("<p>Minister says attackers changed chlorine settings</p> <a>Continue reading…</a>"). Only a
# paragraph with more text after it gets one: a feed's last paragraph may be cut short.
PARAGRAPHS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})
PARAGRAPHS |= {"figcaption", "dt", "dd"}
# Two line breaks in a row end a paragraph too ("September 19, 2021 7:45 PM<br/><br/>Only about
# 40 streets …"), however much whitespace or how many empty elements stand between them.
_END = "\x00"  # NUL never survives into the text (html_to_text removes it first)
_UNSTOPPED_END = re.compile(r"([^\W_]|[)\]”’\"'])(\s*)\x00(?=[\s\x00]*[^\s\x00])")
# A reference an escape too many left in the text ("&amp;amp;" parses to "&amp;"): complete,
# ";" and all. A bare "&" before letters is text: "Tips&notes" is not "Tips" + "&not" ("¬").
_LEFT_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

# libxml2's HTML parser: no network, no DTDs; comments and processing instructions go at parse
# time. Without huge_tree it stops at 256 levels of nesting, which bounds the walk below.
_PARSER = etree.HTMLParser(
    encoding="utf-8",
    recover=True,
    no_network=True,
    remove_comments=True,
    remove_pis=True,
    default_doctype=False,
    huge_tree=False,
)


def html_to_text(raw: str) -> str:
    """The text of an HTML fragment: dropped elements skipped, entities decoded, words kept apart."""
    if not raw.isascii():
        raw = raw.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be stored
    if "<" not in raw and "&" not in raw:
        return raw
    # NUL ends a C string inside libxml2; the text after it must not be lost.
    data = raw.replace("\x00", "").encode("utf-8")
    root = etree.fromstring(data, _PARSER) if data.strip() else None
    text = _walk(root) if root is not None else ""
    if _END in text:
        text = _UNSTOPPED_END.sub(r"\1.\2", text).replace(_END, "")
    # Feeds often escape twice ("&amp;amp;", "&amp;#8217;"): one parse leaves an entity behind.
    if "&amp;" in raw and "&" in text:
        return _LEFT_REFERENCE.sub(_unescape_left, text)
    return text


def _unescape_left(match: re.Match[str]) -> str:
    reference = match.group()
    if reference[1] == "#":
        return html.unescape(reference)
    # Only a name HTML defines whole: unescape would read "&notes;" as "&not" + "es;".
    return html5.get(reference[1:], reference)


def _walk(root: etree._Element) -> str:
    parts: list[str] = []
    after_break: int | None = None  # len(parts) when the last <br> ended
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag == "br" and after_break is not None:
                if all(p.isspace() for p in parts[after_break:]):
                    parts.append(_END)
                after_break = None
            if tag in BREAKS:
                parts.append(" ")
            if tag in DROPPED:
                parts.append(" ")
                walker.skip_subtree()
            elif element.text:
                parts.append(element.text)
        else:
            if tag in PARAGRAPHS:
                parts.append(_END)
            if tag in BREAKS:
                parts.append(" ")
            if tag == "br":
                after_break = len(parts)
            if element.tail and element is not root:
                parts.append(element.tail)
    return "".join(parts)
