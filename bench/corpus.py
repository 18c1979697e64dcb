"""Load the real captures in ../shared/corpora for labelling and for bench/quality.py.

The captures are not part of this repository (their licence is unknown); only our labels are,
in bench/labels/<capture>.json, keyed by each item's link as the feed gives it.

Run: .venv/bin/python bench/corpus.py dump lede-2026-08-15   (one compact line per item)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import feedparser

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
LABELS = Path(__file__).resolve().parent / "labels"


@dataclass(frozen=True)
class Item:
    """One raw feed item of a capture, as the feed gives it."""

    outlet: str
    file: str
    link: str
    title: str
    summary: str
    published: str


def captures() -> list[str]:
    """Names of the captures present beside the repository."""
    if not CORPORA.is_dir():
        return []
    return sorted(p.name for p in CORPORA.iterdir() if (p / "capture.json").exists())


def capture_info(name: str) -> dict:
    """The capture's capture.json (captured_at, outlets)."""
    return json.loads((CORPORA / name / "capture.json").read_text())


def items(name: str) -> list[Item]:
    """Every item with a link in the capture, in file order."""
    info = capture_info(name)
    out: list[Item] = []
    for file, outlet in sorted(info["outlets"].items()):
        parsed = feedparser.parse((CORPORA / name / file).read_bytes())
        for entry in parsed.entries:
            link = entry.get("link") or ""
            if not link:
                continue
            out.append(
                Item(
                    outlet=outlet,
                    file=file,
                    link=link,
                    title=" ".join((entry.get("title") or "").split()),
                    summary=" ".join((entry.get("summary") or "").split()),
                    published=entry.get("published") or "",
                )
            )
    return out


def load_labels(name: str) -> dict[str, dict]:
    """Our labels for a capture: link → {"s": yes|borderline|no, "e": event key or null, "stale": bool}."""
    path = LABELS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _dump(name: str) -> None:
    for i, item in enumerate(items(name)):
        summary = re.sub(r"<[^>]*>", " ", item.summary)[:300]  # display only
        print(
            f"{i}\t{item.outlet}\t{item.published}\t{item.link}\n\tT: {item.title}\n\tD: {summary}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        _dump(sys.argv[2])
    else:
        print("usage: corpus.py dump CAPTURE", file=sys.stderr)
        print("captures:", ", ".join(captures()), file=sys.stderr)
        sys.exit(2)
