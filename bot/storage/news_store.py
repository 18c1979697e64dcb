"""Reading and writing pipeline data: feeds, articles, stories and briefs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from bot.models import Article, Brief, FeedSpec, FetchResult, Source, Story, Validators
from bot.storage.transactions import write_transaction

MAX_BACKOFF = timedelta(hours=12)
# URLs per "in (...)" list: well under SQLite's limit on bound parameters.
CHUNK = 500


def iso(moment: datetime) -> str:
    """A UTC timestamp in the one text form the database uses."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    """Parse a timestamp written by :func:`iso`."""
    return datetime.fromisoformat(text)


def save_feed_specs(db: Database, specs: Iterable[FeedSpec]) -> None:
    """Record the configured feeds, keeping their fetch state."""
    rows = [
        {"url": s.url, "name": s.name, "language": s.language, "weight": s.weight} for s in specs
    ]
    if rows:
        db["feeds"].upsert_all(rows, pk="url")


def validators(db: Database) -> dict[str, Validators]:
    """ETag and Last-Modified per feed URL, for conditional requests."""
    return {
        row["url"]: Validators(row["etag"], row["last_modified"])
        for row in db.query("select url, etag, last_modified from feeds")
    }


def feeds_due(db: Database, specs: Iterable[FeedSpec], now: datetime) -> list[FeedSpec]:
    """The feeds whose back-off (after failures) has expired."""
    waiting = {
        row["url"]
        for row in db.query(
            "select url from feeds where next_attempt is not null and next_attempt > ?", [iso(now)]
        )
    }
    return [s for s in specs if s.url not in waiting]


def backoff(failures: int, interval: timedelta) -> timedelta:
    """How long to leave a feed alone after ``failures`` consecutive failures."""
    return min(interval * (2 ** max(failures - 1, 0)), MAX_BACKOFF)


# Feed errors are shown in `securitybrief feeds` and /status: one line, not a dump.
MAX_ERROR = 300


def short_error(text: str) -> str:
    """A feed error cut to one storable line of at most MAX_ERROR characters."""
    return text[:MAX_ERROR].encode("utf-8", "replace").decode("utf-8")


def save_fetch_result(
    db: Database,
    result: FetchResult,
    now: datetime,
    interval: timedelta,
    error: str | None = None,
    items: int | None = None,
    incomplete: str | None = None,
) -> None:
    """Record one fetch's (and parse's) outcome in the feed's health; ``incomplete``: why cut short."""
    error = error or result.error
    if error:
        error = short_error(error)
    previous = db.execute(
        "select consecutive_failures from feeds where url = ?", [result.spec.url]
    ).fetchone()
    update: dict = {"url": result.spec.url, "name": result.spec.name, "last_fetched": iso(now)}
    if error:
        failures = ((previous[0] if previous else 0) or 0) + 1
        update |= {
            "last_error": error,
            "consecutive_failures": failures,
            "next_attempt": iso(now + backoff(failures, interval)),
        }
    else:
        update |= {
            "last_success": iso(now),
            "last_error": short_error(incomplete) if incomplete else None,
            "consecutive_failures": 0,
            "next_attempt": None,
            # A cut body's validators would get 304s for its lost part: the next request asks
            # for all of it, and its note stays as the feed's last error until then.
            "etag": None if incomplete else result.etag,
            "last_modified": None if incomplete else result.last_modified,
        }
        if items is not None:
            update["item_count"] = items
    db["feeds"].upsert(update, pk="url")


def feed_health(db: Database) -> list[dict]:
    """Every known feed with its fetch state, by name."""
    return list(db.query("select * from feeds order by name"))


def _article_row(a: Article, now: datetime) -> dict:
    return {
        "url": a.url,
        "guid": a.guid,
        "feed_url": a.feed_url,
        "outlet": a.outlet,
        "title": a.title,
        "description": a.description,
        "published": iso(a.published),
        "first_seen": iso(now),
        "last_seen": iso(now),
        "language": a.language,
        "score": a.score,
        "topics": json.dumps(list(a.topics)),
        "region": a.region,
        "story_id": a.story_id,
    }


def save_articles(db: Database, articles: Iterable[Article], now: datetime) -> int:
    """Insert articles not seen before (by canonical URL); return how many were new."""
    rows = [_article_row(a, now) for a in articles]
    if not rows:
        return 0
    columns = list(rows[0])
    sql = (
        f"insert or ignore into articles ({', '.join(columns)}) "
        f"values ({', '.join(':' + c for c in columns)})"
    )
    # One executemany instead of insert_all: a fetch round stores thousands of rows, and
    # sqlite-utils' per-row preparation costs several times the insert itself.
    with db.atomic():
        before = db.conn.total_changes
        db.conn.executemany(sql, rows)
        new = db.conn.total_changes - before
        # Those already stored are still carried by their feed (see prune).
        db.conn.executemany(
            "update articles set last_seen = ? where url = ? and last_seen < ?",
            [(r["last_seen"], r["url"], r["last_seen"]) for r in rows],
        )
        return new


