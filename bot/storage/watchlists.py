"""Watchlists: each chat's terms and modes, quiet hours, the articles they matched, and the
stories those articles make."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, time

from sqlite_utils import Database

from bot.models import Article, Story
from bot.storage.news_store import (
    article_from_row,
    iso,
    story_from_dict,
    story_to_dict,
)
from bot.storage.transactions import write_transaction

BRIEF, ALERT = "brief", "alert"
MODES = (BRIEF, ALERT)
DEFAULT_QUIET = "22:00-07:00"
# The status of an alert's deliveries row while quiet hours hold it: due when they end (for a
# subscribed chat, 10 minutes after its next brief, which may carry the story), it is then
# pending like any other unless that brief showed it.
HELD = "held"


@dataclass(frozen=True)
class WatchTerm:
    """One term a chat watches."""

    key: str
    term: str
    mode: str


def terms(db: Database, chat_id: int) -> list[WatchTerm]:
    """A chat's terms, oldest first."""
    return [
        WatchTerm(*r)
        for r in db.execute(
            "select key, term, mode from watch_terms where chat_id = ? order by created_at, rowid",
            [chat_id],
        )
    ]


def add(
    db: Database, chat_id: int, key: str, term: str, mode: str, limit: int, now: datetime
) -> str:
    """Watch a term: 'added', 'switched' (mode changed), 'duplicate' or 'full'."""
    if mode not in MODES:
        raise ValueError(f"unknown watch mode {mode!r}")
    with write_transaction(db):
        row = db.execute(
            "select mode from watch_terms where chat_id = ? and key = ?", [chat_id, key]
        ).fetchone()
        if row is not None:
            if row[0] == mode:
                return "duplicate"
            set_mode(db, chat_id, key, mode)
            return "switched"
        count = db.execute(
            "select count(*) from watch_terms where chat_id = ?", [chat_id]
        ).fetchone()[0]
        if count >= limit:
            return "full"
        db["watch_terms"].insert(
            {"chat_id": chat_id, "key": key, "term": term, "mode": mode, "created_at": iso(now)}
        )
    return "added"


def remove(db: Database, chat_id: int, key: str) -> bool:
    """Stop watching a term; False if it was not watched."""
    return (
        db.execute("delete from watch_terms where chat_id = ? and key = ?", [chat_id, key]).rowcount
        > 0
    )


def rekey(db: Database, key_of: Callable[[str], str]) -> int:
    """Store every term under the key ``key_of`` gives it now (the matching rules may change
    between releases: "Łódź" once had the key "łodz"); how many keys changed."""
    renamed: dict[str, str] = {}
    with write_transaction(db):
        for chat_id, key, term in db.execute(
            "select chat_id, key, term from watch_terms"
        ).fetchall():
            new = key_of(term)
            if new == key:
                continue
            # The same term typed again since the rules changed is already there: one stays.
            db.execute(
                "update or ignore watch_terms set key = ? where chat_id = ? and key = ?",
                [new, chat_id, key],
            )
            db.execute("delete from watch_terms where chat_id = ? and key = ?", [chat_id, key])
            renamed[key] = new
        for key, new in renamed.items():
            db.execute("update or ignore watch_matches set key = ? where key = ?", [new, key])
            db.execute("delete from watch_matches where key = ?", [key])  # already there
    return len(renamed)


def set_mode(db: Database, chat_id: int, key: str, mode: str) -> bool:
    """Switch a watched term between brief and alert mode; False if it was not watched."""
    if mode not in MODES:
        raise ValueError(f"unknown watch mode {mode!r}")
    return (
        db.execute(
            "update watch_terms set mode = ? where chat_id = ? and key = ?", [mode, chat_id, key]
        ).rowcount
        > 0
    )


def quiet(db: Database, chat_id: int) -> tuple[time, time] | None:
    """The chat's quiet hours (local start, end), or None when it turned them off."""
    row = db.execute("select quiet from watch_quiet where chat_id = ?", [chat_id]).fetchone()
    value = row[0] if row else DEFAULT_QUIET
    if value == "off":
        return None
    start, end = value.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def set_quiet(db: Database, chat_id: int, window: tuple[time, time] | None, now: datetime) -> None:
    """Set quiet hours (local start, end), or None for none."""
    value = "off" if window is None else f"{window[0]:%H:%M}-{window[1]:%H:%M}"
    db["watch_quiet"].upsert({"chat_id": chat_id, "quiet": value}, pk="chat_id")
    recheck_held(db, chat_id, now)


def recheck_held(db: Database, chat_id: int, now: datetime) -> None:
    """Have the chat's held alerts looked at again by the next planning: its quiet hours (or
    zone, or brief) changed, so they may end sooner (they are held again if still in them)."""
    db.execute(
        "update deliveries set due_at = ? where chat_id = ? and status = ? and due_at > ?",
        [iso(now), chat_id, HELD, iso(now)],
    )


def in_quiet(window: tuple[time, time] | None, local: datetime) -> bool:
    """Whether a local time falls in quiet hours (which may run over midnight)."""
    if window is None or window[0] == window[1]:
        return False
    start, end, now = window[0], window[1], local.time().replace(tzinfo=None)
    return start <= now < end if start < end else now >= start or now < end


def all_keys(db: Database) -> list[str]:
    """Every distinct term key any chat watches."""
    return [r[0] for r in db.execute("select distinct key from watch_terms")]


