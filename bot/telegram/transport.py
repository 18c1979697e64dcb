"""The Bot API transport: aiohttp with JSON bodies, for broadcasts at hundreds of messages a second.

With PTB's default HTTPXRequest a paid broadcast cost 6-8 ms of bot CPU per message with 16
sends in flight (httpcore's pool bookkeeping, form-urlencoding a 6 KB brief, a failed
``import sniffio`` per lock); with this one ~2 ms (bench/broadcast_bench.py, section 2).
getUpdates keeps PTB's default request (one long poll at a time).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class SendUnconfirmed(TimedOut):
    """The request reached the server but no answer came back: Telegram may have acted on it."""


class AiohttpRequest(BaseRequest):
    """A BaseRequest on one aiohttp session; non-file calls are sent as JSON."""

    def __init__(
        self,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._connect, self._pool = connect_timeout, pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one Bot API call; map aiohttp's errors onto PTB's TimedOut/NetworkError."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._read if _unset(read_timeout) else read_timeout
        connect = self._connect if _unset(connect_timeout) else connect_timeout
        pool = self._pool if _unset(pool_timeout) else pool_timeout
        # aiohttp has no separate write timeout; waiting for a pooled connection counts as connect.
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None and pool is None else (connect or 0) + (pool or 0),
            sock_read=read,
        )
        headers: dict[str, str] | None = None
        data: aiohttp.FormData | bytes | None = None
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
        elif request_data is not None:
            data = request_data.json_payload
            headers = {"Content-Type": "application/json"}
        # The URL holds the bot token, and aiohttp puts it into some of its exceptions: raise
        # PTB's errors with a cleaned message and without chaining (``from None``), so no
        # traceback can show the original.
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            # No connection, so the request certainly never reached the server.
            raise NetworkError(f"Could not connect to call {_method(url)}") from None
        except ValueError as exc:  # an unusable URL (aiohttp's InvalidURL too): nothing was sent
            raise NetworkError(f"{type(exc).__name__}: {scrub(str(exc), url)}") from None
        except TimeoutError:
            raise SendUnconfirmed(f"Timed out waiting for the answer to {_method(url)}") from None
        except aiohttp.ClientError as exc:
            # The connection was up, so the request may have arrived: see SendUnconfirmed.
            detail = scrub(str(exc), url)
            raise SendUnconfirmed(f"aiohttp.{type(exc).__name__}: {detail}") from None


_TOKEN_IN_PATH = re.compile(r"/bot[^/\s]*")
_TOKEN_SHAPE = re.compile(r"\b\d{3,}:[A-Za-z0-9_-]{20,}")


def _method(url: str) -> str:
    return url.rsplit("/", 1)[-1] or "the Bot API"


def scrub(text: str, url: str = "") -> str:
    """``text`` with the request URL and anything shaped like a bot token taken out."""
    if url:
        text = text.replace(url, f"<Bot API URL>/{_method(url)}")
    text = _TOKEN_IN_PATH.sub("/bot<token>", text)
    return _TOKEN_SHAPE.sub("<token>", text)


# What a URL path may hold unencoded besides letters, digits and "_.-~" (RFC 3986 "pchar").
_PATH_SAFE = "!$&'()*+,;=:@"


def _written_forms(secret: str) -> set[str]:
    """``secret`` as it is, and as a URL carries it: a server or proxy quoting the request path
    in an error shows the token percent-encoded (its ':' as %3A, a stray character as %E2…)."""
    encoded = {quote(secret, safe=""), quote(secret, safe=_PATH_SAFE)}
    lower = {re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), form) for form in encoded}
    return {secret, *encoded, *lower}


class Redactor(logging.Filter):
    """A logging filter that replaces secrets in the message, its arguments and any traceback."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these too (a secret made at start-up, such as a random webhook secret)."""
        forms = {form for secret in secrets if secret for form in _written_forms(secret)}
        # Longest first, so a secret holding another is replaced whole.
        self.secrets = sorted({*self.secrets, *forms}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``<redacted>``."""
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logged as it is
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_text = record.exc_text.rstrip("\n")
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_REDACTOR = Redactor([])  # one for the process: secrets learnt later join those it has


def install_redaction(*secrets: str | None) -> Redactor:
    """Redact ``secrets`` from every log handler now installed and from uncaught tracebacks."""
    redactor = _REDACTOR
    redactor.add(s for s in secrets if s)
    root = logging.getLogger()
    for handler in root.handlers:
        if redactor not in handler.filters:
            handler.addFilter(redactor)
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(redactor.redact(text))

    if previous is sys.__excepthook__:
        sys.excepthook = excepthook
    return redactor


def _unset(value: Any) -> bool:
    """True for PTB's "use the default" marker (a DefaultValue, like BaseRequest.DEFAULT_NONE)."""
    return isinstance(value, type(BaseRequest.DEFAULT_NONE))
