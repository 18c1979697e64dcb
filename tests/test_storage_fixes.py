"""Storage faults a reviewer reproduced: alerts lost to another process's write during planning
(and read-then-write transactions that failed the same way), a database made by release c181bd7
that never got watch_matches, processes opening one database at once while it migrates, and
prune reading whole tables every fetch round."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botharness import ROOT, WATCH_TERM, add_alert_watchers, watched_story
from sqlite_utils import Database

from bot.delivery import alerts, ledger
from bot.models import Article, Source, Story
from bot.news.watch import normalise
from bot.storage import chats, news_store, watchlists
from bot.storage.db import MIGRATIONS, open_db, schema_version
from bot.storage.news_store import iso

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
KEY = normalise(WATCH_TERM)


def _deliveries(db: Database) -> list[tuple[int, str, str]]:
    """Every delivery row: (chat, local date or alert key, status)."""
    return db.execute(
        "select chat_id, local_date, status from deliveries order by chat_id, local_date"
    ).fetchall()


# ---- 1. A write by another process while a transaction has read and is about to write


OTHER_WRITER = """
import sys
from bot.storage.db import open_db
db = open_db(sys.argv[1])
print("writing", flush=True)
db.execute("insert or replace into leases (name, holder, expires_at) values ('cli', 'other', 0)")
print("written", flush=True)
"""


def _start_other_writer(path: Path) -> subprocess.Popen[str]:
    """A `securitybrief` command's process writing one row to the database at ``path``; returns
    once it has written, or is waiting for the write lock another connection holds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", OTHER_WRITER, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing", proc.stderr
    # Still running after that: it waits for the planner's write lock, and writes once it is free.
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    return proc


