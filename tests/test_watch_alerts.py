"""Watchlist alerts end to end on a real capture, through the fake Bot API, over fetch rounds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from botharness import wait_until
from capture_server import capture_bot, captured_at, links
from fake_telegram import FakeTelegram

from bot.config import Settings
from bot.storage.news_store import iso
from bot.telegram.broadcast import deliver_due

ALERTED, QUIET = 7001, 7002
CAPTURE = "lede-2026-08-15"
# Named in three outlets' reports between 10 and 5 hours before the capture, in none before,
# and by one more outlet after: a name that appears in a later round, then grows.
TERM = "Sinema"


def _alerts(fake: FakeTelegram, chat_id: int) -> list[dict]:
    return [m for m in fake.messages_to(chat_id) if m["parsed_text"].startswith("🔔 Watchlist")]


def _matched_stories(db) -> set[str]:  # noqa: ANN001
    return {
        r[0]
        for r in db.execute(
            "select distinct story_id from watch_articles where url in "
            "(select url from watch_matches where key = ?)",
            [TERM.lower()],
        )
    }


def _dailies(fake: FakeTelegram, chat_id: int) -> list[dict]:
    return [m for m in fake.messages_to(chat_id) if "Your daily Security Brief" in m["parsed_text"]]


async def test_alert_once_in_the_round_it_breaks_then_an_update_in_the_brief(
    fake: FakeTelegram, settings: Settings, tmp_path: Path
) -> None:
    end = captured_at(CAPTURE)
    for chat_id in (ALERTED, QUIET):
        fake.add_private_chat(chat_id)
    start = end - timedelta(hours=10)
    async with capture_bot(CAPTURE, fake, settings, tmp_path, start) as (app, server, clock):
        svc = app.bot_data.services

        async def fetch_round(hours_before_end: int) -> None:
            clock.now = server.until = end - timedelta(hours=hours_before_end)
            await svc.newsroom.current(force=True)
            await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)

        for chat_id in (ALERTED, QUIET):
            fake.send_text(chat_id, f"/alert {TERM}")
            await fake.wait_for_messages(chat_id, 1)
        # The capture ends at 23:35 UTC: quiet from 18:00 covers the later rounds.
        fake.send_text(QUIET, "/quiet 18:00-00:00")
        await fake.wait_for_messages(QUIET, 2)

        await fetch_round(10)  # the name is nowhere yet
        assert _alerts(fake, ALERTED) == []

        await fetch_round(5)  # first reports
        stories = _matched_stories(svc.db)
        alerts = await wait_until(
            lambda: len(_alerts(fake, ALERTED)) >= len(stories) > 0, what="the alerts"
        )
        alerts = _alerts(fake, ALERTED)
        assert len(alerts) == len(stories), [a["parsed_text"] for a in alerts]
        for alert in alerts:
            text = alert["parsed_text"]
            heading, _headline, sentence, cited = text.split("\n")
            outlets = cited.removeprefix("Sources: ").split(", ")
            # The term, the headline, one sentence attributed to a cited outlet, the links.
            assert heading == f"🔔 Watchlist: “{TERM}”" and links(alert)
            assert any(sentence.startswith(f"{o} ") for o in outlets), sentence
        assert _alerts(fake, QUIET) == [], "quiet hours hold the alert"

        await fetch_round(0)  # one more outlet reports it
        await fetch_round(0)
        assert len(_alerts(fake, ALERTED)) == len(alerts), "later reports never alert again"
        assert _alerts(fake, QUIET) == []

        # The daily brief: the alerted chat gets the story only as an update with the new
        # outlet's report; the quiet chat finds it at the top of its brief.
        for chat_id in (ALERTED, QUIET):
            svc.db.execute(
                "update chats set subscribed = 1, next_due = ? where chat_id = ?",
                [iso(clock.now - timedelta(minutes=1)), chat_id],
            )
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        quiet_brief = await wait_until(lambda: _dailies(fake, QUIET), what="quiet brief")
        text = quiet_brief[0]["parsed_text"]
        assert text.index("On your watchlist") < text.index("1. ")
        first_story = text.split("1. ", 1)[1].split("\n2. ", 1)[0]
        assert f"Matched: “{TERM}”" in first_story and "Update" not in first_story

        brief = await wait_until(lambda: _dailies(fake, ALERTED), what="alerted chat's brief")
        text = "\n".join(m["parsed_text"] for m in brief)
        alert_links = {u for a in alerts for u in links(a)}
        # Newsweek joined after the alert: the story returns once, as an update citing it alone.
        watch_part = text.split("On your watchlist", 1)[1].split("Top stories", 1)[0]
        assert watch_part.count("Update ·") == watch_part.count("Matched:") == 1
        assert "New since you saw it: Newsweek now reports it." in watch_part
        assert not {u for m in brief for u in links(m)} & alert_links
        # The quiet chat's alerts were held for the end of its quiet hours; its brief showed
        # the story, so when they end the held alerts are dropped, never sent.
        clock.now = clock.now.replace(hour=0, minute=1) + timedelta(days=1)
        await deliver_due(svc.db, svc.newsroom, app.bot, svc.settings, clock)
        assert _alerts(fake, QUIET) == []
        rows = svc.db.execute(
            "select chat_id, status from deliveries where local_date like 'alert:%'"
        ).fetchall()
        assert sorted(rows) == [(ALERTED, "sent")] * len(alerts)
