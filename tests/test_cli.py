"""The command line as a user types it: feeds table, OPML import and export, bad settings."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from botharness import cli, free_port
from feed_server import FeedServer

from bot.storage.db import MIGRATIONS, open_db


def test_feeds_table_shows_health_after_a_fetch(feed_server: FeedServer, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        feed_server.feeds_toml()
        + f'\n[[feeds]]\nname = "Blocked Site"\nurl = "{feed_server.hostile_url("blocked.html")}"\n'
    )
    env = {"DATABASE_PATH": str(tmp_path / "t.db"), "FEEDS_FILE": str(feeds)}
    fetched = cli("fetch", **env)
    assert fetched.returncode == 0
    assert "[13/13]" in fetched.stderr  # the progress display, one line per feed
    assert "12 fetched, 0 unchanged, 1 failed" in fetched.stdout
    table = cli("feeds", **env).stdout.splitlines()
    assert table[0].split() == ["Feed", "Status", "Last", "success", "Items", "Last", "error"]
    blocked = next(line for line in table if line.startswith("Blocked Site"))
    assert (
        "failing" in blocked
        and "got an HTML page where a feed was expected (block page or paywall?) (1x)" in blocked
    )
    bbc = next(line for line in table if line.startswith("BBC World"))
    assert " ok " in bbc


def test_opml_import_then_export_round_trips(tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline text="World">'
        '<outline text="BBC" xmlUrl="http://feeds.bbci.co.uk/news/world/rss.xml"/>'
        '<outline title="DW" xmlUrl="https://rss.dw.com/rdf/rss-en-world" language="en"/></outline></body></opml>'
    )
    out = tmp_path / "feeds.toml"
    imported = cli("feeds", "import", str(opml), "-o", str(out))
    assert imported.returncode == 0 and "Wrote 2 feeds" in imported.stderr
    assert out.read_text() == (
        '[[feeds]]\nname = "BBC"\nurl = "http://feeds.bbci.co.uk/news/world/rss.xml"\n\n'
        '[[feeds]]\nname = "DW"\nurl = "https://rss.dw.com/rdf/rss-en-world"\nlanguage = "en"\n'
    )
    printed = cli("feeds", "import", str(opml))  # no -o: the TOML goes to stdout
    assert printed.returncode == 0 and printed.stdout.strip() == out.read_text().strip()
    exported = cli("feeds", "export", FEEDS_FILE=str(out))
    assert 'xmlUrl="https://rss.dw.com/rdf/rss-en-world"' in exported.stdout
    assert exported.stdout.count("<outline") == 2


def test_bad_settings_and_files_get_clear_errors(tmp_path: Path) -> None:
    bad = cli("status", DEFAULT_TIMEZONE="Mars/Olympus", DATABASE_PATH=str(tmp_path / "t.db"))
    assert bad.returncode == 1
    assert "DEFAULT_TIMEZONE='Mars/Olympus': not an IANA time zone name" in bad.stderr
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body>")
    result = cli("feeds", "import", str(broken))
    assert result.returncode == 1 and "not a valid OPML file" in result.stderr
    feeds = tmp_path / "feeds.toml"
    feeds.write_text("[[feeds]]\nname = 'X'\n")
    result = cli("digest", "--feeds", str(feeds), DATABASE_PATH=str(tmp_path / "t.db"))
    assert result.returncode == 1 and "'url' must be an http(s) URL" in result.stderr


def test_failing_feed_backs_off_until_forced(feed_server: FeedServer, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        f'[[feeds]]\nname = "Blocked"\nurl = "{feed_server.hostile_url("blocked.html")}"\n'
    )
    env = {"DATABASE_PATH": str(tmp_path / "t.db"), "FEEDS_FILE": str(feeds)}
    assert "0 fetched, 0 unchanged, 1 failed, 0 backing off" in cli("fetch", **env).stdout
    assert "0 fetched, 0 unchanged, 0 failed, 1 backing off" in cli("fetch", **env).stdout
    assert (
        "0 fetched, 0 unchanged, 1 failed, 0 backing off" in cli("fetch", "--force", **env).stdout
    )


def test_digest_html_prints_messages_telegram_accepts(feeds_file: Path, tmp_path: Path) -> None:
    from fake_telegram import parse_telegram_html

    result = cli(
        "digest", "--feeds", str(feeds_file), "--html", DATABASE_PATH=str(tmp_path / "t.db")
    )
    assert result.returncode == 0, result.stderr
    messages = result.stdout.strip().split("\n\n-----\n\n")
    assert messages[0].startswith("🛡 <b>Security Brief</b>")
    for message in messages:
        assert len(parse_telegram_html(message)) <= 4096


def test_digest_no_fetch_builds_from_stored_articles_only(
    feed_server: FeedServer, feeds_file: Path, tmp_path: Path
) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "t.db"), "FEEDS_FILE": str(feeds_file)}
    fetched = cli("digest", "--json", **env)
    assert fetched.returncode == 0, fetched.stderr
    feed_server.requests.clear()
    stored = cli("digest", "--no-fetch", "--json", **env)
    assert stored.returncode == 0, stored.stderr
    assert feed_server.requests == []  # not one feed was asked
    headlines = [s["headline"] for s in json.loads(stored.stdout)["stories"]]
    assert headlines and headlines == [s["headline"] for s in json.loads(fetched.stdout)["stories"]]


def test_digest_fetches_only_when_its_brief_is_older_than_the_fetch_interval(
    feed_server: FeedServer, feeds_file: Path, tmp_path: Path
) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "t.db"), "FEEDS_FILE": str(feeds_file)}
    feed_server.requests.clear()
    first = cli("digest", "--json", **env)  # no brief yet: stale, so it fetches
    assert first.returncode == 0, first.stderr
    assert feed_server.requests
    feed_server.requests.clear()
    second = cli("digest", "--json", **env)  # seconds old, within FETCH_INTERVAL_MINUTES
    assert second.returncode == 0, second.stderr
    assert feed_server.requests == []
    assert json.loads(second.stdout)["stories"] == json.loads(first.stdout)["stories"]


def _one_line_error(result: object) -> str:
    """The error a command ended with, after checking it is one line and no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert "Traceback" not in err and err.startswith("Error: ") and "\n" not in err, err
    return err


