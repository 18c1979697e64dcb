"""Telegram handlers: parse the update, call a domain function, reply. Nothing more."""

from __future__ import annotations

import asyncio
import html
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import time as dt_time

from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ApplicationHandlerStop

from bot.config import parse_hhmm
from bot.delivery.ledger import as_sent, planned_story, record_sent_stories
from bot.delivery.planning import compose
from bot.models import Story
from bot.news import watch
from bot.news.newsroom import BriefResult, for_chat
from bot.news.relevance import REGIONS
from bot.news.render import nothing_new_html, render_html_parts, split_messages
from bot.ops.status import feed_states, probe_storage, status_lines, storage_problem
from bot.storage import chats, watchlists
from bot.telegram import keyboards
from bot.telegram.broadcast import retry_seconds
from bot.telegram.context import BotContext, Services
from bot.telegram.keyboards import Action
from bot.telegram.transport import SendUnconfirmed
from bot.timezones import UnknownTimezone, parse_timezone

log = logging.getLogger(__name__)
Context = BotContext
# User input quoted back in a reply is cut to this many characters (a reply has 4096 at most).
ECHO_LIMIT = 64
# Admins hear about a disk or database problem at most this often.
STORAGE_ALERT_INTERVAL = 600.0
STORAGE_REPLY = (
    "Sorry — I have a problem on my side (my storage is failing), so I can't do that right now. "
    "The bot's admins have been told."
)
APOLOGY = "Sorry — something went wrong on my side. Please try again in a minute."
# A reply that meets a network error or a 5xx is tried again after these pauses (seconds),
# within REPLY_PATIENCE seconds, so that one chat's later updates (handled in order) are not
# kept waiting for minutes while Telegram is down; a 429 is waited out once, as long as it says.
REPLY_RETRY_PAUSES = (0.5, 1.0, 2.0)
REPLY_PATIENCE = 12.0

COMMANDS = [
    ("latest", "The latest security brief, now"),
    ("subscribe", "Get the brief every day"),
    ("unsubscribe", "Stop the daily brief (settings are kept)"),
    ("settings", "Delivery time, time zone, length, regions, topics"),
    ("time", "Set delivery time: /time 07:30"),
    ("timezone", "Set time zone: /timezone Europe/Berlin"),
    ("watch", "Follow a name or phrase: /watch Wagner"),
    ("alert", "Get an alert when it appears: /alert Wagner"),
    ("unwatch", "Stop following a term"),
    ("watchlist", "Your terms, with buttons"),
    ("quiet", "Quiet hours for alerts: /quiet 22:00-07:00"),
    ("sources", "The outlets and how they are doing"),
    ("help", "What I can do"),
]
ADMIN_COMMANDS = [
    ("stats", "Subscribers, last brief, failing feeds"),
    ("refresh", "Fetch feeds and rebuild now"),
]
HELP = (
    "🛡 <b>Security Brief</b> reads reputable world-news outlets and sends one short daily brief "
    "of security news: wars, militant groups, terrorism, military moves, intelligence, nuclear and "
    "missile programmes, coups and conflict diplomacy. Each story merges every outlet that reported it.\n\n"
    + "\n".join(f"/{name} — {text}" for name, text in COMMANDS)
)
_ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
_ANONYMOUS_ADMIN = 1087968824  # Telegram's GroupAnonymousBot: messages sent "as the group"


def _chat(update: Update, context: Context) -> chats.ChatSettings:
    svc = context.services
    chat = update.effective_chat
    assert chat is not None
    title = chat.title or chat.full_name or chat.username
    known = chats.ensure_chat(svc.db, chat.id, chat.type, title, svc.settings, svc.clock())
    if not known.active:
        # A chat that writes to us can be written to again (a user who blocked the bot must
        # unblock it to write), even if Telegram's "unblocked" update never reached us.
        known = chats.set_subscribed(svc.db, chat.id, known.subscribed, svc.clock())
    return known


@dataclass
class _Patience:
    """What is left of one call's retries: one 429 waited out, a few network errors, a deadline."""

    deadline: float
    pauses: list[float] = field(default_factory=lambda: list(REPLY_RETRY_PAUSES))
    rate_limited: bool = False

    def pause(self, exc: TelegramError) -> float | None:
        """How long to wait before trying again after ``exc``; None to give up."""
        if isinstance(exc, RetryAfter):
            # Telegram says how long: waited out once, however long (the deadline is for blips).
            delay = None if self.rate_limited else float(retry_seconds(exc))
            self.rate_limited = True
            return delay
        # BadRequest is Telegram refusing the call, not a blip; after SendUnconfirmed the
        # message may have arrived, and a reply shown twice is the worse failure.
        if not isinstance(exc, NetworkError) or isinstance(exc, BadRequest | SendUnconfirmed):
            return None
        delay = self.pauses.pop(0) if self.pauses else None
        return None if delay is None or time.monotonic() + delay > self.deadline else delay


async def _patiently(call: Callable[[], Awaitable[object]]) -> None:
    """Make a Bot API call, waiting out one 429 and a few network errors or 5xx before giving up."""
    patience = _Patience(time.monotonic() + REPLY_PATIENCE)
    while True:
        try:
            await call()
            return
        except TelegramError as exc:
            delay = patience.pause(exc)
            if delay is None:
                raise
            log.info(
                "Bot API call failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, delay
            )
        await asyncio.sleep(delay)


