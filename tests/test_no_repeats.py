"""No article is sent to a chat twice: /latest over two fetch rounds of a real capture."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from botharness import Clock, say
from capture_server import capture_bot, captured_at, links
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.delivery.ledger import record_sent_stories, story_urls
from bot.news.newsroom import for_chat
from bot.storage.chats import get_chat
from bot.storage.news_store import story_fingerprint

USER = 4242


async def _round(fake: FakeTelegram, clock: Clock, server, when) -> list[dict]:
    server.until, clock.now = when, when
    return await say(fake, USER, "/latest", timeout=60)


async def test_second_round_of_a_real_capture_repeats_no_link_the_first_sent(
    fake: FakeTelegram, settings: Settings, tmp_path: Path
) -> None:
    capture = "lede-2026-08-15"
    end = captured_at(capture)
    fake.add_private_chat(USER)
    start = end - timedelta(hours=10)
    async with capture_bot(capture, fake, settings, tmp_path, start) as (app, server, clock):
        first = await _round(fake, clock, server, end - timedelta(hours=10))
        sent_first = {url for m in first for url in links(m)}
        assert len(sent_first) >= 5, [m["parsed_text"][:200] for m in first]

        second = await _round(fake, clock, server, end)
        sent_second = [url for m in second for url in links(m)]
        svc = app.bot_data.services
        brief = svc.newsroom.cached().brief
        chat = get_chat(svc.db, USER)
        # Without the ledger the top stories would have repeated these links.
        plain_top = {s.url for st in for_chat(brief, chat).stories for s in st.sources}
        assert plain_top & sent_first, "the capture must carry stories over between rounds"
        assert sent_second, [m["parsed_text"][:300] for m in second]
        assert not set(sent_second) & sent_first
        text = "\n".join(m["parsed_text"] for m in second)
        updates = text.count("Update ·")
        if updates:  # an update cites only its new reports and says what is new
            assert "New since you saw it:" in text

        # Once the chat has seen every story, /latest says so in one line and lists the
        # current top headlines without links.
        record_sent_stories(
            svc.db,
            USER,
            [(st.id, story_fingerprint(st), False, story_urls(st)) for st in brief.stories],
            "latest",
            clock.now,
        )
        reply = await say(fake, USER, "/latest", timeout=60)
        last = reply[0]
        assert len(reply) == 1 and not links(last)
        assert last["parsed_text"].startswith("🛡 Nothing new has cleared the bar")
        headlines = last["parsed_text"].splitlines()[1:]
        assert [h[2:] for h in headlines] == [s.headline for s in for_chat(brief, chat).stories]
