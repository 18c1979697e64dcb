"""Per-user command throttling, so one person hammering the bot cannot hog it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from time import monotonic


class Throttle:
    """Allow ``limit`` actions per ``window`` seconds per key; say so once when exceeded.

    Entries of keys idle for a whole window are swept once per window, so memory follows the
    number of users active in the last two windows, not everyone ever seen.
    """

    def __init__(
        self, limit: int = 6, window: float = 10.0, clock: Callable[[], float] = monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[Hashable, deque[float]] = {}
        self._warned: set[Hashable] = set()
        self._swept_at = clock()

    def __len__(self) -> int:
        """Keys currently remembered."""
        return len(self._hits)

    def check(self, key: Hashable) -> str:
        """``"ok"``, ``"warn"`` (first refusal: tell the user) or ``"drop"`` (stay quiet)."""
        now = self.clock()
        if now - self._swept_at >= self.window:
            self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) < self.limit:
            hits.append(now)
            self._warned.discard(key)
            return "ok"
        if key in self._warned:
            return "drop"
        self._warned.add(key)
        return "warn"

    def _sweep(self, now: float) -> None:
        cutoff = now - self.window
        idle = [key for key, hits in self._hits.items() if not hits or hits[-1] <= cutoff]
        for key in idle:
            del self._hits[key]
            self._warned.discard(key)
        self._swept_at = now

    def retry_in(self, key: Hashable) -> int:
        """Whole seconds until ``key`` may act again."""
        hits = self._hits.get(key)
        if not hits:
            return 0
        return max(1, int(hits[0] + self.window - self.clock()) + 1)
