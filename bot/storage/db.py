"""The SQLite database: opening it and its versioned schema."""

from __future__ import annotations

import sqlite3
import time
from functools import cache
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.storage.transactions import write_transaction

MIGRATIONS = Migrations("securitybrief")


@MIGRATIONS(name="0001_pipeline")
def _pipeline(db: Database) -> None:
    db["feeds"].create(
        {
            "url": str,
            "name": str,
            "language": str,
            "weight": float,
            "etag": str,
            "last_modified": str,
            "last_fetched": str,
            "last_success": str,
            "last_error": str,
            "consecutive_failures": int,
            "next_attempt": str,
            "item_count": int,
        },
        pk="url",
        not_null={"name"},
        defaults={"consecutive_failures": 0, "weight": 1.0, "item_count": 0},
    )
    db["stories"].create(
        {
            "id": str,
            "headline": str,
            "summary": str,
            "region": str,
            "topics": str,
            "score": float,
            "first_seen": str,
            "updated_at": str,
            "outlet_count": int,
            "fingerprint": str,
        },
        pk="id",
    )
    db["articles"].create(
        {
            "url": str,
            "guid": str,
            "feed_url": str,
            "outlet": str,
            "title": str,
            "description": str,
            "published": str,
            "first_seen": str,
            "language": str,
            "score": float,
            "topics": str,
            "region": str,
            "story_id": str,
        },
        pk="url",
        not_null={"feed_url", "outlet", "title", "published"},
        foreign_keys=[("story_id", "stories", "id")],
    )
    db["articles"].create_index(["published"])
    db["articles"].create_index(["story_id"])
    db["briefs"].create(
        {"id": int, "generated_at": str, "window_hours": int, "payload": str},
        pk="id",
        not_null={"generated_at", "payload"},
    )


@MIGRATIONS(name="0002_chats")
def _chats(db: Database) -> None:
    db["chats"].create(
        {
            "chat_id": int,
            "type": str,
            "title": str,
            "subscribed": int,
            "active": int,
            "timezone": str,
            "delivery_time": str,
            "brief_length": str,
            "regions": str,
            "topics": str,
            "next_due": str,
            "created_at": str,
            "updated_at": str,
            "inactive_reason": str,
        },
        pk="chat_id",
        not_null={"type", "timezone", "delivery_time"},
        defaults={"subscribed": 0, "active": 1, "brief_length": "short"},
    )
    # The minute-by-minute delivery check reads only this index, whatever the subscriber count.
    db["chats"].create_index(["subscribed", "active", "next_due"], index_name="chats_due")
    db["sent_stories"].create(
        {"chat_id": int, "story_id": str, "fingerprint": str, "sent_at": str, "via": str},
        pk=("chat_id", "story_id"),
    )


@MIGRATIONS(name="0003_delivery")
def _delivery(db: Database) -> None:
    db["sent_stories"].add_column("updates", int, not_null_default=0)
    db["contents"].create(
        {"key": str, "brief_id": int, "messages": str, "stories": str, "created_at": str},
        pk="key",
        not_null={"messages", "stories"},
    )
    db["deliveries"].create(
        {
            "chat_id": int,
            "local_date": str,
            "due_at": str,
            "content_key": str,
            "next_part": int,
            "status": str,
            "attempts": int,
            "last_error": str,
            "created_at": str,
            "sent_at": str,
        },
        # One row per chat per local day is what makes "once a day" hold across restarts.
        pk=("chat_id", "local_date"),
        not_null={"due_at", "content_key", "status"},
        defaults={"next_part": 0, "attempts": 0},
        foreign_keys=[("content_key", "contents", "key")],
    )
    db["deliveries"].create_index(["status"], index_name="deliveries_status")
    db["broadcasts"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "due": int,
            "sent": int,
            "failed": int,
            "retried": int,
            "duration": float,
        },
        pk="id",
    )


@MIGRATIONS(name="0004_article_text")
def _article_text(db: Database) -> None:
    db["articles"].add_column("body", str)


@MIGRATIONS(name="0005_pending_order")
def _pending_order(db: Database) -> None:
    # The broadcaster pages through pending deliveries in this order.
    db["deliveries"].create_index(
        ["status", "due_at", "chat_id", "local_date"], index_name="deliveries_pending_order"
    )
    db.execute("drop index if exists deliveries_status")  # a prefix of the new one


@MIGRATIONS(name="0006_leases")
def _leases(db: Database) -> None:
    # Who may run the broadcast: one holder at a time across processes (an old and a new deploy).
    db["leases"].create({"name": str, "holder": str, "expires_at": float}, pk="name")
    db["broadcasts"].add_column("unconfirmed", int, not_null_default=0)


@MIGRATIONS(name="0007_sent_articles")
def _sent_articles(db: Database) -> None:
    # Every article URL a chat was shown, so no link is sent to a chat twice (issue 10, section 5).
    db["sent_articles"].create(
        {"chat_id": int, "url": str, "story_id": str, "sent_at": str, "via": str},
        pk=("chat_id", "url"),
    )
    db["sent_articles"].create_index(["sent_at"])


@MIGRATIONS(name="0008_watchlists")
def _watchlists(db: Database) -> None:
    # A chat's terms: ``key`` is the normalised form matched (bot.news.watch.normalise).
    db["watch_terms"].create(
        {"chat_id": int, "key": str, "term": str, "mode": str, "created_at": str},
        pk=("chat_id", "key"),
        not_null={"term", "mode"},
    )
    db["watch_terms"].create_index(["key"])
    db["watch_quiet"].create({"chat_id": int, "quiet": str}, pk="chat_id")
    # Which term an article matched, once per term whoever watches it (a popular term on
    # thousands of lists must not write thousands of rows per article); chats join through
    # watch_terms.key. State 'new' waits for alert planning.
    _create_watch_matches(db)
    # Matched articles grouped into stories the way the brief groups them.
    db["watch_stories"].create(
        {"id": str, "payload": str, "updated_at": str}, pk="id", not_null={"payload"}
    )
    db["watch_articles"].create({"url": str, "story_id": str}, pk="url", not_null={"story_id"})
    db["watch_articles"].create_index(["story_id"])
    db["articles"].create_index(["first_seen"])


