"""The SQLite database: opening it and its versioned schema."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

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


def open_db(path: Path | str) -> Database:
    """Open (creating if needed) the database at ``path``, in WAL mode, fully migrated."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(path)
    # Other processes (CLI, backups) may hold the lock briefly; wait rather than fail.
    db.execute("PRAGMA busy_timeout = 10000")
    db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    MIGRATIONS.apply(db)
    return db


def schema_version(db: Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first."""
    return [m.name for m in MIGRATIONS.applied(db)]
