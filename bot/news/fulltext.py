"""Optional full article text for the top stories (FULL_TEXT): time-boxed, skipped offline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx
import trafilatura
from sqlite_utils import Database

from bot.models import Story
from bot.news.fetch import BodyTooLarge, read_capped

log = logging.getLogger(__name__)
MAX_HTML = 2_000_000
MAX_TEXT = 3_000


def extract(html: str) -> str:
    """The article's main text (trafilatura), cut to a few paragraphs."""
    text = (
        trafilatura.extract(
            html, include_comments=False, include_tables=False, favor_precision=True
        )
        or ""
    )
    return text[:MAX_TEXT]


async def _page(client: httpx.AsyncClient, url: str, timeout: float) -> str:
    async with asyncio.timeout(timeout), client.stream("GET", url) as response:
        response.raise_for_status()
        if "html" not in response.headers.get("content-type", "html"):
            return ""
        return (await read_capped(response, MAX_HTML)).decode(
            response.encoding or "utf-8", "replace"
        )


async def enrich(
    db: Database,
    client: httpx.AsyncClient,
    stories: Sequence[Story],
    per_story: int = 2,
    budget: float = 30.0,
    timeout: float = 8.0,
) -> int:
    """Fetch and store the text of the top stories' lead articles; return how many were stored."""
    urls = [s.url for story in stories for s in story.sources[:per_story]]
    have = {
        r[0] for r in db.execute("select url from articles where body is not null and body != ''")
    }
    todo = [u for u in urls if u not in have]
    stored = unreachable = 0
    try:
        async with asyncio.timeout(budget):
            for url in todo:
                try:
                    html = await _page(client, url, timeout)
                except httpx.ConnectError:
                    unreachable += 1
                    if unreachable >= 2:
                        log.info(
                            "full text: sites unreachable; assuming offline and skipping the rest"
                        )
                        break
                    continue
                except (httpx.HTTPError, TimeoutError, BodyTooLarge) as exc:
                    log.info("full text: %s skipped (%s)", url, type(exc).__name__)
                    continue
                text = await asyncio.to_thread(extract, html) if html else ""
                if text:
                    db.execute("update articles set body = ? where url = ?", [text, url])
                    stored += 1
    except TimeoutError:
        log.info("full text: time budget of %.0f s used up after %d articles", budget, stored)
    return stored
