"""Webhook mode is safe by default: a secret always, checked before the body; never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from botharness import webhook_bot
from fake_telegram import FakeTelegram

from bot.config import WEBHOOK_SECRET_PATTERN, ConfigError, Settings, load_settings
from bot.telegram.webhook import MAX_UPDATE_BYTES, SECRET_HEADER

USER = 77
HELP_UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 0,
        "text": "/help",
        "chat": {"id": USER, "type": "private", "first_name": "A"},
        "from": {"id": USER, "is_bot": False, "first_name": "A"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    },
}


async def test_without_a_configured_secret_a_random_one_is_registered_and_required(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with webhook_bot(fake, settings, secret=None) as (port, _):
        secret = fake.webhook_secret
        assert secret and len(secret) >= 32 and WEBHOOK_SECRET_PATTERN.fullmatch(secret)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            forged = await client.post("/telegram", json=HELP_UPDATE)
            assert forged.status_code == 403
            right = await client.post(
                "/telegram", json=HELP_UPDATE, headers={SECRET_HEADER: secret}
            )
            assert right.status_code == 200
            reply = await fake.wait_for_messages(USER, 1)
            assert "/latest" in reply[0]["parsed_text"]
            assert len(fake.messages_to(USER)) == 1  # the forged update got nothing


async def test_the_random_secret_stays_out_of_debug_logs(
    fake: FakeTelegram, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with webhook_bot(fake, settings, secret=None):
        secret = fake.webhook_secret
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "setWebhook" in logged  # python-telegram-bot logs the call and its arguments
    assert secret and secret not in logged and secret not in caplog.text


async def test_a_webhook_url_with_a_path_gets_its_updates_with_or_without_the_prefix(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    settings = replace(settings, webhook_url="https://proxy.example.com/securitybrief/")
    async with webhook_bot(fake, settings, secret="s" * 40, url=None) as (port, _):
        assert fake.webhook_url == "https://proxy.example.com/securitybrief/telegram"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            headers = {SECRET_HEADER: "s" * 40}
            # A proxy that passes the path on as it is, then one that strips the prefix.
            for path in ("/securitybrief/telegram", "/telegram"):
                answer = await client.post(path, json=HELP_UPDATE, headers=headers)
                assert answer.status_code == 200, path
            await fake.wait_for_messages(USER, 2)


async def test_webhook_mode_takes_updates_with_the_secret_and_serves_healthz(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with (
        webhook_bot(fake, settings, secret="s3cret_token") as (port, app),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        assert fake.webhook_url == "https://bot.example.com/telegram"
        wrong = await client.post("/telegram", json=HELP_UPDATE, headers={SECRET_HEADER: "nope"})
        assert wrong.status_code == 403
        right = await client.post(
            "/telegram", json=HELP_UPDATE, headers={SECRET_HEADER: "s3cret_token"}
        )
        assert right.status_code == 200
        reply = await fake.wait_for_messages(USER, 1)
        assert "/latest" in reply[0]["parsed_text"]
        assert len(fake.messages_to(USER)) == 1  # the forged call got nothing
        health = await client.get("/healthz")
        assert health.status_code == 200
        body = json.loads(health.text)
        assert body["status"] == "degraded" and body["last_fetch"] is None  # nothing fetched yet
        await app.bot_data.services.newsroom.current()  # a fetch round
        body = json.loads((await client.get("/healthz")).text)
        assert body["status"] == "ok" and body["last_fetch"] and body["failing_feeds"] == []
        app.bot_data.services.db.conn.close()  # the database goes away
        broken = await client.get("/healthz")
        assert broken.status_code == 503 and json.loads(broken.text)["status"] == "error"


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"null",
        b'"x"',
        b"42",
        b"{}",
        b'{"update_id":1,"message":"x"}',
        b'{"update_id":"1"}',
        b'{"update_id":1,"message":{"chat":5}}',
        b"\xff\xfe not json",
        b"",
    ],
)
async def test_any_body_gets_400_never_500(
    fake: FakeTelegram, settings: Settings, body: bytes
) -> None:
    fake.add_private_chat(USER)
    async with (
        webhook_bot(fake, settings, secret="s3cret_token") as (port, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        answer = await client.post(
            "/telegram", content=body, headers={SECRET_HEADER: "s3cret_token"}
        )
        assert answer.status_code == 400
        # The application is still serving: a real update after the junk is answered.
        good = await client.post(
            "/telegram", json=HELP_UPDATE, headers={SECRET_HEADER: "s3cret_token"}
        )
        assert good.status_code == 200
        await fake.wait_for_messages(USER, 1)


async def _raw(port: int, request: bytes, timeout: float = 3.0) -> tuple[bytes, float]:
    """Send raw bytes; return the status line and how long the answer took."""
    started_at = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        return line, time.monotonic() - started_at
    finally:
        writer.close()


async def test_wrong_secret_and_oversized_bodies_are_refused_before_the_body_is_read(
    fake: FakeTelegram, settings: Settings
) -> None:
    async with webhook_bot(fake, settings, secret="s3cret_token") as (port, _):
        head = "POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        # 99 MB announced, none of it sent: the answer comes on the headers alone.
        wrong = f"{head}{SECRET_HEADER}: nope\r\nContent-Length: 99000000\r\n\r\n".encode()
        line, took = await _raw(port, wrong)
        assert line.startswith(b"HTTP/1.1 403") and took < 2
        big = f"{head}{SECRET_HEADER}: s3cret_token\r\nContent-Length: 99000000\r\n\r\n".encode()
        line, took = await _raw(port, big)
        assert line.startswith(b"HTTP/1.1 413") and took < 2
        # Non-ASCII in the secret header is a wrong secret, not a crash.
        odd = head.encode() + f"{SECRET_HEADER}: ".encode() + "sécret".encode()
        line, _ = await _raw(port, odd + b"\r\nContent-Length: 2\r\n\r\n{}")
        assert line.startswith(b"HTTP/1.1 403")
        # A chunked body has no length up front; tornado stops reading it at the limit (400).
        chunk = b"x" * (256 * 1024)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
        assert len(chunk) * 5 > MAX_UPDATE_BYTES
        chunked = f"{head}{SECRET_HEADER}: s3cret_token\r\nTransfer-Encoding: chunked\r\n\r\n"
        line, _ = await _raw(port, chunked.encode() + chunks)
        assert line.startswith(b"HTTP/1.1 400")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200  # still serving


@pytest.mark.parametrize("secret", ["has spaces!", "sécret", "a" * 257, "semi;colon"])
def test_a_bad_webhook_secret_is_refused_at_load_without_showing_it(
    tmp_path: Path, secret: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"WEBHOOK_SECRET": secret}, env_file=None)
    message = str(caught.value)
    assert "WEBHOOK_SECRET=(hidden): may only use A-Z, a-z, 0-9, _ and -" in message
    assert secret not in message


def test_a_good_webhook_secret_loads() -> None:
    secret = "Ab0_-" * 51 + "x"  # 256 characters, every allowed kind
    assert load_settings({"WEBHOOK_SECRET": secret}, env_file=None).webhook_secret == secret
