"""The operator's view: subscribers, last fetch, last brief, last broadcast, failing feeds."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.config import Settings
from bot.models import FeedSpec
from bot.storage import chats, news_store
from bot.storage.db import open_db

# SQLite's primary result codes (sqlite3.Error.sqlite_errorname) and errno values that mean
# the disk or the database file, not our logic and not the network.
_SQLITE_CODES = {
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_IOERR": "the disk failed to read or write",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
    "SQLITE_CORRUPT": "the database file is damaged",
    "SQLITE_NOTADB": "the database file is damaged",
}
_ERRNOS = {
    errno.EROFS: "the database is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk is full",
    errno.EIO: "the disk failed to read or write",
}
_MESSAGES = (
    ("readonly", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("disk is full", "the disk is full"),
    ("disk i/o error", "the disk failed to read or write"),
    ("unable to open database", "the database file cannot be opened"),
    ("malformed", "the database file is damaged"),
    ("not a database", "the database file is damaged"),
)


def storage_problem(error: BaseException | str | None) -> str | None:
    """Plain words for a disk or database-file failure ("the disk is full"); None for anything else."""
    if error is None:
        return None
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "") or ""
        for code, words in _SQLITE_CODES.items():
            if name == code or name.startswith(code + "_"):
                return words
    if isinstance(error, OSError) and error.errno in _ERRNOS:
        return _ERRNOS[error.errno]
    if isinstance(error, BaseException) and not isinstance(error, sqlite3.Error | OSError):
        return None  # only database and file errors are disk problems, whatever they say
    text = str(error).lower()
    return next((words for needle, words in _MESSAGES if needle in text), None)


def probe_storage(db: Database) -> str | None:
    """Try a small write and roll it back; plain words when the disk or database refuses it."""
    if db.conn.in_transaction:
        return None  # someone is writing right now, so writing works
    waited = db.execute("PRAGMA busy_timeout").fetchone()[0]
    # Called on the bot's event loop: never wait long for another process's write lock.
    db.execute("PRAGMA busy_timeout = 100")
    try:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            # A new table needs a fresh page: this fails on a full disk as well as a read-only one.
            db.conn.execute("CREATE TABLE _storage_probe (x)")
        finally:
            db.conn.execute("ROLLBACK")
    except (sqlite3.Error, OSError) as exc:
        return storage_problem(exc)  # None when merely busy: that is not a disk problem
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(waited)}")
    return None


def _ago(text: str | None, now: datetime) -> str:
    if not text:
        return "never"
    minutes = int((now - news_store.from_iso(text)).total_seconds() // 60)
    if minutes < 60:
        return f"{text[:16].replace('T', ' ')} UTC ({minutes} min ago)"
    return f"{text[:16].replace('T', ' ')} UTC ({minutes // 60} h {minutes % 60} min ago)"


@dataclass(frozen=True)
class FeedState:
    """One feed's health as every view shows it (/sources, ``feeds``, ``status``, /stats)."""

    name: str
    state: str  # "never" (not fetched yet), "ok" or "failing"
    last_success: str | None
    items: int
    error: str
    failures: int

    def summary(self) -> str:
        """The health in plain words."""
        if self.state == "never":
            return "not fetched yet"
        if self.state == "failing":
            since = (self.last_success or "ever")[:16].replace("T", " ")
            return f"failing since {since} ({self.failures}x): {self.error}"
        return f"working, {self.items} items in feed"


def feed_state(name: str, row: dict) -> FeedState:
    """Read a ``feeds`` health row (empty for a feed never fetched)."""
    failures = row.get("consecutive_failures") or 0
    state = "never" if not row.get("last_fetched") else ("failing" if failures else "ok")
    return FeedState(
        name=name,
        state=state,
        last_success=row.get("last_success"),
        items=row.get("item_count") or 0,
        error=row.get("last_error") or "",
        failures=failures,
    )


