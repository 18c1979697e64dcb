"""Leases: a named job runs in one process at a time, even with several processes on one database."""

from __future__ import annotations

import time

from sqlite_utils import Database


def acquire(db: Database, name: str, holder: str, ttl: float, now: float | None = None) -> bool:
    """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds; False if another holds it."""
    moment = time.time() if now is None else now
    with db.atomic():
        db.execute(
            "insert into leases (name, holder, expires_at) values (?, ?, ?) "
            "on conflict(name) do update set holder = excluded.holder, expires_at = excluded.expires_at "
            "where leases.holder = excluded.holder or leases.expires_at < ?",
            [name, holder, moment + ttl, moment],
        )
        row = db.execute("select holder from leases where name = ?", [name]).fetchone()
    return row is not None and row[0] == holder


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up, if ``holder`` still has it."""
    db.execute("delete from leases where name = ? and holder = ?", [name, holder])
