"""Fetching feeds over HTTP: bounded, capped, conditional, polite."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterable

import httpx

from bot.config import USER_AGENT
from bot.models import FeedSpec, FetchResult, Validators

ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


# The content codings we advertise in Accept-Encoding, with the zlib window format of each.
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class BodyRefused(Exception):
    """The response body cannot be taken: too large, or in a coding we did not ask for."""


class BodyTooLarge(BodyRefused):
    """The response exceeded the configured cap."""


class UnsupportedEncoding(BodyRefused):
    """The response's Content-Encoding is not one we advertise, or lists more than one."""


def make_client(timeout: float = 20.0) -> httpx.AsyncClient:
    """An HTTP client with our User-Agent, gzip and sane limits."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        max_redirects=5,
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )


def content_coding(header: str | None) -> str | None:
    """The one content coding ``header`` names (None for identity); UnsupportedEncoding if not ours."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        # Each layer multiplies what a few bytes inflate to: "gzip, gzip" is a bomb, not a feed.
        raise UnsupportedEncoding(
            f"content encoded {len(codings)} times ({header}); one is allowed"
        )
    if codings and codings[0] not in _WBITS:
        raise UnsupportedEncoding(
            f"unsupported content encoding {codings[0]!r} (not gzip or deflate)"
        )
    return codings[0] if codings else None


class _Inflater:
    """One gzip or deflate stream, inflated no further than the caller has room for."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.zlib = zlib.decompressobj(_WBITS[coding])
        self.started = False

    def inflate(self, data: bytes, room: int) -> bytes:
        """At most ``room + 1`` bytes inflated from ``data``: one more than fits says "too large"."""
        # With max_length, decompress stops only at that length or when its input is used up,
        # so nothing past the cap is ever held in memory.
        try:
            out = self.zlib.decompress(data, room + 1)
        except zlib.error as exc:
            if self.started or self.coding != "deflate":
                raise httpx.DecodingError(f"{self.coding} body is corrupt: {exc}") from None
            # "deflate" is meant to be zlib-wrapped; some servers send the raw stream instead.
            self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            self.started = True
            return self.inflate(data, room)
        self.started = True
        return out


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, or BodyRefused as soon as it passes ``max_bytes`` (or is oddly encoded)."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"body of {int(declared):,} bytes is over the {max_bytes:,}-byte cap")
    coding = content_coding(response.headers.get("content-encoding"))
    inflater = _Inflater(coding) if coding else None
    chunks: list[bytes] = []
    size = 0
    # Raw bytes, decoded here: httpx would inflate a whole network chunk (any number of
    # codings deep) before the cap could be checked.
    async for raw in response.aiter_raw():
        chunk = inflater.inflate(raw, max_bytes - size) if inflater else raw
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"body is over the {max_bytes:,}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _sendable(value: str | None) -> str | None:
    """``value`` if it can go back to the server in a request header, else None."""
    # httpx encodes header values as ASCII and raises before connecting; a server may well
    # send an ETag or Last-Modified in UTF-8 or Latin-1 (which httpx decodes).
    if value and value.isascii() and value.isprintable():
        return value
    return None


async def fetch_feed(
    client: httpx.AsyncClient,
    spec: FeedSpec,
    validators: Validators = Validators(),
    timeout: float = 20.0,
    max_bytes: int = 5_000_000,
) -> FetchResult:
    """Fetch one feed; never raises, the outcome says what went wrong."""
    headers = {}
    # A stored value that cannot be sent is dropped, not retried: the feed would fail for good.
    etag = _sendable(validators.etag)
    last_modified = _sendable(validators.last_modified)
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    result = FetchResult(spec)
    started = time.monotonic()
    try:
        # One deadline for connect, headers and the whole body: a server that trickles
        # bytes must not hold a worker for longer than `timeout`.
        async with asyncio.timeout(timeout):
            async with client.stream("GET", spec.url, headers=headers) as response:
                result.status = response.status_code
                result.final_url = str(response.url)
                result.content_type = response.headers.get("content-type")
                result.etag = _sendable(response.headers.get("etag") or etag)
                result.last_modified = _sendable(
                    response.headers.get("last-modified") or last_modified
                )
                if response.status_code == 304:
                    return result
                if response.status_code >= 400:
                    result.error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                    return result
                result.body = await read_capped(response, max_bytes)
    except TimeoutError:
        result.error = f"timed out after {timeout:g} s"
    except BodyRefused as exc:
        result.error = str(exc)
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except Exception as exc:  # a port out of range, an IDNA host that cannot be encoded, ...
        while isinstance(exc, ExceptionGroup) and exc.exceptions:  # anyio's task groups wrap it
            exc = exc.exceptions[0]
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        result.elapsed = time.monotonic() - started
    return result


async def fetch_all(
    client: httpx.AsyncClient,
    specs: Iterable[FeedSpec],
    validators: dict[str, Validators] | None = None,
    concurrency: int = 8,
    timeout: float = 20.0,
    max_bytes: int = 5_000_000,
    on_done: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch many feeds at once, at most ``concurrency`` in flight."""
    validators = validators or {}
    gate = asyncio.Semaphore(concurrency)

    async def one(spec: FeedSpec) -> FetchResult:
        async with gate:
            result = await fetch_feed(
                client, spec, validators.get(spec.url, Validators()), timeout, max_bytes
            )
        if on_done:
            on_done(result)
        return result

    return list(await asyncio.gather(*(one(spec) for spec in specs)))
