"""Sending planned deliveries at Telegram's limits: whole, resumable, retrying what can be retried."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlite_utils import Database
from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.config import Settings
from bot.delivery import ledger
from bot.delivery.alerts import hold_until_quiet_ends, plan_alert_batches
from bot.delivery.alerts import still_wanted as alert_still_wanted
from bot.delivery.ledger import BroadcastStats, PendingDelivery, PlannedStory
from bot.delivery.planning import (
    cancel_missed,
    dailies_due,
    dailies_waiting,
    overdue,
    plan_batches,
)
from bot.news.newsroom import Newsroom
from bot.news.render import plain_text
from bot.storage import leases, watchlists
from bot.storage.chats import mark_inactive
from bot.telegram.transport import SendUnconfirmed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Bot API 400s saying no message can reach the chat until someone acts there: the chat is
# inactive (as on 403) rather than planned and refused again every day. Making the bot a
# channel's admin sends a my_chat_member update, which makes it active again. A group that
# takes members' right to post (for the night, say) is not here: it may give it back with no
# update to the bot, so its briefs keep being tried.
_UNREACHABLE = (
    "chat not found",
    "group chat was deactivated",
    "need administrator rights in the channel chat",
)
# Bot API 400s about a message's own text: our renderer never makes one, but a brief is worth
# more than its formatting, so such a part goes once more as plain text rather than ending it.
_CONTENT_REFUSED = ("can't parse entities", "message is too long", "entities_too_long")
_CHAT_TURNS_KEPT = 4096
MAX_RETRY_WAIT = 10.0


def retry_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked us to wait (an int or a timedelta, by PTB version and opt-in)."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True)
class Pacing:
    """How a broadcast spaces its messages and retries."""

    part_gap: float = Settings.broadcast_part_gap_seconds  # parts of one brief, private chat
    group_part_gap: float = Settings.broadcast_group_part_gap_seconds  # groups and channels
    retry_base: float = Settings.broadcast_retry_base_seconds  # first back-off, doubling

    @classmethod
    def from_settings(cls, settings: Settings) -> Pacing:
        """The pacing the settings ask for."""
        return cls(
            settings.broadcast_part_gap_seconds,
            settings.broadcast_group_part_gap_seconds,
            settings.broadcast_retry_base_seconds,
        )


@dataclass(frozen=True)
class Sent:
    """Telegram accepted the message."""


@dataclass(frozen=True)
class Unconfirmed:
    """The request went out but no answer came; it is not sent again (see README, Daily delivery)."""


@dataclass(frozen=True)
class Migrated:
    """The group became a supergroup with this id."""

    chat_id: int


@dataclass(frozen=True)
class Failed:
    """The message was not sent; ``permanent`` failures are not retried on a later run."""

    reason: str
    permanent: bool


@dataclass(frozen=True)
class Unreached(Failed):
    """Telegram was not reached or asked us to wait (no connection, 5xx, 429) until the send
    gave up: the message did not arrive, so later checks try it again until it is too late."""

    permanent: bool = False


@dataclass(frozen=True)
class TextRefused(Failed):
    """Telegram refused the message for its text ("can't parse entities", too long)."""


Outcome = Sent | Unconfirmed | Migrated | Failed


_START: tuple[str, int, str] = ("", -(2**63), "")  # before the first pending row


class _Queue:
    """Pending deliveries a page at a time, each held back until its chat may get a message.

    A chat's rows come in a row (its alerts), and a brief's parts one at a time: its next one
    waits in a heap while workers take other chats' rows, since sends in parallel to one chat
    break Telegram's limit for it and earn 429s that pause every chat.
    """

    plannings = 0  # daily plannings that planned a chat (plan_dailies), in this process

    def __init__(self, db: Database, alerts: bool, chat_free: dict[int, float]) -> None:
        self.db, self.alerts, self.chat_free = db, alerts, chat_free
        # A page at a time, not a list of everything: 100,000 pending rows cost ~30 MB of RSS.
        self.cursor: tuple[str, int, str] = _START
        self.page: list[PendingDelivery] = []
        self.taken: set[tuple[int, str]] = set()  # rows taken this run: each is taken once
        self.plannings_seen = _Queue.plannings
        self.waiting: list[tuple[float, int, PendingDelivery]] = []
        self.order = itertools.count()  # ties: first come, first served

    def take(self) -> PendingDelivery | None:
        """The next delivery whose chat may get a message now; else the one whose chat may
        soonest, once nothing else is left (it waits its turn in Broadcaster._chat_turn).

        Rows planned while the broadcast runs are taken too, even those that sort before its
        cursor (a chat held back by its /latest): at the end it looks again from the start.
        """
        while True:
            now = time.monotonic()
            if self.waiting and self.waiting[0][0] <= now:
                item = heapq.heappop(self.waiting)[2]
            elif (item := self._next_row()) is None:
                return heapq.heappop(self.waiting)[2] if self.waiting else None
            # Checked again off the heap too: the chat may have had a message since.
            if not self._held_back(item, now):
                return item

    def _next_row(self) -> PendingDelivery | None:
        while True:
            if not self.page:
                self.page = ledger.pending_page(self.db, self.cursor, alerts=self.alerts)[::-1]
                if not self.page:
                    if not self._look_again():
                        return None
                    continue
                first = self.page[0]
                self.cursor = (first.due_at, first.chat_id, first.local_date)
            item = self.page.pop()
            key = (item.chat_id, item.local_date)
            if key not in self.taken:  # a row in flight, or one that failed this run
                self.taken.add(key)
                return item

    def _look_again(self) -> bool:
        """Start over from the first row if chats were planned since the last look."""
        if _Queue.plannings == self.plannings_seen:
            return False
        self.plannings_seen, self.cursor = _Queue.plannings, _START
        return True

    def later(self, item: PendingDelivery) -> None:
        """Take ``item`` again when its chat may get its next message."""
        heapq.heappush(
            self.waiting, (self.chat_free.get(item.chat_id, 0.0), next(self.order), item)
        )

    def _held_back(self, item: PendingDelivery, now: float) -> bool:
        ready = self.chat_free.get(item.chat_id, now)
        if ready <= now:
            return False
        heapq.heappush(self.waiting, (ready, next(self.order), item))
        return True


class Broadcaster:
    """Sends pending deliveries: whole, resumable, rate-limited, retrying what can be retried."""

    def __init__(
        self,
        db: Database,
        bot: Bot,
        clock: Callable[[], datetime],
        *,
        pacing: Pacing = Pacing(),
        workers: int = 16,
        paid_broadcast: bool = False,
        alerts: bool = False,
        yield_to: Callable[[], bool] | None = None,
        chat_free: dict[int, float] | None = None,
        grace: timedelta = timedelta(hours=Settings.delivery_grace_hours),
    ) -> None:
        self.db, self.bot, self.clock, self.pacing = db, bot, clock, pacing
        self.grace = grace  # how late a delivery Telegram could not take may still go out
        self.workers, self.paid_broadcast = workers, paid_broadcast
        # Sends watchlist alerts instead of daily briefs; stops taking more when yield_to() is true.
        self.alerts, self.yield_to = alerts, yield_to
        self._resume_at = 0.0  # monotonic time before which nobody sends (after a 429)
        # Monotonic time a chat may get its next message: shared by a check's daily and alert
        # broadcasts, so a chat's alert does not follow its brief's last part at once.
        self._chat_free: dict[int, float] = {} if chat_free is None else chat_free
        self._contents: dict[str, tuple[list[str], list[PlannedStory]]] = {}

    async def run(self) -> BroadcastStats:
        """Send everything pending; one chat's failure never stops the others."""
        stats = BroadcastStats(due=ledger.pending_count(self.db, self.alerts))
        queue = _Queue(self.db, self.alerts, self._chat_free)

        def take() -> PendingDelivery | None:
            stop = self.yield_to is not None and self.yield_to()
            return None if stop else queue.take()

        async def worker() -> None:
            while (item := take()) is not None:
                if await self._deliver_one(item, stats):
                    queue.later(item)  # its next part waits its turn; other chats' go first

        # Every worker runs to the end even if one fails, so no send outlives the run.
        results = await asyncio.gather(
            *(worker() for _ in range(min(self.workers, stats.due) or 1)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.error("broadcast worker stopped: %r", result)
        return stats

    async def _deliver_one(self, item: PendingDelivery, stats: BroadcastStats) -> bool:
        """Send the next part of one chat's brief; True if more parts are to follow. Whatever
        goes wrong is recorded against that chat alone."""
        try:
            if self._retried_too_late(item, stats):
                return False
            # The chat's turn first: what is checked next (subscribed, quiet hours, /unwatch)
            # must still hold when the message goes, not only when the row was taken.
            await self._chat_turn(item.chat_id)
            if not ledger.still_wanted(self.db, item):
                ledger.cancel(
                    self.db, item, "unsubscribed or unreachable since planning", self.clock()
                )
                return False
            story_id = item.local_date.removeprefix(ledger.ALERT_PREFIX)
            if self.alerts and not alert_still_wanted(
                self.db, item.chat_id, story_id, self.clock()
            ):
                # Quiet hours came first: held like a match in them (alerts._held_until), or
                # dropped when the chat no longer follows a term the story matched.
                if not hold_until_quiet_ends(self.db, item.chat_id, story_id, self.clock()):
                    ledger.cancel(
                        self.db, item, "quiet hours or no alert term since planning", self.clock()
                    )
                return False
            return await self._deliver(item, stats)
        except Exception as exc:
            self._fail(item, Failed(f"unexpected error: {exc!r}", permanent=False), stats)
            return False

    def _retried_too_late(self, item: PendingDelivery, stats: BroadcastStats) -> bool:
        """Give up a delivery retried past its time; True if it was.

        Telegram was away, then maybe the bot: given up like a brief planned too late, not sent
        beside the next day's (README, Daily delivery). A first attempt goes out however long
        the broadcast took to reach it.
        """
        if not (item.failed_before and overdue(self.db, item, self.clock(), self.grace)):
            return False
        self._fail(item, Failed("too late to go out now", permanent=True), stats)
        return True

    def _content(self, key: str) -> tuple[list[str], list[PlannedStory]]:
        if key not in self._contents:
            self._contents[key] = ledger.content(self.db, key)
        return self._contents[key]

    async def _deliver(self, item: PendingDelivery, stats: BroadcastStats) -> bool:
        """Send the delivery's next part; True if more are to follow (each takes its turn)."""
        messages, stories = self._content(item.content_key)
        # A delivery that failed at an earlier check tries once at each: while Telegram is
        # away, a check must not spend the whole back-off on it again (later checks retry it).
        tries = 1 if item.failed_before else MAX_ATTEMPTS
        part = item.next_part
        outcome = await self._send(item.chat_id, messages[part], stats, tries)
        if isinstance(outcome, Migrated):
            if not ledger.move_delivery(self.db, item, outcome.chat_id, self.clock()):
                return False
            outcome = await self._send(item.chat_id, messages[part], stats, tries)
        if isinstance(outcome, Failed):
            self._fail(item, outcome, stats)
            return False
        if isinstance(outcome, Unconfirmed):
            stats.unconfirmed += 1
        # Committed after every part, so a restart resumes from the first unsent message.
        ledger.record_part_sent(self.db, item, part)
        if item.next_part < len(messages):
            return True
        ledger.record_delivered(self.db, item, stories, self.clock())
        stats.sent += 1
        return False

    async def _chat_turn(self, chat_id: int) -> None:
        """Wait until the chat may get another message (the parts of a brief, a chat's alerts)."""
        now = time.monotonic()
        if len(self._chat_free) > _CHAT_TURNS_KEPT:  # a big broadcast: forget chats long done
            # In place: the queue and the check's other broadcast hold the same dict.
            for done in [c for c, t in self._chat_free.items() if t <= now]:
                del self._chat_free[done]
        at = max(now, self._chat_free.get(chat_id, now))
        gap = self.pacing.part_gap if chat_id > 0 else self.pacing.group_part_gap
        self._chat_free[chat_id] = at + gap
        if at > now:
            await asyncio.sleep(at - now)

    async def _send(
        self, chat_id: int, text: str, stats: BroadcastStats, tries: int = MAX_ATTEMPTS
    ) -> Outcome:
        """Send one message, waiting out 429s and retrying network errors and 5xx (``tries``
        times); a message Telegram refuses for its text goes once more as plain text."""
        outcome = await self._attempts(chat_id, text, "HTML", stats, tries)
        if isinstance(outcome, TextRefused):
            outcome = await self._attempts(chat_id, plain_text(text), None, stats, tries)
            if isinstance(outcome, Sent):
                log.error("Telegram refused a part to chat=%s; it went as plain text", chat_id)
        return outcome

    async def _attempts(
        self,
        chat_id: int,
        text: str,
        parse_mode: str | None,
        stats: BroadcastStats,
        tries: int = MAX_ATTEMPTS,
    ) -> Outcome:
        # ``tries`` counts the network errors and 5xx, which say only that Telegram is away for
        # now; a 429 says when to try again, and is waited out up to MAX_ATTEMPTS - 1 times
        # (once, for a delivery retried past its first check: its lateness is checked again
        # before its next part).
        failures = refusals = 0
        while failures < tries and refusals < (MAX_ATTEMPTS if tries > 1 else 2):
            wait = self._resume_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self._post(chat_id, text, parse_mode)
                return Sent()
            except SendUnconfirmed as exc:
                log.warning("send to chat=%s unconfirmed (%s); not sent again", chat_id, exc)
                return Unconfirmed()
            except RetryAfter as exc:
                stats.retried += 1
                refusals += 1
                self._resume_at = max(self._resume_at, time.monotonic() + retry_seconds(exc))
            except ChatMigrated as exc:
                return Migrated(int(exc.new_chat_id))
            except Forbidden as exc:
                mark_inactive(self.db, chat_id, str(exc), self.clock())
                return Failed(f"forbidden: {exc}", permanent=True)
            except BadRequest as exc:
                problem = str(exc).lower()
                if parse_mode and any(words in problem for words in _CONTENT_REFUSED):
                    return TextRefused(f"bad request: {exc}", permanent=True)
                if any(words in problem for words in _UNREACHABLE):
                    mark_inactive(self.db, chat_id, str(exc), self.clock())
                return Failed(f"bad request: {exc}", permanent=True)
            except (TimedOut, NetworkError) as exc:
                stats.retried += 1
                failures += 1
                if failures < tries:  # no wait after the last try: later checks retry it
                    log.debug("send to %s failed (%s), retrying", chat_id, exc)
                    delay = self.pacing.retry_base * 2 ** (failures - 1)
                    await asyncio.sleep(min(delay, MAX_RETRY_WAIT))
        return Unreached("gave up for now after repeated network errors, 5xx or 429")

    async def _post(self, chat_id: int, text: str, parse_mode: str | None = "HTML") -> None:
        """sendMessage without turning the reply into a Message object we would not use."""
        params: dict[str, object] = {
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if parse_mode:
            params["parse_mode"] = parse_mode
        if self.paid_broadcast:
            params["allow_paid_broadcast"] = True
        # Bot API method names are case-insensitive; "SendMessage" takes PTB's generic path
        # (same rate limiter, same errors) and skips building a Message with all its entities,
        # ~0.7 ms of CPU per send, which is a third of a broadcast's cost.
        await self.bot.do_api_request("SendMessage", api_kwargs=params)

    def _fail(self, item: PendingDelivery, outcome: Failed, stats: BroadcastStats) -> None:
        try:
            _, stories = self._content(item.content_key)
            now = self.clock()
            failure, counted = self._verdict(item, outcome, now)
            hopeless = ledger.record_failure(
                self.db, item, stories, failure, MAX_ATTEMPTS, now, counted=counted
            )
        except Exception as exc:  # the database itself failed: say so, keep the others going
            log.error("could not record the failed delivery to chat=%s: %r", item.chat_id, exc)
            hopeless = False
        stats.failed += 1
        log.warning(
            "delivery to chat=%s failed (%s)%s",
            item.chat_id,
            outcome.reason,
            "" if hopeless else "; will retry",
        )

    def _verdict(
        self, item: PendingDelivery, outcome: Failed, now: datetime
    ) -> tuple[tuple[str, bool], bool]:
        """((reason, give up?), does it count towards MAX_ATTEMPTS?) for a failed delivery.

        An unreached one is tried again at every check until it is too late to go out (README,
        Daily delivery); any other failure has MAX_ATTEMPTS.
        """
        if not isinstance(outcome, Unreached):
            return (outcome.reason, outcome.permanent), True
        try:
            late = overdue(self.db, item, now, self.grace)
        except Exception:  # a zone this host lacks: the attempt limit ends it instead
            log.exception("could not tell whether the delivery to chat=%s is late", item.chat_id)
            return (outcome.reason, False), True
        if late:
            return (f"{outcome.reason}; too late to go out now", True), False
        return (outcome.reason, False), False


LEASE = "broadcast"


@cache
def lease_holder() -> str:
    """This process's name in the lease table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _at_most_every(seconds: float, check: Callable[[], bool]) -> Callable[[], bool]:
    """``check``, asked again only once ``seconds`` have passed; meanwhile its last answer.

    Whether a brief is due costs a scan of the pending alerts; asked before each of a 100,000
    alert burst, that grew with the square of the burst.
    """
    asked_at, answer = float("-inf"), False

    def ask() -> bool:
        nonlocal asked_at, answer
        if time.monotonic() - asked_at >= seconds:
            asked_at, answer = time.monotonic(), check()
        return answer

    return ask


async def _keep_lease(db: Database, ttl: float, lost: asyncio.Event) -> None:
    """Renew the broadcast lease until cancelled; set ``lost`` if another process took it."""
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            held = leases.acquire(db, LEASE, lease_holder(), ttl)
        except sqlite3.Error as exc:
            # Busy or failing for a moment: two more tries before the lease lapses.
            log.warning("could not renew the broadcast lease: %s", exc)
            continue
        if not held:
            log.error("another process took the broadcast lease; this one stops sending")
            lost.set()
            return


async def deliver_due(
    db: Database,
    newsroom: Newsroom,
    bot: Bot,
    settings: Settings,
    clock: Callable[[], datetime],
    later: Collection[int] = (),
    stopping: Callable[[], bool] = lambda: False,
) -> BroadcastStats | None:
    """One delivery check: plan whoever is due and any watchlist alerts, then send everything
    pending, daily briefs first. The ``later`` chats are planned at a later check; once
    ``stopping()`` (the bot is shutting down) no more chats are taken.

    Holds the database lease "broadcast" meanwhile, so that two processes on one database (an
    old and a new deploy overlapping) never both send.
    """
    now = clock()
    if not (
        dailies_waiting(db, now) or ledger.any_pending(db) or watchlists.new_match_count(db, now)
    ):
        return None
    ttl = settings.delivery_lease_seconds
    if not leases.acquire(db, LEASE, lease_holder(), ttl):
        log.info("delivery skipped: another process holds the broadcast lease")
        return None
    lost = asyncio.Event()

    def halt() -> bool:
        return lost.is_set() or stopping()

    keeper = asyncio.create_task(_keep_lease(db, ttl, lost))
    try:
        return await _plan_and_send(db, newsroom, bot, settings, clock, now, later, halt)
    finally:
        keeper.cancel()
        leases.release(db, LEASE, lease_holder())


async def plan_dailies(
    db: Database,
    newsroom: Newsroom,
    settings: Settings,
    now: datetime,
    later: Collection[int],
) -> int:
    """Plan every chat whose daily brief is due (but the ``later`` ones); how many were missed.

    While a broadcast runs it sends what is planned meanwhile too (see _Queue.take).
    """
    if not dailies_due(db, now):
        return 0
    result = await newsroom.current()
    grace = timedelta(hours=settings.delivery_grace_hours)
    missed = 0
    for planned, batch_missed in plan_batches(db, result.brief_id, result.brief, now, grace, later):
        missed += batch_missed
        _Queue.plannings += planned > 0
        # 100,000 due chats take ~9 s to plan: answer updates between batches meanwhile.
        await asyncio.sleep(0)
    return missed


async def _plan_and_send(
    db: Database,
    newsroom: Newsroom,
    bot: Bot,
    settings: Settings,
    clock: Callable[[], datetime],
    now: datetime,
    later: Collection[int],
    halt: Callable[[], bool],
) -> BroadcastStats:
    for _ in plan_alert_batches(db, now, settings.brief_window_hours, later):
        await asyncio.sleep(0)  # an alert burst to many chats: answer updates meanwhile
    missed = cancel_missed(db, now, timedelta(hours=settings.delivery_grace_hours))
    missed += await plan_dailies(db, newsroom, settings, now, later)

    chat_free: dict[int, float] = {}

    def broadcaster(**kind: object) -> Broadcaster:
        return Broadcaster(
            db,
            bot,
            clock,
            pacing=Pacing.from_settings(settings),
            paid_broadcast=settings.paid_broadcast,
            chat_free=chat_free,
            grace=timedelta(hours=settings.delivery_grace_hours),
            **kind,  # type: ignore[arg-type]
        )

    # Losing the lease (another process sends now) or shutting down stops taking more chats:
    # sends under way finish, the rest wait, pending, for the lease's holder or the restart.
    stats = await broadcaster(yield_to=halt).run()
    stats.missed = missed
    if stats.due or missed:
        ledger.record_broadcast(db, stats, now)
    # Priority: due daily briefs always go first; an alert burst stops taking alerts as soon as
    # a brief falls due (the next check sends that brief, then the rest of the alerts).
    brief_due = _at_most_every(1.0, lambda: dailies_waiting(db, clock()))
    alerts = await broadcaster(alerts=True, yield_to=lambda: halt() or brief_due()).run()
    if alerts.due:
        ledger.record_broadcast(db, alerts, now)
    return stats
