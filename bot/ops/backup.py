"""Consistent copies of the live database, with SQLite's online backup API."""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlite_utils import Database

from bot.storage.db import MIGRATIONS

# The files SQLite keeps beside a database while it is in use, or after a crash.
SIDECARS = ("-wal", "-shm", "-journal")
# Those SQLite applies when it opens a database: the -wal's commits, a hot -journal's undo (the
# -shm is only an index it rebuilds).
_REPLAYED = ("-wal", "-journal")
# SQLite's unix VFS locks these bytes (the lock-byte page, 1 GiB into the file; every SQLite
# version uses the same ones, or they could not share a file). A connection holds a read lock
# on them for as long as it has a WAL-mode database open.
_LOCK_START, _LOCK_LENGTH = 0x40000000, 512


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
    if _same_file(target, source):
        raise BackupError("the backup target is the live database itself")
    for suffix in SIDECARS:
        # Replacing the live database's -wal (or -shm, -journal) would lose or corrupt its data.
        if _same_file(target, _sidecar(source, suffix)):
            raise BackupError(f"the backup target is the live database's {suffix} file")
    _refuse_if_open(target)
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        # Owner read-write while SQLite writes into it: a read-only database's bits (0444) on
        # the partial copy would make the write fail. The copy gets the source's bits once done.
        _create_private(partial, 0o600)
        pages = _copy(source, partial, target)
        os.chmod(partial, stat.S_IMODE(source.stat().st_mode))
        # An older copy's -wal or -journal left beside the target would be read with this one.
        for suffix in SIDECARS:
            _sidecar(target, suffix).unlink(missing_ok=True)
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


def _sidecar(database: Path, suffix: str) -> Path:
    return database.with_name(database.name + suffix)


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (through links too), existing or not."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _create_private(path: Path, mode: int) -> None:
    """Create ``path`` empty with exactly ``mode`` (the umask would widen a copy of a 0600
    database to 0644), before any data goes in."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


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


def restore(backup_file: Path, database: Path, with_wal: bool = False) -> int:
    """Replace ``database`` with a verified copy of ``backup_file``; its page count.

    Refused while any process has the database open. Its -wal, -shm and -journal go too: SQLite
    would otherwise replay a crashed process's -wal onto the restored file. A -wal or -journal
    beside the backup is read with it when ``with_wal``; otherwise the restore is refused.
    """
    if _same_file(backup_file, database):
        raise BackupError("the backup is the database itself")
    beside = _replayed_beside(backup_file)
    if beside and not with_wal:
        suffix, sidecar = next(iter(beside.items()))
        raise BackupError(_SIDECAR_CHOICE[suffix].format(sidecar=sidecar))
    database.parent.mkdir(parents=True, exist_ok=True)
    temp = database.with_name(f".{database.name}.restoring")
    try:
        with _held_exclusively(database):
            # A restore killed midway may have left them: SQLite would replay an old -wal.
            _remove_with_sidecars(temp)
            pages = _install(backup_file, temp, database)
    finally:
        _remove_with_sidecars(temp)
    return pages


def _remove_with_sidecars(path: Path) -> None:
    """Delete ``path`` and its -wal, -shm and -journal, those that exist."""
    for leftover in (path, *(_sidecar(path, suffix) for suffix in SIDECARS)):
        with suppress(OSError):
            leftover.unlink(missing_ok=True)


def _refuse_if_open(target: Path) -> None:
    """BackupError when a process has ``target`` open as a database: its -wal would go."""
    try:
        fd = os.open(target, os.O_RDWR)
    except OSError:
        return  # none there, or not ours to write: replacing it needs only the folder
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, _LOCK_LENGTH, _LOCK_START)
    except (BlockingIOError, PermissionError):
        raise BackupError(
            f"{target} is a database another process has open: back up to another path"
        ) from None
    except OSError:
        pass  # a filesystem without locks: nothing to tell
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _held_exclusively(database: Path) -> Iterator[None]:
    """Hold SQLite's locks on ``database`` (when it exists) so that nobody opens it meanwhile;
    BackupError when a process (the bot) has it open."""
    if not database.exists():
        yield
        return
    try:
        fd = os.open(database, os.O_RDWR)
    except OSError as exc:
        raise BackupError(f"cannot restore over {database}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, _LOCK_LENGTH, _LOCK_START)
        except OSError:
            raise BackupError(
                f"the database at {database} is in use (is the bot running?): stop the bot first"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _install(backup_file: Path, temp: Path, database: Path) -> int:
    """Copy, verify and durably rename the backup over ``database``; its page count."""
    try:
        _copy_private(backup_file, temp)
        # Copied rather than opened in place, so the backup's own files stay as they are.
        for suffix, sidecar in _replayed_beside(backup_file).items():
            _copy_private(sidecar, _sidecar(temp, suffix))
        pages = _verify(temp, backup_file)
        if database.exists():
            _take_over_ownership(temp, database)
        else:
            # The backup's bits, and the owner may write: a read-only backup (0444) must not
            # become a database the bot cannot write to.
            os.chmod(temp, stat.S_IMODE(backup_file.stat().st_mode) | stat.S_IWUSR)
        _fsync(temp)
        for suffix in SIDECARS:
            _sidecar(database, suffix).unlink(missing_ok=True)
        temp.replace(database)
        _fsync(database.parent)
    except OSError as exc:
        raise BackupError(f"cannot restore to {database}: {exc.strerror or exc}") from None
    return pages


# SQLite ties no -wal to its file: beside a backup, one may hold commits the file lacks (a copy
# of a live database) or be an older copy's (left when the file was replaced). Only the person
# who made the copy can tell, so restore asks rather than guesses either way.
_SIDECAR_CHOICE = {
    "-wal": (
        "{sidecar} lies beside the backup: if it was copied with the backup (a copy of the live "
        "database), restore with --with-wal to keep the changes it holds; if it is an older "
        "copy's, delete it and restore again. (`securitybrief backup` makes copies without one.)"
    ),
    # A hot journal holds what undoes a change left half done: without it, the half stays.
    "-journal": (
        "{sidecar} lies beside the backup: a change to it was left unfinished; restore with "
        "--with-wal so that SQLite undoes it (do not delete it: the half-made change would stay)."
    ),
}


def _replayed_beside(backup_file: Path) -> dict[str, Path]:
    """The non-empty -wal and -journal that SQLite would read with ``backup_file``, by suffix."""
    # SQLite looks for them beside the file a symbolic link points to.
    found = {suffix: _sidecar(backup_file.resolve(), suffix) for suffix in _REPLAYED}
    return {s: path for s, path in found.items() if path.is_file() and path.stat().st_size > 0}


def _copy_private(source: Path, target: Path) -> None:
    """Copy ``source``'s bytes to a new ``target`` that only its owner can read."""
    # Private from the start: the umask would let anyone read chat ids meanwhile.
    _create_private(target, 0o600)
    with source.open("rb") as src, target.open("r+b") as dst:
        shutil.copyfileobj(src, dst)