def feed_states(db: Database, specs: Iterable[FeedSpec]) -> list[FeedState]:
    """The health of each configured feed, in the configured order."""
    rows = {row["url"]: row for row in news_store.feed_health(db)}
    return [feed_state(spec.name, rows.get(spec.url, {})) for spec in specs]


@dataclass(frozen=True)
class Snapshot:
    """What the operator views are made of, read in one place."""

    counts: dict[str, int]
    last_fetch: str | None
    last_brief: str | None
    last_broadcast: dict | None
    failing: list[FeedState]
    feeds_total: int


def snapshot(db: Database) -> Snapshot:
    """Read the operator's figures from the database."""
    last_brief = db.execute("select generated_at from briefs order by id desc limit 1").fetchone()
    return Snapshot(
        counts=chats.counts(db),
        last_fetch=db.execute("select max(last_fetched) from feeds").fetchone()[0],
        last_brief=last_brief[0] if last_brief else None,
        last_broadcast=next(
            iter(db.query("select * from broadcasts order by started_at desc limit 1")), None
        ),
        failing=[
            feed_state(row["name"], row)
            for row in db.query("select * from feeds where consecutive_failures > 0 order by name")
        ],
        feeds_total=db["feeds"].count,
    )


def _status(db: Database, now: datetime) -> tuple[list[str], str | None]:
    """The status lines and the storage probe's finding (None when the database is writable)."""
    snap = snapshot(db)
    counts, last = snap.counts, snap.last_broadcast
    lines = [
        f"Subscribers: {counts['active']} active, {counts['inactive']} inactive ({counts['chats']} chats seen)",
        f"Last fetch: {_ago(snap.last_fetch, now)}",
        f"Last brief: {_ago(snap.last_brief, now)}",
    ]
    if last:
        lines.append(
            f"Last broadcast: {_ago(last['started_at'], now)}: {last['due']} due, {last['sent']} sent, "
            f"{last['failed']} failed, {last['retried']} retried, {last['duration'] or 0:.1f} s"
        )
    else:
        lines.append("Last broadcast: never")
    lines.append(f"Feeds failing: {len(snap.failing)} of {snap.feeds_total}")
    lines += [f"  - {f.name}: {f.summary()}" for f in snap.failing]
    problem = probe_storage(db)
    lines.append(f"Database: ✘ {problem}" if problem else "Database: writable")
    return lines, problem


def status_lines(db: Database, now: datetime) -> list[str]:
    """Plain-text status lines, shared by /stats and ``securitybrief status``."""
    return _status(db, now)[0]


def status_report(settings: Settings, now: datetime) -> tuple[list[str], bool]:
    """``securitybrief status``: the status lines, and False when the database is not usable."""
    try:
        db = open_db(settings.database_path)
    except (sqlite3.Error, OSError) as exc:
        words = storage_problem(exc) or "the database cannot be used"
        return [
            f"Database: ✘ {words} ({settings.database_path}): {type(exc).__name__}: {exc}"
        ], False
    try:
        lines, problem = _status(db, now)
    finally:
        db.close()
    return lines, problem is None


def health(db: Database, settings: Settings, now: datetime) -> dict:
    """What /healthz reports; "degraded" when no fetch succeeded for three intervals."""
    last_fetch, last_success = db.execute(
        "select max(last_fetched), max(last_success) from feeds"
    ).fetchone()
    stale = last_success is None or news_store.from_iso(last_success) < now - timedelta(
        minutes=3 * settings.fetch_interval_minutes
    )
    # By the primary key, not the unindexed started_at: runs are recorded in the order they
    # start (a check's brief and alert runs share one started_at).
    last_broadcast = db.execute(
        "select started_at from broadcasts order by id desc limit 1"
    ).fetchone()
    return {
        "status": "degraded" if stale else "ok",
        "last_fetch": last_fetch,
        "last_broadcast": last_broadcast[0] if last_broadcast else None,
        "failing_feeds": [
            r[0]
            for r in db.execute(
                "select name from feeds where consecutive_failures > 0 order by name"
            )
        ],
    }
