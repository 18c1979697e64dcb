"""Consistent copies of the live database, with SQLite's online backup API."""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from pathlib import Path


class BackupError(RuntimeError):
    """The backup could not be made or did not verify."""


def _source_uri(source: Path) -> str:
    """A read-only SQLite URI for ``source``, whatever characters its path holds."""
    # as_uri() percent-encodes '#', '?' and '%', which SQLite would otherwise read as a fragment,
    # a query or an escape and so open another file; mode=ro also refuses to create one.
    return source.resolve().as_uri() + "?mode=ro"


def backup(source: Path, target: Path) -> int:
    """Copy the live database at ``source`` to ``target`` in one step; return its page count."""
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError("the backup target is the live database itself")
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        pages = _copy(source, partial, target)
        partial.replace(target)
    except BaseException as exc:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            # Only mkdir raises it: a file stands where a directory of the path should be.
            raise BackupError(
                f"cannot write the backup to {target}: {exc.filename} is a file, not a directory"
            ) from None
        if isinstance(exc, OSError):
            raise BackupError(
                f"cannot write the backup to {target}: {exc.strerror or exc}"
            ) from None
        raise
    return pages


def _copy(source: Path, partial: Path, target: Path) -> int:
    """Back ``source`` up into ``partial`` and verify it; the copy's page count."""
    try:
        src = sqlite3.connect(_source_uri(source), uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open the database at {source}: {exc}") from None
    try:
        try:
            # An absolute path: a relative one starting with "file:" could be read as a URI.
            dst = sqlite3.connect(partial.resolve())
        except sqlite3.Error as exc:
            raise BackupError(f"cannot write the backup to {target}: {exc}") from None
        try:
            # One step, under one read snapshot. Copied in slices, the backup restarts from the
            # first page whenever another connection commits, so a large database the bot
            # commits to several times a second was never done. In WAL mode the snapshot does
            # not hold the bot's writes up.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            pages: int = dst.execute("PRAGMA page_count").fetchone()[0]
        except sqlite3.Error as exc:
            raise BackupError(f"backup failed: {exc}") from None
        finally:
            dst.close()
    finally:
        src.close()
    if check != "ok":
        raise BackupError(f"the copy failed its integrity check: {check}")
    return pages