def _verify(copy: Path, backup_file: Path) -> int:
    """Check ``copy`` is a sound Security Brief database this version knows; its page count."""
    try:
        conn = sqlite3.connect(copy.resolve())
        try:
            check = conn.execute("PRAGMA integrity_check(1)").fetchone()[0]
            # A plain copy of a live database may be in WAL mode: make it one self-contained file.
            conn.execute("PRAGMA journal_mode = DELETE")
            applied = [m.name for m in MIGRATIONS.applied(Database(conn))]
            pages: int = conn.execute("PRAGMA page_count").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{backup_file} is not a usable database: {exc}") from None
    if check != "ok":
        raise BackupError(f"{backup_file} failed its integrity check: {' '.join(check.split())}")
    if not applied:
        raise BackupError(f"{backup_file} is not a Security Brief database")
    known = {m.name for m in MIGRATIONS.pending(Database(memory=True))}
    if not set(applied) <= known:
        raise BackupError(
            f"{backup_file} was written by a newer Security Brief: upgrade this one first"
        )
    return pages


def _take_over_ownership(path: Path, model: Path) -> None:
    """Give ``path`` the owner and permission bits of ``model``, the file it replaces (run as
    root, a copy owned by root would leave the bot unable to write its own database)."""
    info = model.stat()
    if (path.stat().st_uid, path.stat().st_gid) != (info.st_uid, info.st_gid):
        try:
            os.chown(path, info.st_uid, info.st_gid)
        except PermissionError:
            raise BackupError(
                f"cannot give the restored database the owner of {model}: run restore as that "
                "user (or as root)"
            ) from None
    os.chmod(path, stat.S_IMODE(info.st_mode))


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
