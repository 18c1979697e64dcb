"""Terminal mode: a new user tries the bot without a token, through the same handlers."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from botharness import bot_argv, cli

from bot.telegram.terminal import html_to_terminal


def _run(
    lines: list[str], feeds_file: Path, tmp_path: Path, *extra: str, token: str = ""
) -> subprocess.CompletedProcess[str]:
    """Type ``lines`` into ``securitybrief run *extra`` (with no bot token set, by default)."""
    return cli(
        "run",
        *extra,
        input="\n".join(lines) + "\n",
        DATABASE_PATH=str(tmp_path / "t.db"),
        FEEDS_FILE=str(feeds_file),
        TELEGRAM_BOT_TOKEN=token,  # empty is unset
    )


def _terminal(lines: list[str], feeds_file: Path, tmp_path: Path) -> str:
    """What terminal mode prints for ``lines``, after checking it exited cleanly."""
    result = _run(lines, feeds_file, tmp_path, "--terminal")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_terminal_session_goes_through_the_real_handlers(feeds_file: Path, tmp_path: Path) -> None:
    out = _terminal(
        [
            "/start",
            "1",
            "/latest",
            "/settings",
            "2",
            "/time 08:00",
            "/timezone Mars/Olympus",
            "/nope",
            "quit",
        ],
        feeds_file,
        tmp_path,
    )
    assert "terminal mode" in out
    assert "[1] ✅ Subscribe to the daily brief" in out  # the /start button, as a numbered choice
    assert "Subscribed. The brief comes every day at 07:00 (UTC)" in out  # pressed with "1"
    assert "🛡 Security Brief —" in out and "Sources: " in out
    assert "<b>" not in out and "&amp;" not in out  # rendered readably, not as raw HTML
    assert "(updated) ⚙️ Settings" in out  # pressing "2" (the zone button) edits the menu in place
    assert "Asia/Tokyo" in out
    assert "Done: the brief comes at 08:00 (UTC)" in out
    assert "I don't know the time zone 'Mars/Olympus'" in out
    assert "I don't know /nope" in out
    assert out.rstrip().endswith("Bye.")


def test_terminal_watchlist_commands(feeds_file: Path, tmp_path: Path) -> None:
    out = _terminal(
        [
            "/watch Kharkiv",
            "/alert Guinea-Bissau",
            "/watch ?!",
            "/quiet 23:00-06:00",
            "/watchlist",
            "1",
            "/latest",
            "quit",
        ],
        feeds_file,
        tmp_path,
    )
    assert "Watching: “Kharkiv”" in out and "Alert on: “Guinea-Bissau”" in out
    assert "has no letters or digits" in out
    assert "Quiet hours 23:00–06:00 (UTC)" in out
    assert "• Kharkiv — brief" in out and "• Guinea-Bissau — 🔔 alert" in out
    assert "» Removed “Kharkiv”" in out  # "1" is the first term's remove button
    assert "On your watchlist" in out and "Matched: “Guinea-Bissau”" in out
    assert "Matched: “Kharkiv”" not in out


def test_without_token_and_without_terminal_the_run_command_explains(
    feeds_file: Path, tmp_path: Path
) -> None:
    result = _run(["/help"], feeds_file, tmp_path)
    assert result.returncode == 1
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr


def test_html_to_terminal_shows_link_targets() -> None:
    text = '<b>1. <a href="https://example.com/a?x=1&amp;y=2">Troops &amp; rebels</a></b>'
    assert html_to_terminal(text) == "1. Troops & rebels <https://example.com/a?x=1&y=2>"


def test_terminal_flag_chats_in_the_terminal_even_with_a_token(
    feeds_file: Path, tmp_path: Path
) -> None:
    # "--terminal: Terminal mode even when a token is set" (run --help): nothing is sent to
    # Telegram, whose address here answers nothing.
    result = _run(
        ["/start", "quit"], feeds_file, tmp_path, "--terminal", token="123456:" + "A" * 35
    )
    assert result.returncode == 0, result.stderr
    assert "Security Brief" in result.stdout
    assert "123456:" not in result.stdout + result.stderr


def test_terminal_mode_with_a_channel_set_still_starts(feeds_file: Path, tmp_path: Path) -> None:
    # CHANNEL_ID is for the real bot; the terminal has no channel to post to.
    result = cli(
        "run",
        "--terminal",
        input="/help\nquit\n",
        DATABASE_PATH=str(tmp_path / "t.db"),
        FEEDS_FILE=str(feeds_file),
        TELEGRAM_BOT_TOKEN="",
        CHANNEL_ID="@securitybriefdaily",
    )
    assert result.returncode == 0, result.stderr
    assert "/latest" in result.stdout and result.stdout.rstrip().endswith("Bye.")


def test_ctrl_c_at_the_prompt_leaves_at_once(feeds_file: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_PATH": str(tmp_path / "t.db"),
        "FEEDS_FILE": str(feeds_file),
        "TELEGRAM_BOT_TOKEN": "",
    }
    with subprocess.Popen(
        bot_argv("run", "--terminal"),
        stdin=subprocess.PIPE,  # open, with nothing typed: the bot waits at its prompt
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as bot:
        assert bot.stdout is not None
        seen = ""
        while "you> " not in seen:
            seen += bot.stdout.read(1) or pytest.fail(f"no prompt: {seen!r}")
        bot.send_signal(signal.SIGINT)
        try:
            code = bot.wait(timeout=10)
        except subprocess.TimeoutExpired:
            bot.kill()
            pytest.fail("still waiting for Enter 10 s after Ctrl-C")
    assert code != 0  # interrupted, not a clean "quit"