def article_from_row(row: dict) -> Article:
    """Rebuild an Article from its database row."""
    return Article(
        url=row["url"],
        feed_url=row["feed_url"],
        outlet=row["outlet"],
        title=row["title"],
        description=row["description"] or "",
        published=from_iso(row["published"]),
        language=row["language"],
        guid=row["guid"],
        score=row["score"] or 0.0,
        topics=tuple(json.loads(row["topics"] or "[]")),
        region=row["region"],
        story_id=row["story_id"],
        body=row.get("body") or "",
    )


def recent_articles(db: Database, since: datetime) -> list[Article]:
    """Articles published since ``since``, oldest first."""
    sql = "select * from articles where published >= ? order by published"
    return [article_from_row(r) for r in db.query(sql, [iso(since)])]


def save_stories(
    db: Database, stories: Iterable[Story], members: dict[str, list[str]], now: datetime
) -> None:
    """Write stories and point their articles at them, in one transaction."""
    with write_transaction(db):
        for story in stories:
            existing = db.execute(
                "select first_seen from stories where id = ?", [story.id]
            ).fetchone()
            db["stories"].upsert(
                {
                    "id": story.id,
                    "headline": story.headline,
                    "summary": story.summary,
                    "region": story.region,
                    "topics": json.dumps(list(story.topics)),
                    "score": story.score,
                    "first_seen": existing[0] if existing else iso(now),
                    "updated_at": iso(now),
                    "outlet_count": len({s.outlet for s in story.sources}),
                    "fingerprint": story_fingerprint(story),
                },
                pk="id",
            )
            urls = members.get(story.id, [])
            for start in range(0, len(urls), CHUNK):
                chunk = urls[start : start + CHUNK]
                db.execute(
                    f"update articles set story_id = ? where url in ({','.join('?' * len(chunk))})",
                    [story.id, *chunk],
                )


def urls_with_text(db: Database, urls: Sequence[str]) -> set[str]:
    """Those of ``urls`` whose article text (FULL_TEXT) is already stored."""
    found: set[str] = set()
    for start in range(0, len(urls), CHUNK):
        chunk = list(urls[start : start + CHUNK])
        found.update(
            r[0]
            for r in db.execute(
                f"select url from articles where url in ({','.join('?' * len(chunk))}) "
                "and body is not null and body != ''",
                chunk,
            )
        )
    return found


def save_text(db: Database, url: str, text: str) -> None:
    """Store the text fetched for an article (FULL_TEXT)."""
    db.execute("update articles set body = ? where url = ?", [text, url])


def story_fingerprint(story: Story) -> str:
    """What makes a story 'new facts': its set of outlets."""
    return outlets_fingerprint(s.outlet for s in story.sources)


def outlets_fingerprint(outlets: Iterable[str]) -> str:
    """A set of outlet names as stored: a sorted JSON list (a name may hold a comma)."""
    return json.dumps(sorted(set(outlets)), ensure_ascii=False)


def fingerprint_outlets(fingerprint: str) -> set[str]:
    """The outlet names a stored fingerprint holds; earlier releases joined them with commas."""
    if fingerprint.startswith("["):
        try:
            names = json.loads(fingerprint)
        except ValueError:
            names = None
        if isinstance(names, list):
            return {str(n) for n in names}
    return {o for o in fingerprint.split(",") if o}


def story_assignments(db: Database, since: datetime) -> dict[str, str]:
    """Article URL -> story id for articles already clustered, published since ``since``."""
    return {
        r["url"]: r["story_id"]
        for r in db.query(
            "select url, story_id from articles where story_id is not null and published >= ?",
            [iso(since)],
        )
    }


def story_to_dict(story: Story) -> dict:
    """One story as the JSON-ready dictionary documented in the README."""
    return {
        "id": story.id,
        "headline": story.headline,
        "summary": story.summary,
        "region": story.region,
        "topics": list(story.topics),
        "score": round(story.score, 3),
        "is_update": story.is_update,
        "sources": [
            {
                "outlet": src.outlet,
                "title": src.title,
                "url": src.url,
                "published": iso(src.published),
            }
            for src in story.sources
        ],
        "other_reports": [{"outlet": o, "url": u} for o, u in story.other_reports],
    }


def story_from_dict(data: dict) -> Story:
    """Rebuild a Story from :func:`story_to_dict` output."""
    return Story(
        id=data["id"],
        headline=data["headline"],
        summary=data["summary"],
        region=data["region"],
        topics=tuple(data["topics"]),
        score=data["score"],
        is_update=data.get("is_update", False),
        sources=tuple(
            Source(src["outlet"], src["title"], src["url"], from_iso(src["published"]))
            for src in data["sources"]
        ),
        other_reports=tuple((r["outlet"], r["url"]) for r in data.get("other_reports", ())),
    )


