"""Write transactions that hold SQLite's write lock from their start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlite_utils import Database


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """Like ``db.atomic()``, but holding the write lock from the start (BEGIN IMMEDIATE)."""
    # A deferred BEGIN that reads and then writes fails at once with "database is locked",
    # without waiting, when another connection wrote in between: its snapshot is stale.
    # BEGIN IMMEDIATE waits (busy_timeout) for the lock before anything is read.
    if db.conn.in_transaction:  # a savepoint: the enclosing transaction already decided
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise
