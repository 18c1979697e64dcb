"""The operator's commands on a bad day: restore after a crash, a damaged or missing database,
feeds taken off the list, a token in WEBHOOK_URL, mistyped settings and settings files."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botharness import cli, free_port
from fake_telegram import FakeTelegram

from bot.config import ConfigError, Settings, load_settings
from bot.models import FeedSpec, FetchResult
from bot.ops.doctor import check_webhook_settings
from bot.ops.status import health, status_lines
from bot.storage import news_store
from bot.storage.db import open_db


def sb(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``securitybrief *args`` as a subprocess, reading an empty settings file."""
    # An explicit --env-file must exist: os.devnull is one that holds no settings.
    return cli("--env-file", os.devnull, *args, **env)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr.strip()
    assert err.startswith("Error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("select count(*) from probe").fetchone()[0]


def _live_database(path: Path, rows: int = 1) -> None:
    db = open_db(path)
    db.execute("create table probe (x)")
    db.conn.executemany("insert into probe values (?)", [(i,) for i in range(rows)])
    db.conn.commit()
    db.close()


def _dead_feeds(path: Path, *names: str) -> Path:
    """A feeds file whose feeds point at a port nothing listens on (refused at once)."""
    port = free_port()
    path.write_text(
        "".join(f'[[feeds]]\nname = "{n}"\nurl = "http://127.0.0.1:{port}/{n}"\n' for n in names)
    )
    return path


def _damage_articles(path: Path) -> None:
    """Overwrite the root page of ``articles``, as a failing disk would."""
    db = open_db(path)
    root = db.execute("select rootpage from sqlite_master where name = 'articles'").fetchone()[0]
    size = db.execute("pragma page_size").fetchone()[0]
    db.execute("pragma wal_checkpoint(TRUNCATE)")
    db.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xde\xad" * (size // 2))


# --- 1. restore -----------------------------------------------------------------------------------


def test_restore_undoes_what_a_crashed_process_left_in_the_wal(tmp_path: Path) -> None:
    live, copy = tmp_path / "live.db", tmp_path / "backup.db"
    _live_database(live)
    assert sb("backup", str(copy), DATABASE_PATH=str(live)).returncode == 0
    # The bot goes on writing, then is killed before a checkpoint: its commits stay in the -wal.
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\nfrom bot.storage.db import open_db\n"
            "db = open_db(sys.argv[1])\n"
            "db.conn.executemany('insert into probe values (?)', [(i,) for i in range(399)])\n"
            "db.conn.commit()\nos.kill(os.getpid(), signal.SIGKILL)\n",
            str(live),
        ],
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL
    assert Path(f"{live}-wal").stat().st_size > 0
    restored = sb("restore", str(copy), DATABASE_PATH=str(live))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(f"Restored {copy} to {live} (")
    assert restored.stdout.endswith(" pages, integrity ok).\n")
    assert not Path(f"{live}-wal").exists() and not Path(f"{live}-shm").exists()
    assert _rows(live) == 1  # the backup's one row, not the crashed process's 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "live.db"]


