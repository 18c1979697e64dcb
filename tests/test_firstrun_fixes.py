"""A reviewer's first-run findings, reproduced: offline briefs, terminal mode, the local fake
Telegram, and settings that were wrong without a word."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botharness import ROOT, Clock, bot_argv, cli, free_port, running_bot, wait_until
from fake_telegram import FakeTelegram

from bot.config import ConfigError, Settings, load_settings
from bot.ops.doctor import check_database

USER = 111
HELP_MARK = "reads reputable world-news outlets"  # in the /help reply only


@pytest.fixture
def dead_feeds(tmp_path: Path) -> Path:
    """A feeds file whose three feeds are on a 127.0.0.1 port nothing listens on (offline)."""
    port = free_port()
    path = tmp_path / "dead.toml"
    path.write_text(
        "\n".join(
            f'[[feeds]]\nname = "Feed {n}"\nurl = "http://127.0.0.1:{port}/{n}.xml"\n'
            for n in range(3)
        )
    )
    return path


def _offline(
    dead_feeds: Path, tmp_path: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``securitybrief *args`` with no feed reachable and no bot token, ``input`` typed."""
    return cli(
        *args,
        input=input,
        DATABASE_PATH=str(tmp_path / "data" / "t.db"),
        FEEDS_FILE=str(dead_feeds),
        TELEGRAM_BOT_TOKEN="",
    )


# --- 1. a brief no feed answered for is never a good brief ------------------------------------


async def _latest(fake: FakeTelegram) -> list[str]:
    """The messages /latest answers (a /help sent after it marks their end: one chat's updates
    are handled in order)."""
    before = len(fake.texts_to(USER))
    fake.send_text(USER, "/latest")
    fake.send_text(USER, "/help")
    await wait_until(
        lambda: any(HELP_MARK in t for t in fake.texts_to(USER)[before:]), 20, "the /help reply"
    )
    texts = fake.texts_to(USER)[before:]
    return texts[: next(i for i, t in enumerate(texts) if HELP_MARK in t)]


async def test_a_brief_no_feed_answered_for_warns_each_time_and_is_never_the_last_good_one(
    fake: FakeTelegram, settings: Settings, dead_feeds: Path
) -> None:
    fake.add_private_chat(USER)
    clock = Clock(datetime.now(UTC))
    async with running_bot(fake, replace(settings, feeds_file=dead_feeds), clock):
        first = await _latest(fake)
        again = await _latest(fake)  # the same stored brief, within the fetch interval
        clock.advance(minutes=settings.fetch_interval_minutes + 1)
        later = await _latest(fake)  # a new round, which reaches no feed either
    for texts in (first, again, later):
        assert texts[-1] == "⚠️ I couldn't reach any news feed just now.", texts
        assert not any("last good brief" in t for t in texts), texts


def test_digest_keeps_failing_while_no_feed_answers(dead_feeds: Path, tmp_path: Path) -> None:
    first = _offline(dead_feeds, tmp_path, "digest")
    second = _offline(dead_feeds, tmp_path, "digest")  # the stored brief is still fresh
    assert first.returncode == 1, first.stderr
    assert second.returncode == 1, second.stderr
    assert "no feed could be fetched" in second.stderr
    assert "couldn't reach any news feed" in second.stderr
    # A brief rebuilt from what is stored, while still no feed has answered, is no good one either.
    stored = _offline(dead_feeds, tmp_path, "digest", "--no-fetch")
    third = _offline(dead_feeds, tmp_path, "digest")
    assert (stored.returncode, third.returncode) == (1, 1), stored.stderr + third.stderr
    assert "last good brief" not in third.stdout + third.stderr


# --- 2. terminal mode offline: one line, no log lines ----------------------------------------


def test_terminal_mode_offline_says_so_in_one_line_without_log_lines(
    dead_feeds: Path, tmp_path: Path
) -> None:
    result = _offline(dead_feeds, tmp_path, "run", "--terminal", input="/latest\nquit\n")
    assert result.returncode == 0, result.stderr
    assert "3 of 3 feeds could not be reached — offline?" in result.stdout
    assert "WARNING" not in result.stderr + result.stdout, result.stderr