def _topic(update: Update) -> int | None:
    """The forum topic the update came from; None outside topics (a forum's General included)."""
    message = update.effective_message
    # Outside forum topics message_thread_id names a chain of replies, not a place to send to.
    return message.message_thread_id if message and message.is_topic_message else None


# The context of the update being handled, set by throttle_gate (which runs first for every
# update): _reply is given the update alone, and a group upgraded under it is moved in storage.
_handling: ContextVar[BotContext | None] = ContextVar("handling", default=None)


async def _reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Send ``text`` to the chat (and topic) the update came from, or to the supergroup it became."""
    chat = update.effective_chat
    assert chat is not None
    bot = chat.get_bot()
    try:
        # Without the topic, a forum sends the reply to General (or refuses it if General is closed).
        await _patiently(
            lambda: bot.send_message(
                chat.id, text, reply_markup=markup, message_thread_id=_topic(update)
            )
        )
    except ChatMigrated as exc:
        new_id = int(exc.new_chat_id)
        _moved(chat.id, new_id)
        # A basic group has no topics, so the supergroup's General is where it was asked.
        await _patiently(lambda: bot.send_message(new_id, text, reply_markup=markup))


def _moved(old_id: int, new_id: int) -> None:
    """Move a group's stored settings to the supergroup it became, as deliveries do."""
    context = _handling.get()
    if context is None:
        return  # Telegram's migration notice, which follows, moves them (handlers.migrated)
    svc = context.services
    chats.migrate_chat(svc.db, old_id, new_id, svc.clock())
    log.info("chat %s became supergroup %s: reply sent there, settings moved", old_id, new_id)


async def _typing(update: Update) -> None:
    """Show "typing…" in the chat (and topic) the update came from, if Telegram lets us."""
    chat = update.effective_chat
    if chat is None:
        return
    try:
        await chat.send_action(ChatAction.TYPING, message_thread_id=_topic(update))
    except TelegramError as exc:
        # A courtesy only: the answer that follows must not be lost to it.
        log.debug("chat %s: no typing indicator: %s: %s", chat.id, type(exc).__name__, exc)


async def _may_change(update: Update, context: Context) -> bool:
    """Anyone may change a private chat; in groups only administrators may."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type == ChatType.PRIVATE:
        return True
    message = update.effective_message
    if (
        message is not None
        and message.sender_chat is not None
        and message.sender_chat.id == chat.id
    ):
        return True
    if user is None:
        return False
    if user.id == _ANONYMOUS_ADMIN:
        return True  # only admins can post anonymously as the group
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as exc:
        log.warning("could not check admin status in chat %s: %s", chat.id, exc)
        return False
    return member.status in _ADMIN_STATUSES


async def _deny(update: Update) -> None:
    if update.callback_query:
        await _answer(update.callback_query, "Only group admins can change this.", alert=True)
    else:
        await _reply(update, "Only group admins can change the group's subscription or settings.")


def _command(message: Message) -> tuple[str, str] | None:
    """The command a message starts with, as (name, bot it is addressed to or ""), lower case."""
    entities = message.entities
    if not message.text or not entities or entities[0].type != MessageEntityType.BOT_COMMAND:
        return None
    if entities[0].offset != 0:
        return None
    name, _, addressee = message.text[1 : entities[0].length].partition("@")
    return name.lower(), addressee.lower()


def _answered(update: Update, context: Context) -> bool:
    """Whether this new message is a command the bot answers (only those count toward the
    throttle: other messages in a private chat get one pointer per burst, see unknown_text)."""
    message = update.message
    if message is None:
        return False
    private = message.chat.type == ChatType.PRIVATE
    command = _command(message)
    if command is None:
        return False
    name, addressee = command
    if addressee:
        return addressee == (context.bot.username or "").lower()
    # In a group, "/roll" without a bot's name is for whichever bot has that command.
    return private or name in COMMAND_HANDLERS


async def throttle_gate(update: Update, context: Context) -> None:
    """Runs before every handler: a user hammering the bot gets one polite note, then silence."""
    _handling.set(context)
    user, message = update.effective_user, update.message
    # Only what the bot answers counts: not tapping through the settings menu, a group's own
    # chatter, other bots' commands or service messages (a group's migration).
    if user is None or message is None or not _answered(update, context):
        return
    # Per chat and sender: every group's anonymous admins share one user id.
    key = (message.chat.id, user.id)
    throttle = context.services.throttle
    verdict = throttle.check(key)
    if verdict == "ok":
        return
    if verdict == "warn":
        note = f"Easy there — you're sending commands very fast. Please wait {throttle.retry_in(key)} s."
        try:
            await _reply(update, note)
        except TelegramError as exc:
            # The note failing must not let the command through (the error handler would
            # report it and the update would go on to the next handler group).
            log.warning("could not send the throttle note to chat %s: %s", message.chat.id, exc)
    raise ApplicationHandlerStop


def _when(chat: chats.ChatSettings) -> str:
    return f"{chat.delivery_time} ({chat.timezone})"


def _comes_at(chat: chats.ChatSettings) -> str:
    """When the brief comes, and for a chat that never subscribed, how to get it."""
    return f"the brief comes at {_when(chat)}." + (
        "" if chat.subscribed else " /subscribe to get it."
    )


async def start(update: Update, context: Context) -> None:
    """/start: what the bot does, when the brief comes, and a Subscribe button."""
    chat = _chat(update, context)
    text = (
        "🛡 <b>Security Brief</b>\n"
        "One calm brief a day of the world's security news — conflicts, militant groups, terrorism, "
        "military moves, intelligence, nuclear and missile programmes, coups — each story merged "
        "across the outlets that reported it, with links.\n\n"
    )
    if chat.subscribed:
        text += f"You're subscribed: the brief comes every day at {_when(chat)}. /latest shows it now, /settings changes it."
        await _reply(update, text)
    else:
        text += f"Subscribe and it comes every day at {_when(chat)} (change it in /settings). /latest shows it now."
        await _reply(update, text, keyboards.subscribe_keyboard())


def _subscribe(update: Update, context: Context, on: bool) -> str:
    svc = context.services
    chat = _chat(update, context)
    if chat.subscribed == on:
        return (
            f"You're already subscribed: the brief comes daily at {_when(chat)}."
            if on
            else "You're not subscribed. /subscribe to get the daily brief."
            + _alerts_go_on(svc, chat)
        )
    chat = chats.set_subscribed(svc.db, chat.chat_id, on, svc.clock())
    if on:
        return f"✅ Subscribed. The brief comes every day at {_when(chat)}. Change it in /settings; /latest shows it now."
    return (
        "Unsubscribed — no more daily briefs. Your settings are kept; /subscribe brings them back."
        + _alerts_go_on(svc, chat)
    )


def _alerts_go_on(svc: Services, chat: chats.ChatSettings) -> str:
    """For a chat leaving the brief: that its alert terms still alert, and how to stop them."""
    alerts = sum(t.mode == watchlists.ALERT for t in watchlists.terms(svc.db, chat.chat_id))
    if not alerts:
        return ""
    terms = "1 term" if alerts == 1 else f"{alerts} terms"
    return f" Alerts for {terms} on your watchlist continue: tap ✖ in /watchlist to remove a term."


async def subscribe(update: Update, context: Context) -> None:
    """/subscribe."""
    if not await _may_change(update, context):
        return await _deny(update)
    await _reply(update, _subscribe(update, context, True))


async def unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe and /stop."""
    if not await _may_change(update, context):
        return await _deny(update)
    await _reply(update, _subscribe(update, context, False))