@contextmanager
def _bot_holding(path: Path) -> Iterator[None]:
    """A process that has the database open, as the running bot has, until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom bot.storage.db import open_db\ndb = open_db(sys.argv[1])\n"
            "print('open', flush=True)\nsys.stdin.readline()\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        yield
    finally:
        holder.communicate("stop\n", timeout=30)


def test_restore_refuses_while_the_bot_has_the_database_open(tmp_path: Path) -> None:
    live, copy = tmp_path / "live.db", tmp_path / "backup.db"
    _live_database(live, rows=5)
    _live_database(copy, rows=2)
    with _bot_holding(live):
        refused = sb("restore", str(copy), DATABASE_PATH=str(live))
        assert _one_line_error(refused) == (
            f"Error: the database at {live} is in use (is the bot running?): stop the bot first"
        )
        assert Path(f"{live}-wal").exists()  # the bot's files are left alone
    assert _rows(live) == 5
    assert sb("restore", str(copy), DATABASE_PATH=str(live)).returncode == 0
    assert _rows(live) == 2


def test_restore_refuses_a_backup_that_fails_its_check(tmp_path: Path) -> None:
    live, damaged, foreign = tmp_path / "live.db", tmp_path / "damaged.db", tmp_path / "other.db"
    _live_database(live, rows=3)
    open_db(damaged).close()
    _damage_articles(damaged)
    with closing(sqlite3.connect(foreign)) as conn:
        conn.execute("create table t (x)")
    assert "failed its integrity check" in _one_line_error(
        sb("restore", str(damaged), DATABASE_PATH=str(live))
    )
    assert _one_line_error(sb("restore", str(foreign), DATABASE_PATH=str(live))) == (
        f"Error: {foreign} is not a Security Brief database"
    )
    assert _rows(live) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.db", "live.db", "other.db"]


def test_restore_keeps_the_permissions_of_the_database_it_replaces(tmp_path: Path) -> None:
    live, copy = tmp_path / "live.db", tmp_path / "backup.db"
    _live_database(live)
    _live_database(copy, rows=2)
    live.chmod(0o600)
    copy.chmod(0o644)
    assert sb("restore", str(copy), DATABASE_PATH=str(live)).returncode == 0
    assert stat.S_IMODE(live.stat().st_mode) == 0o600 and _rows(live) == 2


# --- 2. a damaged database -------------------------------------------------------------------------


def test_doctor_and_status_name_a_damaged_database(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    open_db(path).close()
    _damage_articles(path)
    env = {"DATABASE_PATH": str(path), "FEEDS_FILE": str(_dead_feeds(tmp_path / "f.toml", "x"))}
    status = sb("status", **env)
    assert status.returncode == 1  # the Docker health check fails
    assert status.stdout.startswith("Database: ✘ the database file is damaged (quick_check: ")
    doctor = sb("doctor", **env)
    database = next(ln for ln in doctor.stdout.splitlines() if ln.startswith("✘ Database"))
    assert database.startswith(f"✘ Database {path}: the database file is damaged (quick_check: ")
    assert database.endswith("stop the bot and restore a backup (`securitybrief restore BACKUP`)")
    assert "Traceback" not in status.stderr + doctor.stderr


# --- 3. feeds taken off the list ---------------------------------------------------------------------


def test_a_feed_taken_off_the_list_no_longer_counts_as_failing(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    old = _dead_feeds(tmp_path / "old.toml", "Dead outlet", "Other")
    sb("fetch", DATABASE_PATH=str(path), FEEDS_FILE=str(old))
    new = tmp_path / "new.toml"
    new.write_text("\n".join(old.read_text().splitlines()[3:]) + "\n")  # only "Other"
    status = sb("status", DATABASE_PATH=str(path), FEEDS_FILE=str(new))
    assert status.returncode == 0, status.stdout + status.stderr
    failing = status.stdout[status.stdout.index("Feeds failing") :].splitlines()
    assert failing[:2] == [
        "Feeds failing: 1 of 1",
        "  - Other: failing since its first fetch (1x): ConnectError: All connection attempts failed",
    ]
    assert "Dead outlet" not in status.stdout


def test_stats_and_healthz_list_only_the_configured_feeds(tmp_path: Path) -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    kept, dropped = FeedSpec("Kept", "https://kept/feed"), FeedSpec("Dropped", "https://gone/feed")
    db = open_db(tmp_path / "t.db")
    news_store.save_fetch_result(db, FetchResult(kept, 200), now - timedelta(hours=2), timedelta(0))
    for spec in (kept, dropped):
        news_store.save_fetch_result(
            db, FetchResult(spec, 503, error="HTTP 503"), now, timedelta(0)
        )
    lines = status_lines(db, now, [kept])
    assert "Feeds failing: 1 of 1" in lines
    assert [ln for ln in lines if ln.startswith("  - ")] == [
        "  - Kept: failing since 2026-11-28 10:00 (1x): HTTP 503"
    ]
    assert health(db, Settings(), now, [kept])["failing_feeds"] == ["Kept"]
    db.close()


# --- 4. and 7. doctor in webhook mode ----------------------------------------------------------------


async def test_doctor_neither_prints_a_token_in_webhook_url_nor_calls_it_a_mismatch(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    path = tmp_path / "t.db"
    open_db(path).close()
    fake.webhook_url = f"https://bot.example.com/{fake.token}/telegram"
    env = {
        "DATABASE_PATH": str(path),
        "FEEDS_FILE": str(_dead_feeds(tmp_path / "f.toml", "x")),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "WEBHOOK_URL": f"https://bot.example.com/{fake.token}",
        "WEBHOOK_SECRET": "s3cret",
    }
    result = await asyncio.to_thread(sb, "doctor", **env)
    lines = result.stdout.splitlines()
    assert "✔ Webhook settings: https://bot.example.com/<token> → port 8443" in lines
    assert (
        "✔ Webhook: registered as https://bot.example.com/<token>/telegram; no updates waiting, "
        "no errors" in lines
    ), result.stdout
    assert fake.token.split(":")[1] not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "finding"),
    [
        (
            "https://bot.example.com:9000",
            "WEBHOOK_URL has port 9000: Telegram only sends updates to ports 443, 80, 88 and "
            "8443 (setWebhook would refuse it)",
        ),
        ("https://bot.example.com:8443", None),
        ("https://bot.example.com:88/hook", None),
    ],
)
def test_doctor_refuses_a_webhook_port_telegram_does_not_call(
    url: str, finding: str | None
) -> None:
    checks = check_webhook_settings(Settings(webhook_url=url, webhook_secret="s3cret"))
    assert [c.detail for c in checks if not c.ok] == ([finding] if finding else [])


# --- 5. BRIEF_LANGUAGE -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "language"),
    [("en-GB", "en"), ("en_US", "en"), (" DE ", "de"), ("eng", "en"), ("English", "en")],
)
def test_brief_language_is_read_as_feed_languages_are(raw: str, language: str) -> None:
    # Feeds' "eng" or "English" become "en" (bot.languages.language_code): so does the setting,
    # or it would match no item and leave every brief empty.
    assert load_settings({"BRIEF_LANGUAGE": raw}, env_file=None).brief_language == language


@pytest.mark.parametrize("raw", ["Englsh", "e", "12", "xx"])
def test_brief_language_that_is_no_language_code_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"BRIEF_LANGUAGE": raw}, env_file=None)
    assert f"BRIEF_LANGUAGE={raw!r}: expected a language code such as en, de or fr" in str(
        err.value
    )


# --- 6. fetch and digest when no feed answers --------------------------------------------------------


def test_fetch_and_digest_fail_when_no_feed_could_be_fetched(tmp_path: Path) -> None:
    env = {
        "DATABASE_PATH": str(tmp_path / "t.db"),
        "FEEDS_FILE": str(_dead_feeds(tmp_path / "f.toml", "a", "b")),
    }
    fetched = sb("fetch", **env)
    assert fetched.returncode == 1
    assert "0 fetched, 0 unchanged, 2 failed, 0 backing off" in fetched.stdout
    assert fetched.stderr.splitlines()[-1] == (  # after a line per feed and the log
        "Error: no feed could be fetched (2 failed, 0 backing off); see `securitybrief feeds`"
    )
    again = sb("fetch", **env)  # both back off now: still nothing fetched
    assert "(0 failed, 2 backing off)" in again.stderr and again.returncode == 1
    digest = sb("digest", **{**env, "DATABASE_PATH": str(tmp_path / "fresh.db")})
    assert digest.returncode == 1
    assert digest.stderr.splitlines()[-1] == (
        "Error: no feed could be fetched (2 failed, 0 backing off); see `securitybrief feeds`"
    )
    assert sb("digest", "--no-fetch", **env).returncode == 0  # nothing was tried


# --- 8. and 13. settings files -----------------------------------------------------------------------


def test_a_mistyped_env_file_is_an_error_and_a_missing_default_is_not(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    open_db(path).close()
    typo = tmp_path / "settings.emv"
    assert _one_line_error(sb("--env-file", str(typo), "status", DATABASE_PATH=str(path))) == (
        f"Error: --env-file {typo}: no such file"
    )
    # No --env-file and no .env in the working folder: the defaults, no error.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    default = subprocess.run(
        [sys.executable, "-m", "bot", "status"],
        cwd=tmp_path,
        env={**env, "DATABASE_PATH": str(path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert default.returncode == 0, default.stderr
    assert default.stdout.splitlines()[-1] == "Database: writable"


def test_an_env_file_line_that_cannot_be_parsed_is_an_error_naming_its_line(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text('LOG_LEVEL=INFO\nTELEGRAM_BOT_TOKEN="123:HIDDENpart\nFULL_TEXT=false\n')
    with pytest.raises(ConfigError) as err:
        load_settings({}, env_file=env_file)
    assert str(err.value) == (
        f"Settings file {env_file}: line 2 is not KEY=value "
        "(an unclosed quote, or a space instead of =?)"
    )
    env_file.write_text('DEFAULT_TIMEZONE "Europe/Berlin"\nLOG_LEVEL=INFO\n')
    error = _one_line_error(cli("--env-file", str(env_file), "status"))
    assert error.startswith(f"Error: Settings file {env_file}: line 1 is not KEY=value")
    assert "Berlin" not in error


# --- 9. a database that is not there --------------------------------------------------------------


def test_doctor_and_status_report_a_missing_database_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "securitybrief.db"
    env = {"DATABASE_PATH": str(path), "FEEDS_FILE": str(_dead_feeds(tmp_path / "f.toml", "x"))}
    status = sb("status", **env)
    assert status.returncode == 1
    assert status.stdout.splitlines() == [
        "Database: ✘ there is no database file there: check DATABASE_PATH (the bot creates it "
        f"when it first starts) ({path})"
    ]
    # doctor runs before the first start too (README, Running the real bot): a note, not a fault.
    doctor = sb("doctor", **env)
    assert (
        f"! Database {path}: no database file there yet: the bot creates it when it first starts "
        "(if it has run before, DATABASE_PATH points elsewhere)" in doctor.stdout.splitlines()
    )
    assert not path.parent.exists()


# --- 10. and 11. backup --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_backup_refuses_to_overwrite_the_live_databases_own_files(
    tmp_path: Path, suffix: str
) -> None:
    live = tmp_path / "live.db"
    _live_database(live)
    bot = open_db(live)  # the running bot: its commits wait in the -wal
    bot.conn.executemany("insert into probe values (?)", [(i,) for i in range(300)])
    bot.conn.commit()
    try:
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        result = sb("backup", f"{live}{suffix}", DATABASE_PATH=str(live))
        assert (
            _one_line_error(result)
            == f"Error: the backup target is the live database's {suffix} file"
        )
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
        assert _rows(live) == 301
    finally:
        bot.close()


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_backup_gets_the_live_databases_permission_bits(tmp_path: Path, mode: int) -> None:
    live, copy = tmp_path / "live.db", tmp_path / "copy.db"
    _live_database(live)
    live.chmod(mode)
    umask = os.umask(0o022)  # the usual umask, which made the copy world-readable
    try:
        assert sb("backup", str(copy), DATABASE_PATH=str(live)).returncode == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(copy.stat().st_mode) == mode


# --- 12. --help -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["fetch", "digest", "feeds", "run", "status", "doctor", "backup", "restore"]
)
def test_help_works_whatever_the_settings_hold(command: str) -> None:
    result = sb(command, "--help", TELEGRAM_API_URL="api.telegram.org")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: securitybrief {command} [OPTIONS]")


def test_a_command_still_refuses_invalid_settings() -> None:
    result = sb("status", TELEGRAM_API_URL="api.telegram.org")
    assert result.returncode == 1
    assert (
        "TELEGRAM_API_URL='api.telegram.org': expected an http:// or https:// URL" in result.stderr
    )