def undated_feeds_articles(db: Database, since: datetime) -> list[dict]:
    """url, feed_url, published and first_seen of every article of the feeds that gave an
    undated item (stored with published == first_seen) since ``since``."""
    return list(
        db.query(
            "select url, feed_url, published, first_seen from articles where feed_url in "
            "(select feed_url from articles where published = first_seen and published >= ?)",
            [iso(since)],
        )
    )


def brief_to_dict(brief: Brief) -> dict:
    """The brief as the JSON-ready dictionary documented in the README."""
    return {
        "generated_at": iso(brief.generated_at),
        "window_hours": brief.window_hours,
        "stories": [story_to_dict(s) for s in brief.stories],
    }


def brief_from_dict(data: dict) -> Brief:
    """Rebuild a Brief from :func:`brief_to_dict` output."""
    return Brief(
        generated_at=from_iso(data["generated_at"]),
        window_hours=data["window_hours"],
        stories=tuple(story_from_dict(s) for s in data["stories"]),
    )


def save_brief(db: Database, brief: Brief) -> int:
    """Store a built brief; return its id."""
    return (
        db["briefs"]
        .insert(
            {
                "generated_at": iso(brief.generated_at),
                "window_hours": brief.window_hours,
                "payload": json.dumps(brief_to_dict(brief)),
            }
        )
        .last_pk
    )


def latest_brief(db: Database) -> tuple[int, Brief] | None:
    """The most recently built brief and its id, if any."""
    row = db.execute("select id, payload from briefs order by id desc limit 1").fetchone()
    if row is None:
        return None
    return row[0], brief_from_dict(json.loads(row[1]))


# Marks a stored brief built while no feed answered (brief_from_dict ignores the key).
_NO_FEED_ANSWERED = "$.no_feed_answered"


def mark_no_feed_answered(db: Database, brief_id: int) -> None:
    """Mark a stored brief as built in a round where no feed answered: never a good brief."""
    with db.conn:
        db.execute(
            "update briefs set payload = json_set(payload, ?, 1) where id = ?",
            [_NO_FEED_ANSWERED, brief_id],
        )


def no_feed_answered(db: Database, brief_id: int) -> bool:
    """Whether the stored brief was built in a round where no feed answered."""
    query = "select json_extract(payload, ?) from briefs where id = ?"
    row = db.execute(query, [_NO_FEED_ANSWERED, brief_id]).fetchone()
    return bool(row and row[0])


def prune(db: Database, now: datetime, keep: timedelta = timedelta(days=30)) -> dict[str, int]:
    """Delete what no brief or delivery can need any more, so the file stays small for years."""
    cutoff = iso(now - keep)
    week = iso(now - timedelta(days=7))
    statements = {
        "briefs": (
            "delete from briefs where generated_at < ? and id != (select max(id) from briefs)",
            [week],
        ),
        # An article a feed still carries stays however old: pruned, it would come back at the
        # next fetch as a new (and, if undated, fresh) article and be sent again.
        "articles": (
            "delete from articles where published < ? and coalesce(last_seen, first_seen) < ?",
            [cutoff, cutoff],
        ),
        "stories": (
            "delete from stories where id not in (select story_id from articles where story_id is not null)",
            [],
        ),
        "watch_matches": ("delete from watch_matches where found_at < ?", [cutoff]),
        "watch_articles": (
            "delete from watch_articles where url not in (select url from articles)",
            [],
        ),
        "watch_stories": (
            "delete from watch_stories where id not in (select story_id from watch_articles)",
            [],
        ),
        # What a chat was shown is kept as long as the article or story still exists.
        "sent_stories": (
            "delete from sent_stories where sent_at < ? and story_id not in (select id from stories)",
            [cutoff],
        ),
        "sent_articles": (
            "delete from sent_articles where sent_at < ? and url not in (select url from articles)",
            [cutoff],
        ),
        # Only finished ones: pending and held ('held' alerts wait for their chat's quiet hours
        # to end, however old their due time) are kept. Named, not "not in (pending, held)", so
        # the (status, due_at) index finds them.
        "deliveries": (
            "delete from deliveries where status in ('sent', 'failed', 'cancelled') and due_at < ?",
            [cutoff],
        ),
        # One row per delivery check that sent something; /stats and status read the newest.
        "broadcasts": (
            "delete from broadcasts where started_at < ? and id != (select max(id) from broadcasts)",
            [cutoff],
        ),
        "contents": (
            "delete from contents where created_at < ? and key not in (select content_key from deliveries)",
            [week],
        ),
    }
    removed = {}
    with db.atomic():
        for table, (sql, params) in statements.items():
            removed[table] = db.execute(sql, params).rowcount
    return removed
