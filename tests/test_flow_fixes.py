"""User flows a reviewer reproduced going wrong, each driven the way a user meets it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botharness import (
    WATCH_TERM,
    Clock,
    alerts_to,
    button_data,
    running_bot,
    say,
    wait_until,
    watched_story,
)
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.storage import watchlists
from bot.storage.chats import get_chat
from bot.telegram.broadcast import deliver_due
from bot.telegram.throttle import Throttle

USER, GROUP, MEMBER = 111, -100600, 2
HELP_TEXT = "reads reputable world-news outlets"
THROTTLED = "Easy there"
POINTER = "I answer commands rather than messages"


def send_media(
    fake: FakeTelegram, chat_id: int, from_user: int | None = None, **fields: Any
) -> None:
    """A message without text (a sticker, a photo, a service message) from the chat's user."""
    fake.send_text(chat_id, "placeholder", from_user=from_user)
    # Still queued: the bot polls it only at this test's next await, so it gets the new form.
    message = fake.updates[-1]["message"]
    del message["text"]
    message.update(fields)


async def settled(fake: FakeTelegram, chat_id: int, from_user: int | None = None) -> list[str]:
    """Every message to the chat once the bot has handled all the chat sent so far (a chat's
    updates run in order: when a later /help is answered, the earlier ones are done)."""
    before = len(fake.messages_to(chat_id))
    fake.send_text(chat_id, "/help", from_user=from_user)
    await wait_until(
        lambda: any(HELP_TEXT in t for t in fake.texts_to(chat_id)[before:]), what="/help"
    )
    return fake.texts_to(chat_id)


# ------------------------------------------------------------------ the throttle


@pytest.mark.parametrize(
    ("chat_id", "other_bots_command"),
    [(GROUP, "/roll@DiceBot"), (GROUP, "/roll"), (USER, "/roll@DiceBot")],
)
async def test_other_bots_commands_never_count_toward_the_throttle(
    fake: FakeTelegram, settings: Settings, chat_id: int, other_bots_command: str
) -> None:
    fake.add_private_chat(USER)
    fake.add_group(GROUP, "Gamers", admins={1}, supergroup=True)
    sender = MEMBER if chat_id == GROUP else None
    async with running_bot(fake, settings) as app:
        app.bot_data.services.throttle = Throttle(limit=3, window=60.0)
        for _ in range(5):  # a dice game with another bot: nothing for us to answer
            fake.send_text(chat_id, other_bots_command, from_user=sender)
        reply = await say(fake, chat_id, "/help@SecurityBriefBot", from_user=sender)
        assert HELP_TEXT in reply[0]["parsed_text"]
        # The bot's own commands still count: the fourth within the window is throttled.
        for _ in range(3):
            fake.send_text(chat_id, "/help", from_user=sender)
        await wait_until(lambda: len(fake.messages_to(chat_id)) >= 4, what="the replies")
        texts = fake.texts_to(chat_id)
        assert sum(HELP_TEXT in t for t in texts) == 3
        assert sum(THROTTLED in t for t in texts) == 1 and THROTTLED in texts[-1]


# ------------------------------------------------------------------ watchlist terms


