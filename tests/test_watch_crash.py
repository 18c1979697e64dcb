"""Crash test: SIGKILL the real bot mid alert burst, restart it, count the alerts that arrived."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from botharness import add_alert_watchers, kill_mid_send, restart_until
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.news.feeds import load_feeds
from bot.news.fetch import make_client
from bot.news.pipeline import refresh
from bot.news.watch import normalise
from bot.storage.db import open_db

CHATS = list(range(20_000, 20_600))
TERMS = ("Kharkiv", "Guinea-Bissau")


async def test_sigkill_mid_alert_burst_then_restart_sends_one_alert_per_story(
    fake: FakeTelegram, settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    db = open_db(settings.database_path)
    add_alert_watchers(db, CHATS, TERMS, now)  # alerts at any hour, no daily brief
    async with make_client(2.0) as client:
        await refresh(db, settings, load_feeds(settings.feeds_file), client, now)
    keys = [normalise(t) for t in TERMS]
    stories = {
        r[0]
        for r in db.execute(
            "select distinct wa.story_id from watch_matches m join watch_articles wa "
            f"on wa.url = m.url where m.key in ({','.join('?' * len(keys))})",
            keys,
        )
    }
    assert len(stories) >= 2  # each name is in the news: a burst of alerts to every chat
    db.close()

    fake.set_rate_limits(global_rate=1200.0)
    fake.add_private_chats(CHATS)
    log = tmp_path / "bot.log"
    sent = await kill_mid_send(fake, settings, log, 300, "the alert burst to get going")
    assert 0 < len(sent) < len(CHATS) * len(stories)

    await restart_until(
        fake,
        settings,
        log,
        lambda: len(fake.sent) >= len(CHATS) * len(stories),
        60,
        "every chat's alerts",
    )

    per_chat = Counter(m["chat_id"] for m in fake.sent)
    assert set(per_chat) == set(CHATS)
    assert set(per_chat.values()) == {len(stories)}, Counter(per_chat.values())
    for chat_id in CHATS[::97]:
        texts = fake.texts_to(chat_id)
        assert all(t.startswith("🔔 Watchlist") for t in texts) and len(set(texts)) == len(texts)
    db = open_db(settings.database_path)
    statuses = dict(
        db.execute(
            "select status, count(*) from deliveries where local_date like 'alert:%' group by status"
        ).fetchall()
    )
    db.close()
    assert statuses == {"sent": len(CHATS) * len(stories)}
