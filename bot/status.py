"""The operator's view: subscribers, last fetch, last brief, last broadcast, failing feeds."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot import store, subscribers
from bot.config import Settings


def _ago(text: str | None, now: datetime) -> str:
    if not text:
        return "never"
    minutes = int((now - store.from_iso(text)).total_seconds() // 60)
    if minutes < 60:
        return f"{text[:16].replace('T', ' ')} UTC ({minutes} min ago)"
    return f"{text[:16].replace('T', ' ')} UTC ({minutes // 60} h {minutes % 60} min ago)"


def status_lines(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Plain-text status lines, shared by /stats and ``securitybrief status``."""
    counts = subscribers.counts(db)
    last_fetch = db.execute("select max(last_fetched) from feeds").fetchone()[0]
    last_brief = db.execute("select generated_at from briefs order by id desc limit 1").fetchone()
    failing = list(
        db.query(
            "select name, last_error, consecutive_failures from feeds where consecutive_failures > 0 order by name"
        )
    )
    lines = [
        f"Subscribers: {counts['active']} active, {counts['inactive']} inactive ({counts['chats']} chats seen)",
        f"Last fetch: {_ago(last_fetch, now)}",
        f"Last brief: {_ago(last_brief[0] if last_brief else None, now)}",
    ]
    last = next(iter(db.query("select * from broadcasts order by started_at desc limit 1")), None)
    if last:
        lines.append(
            f"Last broadcast: {_ago(last['started_at'], now)}: {last['due']} due, {last['sent']} sent, "
            f"{last['failed']} failed, {last['retried']} retried, {last['duration'] or 0:.1f} s"
        )
    else:
        lines.append("Last broadcast: never")
    feeds_total = db["feeds"].count
    lines.append(f"Feeds failing: {len(failing)} of {feeds_total}")
    lines += [f"  - {f['name']}: {f['last_error']} ({f['consecutive_failures']}x)" for f in failing]
    return lines