async def latest(update: Update, context: Context) -> None:
    """/latest: the freshest stories this chat has not seen; they count as sent to it."""
    svc = context.services
    chat = _chat(update, context)
    # Until its stories are recorded as sent, a daily brief planned meanwhile would repeat them.
    svc.showing_latest.add(chat.chat_id)
    try:
        await _show_latest(update, context, chat)
    finally:
        svc.showing_latest.discard(chat.chat_id)


async def _show_latest(update: Update, context: Context, chat: chats.ChatSettings) -> None:
    svc = context.services
    if not svc.newsroom.is_fresh(svc.newsroom.cached()):
        await _typing(update)
    result = await svc.newsroom.current()
    # The group may have become a supergroup during the refresh: what it has seen moved with it.
    if (now_id := chats.current_id(svc.db, chat.chat_id)) != chat.chat_id:
        chat = chats.get_chat(svc.db, now_id) or replace(chat, chat_id=now_id)
    for message, shown in _latest_messages(svc, chat, result):
        await _send_shown(update, context, chat.chat_id, message, shown)
    if await alert_storage_problem(context, result):
        # Feeds are fine; our disk is not: say so, rather than blame the news feeds.
        await _reply(
            update,
            "⚠️ I have a problem on my side (my storage is failing), so I couldn't refresh the "
            "news: this is the last brief I have. The bot's admins have been told.",
        )
        return
    if result.problem:
        await _reply(update, "⚠️ " + result.problem)


def _latest_messages(
    svc: Services, chat: chats.ChatSettings, result: BriefResult
) -> list[tuple[str, list[Story]]]:
    """/latest's messages for ``chat``, each with the stories it shows."""
    watched, stories = compose(svc.db, chat, result.brief, svc.clock())
    if not stories and not watched:
        return [(nothing_new_html(for_chat(result.brief, chat), bool(result.brief.stories)), [])]
    brief = replace(result.brief, stories=stories)
    messages, placed = render_html_parts(brief, watch=watched)
    shown = [*watched, *stories]
    return [
        (text, [story for story, at in zip(shown, placed, strict=True) if at == part])
        for part, text in enumerate(messages)
    ]


async def _send_shown(
    update: Update, context: Context, chat_id: int, text: str, stories: list[Story]
) -> None:
    """Send one /latest message, then record its stories: a later message failing keeps them."""
    try:
        await _reply(update, text)
    except SendUnconfirmed:
        # It may have arrived: counted as shown, as for a daily brief (a repeat is the worse failure).
        await _record_shown(context, chat_id, stories)
        raise
    await _record_shown(context, chat_id, stories)


