"""Serving a real capture (../shared/corpora, never copied here) over HTTP, as of a chosen time."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botharness import Clock, running_bot
from fake_telegram import FakeTelegram
from lxml import etree
from telegram.ext import Application

from bot.config import Settings

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"


def capture_dir(name: str) -> Path:
    """The capture's folder; the test is skipped (with the reason) when it is absent."""
    path = CORPORA / name
    if not (path / "capture.json").exists():
        pytest.skip(f"real capture {name} not found in {CORPORA} (see the README, Quality)")
    return path


def captured_at(name: str) -> datetime:
    """When the capture was taken: 'now' for its brief."""
    info = json.loads((capture_dir(name) / "capture.json").read_text())
    return datetime.fromisoformat(info["captured_at"])


def _published(item: etree._Element) -> datetime | None:
    text = item.findtext("pubDate")
    try:
        return parsedate_to_datetime(text) if text else None
    except (TypeError, ValueError):
        return None


def feed_as_of(path: Path, until: datetime | None) -> bytes:
    """The feed file with only the items published by ``until`` (all of them when None)."""
    raw = path.read_bytes()
    if until is None:
        return raw
    tree = etree.fromstring(raw, etree.XMLParser(recover=True, resolve_entities=False))
    for item in tree.iter("item"):
        published = _published(item)
        if published is not None and published > until:
            item.getparent().remove(item)
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")


class CaptureServer:
    """A real HTTP server on 127.0.0.1 serving one capture's feed files, switchable between rounds."""

    def __init__(self, capture: str) -> None:
        self.capture = capture
        self.until: datetime | None = None
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = capture_dir(served.capture) / self.path.lstrip("/")
                if "/" in self.path.lstrip("/") or not path.is_file():
                    self.send_error(404)
                    return
                body = feed_as_of(path, served.until)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def feeds_toml(self, *captures: str) -> str:
        """A TOML [[feeds]] list of every outlet file in the given captures (default: this one)."""
        outlets: dict[str, str] = {}
        for name in captures or (self.capture,):
            info = json.loads((capture_dir(name) / "capture.json").read_text())
            outlets.update(info["outlets"])
        return "\n".join(
            f"[[feeds]]\nname = {json.dumps(outlet)}\nurl = {json.dumps(f'{self.url}/{file}')}\n"
            for file, outlet in sorted(outlets.items())
        )


@contextmanager
def serving(capture: str) -> Iterator[CaptureServer]:
    """Run a CaptureServer for the block."""
    server = CaptureServer(capture)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@asynccontextmanager
async def capture_bot(
    capture: str, fake: FakeTelegram, settings: Settings, tmp_path: Path, start: datetime
) -> AsyncIterator[tuple[Application, CaptureServer, Clock]]:
    """The real bot fetching ``capture`` from a CaptureServer, its clock at ``start``."""
    with serving(capture) as server:
        feeds = tmp_path / "capture-feeds.toml"
        feeds.write_text(server.feeds_toml())
        settings = replace(settings, feeds_file=feeds, fetch_timeout_seconds=10.0)
        clock = Clock(start)
        async with running_bot(fake, settings, clock) as app:
            yield app, server, clock


def links(message: dict) -> list[str]:
    """The URLs a message sent through the fake Bot API links to."""
    return [e["url"] for e in message.get("entities") or [] if e.get("type") == "text_link"]
