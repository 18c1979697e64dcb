"""Held alerts and chats planned during a broadcast: never lost, never sent twice, never late a day.

Reproductions by a reviewer of the held-alert and broadcast-queue changes, kept as tests.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from botharness import (
    WATCH_ALERT,
    WATCH_HEADLINE,
    WATCH_TERM,
    Clock,
    running_bot,
    say,
    watched_story,
)
from sqlite_utils import Database
from telegram.error import NetworkError

from bot.models import Article, Source, Story
from bot.news.watch import normalise
from bot.storage import watchlists
from bot.storage.news_store import iso, save_articles
from bot.telegram import broadcast
from bot.telegram.app import _delivery_job
from bot.telegram.broadcast import deliver_due
from bot.telegram.context import BotContext

TERM, HEADLINE, ALERT = WATCH_TERM, WATCH_HEADLINE, WATCH_ALERT


def deliveries(db: Database) -> list[tuple]:
    """Every deliveries row, in order."""
    return db.execute(
        "select chat_id, local_date, status, due_at, last_error from deliveries order by chat_id, local_date"
    ).fetchall()


O1, O2, O3, LATE = 71_001, 71_002, 71_003, 71_010


def chat_row(c: int, due: datetime, hhmm: str) -> dict[str, object]:
    """A subscribed chat whose brief comes at ``hhmm`` UTC, due at ``due``."""
    return {
        "chat_id": c,
        "type": "private",
        "subscribed": 1,
        "active": 1,
        "timezone": "UTC",
        "delivery_time": hhmm,
        "brief_length": "short",
        "next_due": iso(due),
        "created_at": iso(due),
        "updated_at": iso(due),
    }


async def test_a_chat_planned_during_a_broadcast_gets_its_brief_once(fake, settings, monkeypatch):
    fake.add_private_chats([O1, O2, O3, LATE])
    due = datetime(2026, 8, 15, 23, 49, tzinfo=UTC)
    clock = Clock(due + timedelta(seconds=30))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await svc.newsroom.current(force=True)
        svc.db["chats"].insert_all([chat_row(c, due, "23:49") for c in (O1, O2, O3)], pk="chat_id")
        gates = {c: asyncio.Event() for c in (O1, O2, O3)}
        posts: list[int] = []
        real_post = broadcast.Broadcaster._post

        async def post(self, chat_id, text, parse_mode="HTML"):
            posts.append(chat_id)
            if chat_id in gates:
                await gates[chat_id].wait()  # the network answers when the test says
                return
            await asyncio.sleep(0.3)  # LATE's send takes a while
            await real_post(self, chat_id, text, parse_mode)

        monkeypatch.setattr(broadcast.Broadcaster, "_post", post)
        real_plan = broadcast.plan_batches

        def plan_batches(*a, **k):
            for batch in real_plan(*a, **k):
                gates[O1].set()  # O1's send completes while planning yields after this batch
                yield batch

        running = asyncio.create_task(_delivery_job(BotContext(app)))
        await asyncio.sleep(0.3)  # O1..O3 in flight, page exhausted
        monkeypatch.setattr(broadcast, "plan_batches", plan_batches)
        svc.db["chats"].insert(chat_row(LATE, due + timedelta(minutes=1), "23:50"), pk="chat_id")
        clock.now = due + timedelta(minutes=1, seconds=30)
        await _delivery_job(BotContext(app))  # finds the broadcast running: plans LATE for it
        gates[O2].set()  # another send completes later: its worker refills the page
        await asyncio.sleep(0.1)
        gates[O3].set()
        await running
        assert posts.count(LATE) == 1, f"LATE's one-part brief was sent {posts.count(LATE)} times"


HELD_BACK, OTHERS = 73_010, list(range(73_001, 73_004))


async def test_a_brief_planned_after_midnight_for_the_day_before_leaves_the_next_day_its_own(
    fake, settings, monkeypatch
):
    fake.add_private_chats([HELD_BACK, *OTHERS])
    due = datetime(2026, 8, 15, 23, 59, tzinfo=UTC)
    clock = Clock(due + timedelta(seconds=30))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await svc.newsroom.current(force=True)
        svc.db["chats"].insert_all(
            [chat_row(c, due, "23:59") for c in (HELD_BACK, *OTHERS)], pk="chat_id"
        )
        real_post = broadcast.Broadcaster._post

        async def slow_post(self, chat_id, text, parse_mode="HTML"):  # a big broadcast: slow sends
            await asyncio.sleep(1.0)
            await real_post(self, chat_id, text, parse_mode)

        monkeypatch.setattr(broadcast.Broadcaster, "_post", slow_post)
        svc.showing_latest.add(HELD_BACK)
        running = asyncio.create_task(_delivery_job(BotContext(app)))  # 23:59:30
        await asyncio.sleep(0.3)
        svc.showing_latest.discard(HELD_BACK)
        clock.now = datetime(2026, 8, 16, 0, 0, 30, tzinfo=UTC)
        await _delivery_job(BotContext(app))  # broadcast running: plans HELD_BACK for it
        await running
        monkeypatch.setattr(broadcast.Broadcaster, "_post", real_post)
        for t in (
            datetime(2026, 8, 16, 23, 59, 30, tzinfo=UTC),
            datetime(2026, 8, 17, 0, 5, tzinfo=UTC),
        ):
            clock.now = t
            await _delivery_job(BotContext(app))
        rows = [r[:4] for r in deliveries(svc.db) if r[0] == HELD_BACK]
        assert any(r[1] == "2026-08-16" for r in rows), "HELD_BACK got no brief on 2026-08-16"


async def test_a_held_alert_waits_for_a_pending_brief_and_comes_if_it_never_goes_out(
    fake, settings, monkeypatch
):
    chat = 72_000
    fake.add_private_chat(chat)
    clock = Clock(datetime(2026, 8, 15, 21, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, chat, f"/alert {TERM}")
        await say(fake, chat, "/subscribe")  # brief 07:00 UTC, quiet 22:00-07:00
        clock.now = datetime(2026, 8, 15, 23, tzinfo=UTC)
        watched_story(svc.db, "w1", clock.now, stored=True)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)

        real_post = broadcast.Broadcaster._post
        down = {"on": True}

        async def post(self, chat_id, text, parse_mode="HTML"):
            if down["on"]:
                raise NetworkError("Bad Gateway")
            await real_post(self, chat_id, text, parse_mode)

        monkeypatch.setattr(broadcast.Broadcaster, "_post", post)
        for mm in (0, 5, 10):
            clock.now = datetime(2026, 8, 16, 7, mm, tzinfo=UTC)
            await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        down["on"] = False
        clock.now = datetime(2026, 8, 16, 7, 12, tzinfo=UTC)
        await say(fake, chat, "/stop")  # no daily brief any more; the alert term stays
        for day, hh in ((16, 7), (16, 12), (16, 20), (17, 8), (17, 12)):
            clock.now = datetime(2026, 8, day, hh, 13, tzinfo=UTC)
            await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        got = [t for t in fake.texts_to(chat) if HEADLINE in t]
        assert got, (
            "the watched story never reached the chat: held alert dropped for a brief that was cancelled"
        )


def story(db: Database, n: int, now: datetime, score: float) -> None:
    """A watch story numbered ``n`` naming TERM, stored with its match."""
    url, head = f"https://x.example/{n}", f"Strike near {TERM} no{n}x"
    save_articles(db, [Article(url, "https://x.example/feed", "Outlet", head, "", now)], now)
    st = Story(
        f"w{n}", head, "Outlet reports: …", "Europe", (), score, (Source("Outlet", head, url, now),)
    )
    watchlists.save_stories(db, [st], {st.id: [url]}, now)
    watchlists.record_matches(db, [(url, normalise(TERM))], now)


async def test_held_alerts_of_a_chat_whose_brief_falls_in_quiet_hours_are_not_held_for_ever(
    fake, settings
):
    chat = 74_000
    fake.add_private_chat(chat)
    clock = Clock(datetime(2026, 8, 15, 12, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, chat, f"/alert {TERM}")
        await say(fake, chat, "/time 23:00")
        await say(fake, chat, "/subscribe")  # brief 23:00 UTC, quiet 22:00-07:00 UTC
        clock.now = datetime(2026, 8, 15, 23, 0, 30, tzinfo=UTC)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)  # 15th's brief
        clock.now = datetime(2026, 8, 15, 23, 30, tzinfo=UTC)
        for n in range(1, 7):  # six stories after the brief, in quiet hours
            story(svc.db, n, clock.now, 10.0 - n)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        for day in (16, 17, 18):
            for hh, mm in ((7, 1), (12, 0), (23, 0), (23, 11)):
                clock.now = datetime(2026, 8, day, hh, mm, tzinfo=UTC)
                await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        text = "\n".join(fake.texts_to(chat))
        missing = [n for n in range(1, 7) if f"no{n}x" not in text]
        assert not missing, f"stories {missing} never reached the chat (held for ever)"
