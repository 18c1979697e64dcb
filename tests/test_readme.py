"""The README's promises: its two commands come first, and CI runs the second."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from botharness import ROOT, clean_environment, readme_commands


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    text = (ROOT / "README.md").read_text()
    install_run, tests = readme_commands()[:2]
    assert text.index(install_run) < 400, "the two commands come first"
    assert install_run.endswith("securitybrief run")
    assert tests.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


# The README's first command runs in tests/test_deploy.py, on the fresh install it shares with
# the Dockerfile replay (one venv, one worker).


def test_the_offline_recipe_shows_stories_with_no_network(tmp_path: Path) -> None:
    # "No network?": the fixture feed server's TOML, then the bot in terminal mode reading it.
    recipe = next(c for c in readme_commands() if "feed_server.py" in c)
    assert "-u tests/feed_server.py > sample-feeds.toml &" in recipe
    assert "FEEDS_FILE=sample-feeds.toml .venv/bin/securitybrief run" in recipe
    server = subprocess.Popen(
        [sys.executable, "-u", "tests/feed_server.py"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        lines = []
        while not (line := server.stdout.readline()).startswith("# serving on"):
            assert line, "the feed server ended before serving"
            lines.append(line)
        feeds = tmp_path / "sample-feeds.toml"
        feeds.write_text("".join(lines))
        env = {
            **clean_environment(),
            "FEEDS_FILE": str(feeds),
            "DATABASE_PATH": str(tmp_path / "t.db"),
        }
        chat = subprocess.run(
            # --terminal: stdin is a pipe here, not the terminal the recipe is typed in.
            [sys.executable, "-m", "bot", "run", "--terminal"],
            input="/latest\nquit\n",
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert chat.returncode == 0, chat.stderr
    assert "Houthis claim missile attack" in chat.stdout
    assert "could not be reached" not in chat.stdout