@MIGRATIONS(name="0009_article_last_seen")
def _article_last_seen(db: Database) -> None:
    # When a feed last carried the article: one still carried is kept however old, so that
    # pruning it does not bring it back as new (and undated) at the next fetch.
    db["articles"].add_column("last_seen", str)
    db.execute("update articles set last_seen = first_seen")
    db["articles"].create_index(["last_seen"])


def _create_watch_matches(db: Database) -> None:
    """The watch_matches table and its indexes (0008 makes it; 0010 where 0008 did not)."""
    db["watch_matches"].create(
        {"url": str, "key": str, "state": str, "found_at": str},
        pk=("url", "key"),
        not_null={"state", "found_at"},
    )
    db["watch_matches"].create_index(["key", "found_at"])
    db["watch_matches"].create_index(["state"])
    db["watch_matches"].create_index(["found_at"])


@MIGRATIONS(name="0010_watch_hits")
def _watch_hits(db: Database) -> None:
    # 0008 was changed after release c181bd7 shipped: its databases have watch_hits (a row per
    # chat, article and term) and no watch_matches, made here as today's 0008 makes it.
    if "watch_matches" not in db.table_names():
        _create_watch_matches(db)
    if "watch_hits" in db.table_names():
        # One match per article and term, new while any chat's hit awaited alert planning
        # (planning it again alerts no chat twice), found when it was first found.
        db.execute(
            "insert or ignore into watch_matches (url, key, state, found_at) "
            "select url, key, case when max(state = 'new') then 'new' else 'done' end, "
            "min(found_at) from watch_hits group by url, key order by min(found_at), url, key"
        )
        db["watch_hits"].drop()


@MIGRATIONS(name="0011_prune_indexes")
def _prune_indexes(db: Database) -> None:
    # prune runs after every fetch round: it finds old rows by these instead of reading every
    # row of tables that grow with the number of chats. deliveries.content_key also serves the
    # foreign key check of each deleted contents row.
    db["sent_stories"].create_index(["sent_at"])
    db["deliveries"].create_index(["content_key"])
    db["contents"].create_index(["created_at"])


@MIGRATIONS(name="0012_chat_moves")
def _chat_moves(db: Database) -> None:
    # Groups that became supergroups: a handler that began under the old id (a /latest waiting
    # on a refresh) finds where the chat's settings and history went meanwhile.
    db["chat_moves"].create({"old_id": int, "new_id": int, "moved_at": str}, pk="old_id")


# A first start after an upgrade may migrate for a while (0009 rewrote every article, ~11 s
# for 1 GB): another process opening the file meanwhile waits this long for it, not 10 s.
MIGRATION_WAIT_MS = 300_000


def open_db(path: Path | str) -> Database:
    """Open (creating if needed) the database at ``path``, in WAL mode, fully migrated."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        # Other processes (CLI, backups) may hold the lock briefly; wait rather than fail.
        db.execute("PRAGMA busy_timeout = 10000")
        _enable_wal(db)
    except (OSError, sqlite3.Error) as exc:  # a folder that is a file, no permission, not SQLite
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DatabaseUnavailable(f"cannot open the database at {path}: {reason}") from exc
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    try:
        _migrate(db, path)
    except NewerDatabase:
        db.close()
        raise
    return db


def _enable_wal(db: Database, wait: float = 10.0) -> None:
    """Switch the file to WAL mode (a no-op once it is)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            db.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            # Processes switching a new file at once: SQLite refuses one at once rather than
            # wait, as each holds a lock the other needs to switch.
            if not exc.sqlite_errorname.startswith("SQLITE_BUSY") or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _migrate(db: Database, path: Path) -> None:
    """Apply the pending migrations, each once even when several processes open the file."""
    if not _pending(db, path):  # the usual open: nothing to apply, no lock to wait for
        return
    waited = db.execute("PRAGMA busy_timeout").fetchone()[0]
    db.execute(f"PRAGMA busy_timeout = {MIGRATION_WAIT_MS}")
    try:
        with write_transaction(db):
            # Another process may have applied them while this one waited for the lock.
            if _pending(db, path):
                MIGRATIONS.apply(db)
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(waited)}")


def _pending(db: Database, path: Path) -> bool:
    """Whether a migration is still to apply; NewerDatabase if one applied is unknown here."""
    applied = [m.name for m in MIGRATIONS.applied(db)]
    unknown = [name for name in applied if name not in _known_migrations()]
    if unknown:
        raise NewerDatabase(
            f"the database at {path} was written by a newer Security Brief (migration "
            f"{unknown[-1]}): upgrade this one, or point DATABASE_PATH at a backup made by it"
        )
    return not _known_migrations() <= set(applied)


@cache
def _known_migrations() -> frozenset[str]:
    """Every migration this code has (all are pending on an empty database)."""
    return frozenset(m.name for m in MIGRATIONS.pending(Database(memory=True)))


class DatabaseUnavailable(sqlite3.OperationalError):
    """The database file cannot be opened or created where DATABASE_PATH points."""


class NewerDatabase(sqlite3.DatabaseError):
    """The database's schema is newer than this code knows: writing to it could corrupt it."""


def schema_version(db: Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first."""
    return [m.name for m in MIGRATIONS.applied(db)]
