"""Shared fixtures: a real feed server, a temp database, settings pointing at both."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("PTB_TIMEDELTA", "1")  # opt in to timedelta retry_after, as bot.cli does

from botharness import ROOT, clean_environment, readme_commands  # noqa: E402
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
    # Telegram would drop them without an error: a message the bot sent lost links or bold.
    assert server.stats["entities_dropped"] == 0


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
    """Settings for a fresh database and the fixture feeds, with short fetch timeouts and waits."""
    return Settings(
        database_path=tmp_path / "data" / "test.db",
        feeds_file=feeds_file,
        fetch_timeout_seconds=2.0,
        # Delivery retries back off from 10 ms, not 200 ms: the same sequence, without the sleeps.
        broadcast_retry_base_seconds=0.01,
        # The fake enforces Telegram's per-chat rate itself, so parts of a brief need no extra gap.
        broadcast_part_gap_seconds=0.0,
        broadcast_group_part_gap_seconds=0.0,
    )


@pytest.fixture(scope="session")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the project on which the README's install step has run.

    One venv shared by the README test (which then runs the whole first command there) and the
    Dockerfile replay (which installs the copied sources into it as the image would).
    """
    copy = tmp_path_factory.mktemp("fresh-copy")
    for name in ["pyproject.toml", "README.md", ".env.example"]:
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "bot", copy / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    install, run = readme_commands()[0].rsplit(" && ", 1)
    assert run.endswith("securitybrief run"), run
    result = subprocess.run(
        ["bash", "-c", install],
        cwd=copy,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return copy