async def _record_shown(context: Context, chat_id: int, stories: list[Story]) -> None:
    """Record ``stories`` as shown to the chat; a disk problem is told to the admins."""
    if not stories:
        return
    svc = context.services
    try:
        sent = [as_sent(planned_story(s, 0)) for s in stories]
        # Under the chat's id now: a reply that met the group's upgrade went to the supergroup.
        record_sent_stories(svc.db, chats.current_id(svc.db, chat_id), sent, "latest", svc.clock())
    except (sqlite3.Error, OSError) as exc:
        disk = storage_problem(exc)
        if disk is None:
            raise
        # The rest of the brief still goes out: its stories may come again, but cut short after
        # its first message the user would lose the rest.
        log.error("chat %s: /latest not recorded: disk or database problem: %s", chat_id, disk)
        await alert_admins(context, disk)


async def settings_command(update: Update, context: Context) -> None:
    """/settings: one message with the menu, edited in place."""
    chat = _chat(update, context)
    await _reply(update, keyboards.settings_text(chat), keyboards.main_menu(chat))


def _argument(context: Context) -> str:
    return " ".join(context.args or []).strip()


async def time_command(update: Update, context: Context) -> None:
    """/time HH:MM."""
    raw = _argument(context)
    if not raw:
        return await _reply(
            update, "Send the time like this: <code>/time 07:30</code> (24-hour clock)."
        )
    try:
        value = parse_hhmm(raw)
    except ValueError as exc:
        return await _reply(
            update,
            f"“{_echo(raw)}” isn't a time I understand: {exc}. Try <code>/time 07:30</code>.",
        )
    if not await _may_change(update, context):
        return await _deny(update)
    svc = context.services
    chat = _chat(update, context)
    chat = chats.set_delivery(
        svc.db, chat.chat_id, svc.clock(), delivery_time=value.strftime("%H:%M")
    )
    await _reply(update, f"🕖 Done: {_comes_at(chat)}")


async def timezone_command(update: Update, context: Context) -> None:
    """/timezone Area/City or UTC+05:30."""
    raw = _argument(context)
    if not raw:
        return await _reply(
            update,
            "Send your time zone like this: <code>/timezone Europe/Berlin</code> or <code>/timezone UTC+5:30</code>.",
        )
    try:
        name = parse_timezone(raw)
    except UnknownTimezone as exc:
        reason = str(exc).replace(repr(raw), repr(_shorten(raw)))
        if len(reason) > 3 * ECHO_LIMIT:  # the input was quoted in some other form
            reason = f"I don't know the time zone “{_shorten(raw)}”"
        return await _reply(
            update,
            f"{_esc(reason)}. Use a name like <code>Europe/Berlin</code>, <code>America/New_York</code>, "
            "<code>Asia/Kolkata</code>, or an offset like <code>UTC+5:30</code>.",
        )
    if not await _may_change(update, context):
        return await _deny(update)
    svc = context.services
    chat = _chat(update, context)
    chat = chats.set_delivery(svc.db, chat.chat_id, svc.clock(), timezone=name)
    await _reply(update, f"🌍 Done: {_comes_at(chat)}")


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _echo(text: str) -> str:
    """User input quoted back: shortened (a long echo would make the reply too long), escaped."""
    return _esc(_shorten(text))


_MATCHING = "Whole words, any case, with or without accents; plain text, not patterns."
# What each term command says when it comes without a term (as a tap in the command menu sends it).
HOWTO = {
    "watch": "Send a word or a phrase for your daily brief: <code>/watch Wagner</code>, "
    f'<code>/watch "Black Sea Fleet"</code>. {_MATCHING}',
    "alert": "Send a word or a phrase to be alerted about: <code>/alert Wagner</code>, "
    f'<code>/alert "Black Sea Fleet"</code>. {_MATCHING}',
    "unwatch": "Send the term to stop watching: <code>/unwatch Wagner</code>, "
    "or tap ✖ beside it in /watchlist.",
}
TERM_PROBLEMS = {
    "empty": "{howto}",
    "only punctuation": "“{term}” has no letters or digits to watch. {howto}",
    "too long": f"That term is too long: at most {watch.MAX_TERM_CHARS} characters.",
    "too common": "“{term}” is only common words: it would match almost every story. "
    "Send a longer name, such as “Islamic State” for IS or “United States” for US.",
}


async def _term(update: Update, context: Context, command: str) -> watch.Term | None:
    """The command's term, or None after replying what is wrong with it."""
    raw = _argument(context)
    # Removing takes any term, as it may have been added before common words were refused.
    parse = watch.parse_term if command == "unwatch" else watch.new_term
    try:
        return parse(raw)
    except watch.TermError as exc:
        await _reply(update, TERM_PROBLEMS[str(exc)].format(term=_echo(raw), howto=HOWTO[command]))
        return None


async def _term_to_change(update: Update, context: Context, command: str) -> watch.Term | None:
    """The command's term if this user may change the chat's watchlist; else None, answered."""
    term = await _term(update, context, command)
    if term is None:
        return None
    if not await _may_change(update, context):
        await _deny(update)
        return None
    return term


