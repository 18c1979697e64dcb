"""Helpers for bench/broadcast_bench.py: the fake Bot API in its own process, timing, fixtures.

Run as a script (``python bench/benchlib.py serve-fake``) it starts tests/fake_telegram.py's
FakeTelegram plus a small JSON control server on 127.0.0.1, prints one JSON line with both
URLs and serves until its stdin closes. Accepted sendMessage calls are timestamped with
``time.monotonic()`` (system-wide on Linux, so comparable with the bot's process) by wrapping
the fake's method table from the outside; the fake itself is not modified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
os.environ.setdefault("PTB_TIMEDELTA", "1")  # as bot.cli does: timedelta retry_after


# --------------------------------------------------------------------------------------------
# Machine facts and statistics
# --------------------------------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    """nproc, CPU model, Python version and platform."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
    }


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def steady_rate(times: list[float], trim: float = 0.1) -> float:
    """Messages per second between the ``trim`` and ``1 - trim`` quantiles of accept times."""
    if len(times) < 20:
        return float("nan")
    ordered = sorted(times)
    first, last = int(len(ordered) * trim), int(len(ordered) * (1 - trim)) - 1
    span = ordered[last] - ordered[first]
    return (last - first) / span if span > 0 else float("nan")


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def _own_cpu() -> float:
    """CPU seconds of this process plus its reaped children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class MachineLoad:
    """How busy the whole machine was over an interval, and how much of that was not us."""

    def __init__(self) -> None:
        """Take the starting snapshot."""
        self.start_wall = time.monotonic()
        self.start_busy, self.start_total = _busy_jiffies()
        self.start_own = _own_cpu()

    def report(self) -> tuple[float, float, float]:
        """(machine busy cores, this bench's cores, other processes' cores) since creation."""
        wall = time.monotonic() - self.start_wall
        busy, total = _busy_jiffies()
        cores = len(os.sched_getaffinity(0))
        span = max(total - self.start_total, 1)
        machine = (busy - self.start_busy) / span * cores
        own = (_own_cpu() - self.start_own) / wall if wall > 0 else 0.0
        return machine, own, max(machine - own, 0.0)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def sniffio_note() -> str | None:
    """A warning with its measured cost when sniffio is missing (httpcore retries the import)."""
    import importlib.util
    import timeit

    if importlib.util.find_spec("sniffio") is not None:
        return None

    def failed_import() -> None:
        with contextlib.suppress(ImportError):
            import sniffio  # noqa: F401

    cost = timeit.timeit(failed_import, number=200) / 200 * 1e6
    return (
        "sniffio is not installed, so httpcore's current_async_library() retries "
        f"'import sniffio' (a failed import costs {cost:.0f} us here) for every lock, "
        "semaphore and shield it creates: several per request"
    )


def _status_mb(field_name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Current resident set size of this process in MB (VmRSS)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident set size of this process image in MB (VmHWM, reset by execve)."""
    return _status_mb("VmHWM")


# --------------------------------------------------------------------------------------------
# Database fixtures
# --------------------------------------------------------------------------------------------


def build_template_db(path: Path, feeds_file: Path) -> tuple[int, int]:
    """Fetch the fixture feeds once and build a brief into a fresh DB; return (stories, parts)."""
    from bot.config import Settings
    from bot.news.feeds import load_feeds
    from bot.news.fetch import make_client
    from bot.news.pipeline import build_brief, refresh
    from bot.news.render import render_html
    from bot.storage.db import open_db

    settings = Settings(database_path=path, feeds_file=feeds_file, fetch_timeout_seconds=5.0)
    now = datetime.now(UTC)
    db = open_db(path)

    async def fetch() -> None:
        async with make_client(5.0) as client:
            await refresh(db, settings, load_feeds(feeds_file), client, now)

    asyncio.run(fetch())
    _, brief = build_brief(db, settings, now)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return len(brief.stories), len(render_html(brief))


def copy_db(template: Path, dest: Path) -> Path:
    """A private copy of the template database (its WAL was checkpointed and truncated)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, dest)
    return dest


# --------------------------------------------------------------------------------------------
# Instrumenting delivery from the outside (monkeypatching, restored afterwards)
# --------------------------------------------------------------------------------------------


@dataclass
class Phase:
    """Wall and CPU seconds of one timed call."""

    wall_start: float = 0.0
    wall_end: float = 0.0
    cpu_start: float = 0.0
    cpu_end: float = 0.0

    @property
    def wall(self) -> float:
        """Elapsed wall-clock seconds."""
        return self.wall_end - self.wall_start

    @property
    def cpu(self) -> float:
        """CPU seconds this process used (all threads)."""
        return self.cpu_end - self.cpu_start


@dataclass
class DeliveryTimes:
    """Timings of one delivery check: from deliver_due's call to Broadcaster.run and through it."""

    broadcast: Phase = field(default_factory=Phase)
    check_start: float = 0.0  # monotonic time the bench called deliver_due
    planning_over: asyncio.Event | None = None  # set when sending starts
    profile: Any = None  # a cProfile.Profile to enable around Broadcaster.run

    @property
    def plan_seconds(self) -> float:
        """How long planning took: from deliver_due's call to the start of Broadcaster.run."""
        return self.broadcast.wall_start - self.check_start


