"""PAID_BROADCAST: broadcasts ask Telegram for paid delivery (allow_paid_broadcast), only then."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from botharness import Clock, broadcast_app, subscribe_due
from fake_telegram import FakeTelegram

from bot.config import Settings, load_settings
from bot.telegram.app import started
from bot.telegram.broadcast import deliver_due

CHATS = [101, 102, 103]


@pytest.mark.parametrize("raw, paid", [("true", True), ("false", False)])
async def test_paid_broadcast_sends_allow_paid_broadcast_only_when_enabled(
    fake: FakeTelegram, settings: Settings, raw: str, paid: bool
) -> None:
    loaded = load_settings({"PAID_BROADCAST": raw}, env_file=None)
    assert loaded.paid_broadcast is paid
    fake.add_private_chats(CHATS)
    clock = Clock(datetime.now(UTC))
    app, settings = broadcast_app(fake, replace(settings, paid_broadcast=paid), clock)
    async with started(app, polling=False):
        svc = app.bot_data.services
        subscribe_due(svc.db, CHATS, clock.now)
        stats = await deliver_due(svc.db, svc.newsroom, app.bot, settings, clock)
    assert stats.sent == len(CHATS)
    assert {m["chat_id"] for m in fake.sent} == set(CHATS)
    assert [m["allow_paid_broadcast"] for m in fake.sent] == [paid] * len(fake.sent)
