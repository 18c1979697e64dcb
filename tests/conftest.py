"""Shared fixtures: a real feed server, a temp database, settings pointing at both."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("PTB_TIMEDELTA", "1")  # opt in to timedelta retry_after, as bot.cli does

from fake_telegram import FakeTelegram  # noqa: E402
from feed_server import FeedServer  # noqa: E402

from bot.config import Settings  # noqa: E402


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The fake Telegram Bot API server on 127.0.0.1, with Telegram's default limits."""
    server = FakeTelegram()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """The fixture feeds (and hostile ones) on a real HTTP server on 127.0.0.1."""
    with FeedServer() as server:
        yield server


@pytest.fixture
def feeds_file(tmp_path: Path, feed_server: FeedServer) -> Path:
    """A feeds TOML file listing every fixture feed."""
    path = tmp_path / "feeds.toml"
    path.write_text(feed_server.feeds_toml())
    return path


@pytest.fixture
def settings(tmp_path: Path, feeds_file: Path) -> Settings:
    """Settings for a fresh database and the fixture feeds, with short fetch timeouts."""
    return Settings(
        database_path=tmp_path / "data" / "test.db",
        feeds_file=feeds_file,
        fetch_timeout_seconds=2.0,
    )
