"""Chats and their settings: subscribing, delivery time, time zone, length and filters."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlite_utils import Database

from bot.config import Settings
from bot.storage import watchlists
from bot.storage.news_store import from_iso, iso
from bot.storage.transactions import write_transaction
from bot.timezones import local_day, next_due, slot, zone

LENGTHS = {"short": 5, "full": 10}


@dataclass(frozen=True)
class ChatSettings:
    """One chat's subscription and preferences."""

    chat_id: int
    type: str
    title: str | None
    subscribed: bool
    active: bool
    timezone: str
    delivery_time: str  # "HH:MM", local to ``timezone``
    brief_length: str
    regions: frozenset[str] | None  # None means every region
    topics: frozenset[str] | None  # None means every topic
    next_due: str | None

    @property
    def story_count(self) -> int:
        """How many stories this chat's briefs hold."""
        return LENGTHS.get(self.brief_length, LENGTHS["short"])


def chat_from_row(row: dict) -> ChatSettings:
    """Build ChatSettings from a ``chats`` row."""

    def as_set(raw: str | None) -> frozenset[str] | None:
        return None if raw is None else frozenset(json.loads(raw))

    return ChatSettings(
        chat_id=row["chat_id"],
        type=row["type"],
        title=row["title"],
        subscribed=bool(row["subscribed"]),
        active=bool(row["active"]),
        timezone=row["timezone"],
        delivery_time=row["delivery_time"],
        brief_length=row["brief_length"] or "short",
        regions=as_set(row["regions"]),
        topics=as_set(row["topics"]),
        next_due=row["next_due"],
    )


def get_chat(db: Database, chat_id: int) -> ChatSettings | None:
    """A chat's settings, or None if the bot has never seen it."""
    rows = list(db.query("select * from chats where chat_id = ?", [chat_id]))
    return chat_from_row(rows[0]) if rows else None


def ensure_chat(
    db: Database, chat_id: int, chat_type: str, title: str | None, settings: Settings, now: datetime
) -> ChatSettings:
    """The chat's settings, creating it with the defaults on first contact."""
    existing = get_chat(db, chat_id)
    if existing is not None:
        return existing
    db["chats"].insert(
        {
            "chat_id": chat_id,
            "type": chat_type,
            "title": title,
            "subscribed": 0,
            "active": 1,
            "timezone": settings.default_timezone,
            "delivery_time": settings.default_delivery_time.strftime("%H:%M"),
            "brief_length": "short",
            "created_at": iso(now),
            "updated_at": iso(now),
        },
        pk="chat_id",
        ignore=True,
    )
    return get_chat(db, chat_id)  # type: ignore[return-value]


def _update(db: Database, chat_id: int, now: datetime, **values: object) -> ChatSettings:
    db["chats"].update(chat_id, {**values, "updated_at": iso(now)})
    chat = get_chat(db, chat_id)
    assert chat is not None
    return chat


def last_brief_date(db: Database, chat: ChatSettings) -> date | None:
    """The local date, in the chat's current zone, of its latest daily brief (whatever became of it)."""
    row = db.execute(
        # Daily rows are keyed by a local date, alerts by ledger.ALERT_PREFIX and a story id.
        "select local_date, due_at from deliveries where chat_id = ? "
        "and local_date not like 'alert:%' order by due_at desc limit 1",
        [chat.chat_id],
    ).fetchone()
    if row is None:
        return None
    # The key is the date in the zone it was planned in; after a /timezone its due time decides.
    return local_day(chat.timezone, from_iso(row[1]), date.fromisoformat(row[0]))


def _reschedule(
    db: Database, before: ChatSettings, chat: ChatSettings, now: datetime
) -> str | None:
    """The chat's next due time after a change from ``before``: one brief per local day of its
    zone, and a brief it was still to get today is not taken away."""
    if not (chat.subscribed and chat.active):
        return None
    done = last_brief_date(db, chat)
    if _due_now(before, chat, done, now):
        return iso(now)
    return iso(next_due(chat.timezone, chat.delivery_time, now, done=done))


def _due_now(before: ChatSettings, chat: ChatSettings, done: date | None, now: datetime) -> bool:
    """Whether today's brief, still to come before the change, has a new time already past."""
    today = now.astimezone(zone(chat.timezone)).date()
    if before.next_due is None or (done is not None and done >= today):
        return False
    if done is None and before.timezone != chat.timezone:
        # A chat yet to get its first brief starts at its new zone's next slot, as /subscribe does.
        return False
    waiting = from_iso(before.next_due).astimezone(zone(chat.timezone)).date() <= today
    return waiting and slot(chat.timezone, chat.delivery_time, today) <= now