def test_alert_planning_outlasts_a_write_another_process_commits_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.db"
    db = open_db(path)
    watchers = [1, 2, 3]
    add_alert_watchers(db, watchers, [WATCH_TERM], NOW)
    watched_story(db, "w1", NOW)
    other: list[subprocess.Popen[str]] = []
    real = watchlists.stories_for

    def stories_for(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if not other:  # the first chat's planning has read; its writes come next
            other.append(_start_other_writer(path))
        return found

    monkeypatch.setattr(watchlists, "stories_for", stories_for)
    assert alerts.plan_alerts(db, NOW, 24) == 3
    _, err = other[0].communicate(timeout=60)
    assert other[0].returncode == 0, err
    assert _deliveries(db) == [(c, "alert:w1", "pending") for c in watchers]
    assert db.execute("select url, key, state from watch_matches").fetchall() == [
        ("https://x.example/w1", KEY, "done")
    ]
    assert db.execute("select name, holder from leases").fetchall() == [("cli", "other")]


def test_a_chat_whose_alert_planning_failed_is_planned_again_at_the_next_check(
    tmp_path: Path,
) -> None:
    db = open_db(tmp_path / "bot.db")
    add_alert_watchers(db, [1, 2], [WATCH_TERM], NOW)
    # A zone this host lacks (an older tzdata): chat 2's planning fails until it is fixed.
    db.execute("update chats set timezone = 'Nowhere/Atlantis' where chat_id = 2")
    watched_story(db, "w1", NOW)
    assert alerts.plan_alerts(db, NOW, 24) == 1
    assert _deliveries(db) == [(1, "alert:w1", "pending")]
    assert db.execute("select state from watch_matches").fetchall() == [("new",)]
    assert watchlists.new_match_count(db, NOW) == 1

    db.execute("update chats set timezone = 'UTC' where chat_id = 2")
    assert alerts.plan_alerts(db, NOW + timedelta(minutes=1), 24) == 1
    assert _deliveries(db) == [(1, "alert:w1", "pending"), (2, "alert:w1", "pending")]
    assert db.execute("select state from watch_matches").fetchall() == [("done",)]


def test_a_chat_whose_alert_planning_keeps_failing_is_left_to_its_briefs(tmp_path: Path) -> None:
    # Not retried for ever: every check would plan every alert watcher of the match again.
    db = open_db(tmp_path / "bot.db")
    add_alert_watchers(db, [1, 2], [WATCH_TERM], NOW)
    db.execute("update chats set timezone = 'Nowhere/Atlantis' where chat_id = 2")
    watched_story(db, "w1", NOW)
    found = db.execute("select found_at from watch_matches").fetchone()[0]
    later = datetime.fromisoformat(found)
    assert alerts.plan_alerts(db, later + timedelta(minutes=5), 24) == 1
    assert db.execute("select state from watch_matches").fetchall() == [("new",)]
    assert alerts.plan_alerts(db, later + alerts.RETRY_FAILED_FOR + timedelta(seconds=1), 24) == 0
    assert db.execute("select state from watch_matches").fetchall() == [("done",)]
    assert watchlists.new_match_count(db, later + timedelta(minutes=11)) == 0
    assert _deliveries(db) == [(1, "alert:w1", "pending")]


WRITES = {"insert", "update", "delete", "replace", "create", "drop", "alter"}


@contextmanager
def _other_write_before_first_write(db: Database, path: Path) -> Iterator[list[str]]:
    """When ``db``, in a transaction that has read, starts its first write, another connection
    tries to commit one (without waiting for the lock); yields what became of that try."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    outcome: list[str] = []
    has_read = False

    def trace(sql: str) -> None:
        nonlocal has_read
        word = sql.split(None, 1)[0].lower() if sql.strip() else ""
        has_read = has_read or (word == "select" and db.conn.in_transaction)
        if has_read and not outcome and word in WRITES:
            try:
                other.execute("insert or replace into leases values ('cli', 'other', 0)")
                outcome.append("committed")
            except sqlite3.OperationalError as exc:
                outcome.append(str(exc))

    db.conn.set_trace_callback(trace)
    try:
        yield outcome
    finally:
        db.conn.set_trace_callback(None)
        other.close()


def _save_stories(db: Database) -> Callable[[], object]:
    url = "https://x.example/1"
    article = Article(url, "https://x.example/rss", "X", "Strike near Azov", "", NOW)
    news_store.save_articles(db, [article], NOW)
    story = Story("s1", "Strike", "A strike.", None, (), 2.0, (Source("X", "Strike", url, NOW),))

    def act() -> object:
        news_store.save_stories(db, [story], {"s1": [url]}, NOW)
        return db.execute("select id, first_seen from stories").fetchall(), db.execute(
            "select url, story_id from articles"
        ).fetchall()

    return act


def _watch_add(db: Database) -> Callable[[], object]:
    def act() -> object:
        outcome = watchlists.add(db, 1, "azov", "Azov", watchlists.ALERT, 20, NOW)
        return outcome, db.execute("select chat_id, key, term, mode from watch_terms").fetchall()

    return act


def _watch_rekey(db: Database) -> Callable[[], object]:
    watchlists.add(db, 1, "azov", "Azov", watchlists.ALERT, 20, NOW)

    def act() -> object:
        moved = watchlists.rekey(db, str.upper)
        return moved, db.execute("select chat_id, key, term from watch_terms").fetchall()

    return act


def _record_sent(db: Database) -> Callable[[], object]:
    def act() -> object:
        sent = [("s1", '["X"]', False, ("https://x.example/1",))]
        ledger.record_sent_stories(db, 1, sent, "latest", NOW)
        return (
            db.execute("select chat_id, story_id, fingerprint, via from sent_stories").fetchall(),
            db.execute("select chat_id, url, story_id, via from sent_articles").fetchall(),
        )

    return act


def _migrate_chat(db: Database) -> Callable[[], object]:
    add_alert_watchers(db, [-100], [WATCH_TERM], NOW)

    def act() -> object:
        chats.migrate_chat(db, -100, -1001, NOW)
        return (
            db.execute("select chat_id, type from chats").fetchall(),
            db.execute("select chat_id, key from watch_terms").fetchall(),
        )

    return act


def _release_held(db: Database) -> Callable[[], object]:
    add_alert_watchers(db, [7], [WATCH_TERM], NOW)
    watchlists.set_quiet(db, 7, (clock_time(11), clock_time(13)), NOW)
    watched_story(db, "w1", NOW)
    alerts.plan_alerts(db, NOW, 24)
    assert _deliveries(db) == [(7, "alert:w1", "held")]

    def act() -> object:
        return alerts.plan_alerts(db, NOW + timedelta(hours=1, minutes=5), 24), _deliveries(db)

    return act


RACES = {
    "news_store.save_stories": (
        _save_stories,
        ([("s1", iso(NOW))], [("https://x.example/1", "s1")]),
    ),
    "watchlists.add": (_watch_add, ("added", [(1, "azov", "Azov", "alert")])),
    "watchlists.rekey": (_watch_rekey, (1, [(1, "AZOV", "Azov")])),
    "ledger.record_sent_stories": (
        _record_sent,
        (
            [(1, "s1", '["X"]', "latest")],
            [(1, "https://x.example/1", "s1", "latest")],
        ),
    ),
    "chats.migrate_chat": (_migrate_chat, ([(-1001, "supergroup")], [(-1001, KEY)])),
    "alerts: a held alert released": (_release_held, (1, [(7, "alert:w1", "pending")])),
}


@pytest.mark.parametrize("name", RACES)
def test_a_transaction_that_reads_then_writes_holds_the_write_lock_from_its_start(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "bot.db"
    db = open_db(path)
    setup, expected = RACES[name]
    act = setup(db)
    with _other_write_before_first_write(db, path) as other:
        assert act() == expected
    # The other writer could not slip in between this transaction's reads and its writes.
    assert other == ["database is locked"]
    db.execute("insert or replace into leases values ('cli', 'other', 0)")  # free again


# ---- 2. A database made by release c181bd7 (watch_hits, before 0008 was changed in place)


def _release_c181bd7(tmp_path: Path) -> ModuleType:
    """bot/storage/db.py as release c181bd7 shipped it, with its migrations."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", "c181bd7:bot/storage/db.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    file = tmp_path / "db_c181bd7.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location("db_c181bd7", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _watch_matches_schema(db: Database) -> list[tuple[str, str, str]]:
    return db.execute(
        "select type, name, sql from sqlite_master where tbl_name = 'watch_matches' order by name"
    ).fetchall()


def test_a_database_made_by_c181bd7_gets_watch_matches_with_its_hits(tmp_path: Path) -> None:
    path = tmp_path / "c181bd7.db"
    old_db = _release_c181bd7(tmp_path).open_db(path)
    early, late, long_ago = iso(NOW - timedelta(hours=5)), iso(NOW), iso(NOW - timedelta(days=40))
    hits = [  # (chat, url, key, state, found_at)
        (42, "https://f/1", "azov", "new", late),  # chat 42 waits for its alert
        (43, "https://f/1", "azov", "done", early),  # chat 43 (brief mode) is done with it
        (42, "https://f/2", "azov", "done", long_ago),
        (43, "https://f/2", "azov", "done", long_ago),
        (43, "https://f/3", "kyiv", "done", late),
    ]
    columns = ("chat_id", "url", "key", "state", "found_at")
    old_db["watch_hits"].insert_all(dict(zip(columns, hit, strict=True)) for hit in hits)
    old_db.close()

    db = open_db(path)
    assert schema_version(db) == [m.name for m in MIGRATIONS._migrations]
    assert "watch_hits" not in db.table_names()
    assert _watch_matches_schema(db) == _watch_matches_schema(open_db(tmp_path / "fresh.db"))
    assert db.execute(
        "select url, key, state, found_at from watch_matches order by rowid"
    ).fetchall() == [
        ("https://f/2", "azov", "done", long_ago),
        ("https://f/1", "azov", "new", early),
        ("https://f/3", "kyiv", "done", late),
    ]
    assert watchlists.new_match_count(db, NOW) == 1
    matches = [("https://f/1", "azov"), ("https://f/4", "azov")]
    assert watchlists.record_matches(db, matches, NOW) == 1
    assert news_store.prune(db, NOW)["watch_matches"] == 1
    assert db.execute(
        "select url, key, state, found_at from watch_matches order by rowid"
    ).fetchall() == [
        ("https://f/1", "azov", "new", early),
        ("https://f/3", "kyiv", "done", late),
        ("https://f/4", "azov", "new", late),
    ]


# ---- 3. Several processes opening one database while it migrates

OPENER = """
import sys, time
from bot.storage.db import open_db, schema_version
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time() - 0.05))
while time.time() < start:
    pass
print(len(schema_version(open_db(sys.argv[1]))))
"""


@pytest.mark.parametrize("upto", [0, 8], ids=["fresh file", "upgrade from 0008"])
def test_processes_opening_one_database_at_once_all_find_it_migrated(
    tmp_path: Path, upto: int
) -> None:
    names = [m.name for m in MIGRATIONS._migrations]
    path = tmp_path / "bot.db"
    if upto:
        db = Database(path)
        db.enable_wal()
        MIGRATIONS.apply(db, stop_before=names[upto])
        db.close()
    start = str(time.time() + 3)
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(path), start],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [(p.communicate(timeout=120), p.returncode) for p in openers]
    assert [(out.strip(), rc) for (out, _), rc in results] == [(str(len(names)), 0)] * 8, [
        err.strip().splitlines()[-1:] for (_, err), _ in results
    ]
    applied = Database(path).execute("select name from _sqlite_migrations order by id").fetchall()
    assert applied == [(name,) for name in names]  # each applied once


# ---- 4. prune finds old rows by index


def _delivery(chat_id: int, day: datetime, status: str, key: str) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "local_date": day.date().isoformat(),
        "due_at": iso(day),
        "content_key": key,
        "next_part": 0,
        "status": status,
        "attempts": 0,
        "last_error": None,
        "created_at": iso(day),
        "sent_at": iso(day) if status == "sent" else None,
    }


