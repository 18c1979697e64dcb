"""Operations on a bad day, second review: a backup copied by hand with its -wal, a token pasted
with an invisible character, a read-only database, an empty variable and an empty file."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from botharness import bot_argv, cli, free_port, html_api, serving

from bot.config import load_settings
from bot.storage.db import open_db
from bot.telegram.transport import Redactor

EMPTY_DATABASE = (
    "the database file is empty (0 bytes): it was truncated, or never initialised (the bot "
    "creates the tables when it starts; if it has run before, restore a backup)"
)
TOKEN = "987654321:AAHreviewTOKEN_distinctive-0123456789"
SECRET_PART = TOKEN.split(":", 1)[1]


def _dead_feeds(path: Path) -> Path:
    """A feeds file whose one feed is on a port nothing listens on (refused at once)."""
    path.write_text(f'[[feeds]]\nname = "Dead"\nurl = "http://127.0.0.1:{free_port()}/x"\n')
    return path


def _files(folder: Path) -> dict[str, str]:
    """Each file in ``folder`` by name, with a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _subscribers(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("select count(*) from chats where subscribed = 1").fetchone()[0]


# --- 1. restore reads a file-level copy as SQLite does, -wal included -------------------------

# The bot, as far as the database goes: its schema checkpointed, then 50 subscribers committed
# that stay in the -wal while it keeps the database open.
_WRITER = """
import sys
from bot.storage.db import open_db
db = open_db(sys.argv[1])
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.execute("PRAGMA wal_autocheckpoint = 0")
with db.conn:
    db.conn.executemany(
        "insert into chats (chat_id, type, timezone, delivery_time, subscribed)"
        " values (?, 'private', 'UTC', '07:00', 1)",
        [(1000 + i,) for i in range(50)],
    )
print("committed", flush=True)
sys.stdin.readline()
"""


@contextmanager
def _bot_writing(live: Path) -> Iterator[None]:
    """While the block runs, another process holds 50 commits in ``live``'s -wal, open."""
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(live)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "committed\n"
        assert Path(f"{live}-wal").stat().st_size > 0  # the commits are only in the -wal
        yield
    finally:
        writer.communicate("stop\n", timeout=30)


def _hand_copy_with_wal(live: Path, backups: Path) -> None:
    """`cp data/securitybrief.db* backups/` while the bot holds 50 commits in its -wal."""
    with _bot_writing(live):
        for file in live.parent.glob("securitybrief.db*"):
            shutil.copyfile(file, backups / file.name)


def test_restore_keeps_what_a_hand_made_copy_holds_in_its_wal(tmp_path: Path) -> None:
    live, backups = tmp_path / "data" / "securitybrief.db", tmp_path / "backups"
    live.parent.mkdir()
    backups.mkdir()
    _hand_copy_with_wal(live, backups)
    backup = backups / "securitybrief.db"
    before = _files(backups)
    target = tmp_path / "restored" / "securitybrief.db"
    # Whether the -wal is this copy's or an older one's, only its maker knows: restore asks.
    refused = cli("restore", str(backup), DATABASE_PATH=str(target))
    assert refused.returncode == 1 and not target.exists()
    assert f"{backup}-wal lies beside the backup" in refused.stderr
    assert "--with-wal" in refused.stderr
    restored = cli("restore", "--with-wal", str(backup), DATABASE_PATH=str(target))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.endswith(" pages, integrity ok).\n")
    assert _subscribers(target) == 50
    assert _files(backups) == before  # the backup's own files are left as they were
    assert [p.name for p in target.parent.iterdir()] == ["securitybrief.db"]


@pytest.mark.parametrize("later", ["backup", "cp"])
def test_a_newer_backup_over_an_old_hand_copy_restores_as_itself(
    tmp_path: Path, later: str
) -> None:
    live, backups = tmp_path / "data" / "securitybrief.db", tmp_path / "backups"
    live.parent.mkdir()
    backups.mkdir()
    _hand_copy_with_wal(live, backups)  # Monday, leaving backups/securitybrief.db-wal
    db = open_db(live)
    with db.conn:  # later every chat unsubscribes; the bot then stops cleanly
        db.conn.execute("update chats set subscribed = 0")
    db.close()
    backup = backups / "securitybrief.db"
    target = tmp_path / "restored" / "securitybrief.db"
    if later == "backup":  # Friday: a backup to the same path clears Monday's -wal away
        made = cli("backup", str(backup), DATABASE_PATH=str(live))
        assert made.returncode == 0, made.stderr
        assert sorted(p.name for p in backups.iterdir()) == ["securitybrief.db"]
    else:  # the bot stopped: the same `cp` now copies the file alone, beside Monday's -wal
        shutil.copyfile(live, backup)
        refused = cli("restore", str(backup), DATABASE_PATH=str(target))
        assert refused.returncode == 1 and "lies beside the backup" in refused.stderr
        Path(f"{backup}-wal").unlink()  # it is an older copy's, as the message says to do
    restored = cli("restore", str(backup), DATABASE_PATH=str(target))
    assert restored.returncode == 0, restored.stderr
    assert _subscribers(target) == 0  # Friday's data, not Monday's -wal replayed over it


# A tool edits a backup and dies mid-transaction: its -journal is hot (what undoes the change).
_HALF_EDIT = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = DELETE")
conn.execute("PRAGMA cache_size = 1")  # pages spill to the file before the commit
conn.execute("begin")
conn.execute("update chats set subscribed = 0")
conn.execute("insert into chats (chat_id, type, timezone, delivery_time) values (9, 'private', 'UTC', '07:00')")
conn.execute("update chats set title = hex(randomblob(400))")
os._exit(0)
"""


def test_a_backup_left_half_edited_is_restored_undone_not_half_made(tmp_path: Path) -> None:
    live, backup = tmp_path / "data" / "securitybrief.db", tmp_path / "backups" / "b.db"
    live.parent.mkdir()
    db = open_db(live)
    with db.conn:
        db.conn.executemany(
            "insert into chats (chat_id, type, timezone, delivery_time, subscribed)"
            " values (?, 'private', 'UTC', '07:00', 1)",
            [(1000 + i,) for i in range(300)],
        )
    db.close()
    assert cli("backup", str(backup), DATABASE_PATH=str(live)).returncode == 0
    subprocess.run([sys.executable, "-c", _HALF_EDIT, str(backup)], check=True, timeout=60)
    assert Path(f"{backup}-journal").stat().st_size > 0
    target = tmp_path / "restored" / "securitybrief.db"
    refused = cli("restore", str(backup), DATABASE_PATH=str(target))
    assert refused.returncode == 1 and "--with-wal so that SQLite undoes it" in refused.stderr
    restored = cli("restore", "--with-wal", str(backup), DATABASE_PATH=str(target))
    assert restored.returncode == 0, restored.stderr
    assert _subscribers(target) == 300  # the half-made change undone


def test_a_backup_over_a_database_in_use_is_refused(tmp_path: Path) -> None:
    live, other = tmp_path / "data" / "securitybrief.db", tmp_path / "other" / "securitybrief.db"
    live.parent.mkdir()
    open_db(live).close()
    other.parent.mkdir()
    with _bot_writing(other):
        made = cli("backup", str(other), DATABASE_PATH=str(live))
        assert made.returncode == 1 and "another process has open" in made.stderr
        assert Path(f"{other}-wal").stat().st_size > 0  # its commits are untouched
    assert _subscribers(other) == 50


# --- 2. a token with something pasted with it -------------------------------------------------


def _cannot_post(path: str) -> str:
    """A proxy's 502 page quoting the request path."""
    return f"<html><body><pre>Cannot POST {path}</pre></body></html>"


@pytest.fixture
def quoting_proxy() -> Iterator[str]:
    """A Bot API URL that answers 502 with the request path in the page."""
    with serving(html_api(502, _cannot_post)) as url:
        yield url


@pytest.fixture
def encoding_proxy() -> Iterator[str]:
    """The same, showing the path with its ':' as %3A."""
    with serving(html_api(502, lambda path: _cannot_post(quote(path, safe="/%")))) as url:
        yield url


def _run(env_file: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``securitybrief --env-file env_file run`` as under systemd (stdin /dev/null)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(env_file), "run"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "DATABASE_PATH": str(tmp_path / "t.db"),
            "FEEDS_FILE": str(_dead_feeds(tmp_path / "feeds.toml")),
            "LOG_LEVEL": "DEBUG",
            **env,
        },
    )


