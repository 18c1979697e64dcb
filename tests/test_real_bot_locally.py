"""The README's "real bot without Telegram" path: the fake Bot API in one process, the bot in another."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from botharness import bot_argv, free_port

TESTS = Path(__file__).parent


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float = 60) -> str:
    """Read the process's output until ``pattern`` appears, failing (never hanging) after ``timeout``."""
    seen, deadline = "", time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        seen += chunk.decode(errors="replace")
        if re.search(pattern, seen):
            return seen
    raise AssertionError(f"no {pattern!r} in output: {seen[-2000:]}")


def test_real_bot_against_the_local_fake_bot_api(feeds_file: Path, tmp_path: Path) -> None:
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-u", str(TESTS / "fake_telegram.py"), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    bot = None
    try:
        banner = _read_until(fake, r"securitybrief run")
        command = re.search(r"(TELEGRAM_API_URL=\S+) (TELEGRAM_BOT_TOKEN=\S+)", banner)
        assert command and f"127.0.0.1:{port}" in command[1]
        env = {**os.environ, "DATABASE_PATH": str(tmp_path / "t.db"), "FEEDS_FILE": str(feeds_file)}
        env.update(part.split("=", 1) for part in command.groups())
        bot = subprocess.Popen(
            bot_argv("run"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        fake.stdin.write("/start\n")
        fake.stdin.flush()
        _read_until(fake, r"\[1\] ✅ Subscribe to the daily brief")
        fake.stdin.write("1\n/latest\n")
        fake.stdin.flush()
        out = _read_until(fake, r"bot> 🛡 Security Brief —[^\n]*\n[^\n]*stories from")
        assert "Subscribed. The brief comes every day at 07:00 (UTC)" in out
    finally:
        if bot is not None:
            bot.terminate()
            assert bot.wait(timeout=30) == 0  # a clean shutdown on SIGTERM
            log = bot.stderr.read()
            assert "TEST-TOKEN" not in log
        fake.stdin.close()
        fake.wait(timeout=30)
