import re
from datetime import time
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings, parse_hhmm


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=tmp_path / "missing.env")
    assert settings == Settings()
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.default_delivery_time == time(7, 0)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "FETCH_INTERVAL_MINUTES=10\nDEFAULT_TIMEZONE=Asia/Kolkata\nADMIN_CHAT_IDS=1, 2\n"
    )
    settings = load_settings({"FETCH_INTERVAL_MINUTES": "15"}, env_file=env_file)
    assert settings.fetch_interval_minutes == 15
    assert settings.default_timezone == "Asia/Kolkata"
    assert settings.admin_chat_ids == frozenset({1, 2})


def test_every_problem_is_reported_at_once_and_secrets_are_hidden(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(
            {
                "DEFAULT_DELIVERY_TIME": "25:99",
                "DEFAULT_TIMEZONE": "Mars/Olympus",
                "FETCH_INTERVAL_MINUTES": "-3",
                "TELEGRAM_API_URL": "ftp://x",
                "FULL_TEXT": "maybe",
            },
            env_file=None,
        )
    message = str(err.value)
    for name in [
        "DEFAULT_DELIVERY_TIME",
        "DEFAULT_TIMEZONE",
        "FETCH_INTERVAL_MINUTES",
        "TELEGRAM_API_URL",
        "FULL_TEXT",
    ]:
        assert name in message


@pytest.mark.parametrize(
    "name, raw",
    [
        ("RELEVANCE_THRESHOLD", "nan"),  # every story would score under a nan bar
        ("DELIVERY_LEASE_SECONDS", "inf"),  # a crashed process's lease would never lapse
        ("BROADCAST_PART_GAP_SECONDS", "-inf"),
        ("FETCH_TIMEOUT_SECONDS", "NaN"),
        ("WEBHOOK_PORT", "70000"),  # the socket layer takes it modulo 65536: port 4464
        ("WEBHOOK_PORT", "0"),
        ("WEBHOOK_LISTEN", "not an address"),
    ],
)
def test_numbers_that_are_no_setting_are_refused(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: raw}, env_file=None)


@pytest.mark.parametrize("listen", ["0.0.0.0", "127.0.0.1", "::", "localhost", "bot.internal"])
def test_a_listen_address_may_be_an_ip_or_a_host_name(listen: str) -> None:
    assert load_settings({"WEBHOOK_LISTEN": listen}, env_file=None).webhook_listen == listen


def test_token_never_appears_in_repr() -> None:
    settings = load_settings({"TELEGRAM_BOT_TOKEN": "123:SECRET"}, env_file=None)
    assert settings.telegram_bot_token == "123:SECRET"
    assert "SECRET" not in repr(settings)


@pytest.mark.parametrize(
    "raw, expected", [("07:00", time(7)), ("7:05", time(7, 5)), ("23:59", time(23, 59))]
)
def test_parse_hhmm_accepts(raw: str, expected: time) -> None:
    assert parse_hhmm(raw) == expected


@pytest.mark.parametrize("raw", ["25:99", "24:00", "7", "seven", "12:60", ""])
def test_parse_hhmm_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(raw)


def test_env_example_documents_every_setting() -> None:
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    names = {m[1] for m in re.finditer(r"^(?:# )?([A-Z][A-Z_]+)=", example, re.M)}
    from dataclasses import fields

    assert names == {f.name.upper() for f in fields(Settings)}


def test_env_example_shows_the_defaults() -> None:
    # It says so at its top: copying it unchanged must change nothing.
    example = Path(__file__).parent.parent / ".env.example"
    assert load_settings({}, env_file=example) == Settings()
