"""The operator's view: subscribers, last fetch, last brief, last broadcast, failing feeds."""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from bot.config import Settings
from bot.models import FeedSpec
from bot.news.feeds import FeedsFileError, load_feeds
from bot.storage import chats, news_store
from bot.storage.db import open_db

# How long `status` (the Docker health check, 30 s timeout) lets SQLite's quick_check run: a
# cached 100 MB database takes under 0.1 s, so only a huge or very slow one is left unchecked.
STATUS_CHECK_SECONDS = 5.0
DAMAGED = "the database file is damaged"
NO_DATABASE = (
    "there is no database file there: check DATABASE_PATH (the bot creates it when it first starts)"
)


EMPTY_DATABASE = (
    "the database file is empty (0 bytes): it was truncated, or never initialised (the bot "
    "creates the tables when it starts; if it has run before, restore a backup)"
)


def empty_file_problem(path: Path) -> str | None:
    """Plain words when the file at ``path`` holds no bytes (SQLite would call it a new database)."""
    # Opening it would write a fresh schema into it and call a truncated database healthy.
    return EMPTY_DATABASE if path.is_file() and path.stat().st_size == 0 else None


def folder_problem(path: Path) -> str | None:
    """Plain words when DATABASE_PATH names a folder (SQLite calls that a disk I/O error)."""
    if not path.is_dir():
        return None
    return (
        "this is a folder, not a database file: set DATABASE_PATH to a file in it, such as "
        f"{path / 'securitybrief.db'}"
    )


# SQLite's primary result codes (sqlite3.Error.sqlite_errorname) and errno values that mean
# the disk or the database file, not our logic and not the network.
_SQLITE_CODES = {
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_IOERR": "the disk failed to read or write",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
    "SQLITE_CORRUPT": DAMAGED,
    "SQLITE_NOTADB": DAMAGED,
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
    ("malformed", DAMAGED),
    ("not a database", DAMAGED),
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


def _read_only_uri(path: Path) -> str:
    # as_uri() percent-encodes '#', '?' and '%', which SQLite would read as URI syntax.
    return path.resolve().as_uri() + "?mode=ro"


def check_integrity(path: Path, budget_seconds: float | None = None) -> str | None:
    """Plain words when SQLite's quick_check finds the file at ``path`` damaged; None when it is
    sound, or when the check ran out of ``budget_seconds`` (None: no limit)."""
    conn = sqlite3.connect(_read_only_uri(path), uri=True, timeout=10)
    try:
        if budget_seconds is not None:
            deadline = time.monotonic() + budget_seconds
            conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        # (1): the first finding is enough, and a damaged file is not read to its end.
        finding = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_INTERRUPT":
            return None  # out of time: not known to be damaged
        if storage_problem(exc) != DAMAGED:
            raise  # the disk or the path, not the file's contents: the caller names it
        return f"{DAMAGED} ({exc})"
    finally:
        conn.close()
    if finding == "ok":
        return None
    return f"{DAMAGED} (quick_check: {' '.join(str(finding).split())})"


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
            if not self.last_success:
                return f"failing since its first fetch ({self.failures}x): {self.error}"
            since = self.last_success[:16].replace("T", " ")
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


def failing_feeds(db: Database, feeds: Sequence[FeedSpec] | None) -> list[FeedState]:
    """The failing feeds by name: of ``feeds`` (a feed taken off the list is no longer
    fetched, so its last failure would stand for ever), or of every feed stored when None."""
    if feeds is not None:
        failing = (f for f in feed_states(db, feeds) if f.state == "failing")
        return sorted(failing, key=lambda f: f.name)
    return [
        feed_state(row["name"], row)
        for row in db.query("select * from feeds where consecutive_failures > 0 order by name")
    ]


def snapshot(db: Database, feeds: Sequence[FeedSpec] | None = None) -> Snapshot:
    """Read the operator's figures from the database (feed health of ``feeds`` when given)."""
    last_brief = db.execute("select generated_at from briefs order by id desc limit 1").fetchone()
    return Snapshot(
        counts=chats.counts(db),
        last_fetch=db.execute("select max(last_fetched) from feeds").fetchone()[0],
        last_brief=last_brief[0] if last_brief else None,
        last_broadcast=next(
            iter(db.query("select * from broadcasts order by started_at desc limit 1")), None
        ),
        failing=failing_feeds(db, feeds),
        feeds_total=db["feeds"].count if feeds is None else len(feeds),
    )


def _status(
    db: Database, now: datetime, feeds: Sequence[FeedSpec] | None
) -> tuple[list[str], str | None]:
    """The status lines and the storage probe's finding (None when the database is writable)."""
    snap = snapshot(db, feeds)
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


def status_lines(db: Database, now: datetime, feeds: Sequence[FeedSpec] | None = None) -> list[str]:
    """Plain-text status lines, shared by /stats and ``securitybrief status``; ``feeds``: the
    configured feeds (None: every feed ever stored)."""
    return _status(db, now, feeds)[0]


def status_report(settings: Settings, now: datetime) -> tuple[list[str], bool]:
    """``securitybrief status``: the status lines, and False when the database is not usable."""
    path = settings.database_path
    if not path.exists():
        # Opening it would create an empty one and call a mistyped DATABASE_PATH healthy.
        return [f"Database: ✘ {NO_DATABASE} ({path})"], False
    if folder := folder_problem(path):
        return [f"Database: ✘ {path}: {folder}"], False
    try:
        if empty := empty_file_problem(path):
            return [f"Database: ✘ {empty} ({path})"], False
        # Before open_db, which would run pending migrations on a damaged file.
        problem = check_integrity(path, STATUS_CHECK_SECONDS)
        if problem:
            return [f"Database: ✘ {problem} ({path})"], False
        db = open_db(path)
    except (sqlite3.Error, OSError) as exc:
        words = storage_problem(exc) or "the database cannot be used"
        return [f"Database: ✘ {words} ({path}): {type(exc).__name__}: {exc}"], False
    try:
        feeds, feeds_problem = _configured_feeds(settings)
        lines, problem = _status(db, now, feeds)
    finally:
        db.close()
    if feeds_problem:
        lines.append(f"Feeds file: ✘ {feeds_problem}")
    return lines, problem is None and feeds_problem is None


def _configured_feeds(settings: Settings) -> tuple[list[FeedSpec] | None, str | None]:
    """The feeds FEEDS_FILE lists, or None and why it cannot be read."""
    try:
        return load_feeds(settings.feeds_file), None
    except FeedsFileError as exc:
        return None, str(exc)


def health(
    db: Database, settings: Settings, now: datetime, feeds: Sequence[FeedSpec] | None = None
) -> dict:
    """What /healthz reports; "degraded" when no fetch succeeded for three intervals.
    ``feeds``: the configured feeds, whose failures are listed (None: every feed stored)."""
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
        "failing_feeds": [f.name for f in failing_feeds(db, feeds)],
    }
