"""The composition root: builds the Telegram Application and wires everything into it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.config import Settings
from bot.news import lexicon, watch
from bot.news.feeds import load_feeds
from bot.news.fetch import make_client
from bot.news.newsroom import Newsroom
from bot.news.pipeline import utcnow
from bot.storage import news_store, watchlists
from bot.storage.chats import ensure_chat, set_subscribed, subscribed_channels
from bot.storage.db import open_db
from bot.telegram import handlers
from bot.telegram.broadcast import deliver_due, plan_dailies
from bot.telegram.context import CONTEXT_TYPES, BotContext, BotData, Services
from bot.telegram.throttle import Throttle
from bot.telegram.transport import AiohttpRequest, install_redaction
from bot.telegram.webhook import serve_webhook, stop_on_signals

log = logging.getLogger(__name__)
# Updates handled at once, each from a different chat (a chat's later updates wait for its turn
# before they take a slot).
MAX_CONCURRENT_UPDATES = 256


@dataclass
class _Turns:
    """One chat's queue: a FIFO lock and how many of its updates hold or wait for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    count: int = 0


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates from different chats run concurrently; each chat's updates run one at a time, in order."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._chats: dict[int, _Turns] = {}  # only chats with an update running or waiting

    async def process_update(self, update: object, coroutine: Awaitable[object]) -> None:
        """Wait for this chat's earlier updates (asyncio.Lock wakes waiters in FIFO order), then
        for a slot: a chat's backlog behind one slow update holds one slot, not all of them."""
        key = _chat_key(update)
        if key is None:
            await super().process_update(update, coroutine)
            return
        turns = self._chats.setdefault(key, _Turns())
        turns.count += 1
        try:
            async with turns.lock:
                await super().process_update(update, coroutine)
        finally:
            turns.count -= 1
            if turns.count == 0:
                del self._chats[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[object]) -> None:
        """Run the update (its chat's turn and a slot are held by process_update)."""
        await coroutine

    def waiting_chats(self) -> int:
        """How many chats have an update running or waiting (for tests and diagnostics)."""
        return len(self._chats)

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


def build_application(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    request: BaseRequest | None = None,
    token: str | None = None,
    schedule_jobs: bool = True,
) -> Application:
    """The bot: handlers, jobs and resources, pointed at ``settings.telegram_api_url``."""
    token = token or settings.telegram_bot_token
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    lexicon.use(settings.lexicon_file)
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
            )
        )
        .context_types(CONTEXT_TYPES)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .concurrent_updates(ChatOrderedProcessor())
    )
    # The limiter logs every 429 it passes on as an error with a traceback; delivery retries
    # them and logs its own summary, so that would only be noise.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        # PTB's default httpx transport costs 6-8 ms of CPU per send with 16 in flight (at most
        # ~160 msg/s on one core); aiohttp ~2 ms. getUpdates keeps the default (one long poll).
        builder = builder.request(AiohttpRequest())
        # Overall and per-group pacing; 429s are handled by the caller (delivery retries them).
        builder = builder.rate_limiter(
            AIORateLimiter(
                overall_max_rate=settings.broadcast_rate, overall_time_period=1, max_retries=0
            )
        )
    app = builder.build()
    data: BotData = app.bot_data
    data.settings, data.clock, data.schedule_jobs = settings, clock, schedule_jobs
    add_handlers(app)
    return app


def add_handlers(app: Application) -> None:
    """Register every handler; order matters (throttle first, catch-alls last)."""
    app.add_handler(TypeHandler(Update, handlers.throttle_gate), group=-1)
    # Only new messages run commands: an edited "/latest" is not a new request (and editing
    # one message over and over must not get past the throttle).
    new = filters.UpdateType.MESSAGE
    for name, callback in handlers.COMMAND_HANDLERS.items():
        app.add_handler(CommandHandler(name, callback, filters=new))
    app.add_handler(CallbackQueryHandler(handlers.button))
    app.add_handler(ChatMemberHandler(handlers.chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.migrated))
    app.add_handler(MessageHandler(new & filters.COMMAND, handlers.unknown_command))
    # Any other new message in a private chat (text, a sticker, a photo) gets a pointer to the
    # commands; Telegram's service messages (an auto-delete timer set) are not the user's.
    private = new & filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL
    app.add_handler(MessageHandler(private, handlers.unknown_text))
    app.add_error_handler(handlers.on_error)


