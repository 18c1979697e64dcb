"""Operations: doctor, status, backup, migrations from every earlier schema."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from botharness import bot_argv, cli, free_port
from fake_telegram import FakeTelegram
from sqlite_utils import Database

from bot.config import Settings
from bot.ops.doctor import report, run_checks
from bot.storage.db import MIGRATIONS, open_db, schema_version
from bot.telegram.webhook import WEBHOOK_PATH


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_PATH": str(settings.database_path),
        "FEEDS_FILE": str(settings.feeds_file),
        **extra,
    }


async def test_doctor_passes_on_a_good_setup(fake: FakeTelegram, settings: Settings) -> None:
    open_db(settings.database_path).close()  # made by the bot's first start
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


def _database_with_a_chat(path: Path) -> None:
    db = open_db(path)
    db["chats"].insert(
        {"chat_id": 7, "type": "private", "timezone": "UTC", "delivery_time": "07:00"}
    )
    db.close()


@pytest.mark.parametrize("name", ["bot#1.db", "bot?v=2.db", "50%25 off.db"])
def test_backup_copies_the_database_whatever_characters_its_path_holds(
    tmp_path: Path, name: str
) -> None:
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    _database_with_a_chat(live_dir / name)
    target = tmp_path / "copy.db"
    result = cli("backup", str(target), DATABASE_PATH=str(live_dir / name))
    assert result.returncode == 0, result.stderr
    copy = Database(target)
    assert "chats" in copy.table_names(), copy.table_names()
    assert copy["chats"].get(7)["type"] == "private"
    copy.close()
    # Pasted into the URI raw, '#' or '?' cut the path short and SQLite created that file.
    assert {p.name for p in live_dir.iterdir()} <= {name, f"{name}-wal", f"{name}-shm"}


def test_backup_of_a_large_database_finishes_while_another_process_keeps_committing(
    tmp_path: Path,
) -> None:
    live, stop = tmp_path / "live.db", tmp_path / "stop"
    db = open_db(live)
    db["briefs"].insert_all(
        {"generated_at": "t", "window_hours": 36, "payload": "p" * 4000} for _ in range(16_000)
    )
    db.close()
    assert live.stat().st_size > 60 * 2**20  # some 16,000 pages
    # Commits without pause do to this 64 MB database what the bot's commits every 0.1 s do to
    # one over 100 MB: each made a backup copied 1024 pages at a time start again, so it never
    # finished.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import os, sys\nfrom bot.storage.db import open_db\ndb = open_db(sys.argv[1])\n"
                "while not os.path.exists(sys.argv[2]):\n"
                "    db.conn.execute(\"insert into leases values ('x', 'y', 0) on conflict(name) \"\n"
                '                    "do update set expires_at = expires_at + 1")\n'
                "    db.conn.commit()\n"
            ),
            str(live),
            str(stop),
        ],
    )
    target = tmp_path / "copy.db"
    try:
        deadline = time.monotonic() + 30
        while not Database(live)["leases"].count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.poll() is None
        try:
            result = subprocess.run(
                bot_argv("backup", str(target)),
                env={**os.environ, "DATABASE_PATH": str(live)},
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the backup did not finish in 30 s while another process was committing")
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert result.returncode == 0, result.stderr
    assert "integrity ok" in result.stdout
    copy = Database(target)
    assert copy["briefs"].count == 16_000
    assert copy["leases"].count == 1  # the writer's row, there before the backup began
    copy.close()


def test_a_backup_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    _database_with_a_chat(live)
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory")
    target = blocker / "copy.db"
    result = cli("backup", str(target), DATABASE_PATH=str(live))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot write the backup to {target}: {blocker} is a file, not a directory"
    ], result.stderr
    # A directory where the partial copy would go: nothing can be written there either.
    out_dir = tmp_path / "out"
    (out_dir / "copy.db.partial" / "x").mkdir(parents=True)
    result = cli("backup", str(out_dir / "copy.db"), DATABASE_PATH=str(live))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot write the backup to {out_dir / 'copy.db'}: Is a directory"
    ], result.stderr


def test_a_failed_backup_leaves_no_partial_copy(tmp_path: Path) -> None:
    not_a_database = tmp_path / "live.db"
    not_a_database.write_text("just text, not SQLite\n" * 500)
    out_dir = tmp_path / "out"
    result = cli("backup", str(out_dir / "copy.db"), DATABASE_PATH=str(not_a_database))
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: backup failed: file is not a database"
    assert list(out_dir.iterdir()) == []


class _WebhookTroubleFake(FakeTelegram):
    """The fake Bot API, whose getWebhookInfo also reports Telegram's last failed delivery."""

    last_error: tuple[int, str] | None = None

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info = super()._get_webhook_info(params)
        if self.last_error:
            info["last_error_date"], info["last_error_message"] = self.last_error
        return info