def test_prune_finds_old_rows_by_index_and_deletes_what_it_did(tmp_path: Path) -> None:
    db = open_db(tmp_path / "bot.db")
    now = datetime(2027, 3, 1, 12, tzinfo=UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    contents = [
        {"key": key, "brief_id": 1, "messages": "[]", "stories": "[]", "created_at": iso(day)}
        for key, day in [
            ("old-kept", old),  # a pending or held delivery still needs it
            ("old-done", old),  # only finished deliveries pruned with it needed it
            ("old-free", old),
            ("new-free", recent),
            ("new", recent),
        ]
    ]
    db["contents"].insert_all(contents)
    statuses = ["pending", "held", "sent", "failed", "cancelled"]
    finished = {"sent", "failed", "cancelled"}
    deliveries = [
        _delivery(chat, old, status, "old-done" if status in finished else "old-kept")
        for chat, status in enumerate(statuses, 1)
    ] + [_delivery(chat, recent, status, "new") for chat, status in enumerate(statuses, 1)]
    db["deliveries"].insert_all(deliveries)
    # Story "s-kept" lives on: its article is still carried; "s-gone" has no article left.
    db["stories"].insert({"id": "s-kept", "headline": "h"})
    db["feeds"].insert({"url": "https://f/rss", "name": "F"})
    db["articles"].insert(
        {
            "url": "https://f/1",
            "feed_url": "https://f/rss",
            "outlet": "F",
            "title": "t",
            "published": iso(recent),
            "first_seen": iso(recent),
            "last_seen": iso(recent),
            "story_id": "s-kept",
        }
    )
    sent = [
        {
            "chat_id": c,
            "story_id": s,
            "fingerprint": "[]",
            "sent_at": iso(d),
            "via": "daily",
            "updates": 0,
        }
        for c, s, d in [(1, "s-gone", old), (1, "s-kept", old), (2, "s-gone", recent)]
    ]
    db["sent_stories"].insert_all(sent)

    statements: list[tuple[str, Any]] = []
    with db.tracer(lambda sql, params: statements.append((sql, params))):
        removed = news_store.prune(db, now)

    assert {t: removed[t] for t in ("deliveries", "contents", "sent_stories")} == {
        "deliveries": 3,
        "contents": 2,
        "sent_stories": 1,
    }
    assert list(db.query("select * from deliveries order by due_at, chat_id")) == [
        d for d in deliveries if d["due_at"] == iso(recent) or d["status"] not in finished
    ]
    assert list(db.query("select * from contents order by key")) == sorted(
        (c for c in contents if c["key"] not in {"old-done", "old-free"}), key=lambda c: c["key"]
    )
    assert list(db.query("select * from sent_stories order by chat_id, story_id")) == sent[1:]

    # Tables that grow with the number of chats: never read whole.
    big = {f"SCAN {t}" for t in ("sent_stories", "sent_articles", "deliveries", "contents")}
    scans = [
        (sql, step)
        for sql, params in statements
        if sql.startswith("delete")
        for *_, step in db.execute("explain query plan " + sql, params or [])
        if " ".join(step.split()[:2]) in big
    ]
    assert scans == []
