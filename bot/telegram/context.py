"""What handlers and jobs share: settings, database, newsroom, throttle, clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlite_utils import Database

from bot.config import Settings
from bot.news.newsroom import Newsroom
from bot.telegram.throttle import Throttle


@dataclass
class Services:
    """Long-lived resources, opened in post_init and closed in post_shutdown."""

    settings: Settings
    db: Database
    client: httpx.AsyncClient
    newsroom: Newsroom
    throttle: Throttle
    clock: Callable[[], datetime]
    delivery_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def close(self) -> None:
        """Close the database (the HTTP client is closed asynchronously by the caller)."""
        self.db.close()