async def _watch(update: Update, context: Context, mode: str) -> None:
    term = await _term_to_change(update, context, "alert" if mode == watchlists.ALERT else "watch")
    if term is None:
        return
    svc = context.services
    chat = _chat(update, context)
    outcome = watchlists.add(
        svc.db, chat.chat_id, term.key, term.display, mode, watch.MAX_TERMS, svc.clock()
    )
    name = _echo(term.display)
    minutes = svc.settings.fetch_interval_minutes
    if outcome == "full":
        text = (
            f"Your watchlist is full ({watch.MAX_TERMS} terms). "
            "/watchlist has a button to remove each one."
        )
    elif outcome == "duplicate":
        text = f"“{name}” is already on your watchlist{' as an alert' if mode == watchlists.ALERT else ''}."
    elif mode == watchlists.ALERT:
        hours = watchlists.quiet(svc.db, chat.chat_id)
        quiet = (
            "no quiet hours"
            if hours is None
            else f"quiet hours {keyboards.quiet_label(hours)} hold alerts "
            + ("for your next brief" if chat.subscribed else "until they end")
        )
        text = (
            f"🔔 {'Now an alert' if outcome == 'switched' else 'Alert on'}: “{name}”. A short message "
            f"comes within {minutes} minutes of the first report ({quiet}; /quiet changes them)."
        )
    else:
        text = (
            f"👁 {'Back to the brief' if outcome == 'switched' else 'Watching'}: “{name}”. Stories "
            "that name it open your daily brief and /latest. <code>/alert</code> the same term for alerts."
        )
    if outcome not in ("full", "duplicate") and "," in term.display:
        # "/watch Wagner, Prigozhin" is one phrase that almost never appears as typed.
        text += (
            " That is one phrase, commas and all: for several names, send the command once each."
        )
    await _reply(update, text)


async def watch_command(update: Update, context: Context) -> None:
    """/watch TERM: follow a term in the daily brief."""
    await _watch(update, context, watchlists.BRIEF)


async def alert_command(update: Update, context: Context) -> None:
    """/alert TERM: follow a term with alerts (or switch a watched term to alerts)."""
    await _watch(update, context, watchlists.ALERT)


async def unwatch_command(update: Update, context: Context) -> None:
    """/unwatch TERM; without one, the watchlist with a button to remove each term."""
    if not _argument(context):
        return await watchlist_command(update, context)
    term = await _term_to_change(update, context, "unwatch")
    if term is None:
        return
    svc = context.services
    chat = _chat(update, context)
    if watchlists.remove(svc.db, chat.chat_id, term.key):
        await _reply(update, f"Stopped watching “{_echo(term.display)}”.")
    else:
        await _reply(
            update, f"“{_echo(term.display)}” isn't on your watchlist. /watchlist shows it."
        )


async def watchlist_command(update: Update, context: Context) -> None:
    """/watchlist: the terms, with a button per term to remove it or switch its mode."""
    await _reply(update, *_watchlist_view(context.services, _chat(update, context).chat_id))


def _quiet_window(text: str) -> tuple[dt_time, dt_time]:
    """``22:00-07:00`` (a hyphen or an en dash) as its start and end; ValueError if not that."""
    parts = text.replace("–", "-").split("-")
    if len(parts) != 2:
        raise ValueError("give a start and an end")
    return parse_hhmm(parts[0]), parse_hhmm(parts[1])


async def quiet_command(update: Update, context: Context) -> None:
    """/quiet 22:00-07:00 or /quiet off: when alerts wait for the brief."""
    raw = _argument(context)
    svc = context.services
    usage = (
        "Send quiet hours like this: <code>/quiet 22:00-07:00</code> (your time zone), "
        "or <code>/quiet off</code>."
    )
    if not raw:
        hours = watchlists.quiet(svc.db, _chat(update, context).chat_id)
        return await _reply(
            update, f"Quiet hours for alerts: {keyboards.quiet_label(hours)}. {usage}"
        )
    window: tuple[dt_time, dt_time] | None = None
    if raw.lower() != "off":
        try:
            window = _quiet_window(raw)
        except ValueError:
            return await _reply(update, f"“{_echo(raw)}” isn't a time range I understand. {usage}")
        if window[0] == window[1]:
            return await _reply(update, "Quiet hours need a start and an end that differ. " + usage)
    if not await _may_change(update, context):
        return await _deny(update)
    chat = _chat(update, context)
    watchlists.set_quiet(svc.db, chat.chat_id, window, svc.clock())
    if window is None:
        await _reply(update, "🔔 Quiet hours off: alerts come at any hour.")
    else:
        await _reply(
            update,
            f"🌙 Quiet hours {keyboards.quiet_label(window)} ({chat.timezone}): alerts then "
            + ("wait for your next brief." if chat.subscribed else "wait until they end."),
        )


def _watchlist_view(svc: Services, chat_id: int) -> tuple[str, InlineKeyboardMarkup]:
    """The watchlist message and its menu."""
    terms = watchlists.terms(svc.db, chat_id)
    return (
        keyboards.watchlist_text(terms, watchlists.quiet(svc.db, chat_id)),
        keyboards.watchlist_menu(terms),
    )


async def _show_watchlist(
    update: Update, context: Context, chat_id: int, note: str | None = None
) -> None:
    await _edit(update, *_watchlist_view(context.services, chat_id), note)


def _term_by_id(svc: Services, chat_id: int, arg: str) -> watchlists.WatchTerm | None:
    return next(
        (t for t in watchlists.terms(svc.db, chat_id) if keyboards.term_id(t.key) == arg), None
    )