async def _post_init(app: Application) -> None:
    data: BotData = app.bot_data
    settings, clock = data.settings, data.clock
    assert settings is not None and clock is not None
    db = open_db(settings.database_path)
    client = make_client(settings.fetch_timeout_seconds)
    newsroom = Newsroom(db, settings, load_feeds(settings.feeds_file), client, clock)
    data.services = Services(settings, db, client, newsroom, Throttle(limit=8, window=10.0), clock)
    if moved := watchlists.rekey(db, watch.normalise):
        log.info("watchlists: %d terms stored under this release's keys", moved)
    await _register_commands(app, settings)
    await _sync_channel(app, settings)
    if data.schedule_jobs and app.job_queue is not None:
        schedule(app, settings)


async def _register_commands(app: Application, settings: Settings) -> None:
    # The command menu is a convenience; the bot works without it.
    try:
        await app.bot.set_my_commands([BotCommand(n, d) for n, d in handlers.COMMANDS])
    except TelegramError as exc:
        log.warning("could not register commands: %s", exc)
    for chat_id in settings.admin_chat_ids:
        # Each admin on its own: one who never opened the bot ("chat not found") costs the
        # others nothing.
        try:
            await app.bot.set_my_commands(
                [BotCommand(n, d) for n, d in handlers.COMMANDS + handlers.ADMIN_COMMANDS],
                scope=BotCommandScopeChat(chat_id),
            )
        except TelegramError as exc:
            log.warning("could not register the admin commands for %s: %s", chat_id, exc)


async def _sync_channel(app: Application, settings: Settings) -> None:
    """Post the brief to CHANNEL_ID, and to no channel an earlier CHANNEL_ID named."""
    keep = await _register_channel(app, settings) if settings.channel_id else None
    if settings.channel_id and keep is None:
        return  # not usable now (Telegram unreachable?): which channel is stale is unknown
    svc = app.bot_data.services
    assert svc is not None
    for channel in subscribed_channels(svc.db):
        if channel.chat_id != keep:
            set_subscribed(svc.db, channel.chat_id, False, svc.clock())
            log.info(
                "channel %s (%s) unsubscribed from the daily brief: CHANNEL_ID %s",
                channel.chat_id,
                channel.title,
                f"is now {settings.channel_id}" if settings.channel_id else "is no longer set",
            )


async def _register_channel(app: Application, settings: Settings) -> int | None:
    """Subscribe CHANNEL_ID like any chat, so the daily push reaches it through delivery; its
    chat id, or None if Telegram does not know it."""
    svc = app.bot_data.services
    assert svc is not None
    try:
        chat = await app.bot.get_chat(settings.channel_id)
    except TelegramError as exc:
        log.warning(
            "CHANNEL_ID %s is not usable (%s); the brief will not be posted there",
            settings.channel_id,
            exc,
        )
        return None
    known = ensure_chat(svc.db, chat.id, chat.type, chat.title, settings, svc.clock())
    if not known.subscribed:
        set_subscribed(svc.db, chat.id, True, svc.clock())
    return chat.id


def schedule(app: Application, settings: Settings) -> None:
    """The recurring jobs: fetch feeds and rebuild the brief; check who is due for delivery."""
    assert app.job_queue is not None
    app.job_queue.run_repeating(
        _fetch_job,
        interval=timedelta(minutes=settings.fetch_interval_minutes),
        first=timedelta(seconds=1),  # updates run beside it: no reason to wait
        name="fetch",
    )
    # One job for every subscriber: due chats come from an indexed query, not per-chat jobs.
    app.job_queue.run_repeating(
        _delivery_job,
        interval=timedelta(seconds=settings.delivery_check_seconds),
        first=timedelta(seconds=1),
        name="delivery",
    )