async def test_doctor_in_webhook_mode_says_why_telegram_cannot_deliver(settings: Settings) -> None:
    open_db(settings.database_path).close()  # made by the bot's first start
    async with _WebhookTroubleFake(token="123456:AAdoctorSECRET-part") as fake:
        fake.webhook_url = "https://old-host.example.net/telegram"
        fake.add_private_chat(5)
        for _ in range(3):
            fake.send_text(5, "hello")
        fake.last_error = (1764400000, "SSL error {certificate verify failed}")
        env = _env(
            settings,
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_URL=fake.url,
            WEBHOOK_URL="https://bot.example.com",
            WEBHOOK_SECRET="s3cret",
        )
        result = await asyncio.to_thread(cli, "doctor", **env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert [ln for ln in result.stdout.splitlines() if ln.startswith("✘")] == [
        "✘ Webhook: Telegram sends updates to https://old-host.example.net/telegram, not to "
        "https://bot.example.com/telegram (from WEBHOOK_URL), so this bot gets none until it "
        "starts again and registers its own (is another instance using this token?)",
        "✘ Webhook: 3 update(s) are waiting at Telegram, not yet delivered to "
        "https://old-host.example.net/telegram (is the bot running, and reachable there through "
        "the proxy?)",
        "✘ Webhook: Telegram's last delivery to https://old-host.example.net/telegram at "
        "2025-11-29 07:06 UTC failed: SSL error {certificate verify failed}",
    ], result.stdout
    assert "3 problem(s) found." in result.stdout
    assert "SECRET" not in result.stdout + result.stderr


async def test_doctor_in_webhook_mode_passes_once_telegram_delivers_to_the_bot(
    fake: FakeTelegram, settings: Settings
) -> None:
    open_db(settings.database_path).close()  # made by the bot's first start
    env = _env(
        settings,
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_URL=fake.url,
        WEBHOOK_URL="https://bot.example.com",
        WEBHOOK_SECRET="s3cret",
    )
    first_start = await asyncio.to_thread(cli, "doctor", **env)
    assert first_start.returncode == 0, first_start.stdout + first_start.stderr
    assert (
        "! Webhook: not registered with Telegram yet; the bot registers "
        "https://bot.example.com/telegram when it starts" in first_start.stdout
    )
    # What the bot registers when it starts (bot.telegram.webhook.serve_webhook).
    fake.webhook_url = f"https://bot.example.com{WEBHOOK_PATH}"
    running = await asyncio.to_thread(cli, "doctor", **env)
    assert running.returncode == 0, running.stdout + running.stderr
    assert (
        "✔ Webhook: registered as https://bot.example.com/telegram; no updates waiting, no errors"
        in running.stdout
    )
    assert "All checks passed." in running.stdout


class _OddAnswersFake(FakeTelegram):
    """The fake Bot API behind a proxy that answers some methods with fixed JSON of its own."""

    def __init__(self, bodies: dict[str, Any]) -> None:
        super().__init__(token="123456:AAdoctorSECRET-part")
        self.bodies = bodies

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.path.rsplit("/", 1)[-1]
        if method in self.bodies:
            return web.json_response(self.bodies[method])
        return await super()._handle(request)


@pytest.mark.parametrize(
    ("bodies", "line"),
    [
        (
            {"getMe": None},
            "✘ Bot API at {url}: answered getMe with JSON null, not a Bot API reply "
            "(is a proxy or another server in the way?)",
        ),
        (
            {"getMe": {"ok": True, "result": None}},
            "✘ Bot API at {url}: answered getMe with a reply whose result is null, not an object "
            "(is a proxy or another server in the way?)",
        ),
        (
            {"getWebhookInfo": {"ok": True, "result": None}},
            "✘ Webhook: could not read getWebhookInfo: the answer is a reply whose result is null, "
            "not an object (is a proxy or another server in the way?)",
        ),
        (
            {"getWebhookInfo": ["url"]},
            "✘ Webhook: could not read getWebhookInfo: the answer is JSON a list, not a Bot API "
            "reply (is a proxy or another server in the way?)",
        ),
    ],
)
async def test_doctor_names_a_bot_api_answer_of_the_wrong_shape(
    settings: Settings, bodies: dict[str, Any], line: str
) -> None:
    async with _OddAnswersFake(bodies) as fake:
        env = _env(settings, TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_URL=fake.url)
        result = await asyncio.to_thread(cli, "doctor", **env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert line.format(url=fake.url) in result.stdout.splitlines(), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "SECRET" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("token", "api_url", "line"),
    [
        (
            "123456:AAdoctorSECRET\x01part",
            "{url}",
            "✘ Bot token: TELEGRAM_BOT_TOKEN holds a character that cannot be sent in a URL "
            "(a control character?); copy the token again from @BotFather",
        ),
        (
            "123456:AAdoctorSECRET-part",
            "http://127.0.0.1\x01:9",
            "✘ Bot API at http://127.0.0.1\x01:9: TELEGRAM_API_URL is not a usable URL (Invalid "
            "non-printable ASCII character in URL, '\\x01' at position 16.)",
        ),
    ],
)
async def test_doctor_names_a_token_or_api_url_that_cannot_go_into_a_url(
    fake: FakeTelegram, settings: Settings, token: str, api_url: str, line: str
) -> None:
    # In-process: settings are built directly, whatever load_settings may refuse.
    odd = replace(settings, telegram_bot_token=token, telegram_api_url=api_url.format(url=fake.url))
    lines: list[str] = []
    assert not report(await run_checks(odd), lines.append)
    assert line in lines, lines
    assert "SECRET" not in "\n".join(lines)