async def _watchlist_button(update: Update, context: Context, arg: str) -> None:
    await _show_watchlist(update, context, _chat(update, context).chat_id)


async def _unwatch_button(update: Update, context: Context, arg: str) -> None:
    svc = context.services
    chat = _chat(update, context)
    term = _term_by_id(svc, chat.chat_id, arg)
    if term is None:
        return await _show_watchlist(update, context, chat.chat_id, "Already removed.")
    watchlists.remove(svc.db, chat.chat_id, term.key)
    await _show_watchlist(update, context, chat.chat_id, f"Removed “{_shorten(term.term)}”")


async def _quiet_button(update: Update, context: Context, arg: str) -> None:
    svc = context.services
    chat = _chat(update, context)
    if arg == "off":
        watchlists.set_quiet(svc.db, chat.chat_id, None, svc.clock())
        return await _show_watchlist(update, context, chat.chat_id, "Alerts at any hour")
    if arg not in keyboards.QUIET_CHOICES:
        assert update.callback_query is not None
        return await _answer(update.callback_query, STALE_BUTTON, alert=True)
    watchlists.set_quiet(svc.db, chat.chat_id, _quiet_window(arg), svc.clock())
    await _show_watchlist(update, context, chat.chat_id, f"Quiet hours {arg}")


async def _mode_button(update: Update, context: Context, arg: str) -> None:
    svc = context.services
    chat = _chat(update, context)
    term = _term_by_id(svc, chat.chat_id, arg)
    if term is None:
        return await _show_watchlist(
            update, context, chat.chat_id, "That term is no longer on the watchlist."
        )
    mode = watchlists.BRIEF if term.mode == watchlists.ALERT else watchlists.ALERT
    watchlists.set_mode(svc.db, chat.chat_id, term.key, mode)
    await _show_watchlist(update, context, chat.chat_id, f"“{_shorten(term.term)}”: {mode}")


async def sources(update: Update, context: Context) -> None:
    """/sources: outlets and their health in plain words."""
    svc = context.services
    marks = {"never": "", "ok": "✅ ", "failing": "⚠️ "}
    lines = ["📰 <b>Sources</b>"] + [
        f"• {_esc(f.name)}: {marks[f.state]}{_esc(f.summary())}"
        for f in feed_states(svc.db, svc.newsroom.feeds)
    ]
    # A long feed list is split between lines, never inside a tag.
    for message in split_messages(lines, separator="\n"):
        await _reply(update, message)


async def help_command(update: Update, context: Context) -> None:
    """/help."""
    await _reply(update, HELP)


def _is_admin(update: Update, context: Context) -> bool:
    user = update.effective_user
    return user is not None and user.id in context.services.settings.admin_chat_ids


async def stats(update: Update, context: Context) -> None:
    """/stats (admins): subscribers, last brief, failing feeds."""
    if not _is_admin(update, context):
        return await _reply(update, "/stats is for the bot's admins only.")
    svc = context.services
    lines = [_esc(line) for line in status_lines(svc.db, svc.clock(), svc.newsroom.feeds)]
    # Every failing feed, as `securitybrief status` lists them: split between lines when many fail.
    for message in split_messages(lines, separator="\n"):
        await _reply(update, message)


async def refresh_command(update: Update, context: Context) -> None:
    """/refresh (admins): fetch and rebuild now."""
    if not _is_admin(update, context):
        return await _reply(update, "/refresh is for the bot's admins only.")
    svc = context.services
    await _typing(update)
    result = await svc.newsroom.current(force=True)
    report = svc.newsroom.last_report
    summary = f"Rebuilt: {len(result.brief.stories)} stories."
    if report:
        summary += f" {report.fetched} feeds fetched, {report.not_modified} unchanged, {len(report.failed)} failed, {report.new_articles} new articles."
    await _reply(update, summary + (f"\n⚠️ {result.problem}" if result.problem else ""))


async def button(update: Update, context: Context) -> None:
    """Every inline button press: settings changes, subscribe, stale buttons."""
    query = update.callback_query
    assert query is not None
    callback = keyboards.parse(query.data)
    entry = BUTTONS.get(callback.action) if callback is not None else None
    if callback is None or entry is None or update.effective_chat is None:
        await _answer(query, STALE_BUTTON, alert=True)
        return
    if entry.changes and not await _may_change(update, context):
        return await _deny(update)
    await entry.handle(update, context, callback.arg)


async def _answer(query: CallbackQuery, text: str | None = None, alert: bool = False) -> None:
    """Answer a button press; an answer Telegram does not take is only logged."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as exc:
        # A press handled late (the bot was busy or down) can no longer be answered, and a 5xx
        # or 429 may hit the answer alone; what the press changed is saved: the rest of the
        # handler must still run and show it.
        log.info("could not answer a button press: %s: %s", type(exc).__name__, exc)


async def _edit(
    update: Update, text: str, markup: InlineKeyboardMarkup, note: str | None = None
) -> None:
    """Answer the button press (with ``note``) and show ``text`` and ``markup`` in its message."""
    query = update.callback_query
    assert query is not None
    await _answer(query, note)
    await _edit_quietly(lambda: query.edit_message_text(text, reply_markup=markup))


# Telegram's answers to an edit that has nothing left to do: a repeated tap, or a message the
# user deleted (or that grew too old) meanwhile. What the press changed is saved all the same.
_HARMLESS_EDIT = ("not modified", "message to edit not found", "message can't be edited")


async def _edit_quietly(call: Callable[[], Awaitable[object]]) -> None:
    """Edit the pressed button's message; an edit with nothing left to do is only logged."""
    try:
        await _patiently(call)
    except BadRequest as exc:
        if not any(words in str(exc).lower() for words in _HARMLESS_EDIT):
            raise
        log.info("button message not edited: %s", exc)


