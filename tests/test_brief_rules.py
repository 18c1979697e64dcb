"""The editorial rules of issue #10 section 3, each on a small real-looking case.

Stories are single events; a summary leads with the headline article and quotes only linked
articles; a date in the URL beats "first seen"; undated items a feed has always carried are not
news; features written with war words weigh less; the number of outlets leads the ranking.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.models import Article, FeedSpec
from bot.news.fetch import FetchResult
from bot.news.parse import parse_feed
from bot.news.pipeline import build_brief, ingest, make_stories, score
from bot.news.relevance import score_article
from bot.news.staleness import url_date
from bot.storage.db import open_db

NOW = datetime(2026, 8, 18, 20, 0, tzinfo=UTC)


def _article(outlet: str, slug: str, title: str, description: str, hours_ago: float) -> Article:
    article = Article(
        url=f"https://{outlet.lower().replace(' ', '')}.example/{slug}",
        feed_url=f"https://{outlet.lower().replace(' ', '')}.example/rss",
        outlet=outlet,
        title=title,
        description=description,
        published=NOW - timedelta(hours=hours_ago),
    )
    score([article], 1.0)
    return article


# One war, three happenings: a prisoner exchange, a drone strike, a leader's comment.
SWAP = [
    _article(
        "BBC News",
        "swap",
        "Russia and Ukraine swap 150 prisoners of war each in UAE-brokered exchange",
        "Russia and Ukraine exchanged 150 prisoners of war each on Tuesday, in a swap mediated "
        "by the United Arab Emirates, Ukraine's coordination headquarters said.",
        5,
    ),
    _article(
        "Al Jazeera",
        "swap",
        "Ukraine and Russia exchange 150 prisoners of war in UAE-mediated swap",
        "The prisoner exchange, brokered by the UAE, brought home 150 Ukrainian soldiers held "
        "in Russian captivity, officials said.",
        4,
    ),
    _article(
        "DW",
        "swap",
        "Russia, Ukraine carry out prisoner swap mediated by UAE",
        "Both sides released 150 prisoners of war in the exchange, the Russian Defence Ministry "
        "said on Tuesday.",
        3,
    ),
]
STRIKE = [
    _article(
        "France 24",
        "odesa",
        "Russian drone strike on Odesa port kills three, Ukraine says",
        "A Russian drone strike hit grain terminals at Odesa's port overnight, killing three "
        "workers, the regional governor said.",
        6,
    ),
    _article(
        "The Guardian",
        "odesa",
        "Three killed as Russian drones hit Odesa port terminals",
        "Russian drones struck grain terminals in the Black Sea port of Odesa overnight, "
        "killing three people and starting fires, Ukrainian officials said.",
        5,
    ),
]
COMMENT = [
    _article(
        "Bloomberg",
        "merz",
        "Merz says Ukraine war will not end soon as Germany boosts defence spending",
        "German Chancellor Friedrich Merz said the war in Ukraine would not end soon and "
        "defended plans to raise Germany's defence budget.",
        7,
    ),
]


def _events(stories: list, members: dict[str, list[str]]) -> list[set[str]]:
    slug = {a.url: a.url.rsplit("/", 1)[1] for a in SWAP + STRIKE + COMMENT}
    return [{slug[u] for u in members[s.id]} for s in stories]


def test_a_war_is_a_theme_not_one_story() -> None:
    stories, members = make_stories(SWAP + STRIKE + COMMENT, {}, NOW)
    events = _events(stories, members)
    assert all(len(e) == 1 for e in events), events  # no story mixes two happenings
    assert sorted(min(e) for e in events) == ["merz", "odesa", "swap"]  # and none is split


def test_outlet_count_leads_the_ranking() -> None:
    single = _article(
        "Long War Journal",
        "isis",
        "Suicide bomber kills 20 in attack on Mogadishu military base, al-Shabaab claims",
        "Al-Shabaab claimed the suicide bombing at the army base in Mogadishu.",
        1,
    )
    assert single.score > max(a.score for a in SWAP)  # the lone report scores higher...
    stories, members = make_stories(SWAP + [single], {}, NOW)
    assert [s.headline for s in stories][1] == single.title  # ...yet three outlets rank first
    assert len({s.outlet for s in stories[0].sources}) == 3


def test_summary_leads_with_the_headline_article_and_quotes_linked_articles_only() -> None:
    # The BBC's second article in the story is not the one listed as its source: none of its
    # sentences may appear, even though it is on the same event.
    bbc_live = _article(
        "BBC News",
        "swap-live",
        "Ukraine war live: prisoners of war return home after UAE-brokered swap",
        "Crowds gathered at the border as buses carrying the freed soldiers arrived from Russia "
        "under the UAE-brokered exchange.",
        2,
    )
    stories, _ = make_stories(SWAP + [bbc_live], {}, NOW)
    story = stories[0]
    lead = next(a for a in SWAP + [bbc_live] if a.url == story.sources[0].url)
    assert story.headline == lead.title
    cited = {s.url for s in story.sources}
    assert bbc_live.url not in cited or all(
        a.url not in cited for a in SWAP if a.outlet == "BBC News"
    )
    uncited = [a for a in SWAP + [bbc_live] if a.url not in cited]
    parts = re.split(r"(?:^|\s)([A-Z][\w ]+?) (?:reports|adds|quotes): ", story.summary)[1:]
    pairs = list(zip(parts[::2], parts[1::2], strict=True))
    assert pairs[0][0] == lead.outlet  # the headline's outlet speaks first...
    assert (
        pairs[0][1].split(". ")[0].rstrip(".") in lead.description
    )  # ...from the headline article
    by_outlet = {s.outlet: s.url for s in story.sources}
    texts = {a.url: a.description for a in SWAP + [bbc_live]}
    for outlet, text in pairs:
        for sentence in re.split(r"(?<=\.)\s+", text.strip()):
            assert sentence.rstrip(".") in texts[by_outlet[outlet]], (outlet, sentence)
            assert all(sentence.rstrip(".") not in a.description for a in uncited)
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", story.summary)) <= 3
    assert len(story.summary) <= 600


def _rss(items: list[tuple[str, str, str | None]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        + (f"<pubDate>{date}</pubDate>" if date else "")
        + f"<description>{title}. Officials gave details.</description></item>"
        for title, link, date in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.example/'
        f"</link><language>en</language>{entries}</channel></rss>"
    ).encode()


def test_a_date_in_the_url_outside_the_window_beats_first_seen_and_a_fresh_pubdate() -> None:
    fresh = NOW.strftime("%a, %d %b %Y %H:%M:%S +0000")
    body = _rss(
        [
            ("Militants attack army convoy in Kidal", "https://x.example/2019/03/12/kidal", None),
            ("Militants ambush army convoy near Gao", "https://x.example/2019/mar/14/gao", fresh),
            ("Militants attack army post in Menaka", "https://x.example/2026/08/18/menaka", None),
        ]
    )
    parsed = parse_feed(body, FeedSpec("X", "https://x.example/rss"), NOW, timedelta(hours=36))
    assert [a.url.rsplit("/", 1)[1] for a in parsed.articles] == ["menaka"]
    assert parsed.skipped_old == 2
    assert url_date("https://x.example/news/20190312/kidal") == datetime(
        2019, 3, 12, 23, 59, 59, tzinfo=UTC
    )
    assert url_date("https://x.example/world-58612345") is None


def test_undated_items_already_in_a_feeds_first_fetch_are_not_news(tmp_path: Path) -> None:
    settings = Settings(database_path=tmp_path / "b.db")
    db = open_db(settings.database_path)
    spec = FeedSpec("Undated Daily", "https://undated.example/rss")
    old = [
        ("Seven years on, the siege of Marawi in pictures of the war", "https://u.example/a", None),
        ("Islamic State militants seize Marawi after fierce fighting", "https://u.example/b", None),
    ]
    ingest(db, FetchResult(spec, status=200, body=_rss(old)), settings, NOW)
    assert build_brief(db, settings, NOW).stories == ()  # carried since before we looked
    new = ("Suicide bombers attack army base in Marawi, killing 12", "https://u.example/c", None)
    later = NOW + timedelta(hours=1)
    ingest(db, FetchResult(spec, status=200, body=_rss([new, *old])), settings, later)
    brief = build_brief(db, settings, later)
    assert [s.headline for s in brief.stories] == [new[0]]
    db.close()


def test_features_with_war_words_weigh_less_than_news_of_the_war() -> None:
    feature = score_article(
        "The protest songs of Ukraine's war: how musicians answered the invasion"
    )
    anniversary = score_article("Afghans mark five years of Taliban rule")
    news = score_article("Russian drone strike on Kyiv kills 12")
    assert news.score >= 1.0
    assert feature.score < 1.0 and any("[framing]" in r for r in feature.reasons), feature
    assert anniversary.score < score_article("Taliban seize Afghan border crossing").score
    assert any("[framing]" in r for r in anniversary.reasons)