def _stored(db: Database, chat_id: int) -> ChatSettings:
    """The chat's settings; sqlite_utils' NotFoundError for a chat never seen, as an update gives."""
    return chat_from_row(db["chats"].get(chat_id))


def set_subscribed(db: Database, chat_id: int, subscribed: bool, now: datetime) -> ChatSettings:
    """Subscribe or unsubscribe; settings are kept either way."""
    before = _stored(db, chat_id)
    chat = replace(before, subscribed=subscribed, active=True)
    watchlists.recheck_held(db, chat_id, now)  # held alerts wait for a brief only while it comes
    return _update(
        db,
        chat_id,
        now,
        subscribed=int(subscribed),
        active=1,
        inactive_reason=None,
        next_due=_reschedule(db, before, chat, now),
    )


def set_delivery(
    db: Database,
    chat_id: int,
    now: datetime,
    *,
    timezone: str | None = None,
    delivery_time: str | None = None,
) -> ChatSettings:
    """Change when the daily brief comes, and reschedule it."""
    values = {k: v for k, v in {"timezone": timezone, "delivery_time": delivery_time}.items() if v}
    before = _stored(db, chat_id)
    chat = replace(before, **values)
    watchlists.recheck_held(db, chat_id, now)  # quiet hours or the brief end another time
    return _update(db, chat_id, now, **values, next_due=_reschedule(db, before, chat, now))


def set_length(db: Database, chat_id: int, length: str, now: datetime) -> ChatSettings:
    """Choose the short or full brief."""
    if length not in LENGTHS:
        raise ValueError(f"unknown brief length {length!r}")
    return _update(db, chat_id, now, brief_length=length)


def set_filter(
    db: Database, chat_id: int, kind: str, values: frozenset[str] | None, now: datetime
) -> ChatSettings:
    """Follow only some regions or topics (``None`` follows all)."""
    if kind not in {"regions", "topics"}:
        raise ValueError(f"unknown filter {kind!r}")
    return _update(
        db, chat_id, now, **{kind: None if values is None else json.dumps(sorted(values))}
    )


def mark_inactive(db: Database, chat_id: int, reason: str, now: datetime) -> None:
    """Stop delivering to a chat that blocked or removed the bot."""
    db.execute(
        "update chats set active = 0, inactive_reason = ?, next_due = null, updated_at = ? "
        "where chat_id = ?",
        [reason, iso(now), chat_id],
    )


def migrate_chat(db: Database, old_id: int, new_id: int, now: datetime) -> None:
    """Move a group's settings to its new supergroup id."""
    with write_transaction(db):
        new = get_chat(db, new_id)
        if new is not None and not new.subscribed and get_chat(db, old_id) is not None:
            # The supergroup was seen first (a command there before the migration reached us):
            # the group's own settings win over that row's defaults.
            db.execute("delete from chats where chat_id = ?", [new_id])
            new = None
        if new is None:
            db.execute(
                "update chats set chat_id = ?, type = 'supergroup', updated_at = ? where chat_id = ?",
                [new_id, iso(now), old_id],
            )
        else:
            db.execute("delete from chats where chat_id = ?", [old_id])
        # Its planned deliveries too: left at the old id, they would be cancelled as unwanted.
        for table in ("sent_stories", "sent_articles", "watch_terms", "watch_quiet", "deliveries"):
            db.execute(
                f"update or ignore {table} set chat_id = ? where chat_id = ?", [new_id, old_id]
            )
        db.execute(
            "insert or replace into chat_moves (old_id, new_id, moved_at) values (?, ?, ?)",
            [old_id, new_id, iso(now)],
        )


def current_id(db: Database, chat_id: int) -> int:
    """The id the chat has now: its supergroup's, if the group became one."""
    row = db.execute("select new_id from chat_moves where old_id = ?", [chat_id]).fetchone()
    return chat_id if row is None else row[0]


def subscribed_channels(db: Database) -> list[ChatSettings]:
    """Every channel subscribed to the brief (only CHANNEL_ID subscribes one: a channel has no
    users who could send /subscribe, and the bot posts no buttons there)."""
    rows = db.query("select * from chats where type = 'channel' and subscribed = 1")
    return [chat_from_row(row) for row in rows]


def counts(db: Database) -> dict[str, int]:
    """Subscriber numbers for /stats."""
    row = db.execute(
        "select count(*), coalesce(sum(subscribed and active), 0), coalesce(sum(subscribed and not active), 0) from chats"
    ).fetchone()
    return {"chats": row[0], "active": row[1], "inactive": row[2]}