def _change(
    fn: Callable[[Services, chats.ChatSettings, str], chats.ChatSettings | None],
    menu: Callable[[chats.ChatSettings], InlineKeyboardMarkup],
) -> Callable[[Update, Context, str], Awaitable[None]]:
    async def handle(update: Update, context: Context, arg: str) -> None:
        svc = context.services
        chat = _chat(update, context)
        try:
            changed = fn(svc, chat, arg)
        except (ValueError, IndexError):
            assert update.callback_query is not None
            await _answer(update.callback_query, STALE_BUTTON, alert=True)
            return
        shown = changed or chat
        await _edit(update, keyboards.settings_text(shown), menu(shown))

    return handle


def _index(options: tuple[str, ...], arg: str) -> str:
    return options[int(arg)]


def _toggle(
    kind: str, options: tuple[str, ...]
) -> Callable[[Services, chats.ChatSettings, str], chats.ChatSettings]:
    def change(svc: Services, chat: chats.ChatSettings, arg: str) -> chats.ChatSettings:
        current = getattr(chat, kind)
        value = None if arg == "all" else keyboards.toggle(current, _index(options, arg), options)
        return chats.set_filter(svc.db, chat.chat_id, kind, value, svc.clock())

    return change


async def _subscribe_button(update: Update, context: Context, arg: str) -> None:
    query = update.callback_query
    assert query is not None
    text = _subscribe(update, context, True)
    await _answer(query, "Subscribed ✅")
    await _edit_quietly(lambda: query.edit_message_reply_markup(None))
    await _reply(update, text)


async def _done(update: Update, context: Context, arg: str) -> None:
    chat = _chat(update, context)
    query = update.callback_query
    assert query is not None
    await _answer(query, "Saved")
    text = keyboards.settings_text(chat) + "\n\nSaved. /settings to change again."
    await _edit_quietly(lambda: query.edit_message_text(text))


STALE_BUTTON = "That button is from an old message. Send /settings for a fresh menu."


@dataclass(frozen=True)
class Button:
    """What a button prefix does, and whether it changes the chat (group admins only)."""

    handle: Callable[[Update, Context, str], Awaitable[None]]
    changes: bool


def _menu(menu: Callable[[chats.ChatSettings], InlineKeyboardMarkup]) -> Button:
    return Button(_change(lambda svc, chat, arg: None, menu), changes=False)


# Every prefix a keyboard can put on a button; a prefix missing here is a stale button.
BUTTONS: dict[str, Button] = {
    Action.SUBSCRIBE: Button(_subscribe_button, changes=True),
    Action.DONE: Button(_done, changes=True),
    Action.MENU: _menu(keyboards.main_menu),
    Action.TIME_MENU: _menu(keyboards.time_menu),
    Action.ZONE_MENU: _menu(keyboards.timezone_menu),
    Action.REGION_MENU: _menu(keyboards.region_menu),
    Action.TOPIC_MENU: _menu(keyboards.topic_menu),
    Action.TIME: Button(
        _change(
            lambda svc, chat, arg: chats.set_delivery(
                svc.db, chat.chat_id, svc.clock(), delivery_time=parse_hhmm(arg).strftime("%H:%M")
            ),
            keyboards.main_menu,
        ),
        changes=True,
    ),
    Action.ZONE: Button(
        _change(
            lambda svc, chat, arg: chats.set_delivery(
                svc.db, chat.chat_id, svc.clock(), timezone=_index(keyboards.COMMON_ZONES, arg)
            ),
            keyboards.main_menu,
        ),
        changes=True,
    ),
    Action.LENGTH: Button(
        _change(
            lambda svc, chat, arg: chats.set_length(svc.db, chat.chat_id, arg, svc.clock()),
            keyboards.main_menu,
        ),
        changes=True,
    ),
    Action.REGION: Button(_change(_toggle("regions", REGIONS), keyboards.region_menu), True),
    Action.TOPIC: Button(
        _change(_toggle("topics", keyboards.TOPIC_KEYS), keyboards.topic_menu), True
    ),
    Action.WATCHLIST: Button(_watchlist_button, changes=False),
    Action.UNWATCH: Button(_unwatch_button, changes=True),
    Action.WATCH_MODE: Button(_mode_button, changes=True),
    Action.QUIET: Button(_quiet_button, changes=True),
}

# Every command the bot has, by name (app.py registers them; the throttle counts only these).
COMMAND_HANDLERS: dict[str, Callable[[Update, Context], Awaitable[None]]] = {
    "start": start,
    "subscribe": subscribe,
    "unsubscribe": unsubscribe,
    "stop": unsubscribe,
    "latest": latest,
    "settings": settings_command,
    "time": time_command,
    "timezone": timezone_command,
    "watch": watch_command,
    "alert": alert_command,
    "unwatch": unwatch_command,
    "watchlist": watchlist_command,
    "quiet": quiet_command,
    "sources": sources,
    "help": help_command,
    "stats": stats,
    "refresh": refresh_command,
}


