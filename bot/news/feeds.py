"""The list of feeds: the bundled default, the user's TOML file, OPML import and export."""

from __future__ import annotations

import logging
import math
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from bot.languages import language_code
from bot.models import FeedSpec

log = logging.getLogger(__name__)


class FeedsFileError(ValueError):
    """The feeds file cannot be used; the message says where and why."""


def _spec_from_table(entry: object, where: str) -> FeedSpec:
    if not isinstance(entry, dict):
        raise FeedsFileError(f"{where}: each [[feeds]] entry must be a table")
    name, url = entry.get("name"), entry.get("url")
    if not isinstance(name, str) or not name.strip():
        raise FeedsFileError(f"{where}: 'name' is missing")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise FeedsFileError(f"{where} ({name}): 'url' must be an http(s) URL")
    language = entry.get("language")
    if language is not None and not isinstance(language, str):
        raise FeedsFileError(f"{where} ({name}): 'language' must be text such as \"en\"")
    code = language_code(language) if language else None
    if language and code is None:
        # Every item is compared with the brief's language: a value matching no language's
        # code would silently drop them all.
        raise FeedsFileError(
            f'{where} ({name}): \'language\' must be a language code such as "en", "fr" or '
            f'"en-GB" (or its English name), not {language!r}'
        )
    raw_weight = entry.get("weight", 1.0)
    weight = _positive_weight(raw_weight) if isinstance(raw_weight, int | float) else None
    if weight is None:
        raise FeedsFileError(
            f"{where} ({name}): 'weight' must be a finite number above 0, not {raw_weight!r}"
        )
    return FeedSpec(name.strip(), url.strip(), code, weight)


def _positive_weight(value: float | str) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        weight = float(value)
    except (ValueError, OverflowError):
        return None
    # nan passes "not <= 0", and a nan or infinite weight makes every item's score nan.
    return weight if math.isfinite(weight) and weight > 0 else None


def parse_feeds_toml(text: str, source: str = "feeds file") -> list[FeedSpec]:
    """Parse the ``[[feeds]]`` TOML format into feed specs (unique by URL)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeedsFileError(f"{source}: not valid TOML ({exc})") from None
    entries = data.get("feeds")
    if not isinstance(entries, list) or not entries:
        raise FeedsFileError(f"{source}: no [[feeds]] entries found")
    specs = [_spec_from_table(e, f"{source}, feed #{i + 1}") for i, e in enumerate(entries)]
    return _unique(specs)


def _unique(specs: Iterable[FeedSpec]) -> list[FeedSpec]:
    seen: dict[str, FeedSpec] = {}
    for spec in specs:
        seen.setdefault(spec.url, spec)
    return list(seen.values())


def default_feeds() -> list[FeedSpec]:
    """The bundled list of reputable outlets."""
    text = resources.files("bot.news").joinpath("data", "default_feeds.toml").read_text("utf-8")
    return parse_feeds_toml(text, "bundled default_feeds.toml")


def load_feeds(path: Path | None) -> list[FeedSpec]:
    """The user's feeds file when given, else the bundled default list."""
    if path is None:
        return default_feeds()
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise FeedsFileError(f"cannot read feeds file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FeedsFileError(f"feeds file {path} is not UTF-8 text") from None
    return parse_feeds_toml(text, str(path))


# TOML basic strings may not hold a quote, a backslash or a control character other than tab.
_TOML_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\"} | {
    c: f"\\u{c:04X}" for c in (*range(0x20), 0x7F)
}


def _toml_string(value: str) -> str:
    return f'"{value.translate(_TOML_ESCAPES)}"'


def feeds_to_toml(specs: Iterable[FeedSpec]) -> str:
    """Serialise feed specs in the ``[[feeds]]`` TOML format."""
    blocks = []
    for spec in specs:
        lines = [
            "[[feeds]]",
            f"name = {_toml_string(spec.name)}",
            f"url = {_toml_string(spec.url)}",
        ]
        if spec.language:
            lines.append(f"language = {_toml_string(spec.language)}")
        if spec.weight != 1.0:
            lines.append(f"weight = {spec.weight}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def import_opml(text: str) -> list[FeedSpec]:
    """Read every ``outline`` with an ``xmlUrl`` from an OPML document."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FeedsFileError(f"not a valid OPML file: {exc}") from None
    specs = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url.startswith(("http://", "https://")):
            continue
        titles = (outline.get("title"), outline.get("text"))
        name = next((t.strip() for t in titles if t and t.strip()), "") or _host(url).strip() or url
        raw_weight = outline.get("weight")
        weight = _positive_weight(raw_weight) if raw_weight else 1.0
        if weight is None:
            # What import writes must load, and load refuses such a weight.
            log.warning(
                "OPML feed %s: weight %r is not a finite number above 0; using 1",
                name,
                raw_weight,
            )
            weight = 1.0
        language = outline.get("language")
        code = language_code(language)
        if language and code is None:
            log.warning(
                "OPML feed %s: language %r is not one we know; detecting it", name, language
            )
        specs.append(FeedSpec(name, url, code, weight))
    if not specs:
        raise FeedsFileError("the OPML file has no feed outlines (no xmlUrl attributes)")
    return _unique(specs)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:  # a broken IPv6 literal: the URL still names the feed
        return url


def export_opml(specs: Iterable[FeedSpec], title: str = "Security Brief feeds") -> str:
    """Write feed specs as an OPML 2.0 document."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(opml, "body")
    for spec in specs:
        attrs = {"type": "rss", "text": spec.name, "title": spec.name, "xmlUrl": spec.url}
        if spec.language:
            attrs["language"] = spec.language
        if spec.weight != 1.0:
            # Not standard OPML, but readers ignore unknown attributes and we keep the weight.
            attrs["weight"] = str(spec.weight)
        ET.SubElement(body, "outline", attrs)
    ET.indent(opml)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="unicode") + "\n"
