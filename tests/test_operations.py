"""Operations: doctor, status, backup, migrations from every earlier schema."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botharness import cli, free_port
from fake_telegram import FakeTelegram
from sqlite_utils import Database

from bot.config import Settings
from bot.storage.db import MIGRATIONS, open_db, schema_version


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_PATH": str(settings.database_path),
        "FEEDS_FILE": str(settings.feeds_file),
        **extra,
    }


async def test_doctor_passes_on_a_good_setup(fake: FakeTelegram, settings: Settings) -> None:
    env = _env(settings, TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_URL=fake.url)
    result = await asyncio.to_thread(cli, "doctor", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✔ Bot token: accepted: @SecurityBriefBot" in result.stdout
    assert "✔ Database" in result.stdout and "writable and migrated" in result.stdout
    assert result.stdout.count("✔ Feed ") == 12
    assert "All checks passed." in result.stdout


async def test_doctor_names_every_problem_without_printing_the_token(
    fake: FakeTelegram, settings: Settings, feed_server
) -> None:
    bad_feeds = settings.feeds_file.parent / "bad.toml"
    bad_feeds.write_text(
        f'[[feeds]]\nname = "Blocked"\nurl = "{feed_server.hostile_url("blocked.html")}"\n'
    )
    env = _env(
        settings,
        TELEGRAM_BOT_TOKEN="999:WRONG-SECRET-TOKEN",
        TELEGRAM_API_URL=fake.url,
        FEEDS_FILE=str(bad_feeds),
        WEBHOOK_URL="http://bot.example.com",
    )
    result = await asyncio.to_thread(cli, "doctor", **env)
    out = result.stdout
    assert result.returncode == 1
    assert "✘ Bot token: rejected by getMe: Unauthorized" in out
    assert "WEBHOOK_URL must be https://" in out
    assert "WEBHOOK_SECRET not set: a random one is made at each start" in out
    assert "✘ Feed Blocked: got an HTML page where a feed was expected" in out
    assert "WRONG-SECRET-TOKEN" not in out + result.stderr


def test_doctor_says_when_the_bot_api_is_unreachable(settings: Settings) -> None:
    port = free_port()
    result = cli(
        "doctor",
        **_env(
            settings,
            TELEGRAM_BOT_TOKEN="1:SECRETVALUE",
            TELEGRAM_API_URL=f"http://127.0.0.1:{port}",
        ),
    )
    assert result.returncode == 1
    assert f"✘ Bot API at http://127.0.0.1:{port}: not reachable" in result.stdout
    assert "SECRETVALUE" not in result.stdout + result.stderr


def test_backup_is_consistent_while_another_process_writes(tmp_path: Path) -> None:
    live, stop = tmp_path / "live.db", tmp_path / "stop"
    open_db(live).close()
    # The writer keeps inserting until told to stop, so every copy is taken mid-write.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import os, sys, time\nfrom bot.storage.db import open_db\ndb = open_db(sys.argv[1])\n"
                "while not os.path.exists(sys.argv[2]):\n"
                "    db['briefs'].insert({'generated_at': 'x', 'window_hours': 36, 'payload': 'p' * 500})\n"
                "    time.sleep(0.0005)\n"
            ),
            str(live),
            str(stop),
        ],
    )

    def written() -> int:
        with sqlite3.connect(live) as conn:
            return conn.execute("select count(*) from briefs").fetchone()[0]

    copies = []
    try:
        deadline = time.monotonic() + 30
        while written() < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        for n in range(3):
            target = tmp_path / f"copy{n}.db"
            result = cli("backup", str(target), DATABASE_PATH=str(live))
            assert result.returncode == 0, result.stderr
            assert "integrity ok" in result.stdout
            copies.append(target)
        time.sleep(0.2)  # the writer goes on after the last copy
    finally:
        stop.touch()
        writer.wait(timeout=60)
    for copy in copies:
        assert not Path(f"{copy}-wal").exists()
        conn = sqlite3.connect(copy)
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("pragma journal_mode").fetchone()[0] == "delete"
        conn.close()
        assert schema_version(Database(copy)) == [m.name for m in MIGRATIONS._migrations]
    final = written()
    counts = [Database(c)["briefs"].count for c in copies]
    # Each copy is a snapshot from the middle of the writing: some rows, not yet all of them.
    assert 50 <= counts[0] < counts[1] < counts[2] < final, (counts, final)


def test_backup_of_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("backup", str(tmp_path / "b.db"), DATABASE_PATH=str(tmp_path / "none.db"))
    assert result.returncode == 1
    assert "there is no database at" in result.stderr


@pytest.mark.parametrize("upto", range(len(MIGRATIONS._migrations)))
def test_upgrade_from_every_earlier_schema_version(tmp_path: Path, upto: int) -> None:
    names = [m.name for m in MIGRATIONS._migrations]
    path = tmp_path / "old.db"
    db = Database(path)
    MIGRATIONS.apply(db, stop_before=names[upto])
    assert schema_version(db) == names[:upto]
    if "feeds" in db.table_names():
        db["feeds"].insert({"url": "https://x/rss", "name": "X"})
    if "chats" in db.table_names():
        db["chats"].insert(
            {
                "chat_id": 5,
                "type": "private",
                "timezone": "UTC",
                "delivery_time": "07:00",
                "subscribed": 1,
            }
        )
    db.close()
    upgraded = open_db(path)
    assert schema_version(upgraded) == names
    assert "deliveries" in upgraded.table_names()
    if upto >= 1:
        assert upgraded["feeds"].get("https://x/rss")["name"] == "X"
    if upto >= 2:
        assert upgraded["chats"].get(5)["subscribed"] == 1
    upgraded.close()


def test_status_shows_fetch_brief_broadcast_and_failing_feeds(settings: Settings) -> None:
    fetched = cli("fetch", **_env(settings))
    assert fetched.returncode == 0, fetched.stderr
    result = cli("status", **_env(settings))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Subscribers: 0 active, 0 inactive (0 chats seen)"
    assert lines[1].startswith("Last fetch: 20") and "min ago" in lines[1]
    assert "Last broadcast: never" in result.stdout
    assert "Feeds failing: 0 of 12" in result.stdout


def _flag_read_only(path: Path) -> None:
    """Mark a database file read-only in its header (byte 18, the write version), as SQLite
    does for files it must not change: every write then fails with SQLITE_READONLY, for any
    user (chmod would not stop root)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with path.open("r+b") as f:
        f.seek(18)
        f.write(b"\x03")


def test_doctor_and_status_name_a_read_only_database(settings: Settings) -> None:
    fetched = cli("fetch", **_env(settings))
    assert fetched.returncode == 0, fetched.stderr
    healthy = cli("status", **_env(settings))
    assert healthy.returncode == 0 and healthy.stdout.splitlines()[-1] == "Database: writable"
    _flag_read_only(settings.database_path)
    doctor = cli("doctor", **_env(settings))
    assert doctor.returncode == 1
    assert (
        f"✘ Database {settings.database_path}: disk problem: the database is read-only"
        in doctor.stdout
    ), doctor.stdout
    status = cli("status", **_env(settings))
    assert status.returncode == 1, status.stderr  # unhealthy: the Docker health check fails
    assert "Database: ✘ the database is read-only" in status.stdout, status.stdout
    assert "Traceback" not in status.stderr + doctor.stderr