async def unknown_command(update: Update, context: Context) -> None:
    """Any command we don't have; silence for commands meant for other bots in a group."""
    if not _answered(update, context):
        return
    message = update.effective_message
    command = (message.text or "").split()[0] if message and message.text else "that"
    await _reply(update, f"I don't know {_echo(command)}. Here's what I can do:\n\n" + HELP)


# An album of ten photos or a burst of forwarded messages gets one pointer, not ten.
POINTER_EVERY = 10.0


async def unknown_text(update: Update, context: Context) -> None:
    """Any other new message in a private chat: text, a sticker, a photo (its caption too)."""
    now, chat_data = time.monotonic(), context.chat_data
    if chat_data is not None:
        if now - chat_data.get("pointed_at", -POINTER_EVERY) < POINTER_EVERY:
            return
        chat_data["pointed_at"] = now
    await _reply(
        update, "I answer commands rather than messages. Try /latest for the brief now, or /help."
    )


async def chat_member(update: Update, context: Context) -> None:
    """The bot was blocked, kicked, unblocked or re-added."""
    svc = context.services
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    if status in {ChatMemberStatus.BANNED, ChatMemberStatus.LEFT}:
        reason = (
            "blocked by the user" if change.chat.type == Chat.PRIVATE else "removed from the chat"
        )
        chats.mark_inactive(svc.db, change.chat.id, reason, svc.clock())
        log.info("chat %s: %s", change.chat.id, reason)
    elif status in {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR}:
        chat = chats.get_chat(svc.db, change.chat.id)
        if chat is not None and not chat.active:
            chats.set_subscribed(svc.db, chat.chat_id, chat.subscribed, svc.clock())


async def migrated(update: Update, context: Context) -> None:
    """A group became a supergroup: move its settings to the new id."""
    message = update.effective_message
    if message is None:
        return
    svc = context.services
    if message.migrate_to_chat_id:
        chats.migrate_chat(svc.db, message.chat.id, message.migrate_to_chat_id, svc.clock())
    elif message.migrate_from_chat_id:
        chats.migrate_chat(svc.db, message.migrate_from_chat_id, message.chat.id, svc.clock())


async def alert_storage_problem(context: Context, result: BriefResult) -> str | None:
    """When a refresh's problem was our disk or database: tell the admins, return it in words."""
    if not result.problem:
        return None
    svc = context.services
    report = svc.newsroom.last_report
    errors = [svc.newsroom.last_refresh_error, *(report.failed.values() if report else [])]
    disk = next(filter(None, map(storage_problem, errors)), None) or probe_storage(svc.db)
    if disk:
        await alert_admins(context, disk)
    return disk


async def alert_admins(context: Context, problem: str) -> None:
    """Tell the admins about a disk or database problem, at most once per interval."""
    svc = context.services
    now = time.monotonic()
    if svc.storage_alerted_at is not None and now - svc.storage_alerted_at < STORAGE_ALERT_INTERVAL:
        return
    svc.storage_alerted_at = now
    log.error("disk or database problem: %s (%s)", problem, svc.settings.database_path)
    text = (
        f"⚠️ <b>Disk or database problem</b>: {_esc(problem)}.\n"
        f"Database: <code>{_esc(str(svc.settings.database_path))}</code>. Users get old or no briefs "
        "until it is fixed; <code>securitybrief doctor</code> checks it."
    )
    for chat_id in svc.settings.admin_chat_ids:
        try:
            await context.bot.send_message(chat_id, text)
        except TelegramError as exc:
            log.warning("could not alert admin %s: %s", chat_id, exc)


async def on_error(update: object, context: Context) -> None:
    """The fault boundary of one update: log it with its chat; the user gets one short reply."""
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    job = context.job.name if context.job is not None else None
    where = f"chat {chat.id}" if chat is not None else (f"job {job}" if job else "no chat")
    disk = storage_problem(error) if isinstance(error, sqlite3.Error | OSError) else None
    if isinstance(error, Forbidden | SendUnconfirmed):
        # Blocked or kicked: no one to tell. Unconfirmed: the answer may have arrived, and an
        # apology after it would be wrong.
        log.warning("update in %s: %s: %s", where, type(error).__name__, error)
        return
    # python-telegram-bot's BadRequest is a NetworkError, but it is a request of ours that
    # Telegram refused: an error to log and answer, not a network blip.
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        # Telegram unreachable even after retries: nothing to fix here, but the user may hear.
        log.warning("update in %s: %s: %s", where, type(error).__name__, error)
    elif disk:
        log.error("update in %s failed: disk or database problem: %s", where, disk)
    else:
        log.error("update in %s failed: %s: %s", where, type(error).__name__, error, exc_info=error)
    try:
        if disk:
            await alert_admins(context, disk)
        if isinstance(update, Update) and chat is not None:
            await _reply(update, STORAGE_REPLY if disk else APOLOGY)
    except Exception as exc:  # noqa: BLE001 - the error handler itself must never raise
        log.warning("could not tell %s about the error: %s", where, exc)
