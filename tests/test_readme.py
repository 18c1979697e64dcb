"""The README's promises: its two commands work on a fresh copy, and CI runs the second."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest
from botharness import ROOT, clean_environment, readme_commands


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    text = (ROOT / "README.md").read_text()
    install_run, tests = readme_commands()[:2]
    assert text.index(install_run) < 400, "the two commands come first"
    assert install_run.endswith("securitybrief run")
    assert tests.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def _talk(command: str, cwd: Path, answers: list[str], timeout: float = 300) -> str:
    """Run ``command`` on a pseudo-terminal (as a person would) and type ``answers`` at prompts."""
    main, child = pty.openpty()
    env = clean_environment()
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    output, pending, deadline = b"", list(answers), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if pending and output.rstrip().endswith(b"you>"):
            os.write(main, (pending.pop(0) + "\n").encode())
            output += b"\n"
        if proc.poll() is not None and not ready:
            break
    proc.kill()
    proc.wait()
    os.close(main)
    return output.decode(errors="replace")


@pytest.mark.xdist_group("fresh-install")
def test_first_command_installs_and_starts_terminal_mode_on_a_fresh_copy(
    fresh_install: Path,
) -> None:
    # fresh_install ran the command's install half on a fresh copy; the whole command runs here.
    tmp_path = fresh_install
    install_run = readme_commands()[0]
    out = _talk(install_run, tmp_path, ["/help", "/time 25:99", "quit"])
    assert "terminal mode" in out, out[-3000:]
    assert "/latest — The latest security brief, now" in out
    assert "isn't a time I understand" in out
    assert "Bye." in out
    assert (tmp_path / "data" / "securitybrief.db").is_file()
