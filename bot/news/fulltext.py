"""Optional full article text for the top stories (FULL_TEXT): time-boxed, skipped offline.

Article links come from feeds, so anyone who publishes a feed chooses them: pages are fetched
only from public addresses, every redirect is checked again, and at most MAX_REDIRECTS are
followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence

import httpx
from sqlite_utils import Database

from bot.models import Story
from bot.news.fetch import BodyRefused, read_capped
from bot.news.text import content_terms
from bot.storage import news_store

log = logging.getLogger(__name__)
MAX_HTML = 2_000_000
MAX_TEXT = 3_000
MAX_REDIRECTS = 3
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[IPAddress], bool]


class RefusedAddress(Exception):
    """The link leads somewhere FULL_TEXT must not fetch from (not a public address)."""


def _public(address: IPAddress) -> bool:
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address, including any IPv4 address it embeds."""
    embedded: list[IPAddress | None] = []
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(_public(a) for a in [address, *embedded] if a is not None)


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # A scoped IPv6 address ("fe80::1%eth0") carries its zone after "%".
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def checked_url(url: httpx.URL, allow: AddressCheck = is_public) -> tuple[httpx.URL, dict]:
    """The URL to request and its headers; RefusedAddress if any address of its host is not allowed.

    Plain-http requests go to the checked address itself, so a second DNS answer cannot move
    them elsewhere; https ones keep the name, whose certificate no other host can present.
    """
    if url.scheme not in ("http", "https") or not url.host:
        raise RefusedAddress(f"not an http(s) link: {url.scheme or 'no scheme'}")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = await _addresses(url.host, port)
    except (OSError, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {url.host}: {exc}") from None
    refused = [a for a in addresses if not allow(a)]
    if not addresses:
        raise RefusedAddress(f"{url.host} has no address")
    if refused:
        where = "" if url.host == str(refused[0]) else f" resolves to {refused[0]}, which"
        raise RefusedAddress(f"{url.host}{where} is not a public address")
    if url.scheme == "https":
        return url, {}
    host_header = url.host if url.port is None else f"{url.host}:{url.port}"
    return url.copy_with(host=str(addresses[0])), {"Host": host_header}


def extract(html: str) -> str:
    """The article's main text (trafilatura), cut to a few paragraphs."""
    # Imported here: it costs every command ~0.13 s at start-up and only FULL_TEXT needs it.
    import trafilatura

    text = (
        trafilatura.extract(
            html, include_comments=False, include_tables=False, favor_precision=True
        )
        or ""
    )
    return text[:MAX_TEXT]


# At least this many of a headline's words must be in a page's text for it to be the article:
# a report retells its headline in other words ("assault" for "attack"), but keeps its names.
ABOUT_TERMS = 2


def about(text: str, title: str) -> bool:
    """Whether ``text`` can be the report ``title`` heads: it shares the headline's words."""
    wanted = set(content_terms(title))
    return len(wanted & set(content_terms(text))) >= min(ABOUT_TERMS, len(wanted))


async def _page(
    client: httpx.AsyncClient, url: str, timeout: float, allow: AddressCheck = is_public
) -> str:
    async with asyncio.timeout(timeout):
        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            request_url, headers = await checked_url(target, allow)
            async with client.stream(
                "GET", request_url, headers=headers, follow_redirects=False
            ) as response:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    target = target.join(location)
                    continue
                response.raise_for_status()
                if "html" not in response.headers.get("content-type", "html"):
                    return ""
                return (await read_capped(response, MAX_HTML)).decode(
                    response.encoding or "utf-8", "replace"
                )
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=None)


async def enrich(
    db: Database,
    client: httpx.AsyncClient,
    stories: Sequence[Story],
    per_story: int = 2,
    budget: float = 30.0,
    timeout: float = 8.0,
    allow: AddressCheck = is_public,
) -> int:
    """Fetch and store the text of the top stories' lead articles; return how many were stored.

    ``allow`` decides which addresses pages may come from: public ones only, unless a test
    serving pages on this machine says otherwise.
    """
    titles = {s.url: s.title for story in stories for s in story.sources[:per_story]}
    urls = list(titles)
    have = news_store.urls_with_text(db, urls)
    todo = [u for u in urls if u not in have]
    stored = unreachable = 0
    try:
        async with asyncio.timeout(budget):
            for url in todo:
                try:
                    html = await _page(client, url, timeout, allow)
                except httpx.ConnectError:
                    unreachable += 1
                    if unreachable >= 2:
                        log.info(
                            "full text: sites unreachable; assuming offline and skipping the rest"
                        )
                        break
                    continue
                except RefusedAddress as exc:
                    log.warning("full text: %s refused (%s)", url, exc)
                    continue
                except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, BodyRefused) as exc:
                    log.info("full text: %s skipped (%s)", url, type(exc).__name__)
                    continue
                except Exception as exc:  # an odd page (unknown charset, ...) costs only itself
                    log.info("full text: %s skipped (%s: %s)", url, type(exc).__name__, exc)
                    continue
                try:
                    text = await asyncio.to_thread(extract, html) if html else ""
                except Exception as exc:  # a page trafilatura cannot read costs only itself
                    log.info("full text: %s unreadable (%s)", url, type(exc).__name__)
                    continue
                if text and not about(text, titles[url]):
                    # A consent or paywall page the link redirected to: not the report. (A home
                    # page listing the headline would pass; its text is at least about it.)
                    log.info("full text: %s gave a page that is not the article", url)
                elif text:
                    news_store.save_text(db, url, text)
                    stored += 1
    except TimeoutError:
        log.info("full text: time budget of %.0f s used up after %d articles", budget, stored)
    return stored
