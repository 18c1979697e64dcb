"""End to end: the real bot against the fake Bot API server, driven the way users drive it."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from botharness import Clock, button_data, buttons, running_bot, say, wait_until
from fake_telegram import QUERY_TOO_OLD, FakeTelegram
from feed_server import FeedServer

from bot.config import Settings
from bot.news.fetch import make_client
from bot.storage.chats import get_chat, mark_inactive

USER = 111


def refused(fake: FakeTelegram) -> list[dict]:
    """Requests the fake refused for a reason other than pacing (a 429 is waited out and retried)."""
    return [r for r in fake.rejected if r["error_code"] != 429]


async def _say(fake: FakeTelegram, chat_id: int, text: str, from_user: int | None = None) -> dict:
    return (await say(fake, chat_id, text, from_user=from_user))[0]


async def _press(
    fake: FakeTelegram, chat_id: int, message: dict, data: str, edits: bool = True
) -> None:
    """Press a button and wait for the answer and (when expected) the in-place edit."""
    answered, edited = len(fake.callback_answers), fake.stats["edited"]
    fake.press_button(chat_id, message["message_id"], data)
    await wait_until(lambda: len(fake.callback_answers) > answered, what="callback answer")
    if edits:
        await wait_until(lambda: fake.stats["edited"] > edited, what="message edit")


async def test_new_user_subscribes_sets_time_and_zone_and_reads_latest(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    clock = Clock(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        assert {c["command"] for c in next(iter(fake.commands.values()))} >= {
            "latest",
            "subscribe",
            "settings",
        }
        welcome = await _say(fake, USER, "/start")
        assert (
            "Security Brief" in welcome["parsed_text"] and "07:00 (UTC)" in welcome["parsed_text"]
        )
        await _press(fake, USER, welcome, button_data(welcome, "Subscribe"), edits=False)
        confirmation = await fake.wait_for_messages(USER, 2)
        assert "Subscribed" in confirmation[1]["parsed_text"]

        menu = await _say(fake, USER, "/settings")
        await _press(fake, USER, menu, button_data(menu, "UTC"))
        menu = fake.messages_to(USER)[-1]
        await _press(fake, USER, menu, button_data(menu, "Asia/Tokyo"))
        menu = fake.messages_to(USER)[-1]
        assert "Asia/Tokyo" in menu["parsed_text"]
        await _press(fake, USER, menu, button_data(menu, "Time"))
        menu = fake.messages_to(USER)[-1]
        await _press(fake, USER, menu, button_data(menu, "08:00"))
        menu = fake.messages_to(USER)[-1]
        assert "Time: 08:00 (Asia/Tokyo)" in menu["parsed_text"]
        await _press(fake, USER, menu, button_data(menu, "Full"))
        assert "Length: full (10 stories)" in fake.messages_to(USER)[-1]["parsed_text"]
        assert len(fake.messages_to(USER)) == 3, "settings must be edited in place"

        db = app.bot_data.services.db
        chat = get_chat(db, USER)
        assert (chat.subscribed, chat.timezone, chat.delivery_time, chat.brief_length) == (
            True,
            "Asia/Tokyo",
            "08:00",
            "full",
        )
        assert chat.next_due == "2026-11-28T23:00:00+00:00"  # 08:00 in Tokyo

        fake.send_text(USER, "/latest")
        messages = await fake.wait_for_messages(USER, 4, timeout=20)
        assert any(a["action"] == "typing" for a in fake.chat_actions)
        brief = messages[3]["parsed_text"]
        assert brief.startswith("🛡 Security Brief")
        assert "Sources:" in brief
        query = "select count(*) from sent_stories where chat_id = ? and via = 'latest'"
        # Each message's stories are recorded once it is sent: wait for the last message's too.
        await wait_until(
            lambda: db.execute(query, [USER]).fetchone()[0] == 10,  # the full brief, as chosen
            what="the full brief recorded",
        )
        assert not db.conn.in_transaction  # every write so far is committed
    # Written to disk, not held in an open transaction that closing the bot throws away.
    with closing(sqlite3.connect(settings.database_path)) as disk:
        query = "select count(*) from sent_stories where chat_id = ? and via = 'latest'"
        assert disk.execute(query, [USER]).fetchone()[0] == 10
        row = disk.execute("select subscribed, timezone from chats where chat_id = ?", [USER])
        assert row.fetchone() == (1, "Asia/Tokyo")
    assert refused(fake) == []


async def test_only_group_admins_change_a_group(fake: FakeTelegram, settings: Settings) -> None:
    fake.add_group(-100200, "Analysts", admins={1})
    async with running_bot(fake, settings) as app:
        reply = await _say(fake, -100200, "/subscribe", from_user=2)
        assert "Only group admins" in reply["parsed_text"]
        reply = await _say(fake, -100200, "/time 09:00", from_user=2)
        assert "Only group admins" in reply["parsed_text"]
        reply = await _say(fake, -100200, "/subscribe@SecurityBriefBot", from_user=1)
        assert "Subscribed" in reply["parsed_text"]
        chat = get_chat(app.bot_data.services.db, -100200)
        assert chat.subscribed and chat.type == "group" and chat.delivery_time == "07:00"
    assert refused(fake) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/foo", "I don't know /foo"),
        ("/time 25:99", "isn't a time I understand"),
        ("/time", "Send the time like this"),
        ("/timezone Mars/Olympus", "I don't know the time zone 'Mars/Olympus'"),
        ("/timezone UTC+15", "not a real UTC offset"),
        ("hello there", "I answer commands"),
        ("/stats", "for the bot's admins only"),
    ],
)
async def test_bad_input_gets_a_helpful_reply(
    fake: FakeTelegram, settings: Settings, text: str, expected: str
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        reply = await _say(fake, USER, text)
        assert expected in reply["parsed_text"]
    assert refused(fake) == []


async def test_typed_shortcuts_accept_offsets_and_cities(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        assert "UTC+05:30" in (await _say(fake, USER, "/timezone UTC+5:30"))["parsed_text"]
        assert "Europe/Berlin" in (await _say(fake, USER, "/timezone berlin"))["parsed_text"]
        assert "at 06:45" in (await _say(fake, USER, "/time 6:45"))["parsed_text"]
        chat = get_chat(app.bot_data.services.db, USER)
        assert (chat.timezone, chat.delivery_time) == ("Europe/Berlin", "06:45")


async def test_stale_button_gets_an_explanation(fake: FakeTelegram, settings: Settings) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        menu = await _say(fake, USER, "/settings")
        await _press(fake, USER, menu, "v0:len:full", edits=False)
        assert "old message" in fake.callback_answers[-1]["text"]
        await _press(fake, USER, menu, "v1:z:999", edits=False)
        assert "old message" in fake.callback_answers[-1]["text"]


async def test_hammering_gets_one_polite_note(fake: FakeTelegram, settings: Settings) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        for _ in range(12):
            fake.send_text(USER, "/help")
        await wait_until(lambda: not fake.pending_updates, what="updates consumed")
        await wait_until(lambda: len(fake.messages_to(USER)) >= 9, what="replies", timeout=20)
        texts = fake.texts_to(USER)
        assert sum("Easy there" in t for t in texts) == 1
        assert sum("Security Brief reads" in t for t in texts) == 8
    assert refused(fake) == []


async def test_a_throttled_command_stays_unanswered_when_the_note_cannot_be_sent(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        for _ in range(8):
            fake.send_text(USER, "/help")
        await wait_until(lambda: len(fake.messages_to(USER)) >= 8, what="replies", timeout=20)
        fake.force_429 = 2  # Telegram refuses the note, and again after its retry_after
        fake.send_text(USER, "/help")  # the ninth within the window: throttled
        await wait_until(lambda: fake.force_429 == 0, what="the note refused twice")
        await asyncio.sleep(0.5)
        texts = fake.texts_to(USER)
        assert sum("Security Brief reads" in t for t in texts) == 8  # not answered after all
        assert not any("Easy there" in t or "went wrong" in t for t in texts)


async def test_a_groups_chatter_and_other_groups_anonymous_admins_never_throttle_a_command(
    fake: FakeTelegram, settings: Settings
) -> None:
    groups = [-100400 - n for n in range(9)]
    for group in groups:
        fake.add_group(group, f"Group {group}", admins={1}, supergroup=True)
    async with running_bot(fake, settings):
        for n in range(12):  # a lively group: the bot reads it, but answers none of it
            fake.send_text(groups[0], f"did anyone see the news? ({n})", from_user=2)
        fake.send_text(groups[0], "/help", from_user=2)
        # Anonymous admins of nine groups: all the same GroupAnonymousBot user to Telegram.
        for group in groups:
            fake.send_text(group, "/help", anonymous=True)
        await wait_until(lambda: not fake.pending_updates, what="updates consumed")
        for group in groups:
            replies = await fake.wait_for_messages(group, 2 if group == groups[0] else 1)
            assert all("Security Brief reads" in m["parsed_text"] for m in replies), group
    assert not any("Easy there" in t for g in groups for t in fake.texts_to(g))
    assert refused(fake) == []


async def test_a_button_pressed_while_the_bot_was_busy_still_updates_the_menu(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        menu = await _say(fake, USER, "/settings")
        fake.callback_query_ttl = 0.0  # handled too late: Telegram refuses to answer it
        edited = fake.stats["edited"]
        fake.press_button(USER, menu["message_id"], button_data(menu, "Full"))
        await wait_until(lambda: fake.stats["edited"] > edited, what="menu edit")
        assert "Length: full (10 stories)" in fake.messages_to(USER)[-1]["parsed_text"]
        assert get_chat(app.bot_data.services.db, USER).brief_length == "full"
        assert len(fake.messages_to(USER)) == 1  # the menu changed in place; no apology sent
    assert [r["description"] for r in refused(fake)] == [QUERY_TOO_OLD]


async def test_a_user_back_after_blocking_the_bot_gets_the_brief_again(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        db = app.bot_data.services.db
        await _say(fake, USER, "/subscribe")
        # A send refused with 403 (blocked) marks the chat unreachable; the user unblocks the bot,
        # but Telegram's my_chat_member update about it never reaches us.
        mark_inactive(db, USER, "Forbidden: bot was blocked by the user", datetime.now(UTC))
        assert get_chat(db, USER).next_due is None
        reply = await _say(fake, USER, "/subscribe")
        assert "subscribed" in reply["parsed_text"].lower()
        chat = get_chat(db, USER)
        assert chat.active and chat.subscribed and chat.next_due is not None
    assert refused(fake) == []


async def test_a_subscribe_button_pressed_while_the_bot_was_busy_confirms_without_apology(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        welcome = await _say(fake, USER, "/start")
        fake.callback_query_ttl = 0.0  # handled too late: Telegram refuses to answer it
        fake.press_button(USER, welcome["message_id"], button_data(welcome, "Subscribe"))
        confirmation = (await fake.wait_for_messages(USER, 2))[1]["parsed_text"]
        assert "Subscribed" in confirmation
        assert get_chat(app.bot_data.services.db, USER).subscribed
        await wait_until(lambda: not fake.pending_updates, what="updates consumed")
    assert not any("went wrong" in t for t in fake.texts_to(USER))


async def test_unsubscribe_keeps_settings(fake: FakeTelegram, settings: Settings) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        await _say(fake, USER, "/subscribe")
        await _say(fake, USER, "/time 10:15")
        assert "Unsubscribed" in (await _say(fake, USER, "/stop"))["parsed_text"]
        db = app.bot_data.services.db
        assert get_chat(db, USER).next_due is None
        assert "10:15" in (await _say(fake, USER, "/subscribe"))["parsed_text"]
        assert get_chat(db, USER).subscribed


async def test_feed_failure_serves_last_good_brief(
    fake: FakeTelegram, settings: Settings, feed_server: FeedServer
) -> None:
    fake.add_private_chat(USER)
    clock = Clock(datetime.now(UTC))
    async with running_bot(fake, settings, clock) as app:
        await _say(fake, USER, "/latest")
        first = fake.texts_to(USER)[-1]
        feed_server.stop()
        # Drop pooled keep-alive connections too, as a real network outage would.
        newsroom = app.bot_data.services.newsroom
        await newsroom.client.aclose()
        newsroom.client = make_client(2.0)
        clock.advance(hours=2)
        before = len(fake.messages_to(USER))
        fake.send_text(USER, "/latest")
        messages = await fake.wait_for_messages(USER, before + 2, timeout=20)
        texts = [m["parsed_text"] for m in messages[before:]]
        # The same (last good) brief, by its time stamp; its stories the chat has not seen yet.
        assert texts[0].split("\n", 1)[0] == first.split("\n", 1)[0]
        assert "couldn't reach the news feeds" in texts[-1]
        # A minute later every feed is backing off, so that round fetches nothing: still no news.
        clock.advance(minutes=1)
        before = len(fake.messages_to(USER))
        fake.send_text(USER, "/latest")
        messages = await fake.wait_for_messages(USER, before + 2, timeout=20)
        assert "couldn't reach the news feeds" in messages[-1]["parsed_text"]
        assert newsroom.last_report is not None and newsroom.last_report.skipped_backoff > 0
        await newsroom.client.aclose()


async def test_admin_stats_and_refresh(fake: FakeTelegram, settings: Settings) -> None:
    fake.add_private_chat(USER)
    settings = replace(settings, admin_chat_ids=frozenset({USER}))
    async with running_bot(fake, settings):
        refreshed = await _say(fake, USER, "/refresh")
        assert (
            "Rebuilt:" in refreshed["parsed_text"] and "feeds fetched" in refreshed["parsed_text"]
        )
        stats = await _say(fake, USER, "/stats")
        assert "Subscribers: 0 active" in stats["parsed_text"]
        assert "Feeds failing: 0 of 12" in stats["parsed_text"]
        sources = await _say(fake, USER, "/sources")
        assert "BBC World: ✅ working" in sources["parsed_text"]
    assert refused(fake) == []


async def test_an_admin_who_never_opened_the_bot_costs_the_others_nothing(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    stranger = 1  # listed in ADMIN_CHAT_IDS, never wrote to the bot: Telegram knows no chat
    settings = replace(settings, admin_chat_ids=frozenset({stranger, USER}))
    assert next(iter(settings.admin_chat_ids)) == stranger  # registered first
    async with running_bot(fake, settings):
        menu = [c["command"] for c in fake.commands[f"chat:{USER}"]]
        assert "stats" in menu and "refresh" in menu
        assert f"chat:{stranger}" not in fake.commands


async def test_region_filter_from_the_settings_menu_shapes_latest(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings) as app:
        menu = await _say(fake, USER, "/settings")
        await _press(fake, USER, menu, button_data(menu, "Regions"))
        menu = fake.messages_to(USER)[-1]
        assert "✅ Africa" in buttons(menu)
        await _press(fake, USER, menu, button_data(menu, "Africa"))
        menu = fake.messages_to(USER)[-1]
        assert "▫️ Africa" in buttons(menu)
        assert (
            "Regions: Americas, Central Asia, East Asia and Pacific, Europe" in menu["parsed_text"]
        )
        fake.send_text(USER, "/latest")
        db = app.bot_data.services.db
        await wait_until(
            lambda: db.execute("select count(*) from sent_stories").fetchone()[0], timeout=20
        )
        regions = {
            r[0]
            for r in db.execute(
                "select region from stories where id in (select story_id from sent_stories where chat_id = ?)",
                [USER],
            )
        }
        assert regions and "Africa" not in regions
        await _press(fake, USER, menu, button_data(menu, "All"))
        menu = next(m for m in fake.messages_to(USER) if m["message_id"] == menu["message_id"])
        assert "Regions: all" in menu["parsed_text"]
        assert get_chat(db, USER).regions is None
