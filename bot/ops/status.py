"""The operator's view: subscribers, last fetch, last brief, last broadcast, failing feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.config import Settings
from bot.storage import chats, news_store


def _ago(text: str | None, now: datetime) -> str:
    if not text:
        return "never"
    minutes = int((now - news_store.from_iso(text)).total_seconds() // 60)
    if minutes < 60:
        return f"{text[:16].replace('T', ' ')} UTC ({minutes} min ago)"
    return f"{text[:16].replace('T', ' ')} UTC ({minutes // 60} h {minutes % 60} min ago)"


@dataclass(frozen=True)
class Snapshot:
    """What the operator views are made of, read in one place."""

    counts: dict[str, int]
    last_fetch: str | None
    last_brief: str | None
    last_broadcast: dict | None
    failing: list[dict]
    feeds_total: int


def snapshot(db: Database) -> Snapshot:
    """Read the operator's figures from the database."""
    last_brief = db.execute("select generated_at from briefs order by id desc limit 1").fetchone()
    return Snapshot(
        counts=chats.counts(db),
        last_fetch=db.execute("select max(last_fetched) from feeds").fetchone()[0],
        last_brief=last_brief[0] if last_brief else None,
        last_broadcast=next(
            iter(db.query("select * from broadcasts order by started_at desc limit 1")), None
        ),
        failing=list(
            db.query(
                "select name, last_error, consecutive_failures from feeds "
                "where consecutive_failures > 0 order by name"
            )
        ),
        feeds_total=db["feeds"].count,
    )


def status_lines(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Plain-text status lines, shared by /stats and ``securitybrief status``."""
    snap = snapshot(db)
    counts, last = snap.counts, snap.last_broadcast
    lines = [
        f"Subscribers: {counts['active']} active, {counts['inactive']} inactive ({counts['chats']} chats seen)",
        f"Last fetch: {_ago(snap.last_fetch, now)}",
        f"Last brief: {_ago(snap.last_brief, now)}",
    ]
    if last:
        lines.append(
            f"Last broadcast: {_ago(last['started_at'], now)}: {last['due']} due, {last['sent']} sent, "
            f"{last['failed']} failed, {last['retried']} retried, {last['duration'] or 0:.1f} s"
        )
    else:
        lines.append("Last broadcast: never")
    lines.append(f"Feeds failing: {len(snap.failing)} of {snap.feeds_total}")
    lines += [
        f"  - {f['name']}: {f['last_error']} ({f['consecutive_failures']}x)" for f in snap.failing
    ]
    return lines


def health(db: Database, settings: Settings, now: datetime) -> dict:
    """What /healthz reports; "degraded" when no fetch succeeded for three intervals."""
    snap = snapshot(db)
    stale = snap.last_fetch is None or news_store.from_iso(snap.last_fetch) < now - timedelta(
        minutes=3 * settings.fetch_interval_minutes
    )
    return {
        "status": "degraded" if stale else "ok",
        "last_fetch": snap.last_fetch,
        "last_broadcast": snap.last_broadcast["started_at"] if snap.last_broadcast else None,
        "failing_feeds": [f["name"] for f in snap.failing],
    }