def record_matches(db: Database, matches: Iterable[tuple[str, str]], now: datetime) -> int:
    """Store (url, key) matches of a fetch round, to be planned as alerts; return how many."""
    with db.atomic():
        before = db.conn.total_changes
        db.conn.executemany(
            "insert or ignore into watch_matches (url, key, state, found_at) values (?, ?, 'new', ?)",
            [(url, key, iso(now)) for url, key in matches],
        )
        return db.conn.total_changes - before


def matched_articles(db: Database, since: datetime) -> list[Article]:
    """Articles matched by any term since ``since``, oldest first."""
    return [
        article_from_row(r)
        for r in db.query(
            "select * from articles where url in "
            "(select url from watch_matches where found_at >= ?) order by published, url",
            [iso(since)],
        )
    ]


def assignments(db: Database) -> dict[str, str]:
    """Matched article URL → the watch story it was grouped into last time."""
    return {r[0]: r[1] for r in db.execute("select url, story_id from watch_articles")}


def save_stories(
    db: Database, stories: Iterable[Story], members: dict[str, list[str]], now: datetime
) -> None:
    """Store the matched articles' stories and which articles each holds."""
    payload = [story_to_dict(s) for s in stories]
    with db.atomic():
        db.conn.executemany(
            "insert or replace into watch_stories (id, payload, updated_at) values (?, ?, ?)",
            [(s["id"], json.dumps(s), iso(now)) for s in payload],
        )
        db.conn.executemany(
            "insert or replace into watch_articles (url, story_id) values (?, ?)",
            [(url, sid) for sid, urls in members.items() for url in urls],
        )


def stored_stories(db: Database) -> dict[str, Story]:
    """Every stored watch story, by id."""
    rows = db.execute("select payload from watch_stories")
    return {story.id: story for story in (story_from_dict(json.loads(p)) for (p,) in rows)}


def stories_for(
    db: Database,
    chat_id: int,
    since: datetime,
    new_alerts: bool = False,
    parsed: dict[str, Story] | None = None,
) -> list[tuple[Story, tuple[str, ...], tuple[str, ...]]]:
    """The watch stories holding articles that matched the chat's terms since ``since``:
    (story, terms it hit, matched URLs), best first. ``new_alerts``: only alert-mode terms'
    matches not yet planned. ``parsed``: stories already read in this planning run (by id),
    filled in as more are read, so a story many chats follow is parsed once."""
    sql = (
        "select wa.story_id, m.url, t.term from watch_terms t "
        "join watch_matches m on m.key = t.key "
        "join watch_articles wa on wa.url = m.url "
        "where t.chat_id = ? and m.found_at >= ?"
    )
    if new_alerts:
        sql += " and m.state = 'new' and t.mode = 'alert'"
    found: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    for story_id, url, term in db.execute(sql, [chat_id, iso(since)]):
        words, urls = found.setdefault(story_id, ({}, {}))
        words[term] = None
        urls[url] = None
    if not found:
        return []
    known = {} if parsed is None else parsed
    missing = [i for i in found if i not in known]
    if missing:
        rows = db.execute(
            f"select payload from watch_stories where id in ({','.join('?' * len(missing))})",
            missing,
        )
        for (payload,) in rows:
            story = story_from_dict(json.loads(payload))
            known[story.id] = story
    # By id first, as the primary-key lookup returned them: the order of equal scores.
    stories = sorted((known[i] for i in found if i in known), key=lambda s: s.id)
    out = [(s, tuple(found[s.id][0]), tuple(found[s.id][1])) for s in stories]
    return sorted(out, key=lambda x: -x[0].score)


def chats_to_alert(db: Database) -> list[int]:
    """Chats with an alert-mode term among the matches not yet planned."""
    return [
        r[0]
        for r in db.execute(
            "select distinct t.chat_id from watch_matches m join watch_terms t on t.key = m.key "
            "where m.state = 'new' and t.mode = 'alert'"
        )
    ]


def alerts_on(db: Database, chat_id: int, urls: Collection[str]) -> bool:
    """Whether the chat follows, in alert mode, a term that one of these articles matched."""
    row = db.execute(
        "select 1 from watch_terms t join watch_matches m on m.key = t.key "
        "where t.chat_id = ? and t.mode = 'alert' and m.url in (select value from json_each(?)) "
        "limit 1",
        [chat_id, json.dumps(list(urls))],
    ).fetchone()
    return row is not None


def newest_match(db: Database) -> int:
    """The newest match's rowid (0 for none), taken before planning: see :func:`mark_planned`."""
    return db.execute("select coalesce(max(rowid), 0) from watch_matches").fetchone()[0]


def mark_planned(db: Database, upto: int, found_before: datetime | None = None) -> None:
    """The new matches up to ``upto`` (and found before ``found_before``, if given) have been
    planned, as alerts or left to the briefs.

    Matches a fetch round stores while planning runs stay new for the next planning.
    """
    sql, params = (
        "update watch_matches set state = 'done' where state = 'new' and rowid <= ?",
        [upto],
    )
    if found_before is not None:
        sql, params = f"{sql} and found_at < ?", [upto, iso(found_before)]
    db.execute(sql, params)


def new_match_count(db: Database, now: datetime | None = None) -> int:
    """Matches waiting for alert planning, and alerts held by quiet hours that are due by ``now``
    (every held one when None): the delivery check's cheap 'anything to do?'."""
    new = db.execute("select count(*) from watch_matches where state = 'new'").fetchone()[0]
    sql, params = "select count(*) from deliveries where status = ?", [HELD]
    if now is not None:
        sql, params = sql + " and due_at <= ?", [HELD, iso(now)]
    return new + db.execute(sql, params).fetchone()[0]