@contextmanager
def instrument_delivery(times: DeliveryTimes) -> Iterator[DeliveryTimes]:
    """Time Broadcaster.run() inside deliver_due without touching bot/ code.

    deliver_due plans in batches before sending, so planning is timed up to the start of sending.
    """
    from bot.telegram import broadcast as delivery

    original_run = delivery.Broadcaster.run

    async def run(self: Any) -> Any:
        if getattr(self, "alerts", False):
            return await original_run(self)  # the watchlist-alert run after the briefs: not timed
        b = times.broadcast
        if times.profile is not None:
            times.profile.enable()
        b.wall_start, b.cpu_start = time.monotonic(), time.process_time()
        if times.planning_over is not None:
            times.planning_over.set()
        try:
            return await original_run(self)
        finally:
            b.wall_end, b.cpu_end = time.monotonic(), time.process_time()
            if times.profile is not None:
                times.profile.disable()

    delivery.Broadcaster.run = run  # type: ignore[method-assign]
    try:
        yield times
    finally:
        delivery.Broadcaster.run = original_run  # type: ignore[method-assign]


def stamp_sends(fake: Any, on_accept: Callable[[int], None] | None = None) -> list[float]:
    """Record time.monotonic() of every accepted sendMessage (wraps the fake's method table)."""
    stamps: list[float] = []
    original = fake._methods["sendmessage"]

    def send_message(params: dict[str, Any]) -> Any:
        result = original(params)  # raises on 429 and other rejections: not stamped
        stamps.append(time.monotonic())
        if on_accept is not None:
            on_accept(result["chat"]["id"])
        return result

    fake._methods["sendmessage"] = send_message
    return stamps


# --------------------------------------------------------------------------------------------
# The fake Bot API in a separate process
# --------------------------------------------------------------------------------------------


class RemoteFake:
    """A FakeTelegram running in a child process, driven over a JSON control port."""

    def __init__(self) -> None:
        """Start the child and read its URLs (blocks until it is serving)."""
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve-fake"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fake Bot API process did not start")
        info = json.loads(line)
        self.url: str = info["url"]
        self.token: str = info["token"]
        self.control: str = info["control"]
        self.pid: int = self.proc.pid

    def _call(self, action: str, **payload: Any) -> Any:
        body = json.dumps({"action": action, **payload}).encode()
        request = urllib.request.Request(
            self.control, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def set_rate_limits(self, **limits: float | int | None) -> None:
        """FakeTelegram.set_rate_limits in the child."""
        self._call("set_rate_limits", limits=limits)

    def add_private_chats(self, start: int, count: int) -> None:
        """Register private chats ``start`` .. ``start + count - 1``."""
        self._call("add_private_chats", start=start, count=count)

    def stats(self) -> dict[str, int]:
        """The fake's stats dict plus its CPU seconds so far."""
        return self._call("stats")

    def accept_times(self) -> list[float]:
        """Monotonic timestamps of every accepted sendMessage, in order."""
        return self._call("accept_times")

    def delivery_summary(self, start: int, count: int) -> dict[str, Any]:
        """Per-chat message counts for the chat range: histogram, missing, outside the range."""
        return self._call("delivery_summary", start=start, count=count)

    def close(self) -> None:
        """Stop the child process (closing its stdin) and wait for it."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> RemoteFake:
        """The running fake."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the child."""
        self.close()


async def _serve_fake() -> None:
    from aiohttp import web
    from fake_telegram import FakeTelegram

    fake = FakeTelegram()
    stamps = stamp_sends(fake)
    await fake.start()

    async def control(request: web.Request) -> web.Response:
        body = await request.json()
        action = body["action"]
        result: Any = None
        if action == "set_rate_limits":
            fake.set_rate_limits(**body["limits"])
        elif action == "add_private_chats":
            fake.add_private_chats(range(body["start"], body["start"] + body["count"]))
        elif action == "stats":
            result = {**fake.stats, "sent": len(fake.sent), "cpu": time.process_time()}
        elif action == "accept_times":
            result = stamps
        elif action == "delivery_summary":
            wanted = range(body["start"], body["start"] + body["count"])
            per_chat = Counter(m["chat_id"] for m in fake.sent)
            result = {
                "histogram": {
                    str(k): v for k, v in sorted(Counter(per_chat[c] for c in wanted).items())
                },
                "outside": sum(n for c, n in per_chat.items() if c not in wanted),
                "texts_per_chat": sorted(
                    {len({m["text"] for m in fake.messages_to(c)}) for c in wanted[::997]}
                ),
            }
        else:
            return web.json_response({"error": action}, status=400)
        return web.json_response(result)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/control", control)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    info = {"url": fake.url, "token": fake.token, "control": f"http://127.0.0.1:{port}/control"}
    print(json.dumps(info), flush=True)
    # Serve until the parent closes our stdin (or dies).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    await fake.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["serve-fake"]:
        asyncio.run(_serve_fake())
    else:
        sys.exit("usage: benchlib.py serve-fake")