# --- 3. the interactive fake Telegram --------------------------------------------------------


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float = 20) -> str:
    """The process's output up to ``pattern``, failing (never hanging) after ``timeout``."""
    seen, deadline = "", time.monotonic() + timeout
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk.decode(errors="replace")
            if re.search(pattern, seen):
                return seen
    raise AssertionError(f"no {pattern!r} in output: {seen[-2000:]}")


def test_fake_telegram_in_a_terminal_shows_edits_and_answers_and_leaves_on_ctrl_c(
    feeds_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-u", str(ROOT / "tests" / "fake_telegram.py"), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert fake.stdin is not None and fake.stderr is not None
    bot = None
    try:
        banner = _read_until(fake, r"securitybrief run")
        env = dict(re.findall(r"(TELEGRAM_\w+)=(\S+)", banner))
        env |= {"DATABASE_PATH": str(tmp_path / "t.db"), "FEEDS_FILE": str(feeds_file)}
        bot = subprocess.Popen(
            bot_argv("run"),
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        fake.stdin.write(b"/watch Kharkiv\n/watchlist\n")
        fake.stdin.flush()
        number = re.findall(r"\[(\d+)\] ✖ Kharkiv", _read_until(fake, r"\[\d+\] ✖ Kharkiv"))[-1]
        fake.stdin.write(f"{number}\n".encode())
        fake.stdin.flush()
        pressed = _read_until(fake, r"» Removed “Kharkiv”[\s\S]*bot \(edited\)> ")
        assert "Kharkiv" not in pressed.rsplit("bot (edited)> ", 1)[1]  # the list, without it
        fake.send_signal(signal.SIGINT)  # at the prompt, waiting for a line
        try:
            fake.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("the fake still runs 10 s after Ctrl-C")
        assert "Traceback" not in fake.stderr.read().decode()
    finally:
        if bot is not None:
            bot.terminate()
            bot.wait(timeout=30)
        if fake.poll() is None:
            fake.kill()
            fake.wait()


# --- 4. DATABASE_PATH naming a folder --------------------------------------------------------


def test_a_database_path_that_is_a_folder_is_called_one(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    result = cli("status", DATABASE_PATH=str(folder))
    assert result.returncode == 1
    assert "is a folder, not a database file" in result.stdout
    assert str(folder / "securitybrief.db") in result.stdout
    assert "disk" not in result.stdout
    check = check_database(Settings(database_path=folder))
    assert not check.ok and "is a folder, not a database file" in check.detail
    assert "disk" not in check.detail


# --- 5. misspelt names in .env ---------------------------------------------------------------

TOKEN = "123456:MISSPELT-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture
def misspelt_env(tmp_path: Path) -> Path:
    """A .env whose three names are misspelt settings."""
    path = tmp_path / ".env"
    path.write_text(f"TELEGRAM_TOKEN={TOKEN}\nFETCH_INTERVAL=10\nBRIEF_STORY=5\n")
    return path


SUGGESTIONS = (
    "TELEGRAM_TOKEN is not a setting, so it is ignored; did you mean TELEGRAM_BOT_TOKEN?",
    "FETCH_INTERVAL is not a setting, so it is ignored; did you mean FETCH_INTERVAL_MINUTES?",
    "BRIEF_STORY is not a setting, so it is ignored; did you mean BRIEF_STORIES?",
)


def test_doctor_names_the_misspelt_settings_in_the_env_file(
    misspelt_env: Path, feeds_file: Path, tmp_path: Path
) -> None:
    result = cli(
        "--env-file",
        str(misspelt_env),
        "doctor",
        DATABASE_PATH=str(tmp_path / "t.db"),
        FEEDS_FILE=str(feeds_file),
        TELEGRAM_BOT_TOKEN="",
    )
    for suggestion in SUGGESTIONS:
        assert f"! Settings file {misspelt_env}: {suggestion}" in result.stdout
    assert "Settings: valid" not in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def _run_terminal(
    env_file: Path, feeds_file: Path, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """`securitybrief run --terminal` with ``env_file``, typing only "quit"."""
    return cli(
        "--env-file",
        str(env_file),
        "run",
        "--terminal",
        input="quit\n",
        DATABASE_PATH=str(tmp_path / "t.db"),
        FEEDS_FILE=str(feeds_file),
        TELEGRAM_BOT_TOKEN="",
        **env,
    )


def test_run_warns_about_misspelt_settings_at_start(
    misspelt_env: Path, feeds_file: Path, tmp_path: Path
) -> None:
    result = _run_terminal(misspelt_env, feeds_file, tmp_path)
    assert result.returncode == 0, result.stderr
    for suggestion in SUGGESTIONS:
        assert f"Warning: {misspelt_env}: {suggestion}" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_only_the_env_file_is_checked_for_unknown_names(tmp_path: Path, feeds_file: Path) -> None:
    # The environment holds many variables that are none of ours; only the file is the bot's.
    env = tmp_path / ".env"
    env.write_text("FETCH_INTERVAL_MINUTES=10\n")
    result = _run_terminal(env, feeds_file, tmp_path, FETCH_INTERVAL="5")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    from bot.config import unknown_names

    env.write_text("FETCH_INTERVAL_MINUTES=10\nBRIEF_STORY=5\n")
    assert unknown_names(env) == [SUGGESTIONS[2]]


# --- 6. wrong types in plain words -----------------------------------------------------------


def test_wrong_typed_settings_are_explained_in_plain_words() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "FETCH_INTERVAL_MINUTES": "eighty",
                "RELEVANCE_THRESHOLD": "high",
                "WEBHOOK_PORT": "https",
            },
            env_file=None,
        )
    message = str(caught.value)
    assert "FETCH_INTERVAL_MINUTES='eighty': expected a whole number, for example 30" in message
    assert "RELEVANCE_THRESHOLD='high': expected a number, for example 1.5" in message
    assert "WEBHOOK_PORT='https': expected a whole number, for example 8443" in message
    assert "literal" not in message and "convert" not in message


# --- 7. terminal mode says that it sends no daily brief --------------------------------------


def test_terminal_mode_says_the_daily_brief_is_not_sent_there(
    dead_feeds: Path, tmp_path: Path
) -> None:
    result = _offline(
        dead_feeds, tmp_path, "run", "--terminal", input="/subscribe\n/time 18:19\nquit\n"
    )
    assert result.returncode == 0, result.stderr
    banner, session = result.stdout.split("you> ", 1)
    assert "The daily brief is not sent here" in banner
    subscribed, timed = session.split("you> ")[:2]
    assert "Terminal mode does not send the daily brief" in subscribed
    assert "Done: the brief comes at 18:19 (UTC)" in timed
    assert "With a bot token, it comes every day at 18:19 (UTC)" in timed


# --- 8. CHANNEL_ID, the unit's comment, BROADCAST_RATE ---------------------------------------


def test_channel_id_must_be_a_username_or_a_channel_number() -> None:
    # A collectible 4-character username, a basic group's id: Telegram takes both.
    for good in ["@securitybriefdaily", "-1001234567890", " @Brief_Daily ", "@news", "-4012345678"]:
        assert load_settings({"CHANNEL_ID": good}, env_file=None).channel_id == good.strip()
    for bad in ["securitybriefdaily", "1001234567890", "@no", "@1news", "-12a45", "@a b"]:
        with pytest.raises(ConfigError, match="CHANNEL_ID=.*expected a channel's @username"):
            load_settings({"CHANNEL_ID": bad}, env_file=None)


def test_the_unit_file_says_what_run_does_without_a_token(tmp_path: Path) -> None:
    unit = (ROOT / "deploy" / "securitybrief.service").read_text()
    comment = re.search(r"((?:^#.*\n)+)StandardInput=null", unit, re.M)
    assert comment is not None
    quoted = re.findall(r'"([^"]+)"', comment[1])
    assert quoted, comment[1]
    # What the comment quotes is what `run` says there (stdin /dev/null, as under systemd).
    result = subprocess.run(
        bot_argv("run"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "TELEGRAM_BOT_TOKEN": "", "DATABASE_PATH": str(tmp_path / "t.db")},
        timeout=60,
    )
    assert result.returncode == 1
    assert all(q in result.stderr for q in quoted), result.stderr
    assert "exit" in comment[1] and "status 1" in comment[1]


def test_env_example_advises_the_broadcast_rate_the_readme_does() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    advised = re.search(r"`BROADCAST_RATE` with it \(to about ([\d,]+)", readme)
    assert advised is not None
    paid = example.split("PAID_BROADCAST=")[0].rsplit("BROADCAST_RATE=", 1)[1]
    assert f"about {advised[1].replace(',', '')}" in paid
    assert "up to 1000" not in paid
