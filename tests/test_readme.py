"""The README's promises: its two commands come first, and CI runs the second."""

from __future__ import annotations

from botharness import ROOT, readme_commands


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