def test_unusable_files_and_paths_end_in_one_line(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("TITLE = 'Caf\xe9'\n".encode("latin-1"))
    (tmp_path / "file").write_text("not a folder")
    under_a_file = str(tmp_path / "file" / "bot.db")
    cases = {
        "settings file": (cli("--env-file", str(latin1), "status"), "is not UTF-8 text"),
        "feeds file": (
            cli("digest", FEEDS_FILE=str(latin1), DATABASE_PATH=str(tmp_path / "d.db")),
            "is not UTF-8 text",
        ),
        "lexicon file": (cli("status", LEXICON_FILE=str(latin1)), "LEXICON_FILE"),
        "database under a file": (cli("digest", "--no-fetch", DATABASE_PATH=under_a_file), "file"),
        "fetch into it": (cli("fetch", DATABASE_PATH=under_a_file), "DATABASE_PATH"),
    }
    for name, (result, expected) in cases.items():
        assert expected in _one_line_error(result), name


def test_a_bot_that_cannot_reach_telegram_says_so_in_one_line(tmp_path: Path) -> None:
    result = cli(
        "run",
        TELEGRAM_BOT_TOKEN="123456:" + "A" * 35,
        TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
        DATABASE_PATH=str(tmp_path / "b.db"),
    )
    assert result.returncode == 1
    assert "Could not start: the Bot API at" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_a_database_from_a_newer_release_is_refused_not_written(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_db(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            f"insert into {MIGRATIONS.migrations_table} (migration_set, name, applied_at) "
            "values ('securitybrief', '0099_from_the_future', '2027-01-01')"
        )
    before = path.read_bytes()
    error = _one_line_error(cli("digest", "--no-fetch", DATABASE_PATH=str(path)))
    assert "newer Security Brief" in error and "0099_from_the_future" in error
    assert path.read_bytes() == before  # nothing migrated or written
