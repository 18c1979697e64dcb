"""The bot token never leaves: not in errors, logs or tracebacks, whatever the Bot API does."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botharness import bot_argv, free_port, html_api, serving

from bot.config import ConfigError, load_settings
from bot.telegram.transport import Redactor, scrub

TOKEN = "987654321:AAHleakyTOKEN_distinctive-0123456789"
SECRET_PART = TOKEN.split(":", 1)[1]


@pytest.fixture
def not_json_api() -> Iterator[str]:
    """A local server that answers every call with 200 and an HTML page."""
    with serving(html_api(200)) as url:
        yield url


@pytest.fixture
def stalling_api() -> Iterator[str]:
    """A port that accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_the_token_appears_in_no_output_whatever_the_api_does(
    tmp_path: Path, feeds_file: Path, not_json_api: str, stalling_api: str
) -> None:
    apis = {
        "unreachable": f"http://127.0.0.1:{free_port()}",
        "stalling": stalling_api,
        "malformed port": "http://127.0.0.1:99x",
        "not JSON": not_json_api,
    }
    runs = {}
    for name, url in apis.items():
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": url,
            "DATABASE_PATH": str(tmp_path / f"{name}.db"),
            "FEEDS_FILE": str(feeds_file),
            "LOG_LEVEL": "DEBUG",
        }
        # All at once: the stalling case waits out the read timeout, the others do not wait.
        runs[name] = subprocess.Popen(
            bot_argv("run"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    outputs = {}
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=60)
        outputs[name] = (proc.returncode, out + err)
    for name, (code, output) in outputs.items():
        assert code != 0, f"{name}: {output[-2000:]}"
        assert SECRET_PART not in output, f"{name} leaked the token:\n{output}"
        assert "Unclosed client session" not in output, f"{name}: {output[-2000:]}"
    for name in ("unreachable", "stalling", "not JSON"):
        assert "Could not start: the Bot API at" in outputs[name][1], outputs[name][1][-2000:]
    malformed = outputs["malformed port"][1]
    assert "TELEGRAM_API_URL='http://127.0.0.1:99x': the port is not a number" in malformed


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://h:-1", "https://h:8443x"])
def test_a_bad_port_in_the_api_url_is_a_clear_settings_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"TELEGRAM_API_URL": url, "TELEGRAM_BOT_TOKEN": TOKEN}, env_file=None)
    assert "TELEGRAM_API_URL" in str(caught.value) and "port" in str(caught.value)
    assert SECRET_PART not in str(caught.value)


def test_the_log_filter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redactor([TOKEN]))
    log = logging.getLogger("test_token_leaks.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        url = f"https://api.telegram.org/bot{TOKEN}/getMe"
        try:
            try:
                raise ConnectionError(f"Connection timeout to host {url}")
            except ConnectionError as inner:
                raise RuntimeError("wrapped") from inner
        except RuntimeError:
            log.exception("calling %s failed", url)
        log.warning("token %s in args, %d times", TOKEN, 1)
    finally:
        log.removeHandler(handler)
    output = stream.getvalue()
    assert SECRET_PART not in output
    assert output.count("<redacted>") == 3  # message argument, traceback, second record
    assert "ConnectionError: Connection timeout to host" in output  # the traceback is kept


def test_scrub_takes_the_url_and_token_shapes_out() -> None:
    url = f"http://127.0.0.1:99x/bot{TOKEN}/getMe"
    assert scrub(f"InvalidUrlClientError: {url}", url) == (
        "InvalidUrlClientError: <Bot API URL>/getMe"
    )
    assert SECRET_PART not in scrub(f"elsewhere /bot{TOKEN}/x and {TOKEN}")