async def test_a_term_of_common_words_only_is_refused_with_a_longer_name_to_try(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.set_rate_limits(per_chat_rate=None)
    async with running_bot(fake, settings) as app:
        db = app.bot_data.services.db
        for command in ["/alert IS", "/alert US", "/watch the", "/alert It", '/watch "of the"']:
            reply = (await say(fake, USER, command))[0]["parsed_text"]
            assert "common words" in reply and "Islamic State" in reply, command
        assert watchlists.terms(db, USER) == []
        # Acronyms that are not common words are names like any other.
        assert "Alert on: “EU”" in (await say(fake, USER, "/alert EU"))[0]["parsed_text"]
        assert "Watching: “UN”" in (await say(fake, USER, "/watch UN"))[0]["parsed_text"]
        # A common word watched before this release can still be removed.
        now = datetime.now(UTC)
        watchlists.add(db, USER, "is", "IS", watchlists.ALERT, 20, now)
        assert "Stopped watching" in (await say(fake, USER, "/unwatch IS"))[0]["parsed_text"]
        assert [t.key for t in watchlists.terms(db, USER)] == ["eu", "un"]


async def test_alert_and_unwatch_without_a_term_say_how_to_use_themselves(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.set_rate_limits(per_chat_rate=None)
    async with running_bot(fake, settings) as app:
        await say(fake, USER, "/watch Wagner")
        alert = (await say(fake, USER, "/alert"))[0]["parsed_text"]
        assert "/alert Wagner" in alert and "/watch" not in alert
        assert "/watch Wagner" in (await say(fake, USER, "/watch"))[0]["parsed_text"]
        assert "/unwatch Wagner" in (await say(fake, USER, '/unwatch ""'))[0]["parsed_text"]
        # As the command menu sends it: the watchlist, with a button to remove each term.
        listed = (await say(fake, USER, "/unwatch"))[0]
        assert "Wagner — brief" in listed["parsed_text"]
        edits = fake.stats["edited"]
        fake.press_button(USER, listed["message_id"], button_data(listed, "✖ Wagner"))
        await wait_until(lambda: fake.stats["edited"] > edits, what="the watchlist edited")
        assert watchlists.terms(app.bot_data.services.db, USER) == []


# ------------------------------------------------------------------ subscription replies


async def test_timezone_tells_a_chat_that_never_subscribed_how_to_get_the_brief(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    async with running_bot(fake, settings):
        await say(fake, USER, "/start")  # the Subscribe button left unpressed
        reply = (await say(fake, USER, "/timezone Europe/Berlin"))[0]["parsed_text"]
        assert "07:00 (Europe/Berlin)" in reply and "/subscribe to get it" in reply
        await say(fake, USER, "/subscribe")
        reply = (await say(fake, USER, "/timezone Asia/Tokyo"))[0]["parsed_text"]
        assert "07:00 (Asia/Tokyo)" in reply and "/subscribe" not in reply


async def test_stop_says_that_alerts_continue_and_how_to_remove_them(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.set_rate_limits(per_chat_rate=None)
    clock = Clock(datetime(2026, 8, 15, 12, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        svc = app.bot_data.services
        await say(fake, USER, f"/alert {WATCH_TERM}")
        await say(fake, USER, "/alert Wagner")
        await say(fake, USER, "/watch Prigozhin")  # in the brief only: nothing continues
        await say(fake, USER, "/subscribe")
        stop = (await say(fake, USER, "/stop"))[0]["parsed_text"]
        assert "no more daily briefs" in stop
        assert "Alerts for 2 terms on your watchlist continue" in stop and "/watchlist" in stop
        again = (await say(fake, USER, "/stop"))[0]["parsed_text"]
        assert "not subscribed" in again and "Alerts for 2 terms" in again
        # As the reply says: the alerts still come.
        watched_story(svc.db, "w1", clock.now, stored=True)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert len(alerts_to(fake, USER)) == 1


# ------------------------------------------------------------------ time zones


async def _timezone(fake: FakeTelegram, typed: str) -> str:
    return (await say(fake, USER, f"/timezone {typed}"))[0]["parsed_text"]


async def test_time_zones_as_people_type_them_are_stored_by_their_current_name(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.set_rate_limits(per_chat_rate=None)
    cases = {
        "UTC−05:00": "UTC-05:00",  # U+2212, as phones and word processors write a minus
        "UTC–3": "UTC-03:00",  # an en dash
        "UTC+0530": "UTC+05:30",
        "+530": "UTC+05:30",  # as it was accepted before
        "GMT-330": "UTC-03:30",
        "UTC-12": "UTC-12:00",
        "UTC+14": "UTC+14:00",
        "São Paulo": "America/Sao_Paulo",
        "Bogotá": "America/Bogota",
        "Zürich": "Europe/Zurich",
        "Europe/Kiev": "Europe/Kyiv",
        "kiev": "Europe/Kyiv",
        "Asia/Calcutta": "Asia/Kolkata",
        "US/Eastern": "America/New_York",
        # Merged into Europe/Berlin in tzdata, but still Norway's own zone: kept as typed.
        "Europe/Oslo": "Europe/Oslo",
    }
    async with running_bot(fake, settings) as app:
        app.bot_data.services.throttle = Throttle(limit=1000, window=10.0)
        db = app.bot_data.services.db
        for typed, stored in cases.items():
            reply = await _timezone(fake, typed)
            assert f"07:00 ({stored})" in reply, (typed, reply)
            assert get_chat(db, USER).timezone == stored, typed


async def test_impossible_offsets_and_names_that_are_no_place_are_refused(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.set_rate_limits(per_chat_rate=None)
    async with running_bot(fake, settings) as app:
        app.bot_data.services.throttle = Throttle(limit=1000, window=10.0)
        db = app.bot_data.services.db
        assert "Europe/Berlin" in await _timezone(fake, "Europe/Berlin")
        for typed in ["UTC+123", "UTC-14", "UTC−12:30", "UTC+14:30", "UTC+5:75", "+05:20"]:
            reply = await _timezone(fake, typed)
            assert "not a real UTC offset (they run from -12:00 to +14:00)" in reply, typed
        for typed in ["localtime", "Factory", "posixrules"]:
            assert f"I don't know the time zone '{typed}'" in await _timezone(fake, typed)
        assert get_chat(db, USER).timezone == "Europe/Berlin"


async def test_etc_gmt_plus_five_is_five_hours_behind_utc_and_shown_so(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.set_rate_limits(per_chat_rate=None)
    clock = Clock(datetime(2026, 11, 28, 0, 0, tzinfo=UTC))
    async with running_bot(fake, settings, clock) as app:
        db = app.bot_data.services.db
        await say(fake, USER, "/subscribe")
        for typed, shown, due in [
            ("Etc/GMT+5", "UTC-05:00", "2026-11-28T12:00:00+00:00"),  # POSIX's sign: UTC-5
            ("GMT+5", "UTC+05:00", "2026-11-28T02:00:00+00:00"),  # as people mean it
        ]:
            assert f"07:00 ({shown})" in await _timezone(fake, typed), typed
            chat = get_chat(db, USER)
            assert (chat.timezone, chat.next_due) == (shown, due), typed


# ------------------------------------------------------------------ messages without text

STICKER = {
    "file_id": "s1",
    "file_unique_id": "s1u",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
PHOTO = [{"file_id": "p1", "file_unique_id": "p1u", "width": 90, "height": 90}]


async def test_a_sticker_or_a_photo_in_a_private_chat_gets_pointed_to_the_commands(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.add_private_chat(USER)
    fake.add_group(GROUP, "Discuss", admins={1}, supergroup=True)
    fake.set_rate_limits(per_chat_rate=None)
    async with running_bot(fake, settings):
        # Telegram's own service message (the user set an auto-delete timer) is no question.
        send_media(
            fake, USER, message_auto_delete_timer_changed={"message_auto_delete_time": 86400}
        )
        send_media(fake, USER, sticker=STICKER)
        texts = await settled(fake, USER)
        assert [POINTER in t for t in texts] == [True, False]  # the pointer, then /help's answer
        # An album of ten photos (one captioned with a command) is one burst: one pointer, and
        # it uses up none of the user's commands (their /help right after is answered).
        caption = [{"type": "bot_command", "offset": 0, "length": 7}]
        for n in range(10):
            extra = {"caption": "/latest", "caption_entities": caption} if n == 0 else {}
            send_media(fake, USER, photo=PHOTO, media_group_id="album1", **extra)
        texts = await settled(fake, USER)
        assert [POINTER in t for t in texts[2:]] == [False]  # within the burst: /help's answer
        # In a group, members' stickers are their own conversation.
        send_media(fake, GROUP, from_user=MEMBER, sticker=STICKER)
        assert len(await settled(fake, GROUP, from_user=MEMBER)) == 1