@pytest.mark.parametrize("pasted", [TOKEN + "\u200b", "\ufeff" + TOKEN, TOKEN + "\u200b\n"])
def test_a_token_pasted_with_an_invisible_character_is_a_settings_error(
    tmp_path: Path, quoting_proxy: str, pasted: str
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"TELEGRAM_BOT_TOKEN={pasted}\nTELEGRAM_API_URL={quoting_proxy}\n")
    result = _run(env_file, tmp_path)
    assert result.returncode == 1
    assert SECRET_PART not in result.stdout + result.stderr
    assert result.stderr.startswith(
        "Error: Invalid settings:\n  TELEGRAM_BOT_TOKEN=(hidden): not a bot token: expected the "
        "bot's number, a colon and then only A-Z, a-z, 0-9, _ and - "
    ), result.stderr
    assert "copy it again from @BotFather" in result.stderr
    assert not (tmp_path / "t.db").exists()  # refused before anything started


def test_the_log_redacts_the_token_as_a_proxy_quotes_it_percent_encoded(
    tmp_path: Path, encoding_proxy: str
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_API_URL={encoding_proxy}\n")
    result = _run(env_file, tmp_path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Could not start: the Bot API at" in output, output[-2000:]
    assert "Cannot POST /bot<redacted>/getMe" in output, output[-2000:]
    assert SECRET_PART not in output


@pytest.mark.parametrize(
    "secret, written",
    [
        (TOKEN, quote(TOKEN, safe="")),  # 987654321%3AAAH…
        (TOKEN, quote(TOKEN, safe="").replace("%3A", "%3a")),
        # Settings built in-process are not checked: the URL carries a stray character encoded.
        (TOKEN + "\u200b", f"{TOKEN}%E2%80%8B"),
    ],
)
def test_the_log_filter_redacts_percent_encoded_secrets(secret: str, written: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redactor([secret]))
    log = logging.getLogger("test_ops_review_fixes.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("Bad Gateway (502): Cannot POST /bot%s/getMe", written)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "Bad Gateway (502): Cannot POST /bot<redacted>/getMe\n"


# --- 3. a backup of a database without owner write permission ---------------------------------


def _without_root_powers(argv: list[str]) -> list[str]:
    """``argv`` run so that file permission bits apply to it (root's would not)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permission bits cannot be tested")
    # No capabilities: root is then refused a write to its own 0444 file, as its owner would be.
    return [setpriv, "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", *argv]


@pytest.mark.parametrize("mode", [0o444, 0o400])
def test_backup_of_a_read_only_database_file(tmp_path: Path, mode: int) -> None:
    live, copy = tmp_path / "live.db", tmp_path / "backups" / "copy.db"
    db = open_db(live)
    db["chats"].insert(
        {"chat_id": 7, "type": "private", "timezone": "UTC", "delivery_time": "07:00"}
    )
    db.close()
    live.chmod(mode)
    result = subprocess.run(
        _without_root_powers(bot_argv("backup", str(copy))),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_PATH": str(live)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Backed up {live} to {copy} (")
    assert stat.S_IMODE(copy.stat().st_mode) == mode  # the live database's bits, once written
    # Tomorrow's backup to the same path replaces that read-only copy (the folder allows it).
    again = subprocess.run(
        _without_root_powers(bot_argv("backup", str(copy))),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_PATH": str(live)},
    )
    assert again.returncode == 0, again.stderr
    with closing(sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True)) as conn:
        assert conn.execute("select chat_id from chats").fetchall() == [(7,)]
    assert [p.name for p in copy.parent.iterdir()] == ["copy.db"]
    # Restored where no database is yet, the read-only copy becomes one its owner can write.
    restored = tmp_path / "restored.db"
    result = subprocess.run(
        bot_argv("restore", str(copy)),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_PATH": str(restored)},
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(restored.stat().st_mode) == mode | stat.S_IWUSR


# --- 4. an empty environment variable ----------------------------------------------------------


def test_an_empty_environment_variable_keeps_the_env_files_value(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "bot.db"
    open_db(database).close()
    env_file = tmp_path / "bot.env"
    env_file.write_text(
        f"DATABASE_PATH={database}\nFEEDS_FILE={_dead_feeds(tmp_path / 'f.toml')}\n"
    )
    # As `DATABASE_PATH= securitybrief status` runs it, from a folder with no data/ in it.
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(env_file), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "DATABASE_PATH": "", "FEEDS_FILE": " "},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "Subscribers: 0 active, 0 inactive (0 chats seen)"
    assert result.stdout.splitlines()[-1] == "Database: writable"
    assert not (tmp_path / "data").exists()


def test_a_set_environment_variable_still_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FETCH_INTERVAL_MINUTES=10\nBRIEF_STORIES=5\nLOG_LEVEL=DEBUG\n")
    settings = load_settings(
        {"FETCH_INTERVAL_MINUTES": "", "BRIEF_STORIES": "9", "LOG_LEVEL": "  "}, env_file=env_file
    )
    assert (settings.fetch_interval_minutes, settings.brief_stories) == (10, 9)
    assert settings.log_level == "DEBUG"


# --- 5. an empty (0-byte) database file ---------------------------------------------------------


def test_status_calls_an_empty_database_file_empty_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "zero.db"
    path.touch()
    status = cli(
        "status", DATABASE_PATH=str(path), FEEDS_FILE=str(_dead_feeds(tmp_path / "f.toml"))
    )
    assert status.returncode == 1  # the Docker health check fails
    assert status.stdout == f"Database: ✘ {EMPTY_DATABASE} ({path})\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.toml", "zero.db"]
    assert path.stat().st_size == 0  # no schema written into it


def test_doctor_calls_an_empty_database_file_empty_and_run_still_initialises_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "zero.db"
    path.touch()  # as a volume mount may pre-create it
    env = {"DATABASE_PATH": str(path), "FEEDS_FILE": str(_dead_feeds(tmp_path / "f.toml"))}
    doctor = cli("doctor", **env)
    assert doctor.returncode == 1
    assert f"✘ Database {path}: {EMPTY_DATABASE}" in doctor.stdout.splitlines(), doctor.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.toml", "zero.db"]
    assert path.stat().st_size == 0
    started = cli("run", "--terminal", input="quit\n", TELEGRAM_BOT_TOKEN="", **env)
    assert started.returncode == 0, started.stderr
    assert path.stat().st_size > 0
    status = cli("status", **env)
    assert status.returncode == 0, status.stdout
    assert status.stdout.splitlines()[-1] == "Database: writable"
