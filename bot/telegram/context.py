"""What handlers and jobs share (settings, database, newsroom, throttle, clock), typed for PTB.

Handlers receive a ``BotContext`` (python-telegram-bot's ``ContextTypes`` pattern), so they
write ``context.services`` and a type checker knows what it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlite_utils import Database
from telegram.ext import CallbackContext, ContextTypes, ExtBot

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
    # Held while chats falling due during a long broadcast are planned for it to send.
    planning_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Chats whose /latest is being sent: planning their daily brief waits until it is recorded.
    showing_latest: set[int] = field(default_factory=set)
    # Monotonic time of the last "database problem" notice to the admins (None: never sent).
    storage_alerted_at: float | None = None

    def close(self) -> None:
        """Close the database (the HTTP client is closed asynchronously by the caller)."""
        self.db.close()


class BotData:
    """The application's ``bot_data``: what is known at build time, and the services once open."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.clock: Callable[[], datetime] | None = None
        self.schedule_jobs: bool = True
        self.services: Services | None = None


class BotContext(CallbackContext[ExtBot, dict, dict, BotData]):
    """The ``context`` every handler, error handler and job receives."""

    @property
    def services(self) -> Services:
        """The shared resources; set in post_init, before any update or job runs."""
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("services are not open yet (post_init has not run)")
        return services


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)