async def _delivery_job(context: BotContext) -> None:
    svc = context.services
    if svc.delivery_lock.locked():
        # A long broadcast is still running: plan who fell due meanwhile, and it sends them
        # too, rather than leave them late (or past their local day) until it ends.
        if not svc.planning_lock.locked():
            async with svc.planning_lock:
                await plan_dailies(
                    svc.db, svc.newsroom, svc.settings, svc.clock(), svc.showing_latest
                )
        return
    async with svc.delivery_lock:
        await deliver_due(
            svc.db,
            svc.newsroom,
            context.bot,
            svc.settings,
            svc.clock,
            svc.showing_latest,
            # SIGTERM: Application.stop() marks the app stopped, then waits for running jobs.
            stopping=lambda: not context.application.running,
        )


async def _fetch_job(context: BotContext) -> None:
    svc = context.services
    result = await svc.newsroom.current(force=True)
    disk = await handlers.alert_storage_problem(context, result)
    log.info(
        "brief rebuilt: %d stories%s",
        len(result.brief.stories),
        f" ({result.problem})" if result.problem else "",
    )
    if not disk:
        removed = news_store.prune(svc.db, svc.clock())
        if any(removed.values()):
            log.info("pruned %s", " ".join(f"{k}={v}" for k, v in removed.items() if v))
    # Watchlist alerts of this round go out now, not at the next delivery check.
    await _delivery_job(context)


async def _post_shutdown(app: Application) -> None:
    svc: Services | None = app.bot_data.services
    if svc is not None:
        await svc.client.aclose()
        svc.close()


# Where python-telegram-bot reports a failed start: its retry loop ("Bootstrap …") and the
# request that read an answer that is not JSON (a proxy's HTML page).
_START_LOGGERS = ("telegram.ext", "telegram.request.BaseRequest")


class _QuietStart(logging.Filter):
    """Until the bot runs, python-telegram-bot's errors (a traceback each) are the detail of a
    failed start, which run() reports in one line: they are logged at DEBUG instead."""

    def __init__(self, app: Application) -> None:
        super().__init__()
        self.app, self.ran = app, False

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass the record on, as a DEBUG one while the bot has not run yet."""
        self.ran = self.ran or self.app.running
        if self.ran or record.levelno < logging.ERROR:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _quiet_start(app: Application) -> None:
    """Install _QuietStart for ``app`` (in place of one installed for an earlier app)."""
    for name in _START_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _QuietStart)]:
            logger.removeFilter(old)
        logger.addFilter(_QuietStart(app))


def run(settings: Settings) -> None:
    """Run the real bot: webhook when WEBHOOK_URL is set, long polling otherwise."""
    # Second line of defence: whatever a library puts in a log record, the token never leaves.
    install_redaction(settings.telegram_bot_token, settings.webhook_secret)
    app = build_application(settings)
    _quiet_start(app)
    try:
        if settings.webhook_url:
            asyncio.run(_run_webhook(app, settings))
        else:
            try:
                app.run_polling(allowed_updates=Update.ALL_TYPES, close_loop=False)
            finally:
                loop = asyncio.get_event_loop()
                # A start that failed in getMe leaves the transport open: close it quietly.
                loop.run_until_complete(app.bot.request.shutdown())
                loop.close()
    except InvalidToken:
        log.error("Telegram rejected TELEGRAM_BOT_TOKEN; check it with `securitybrief doctor`.")
        sys.exit(1)
    except TelegramError as exc:  # unreachable, timed out, or not answering like Telegram
        log.error(
            "Could not start: the Bot API at %s did not answer properly (%s: %s).",
            settings.telegram_api_url,
            type(exc).__name__,
            exc,
        )
        sys.exit(1)
    except (OSError, sqlite3.Error) as exc:  # the database path, or the webhook's port
        log.error("Could not start: %s", exc)
        sys.exit(1)


async def _run_webhook(app: Application, settings: Settings) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with started(app, polling=False):
        await serve_webhook(app, settings, stop)


@asynccontextmanager
async def started(app: Application, polling: bool = True) -> AsyncIterator[Application]:
    """Run ``app`` inside an existing event loop (tests, terminal mode), with post_init/post_shutdown."""
    try:
        await app.initialize()
    except BaseException:
        await app.bot.request.shutdown()  # initialize opened the transport before it failed
        raise
    try:
        if app.post_init:
            await app.post_init(app)
        if polling and app.updater is not None:
            await app.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, poll_interval=0.0, timeout=5
            )
        await app.start()
        yield app
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        if app.post_shutdown:
            await app.post_shutdown(app)
        await app.shutdown()
