"""Crash test: SIGKILL the real bot process mid-broadcast, restart it, count what arrived."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from botharness import kill_mid_send, restart_until, subscribe_due
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.news.feeds import load_feeds
from bot.news.fetch import make_client
from bot.news.pipeline import build_brief, refresh
from bot.storage.db import open_db

CHATS = list(range(10_000, 12_000))


async def test_sigkill_mid_broadcast_then_restart_sends_every_chat_exactly_one_brief(
    fake: FakeTelegram, settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    db = open_db(settings.database_path)
    async with make_client(2.0) as client:
        await refresh(db, settings, load_feeds(settings.feeds_file), client, now)
    build_brief(db, settings, now)
    subscribe_due(db, CHATS, now)
    db.close()

    fake.set_rate_limits(global_rate=1200.0)
    fake.add_private_chats(CHATS)
    log = tmp_path / "bot.log"
    sent = await kill_mid_send(fake, settings, log, 700, "the broadcast to get going")
    sent_before_crash = Counter(m["chat_id"] for m in sent)
    assert 0 < len(sent_before_crash) < len(CHATS)

    parts = max(sent_before_crash.values())
    await restart_until(
        fake,
        settings,
        log,
        lambda: len({m["chat_id"] for m in fake.sent}) == len(CHATS),
        90,
        "every chat to get the brief",
    )

    per_chat = Counter(m["chat_id"] for m in fake.sent)
    assert set(per_chat) == set(CHATS)
    assert set(per_chat.values()) == {parts}, Counter(per_chat.values())
    for chat_id in CHATS[::97]:
        texts = [m["text"] for m in fake.messages_to(chat_id)]
        assert len(set(texts)) == parts
    db = open_db(settings.database_path)
    statuses = dict(
        db.execute("select status, count(*) from deliveries group by status").fetchall()
    )
    db.close()
    assert statuses == {"sent": len(CHATS)}
    text = log.read_text()
    assert "broadcast due=" in text  # the structured per-broadcast log line
    assert fake.token not in text and fake.token.split(":")[1] not in text  # never log the token
