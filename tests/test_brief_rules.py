"""The editorial rules of issue #10 section 3, each on a small real-looking case.

Stories are single events; a summary leads with the headline article and quotes only linked
articles; a date in the URL beats "first seen"; undated items a feed has always carried are not
news; features written with war words weigh less; the number of outlets leads the ranking.
Then the brief's bar: plain reports of a scoring event join its story (and carried undated items
join current stories), a single-outlet story must clearly be security news in its own headline,
and court cases, press news and courts alone weigh less.
"""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.models import Article, FeedSpec
from bot.news import pipeline
from bot.news.cluster import is_roundup
from bot.news.fetch import FetchResult
from bot.news.parse import parse_feed
from bot.news.pipeline import build_brief, ingest, make_stories, score
from bot.news.relevance import score_article
from bot.news.render import LINKED_SOURCES
from bot.news.staleness import url_date
from bot.news.summarise import headline_only
from bot.storage import news_store
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


# One conflict, two happenings on one day, and a live page that lists both.
AID = [
    _article(
        "Al Jazeera",
        "aid",
        "Troops fire on crowd at Gaza aid site, killing 12 Palestinians waiting for food",
        "Witnesses said Israeli troops opened fire on crowds gathered at a food distribution "
        "point in Rafah on Monday, killing 12 people.",
        9,
    ),
    _article(
        "BBC News",
        "aid",
        "At least 12 killed near Rafah food distribution point, Gaza health officials say",
        "Gaza's health ministry said Israeli forces shot at people queuing for aid near Rafah. "
        "The Israeli military said troops fired warning shots.",
        8,
    ),
    _article(
        "France 24",
        "aid",
        "Twelve Palestinians shot dead at Gaza aid distribution site",
        "Palestinians queuing for food at an aid site in Rafah were shot dead by Israeli "
        "troops, according to Gaza's civil defence.",
        7.5,
    ),
]
LIVE = _article(
    "The Guardian",
    "live",
    "Middle East live: 12 killed at Rafah aid site; Israeli strikes hit southern Lebanon",
    "Israeli fire killed 12 people waiting for aid in Rafah, Gaza officials said, as Israeli "
    "airstrikes hit villages in southern Lebanon and Hezbollah fired rockets at northern Israel.",
    6,
)
LEBANON = [
    _article(
        "DW",
        "lebanon",
        "Israeli airstrikes on villages in southern Lebanon kill three",
        "Israeli warplanes struck villages near Nabatieh in southern Lebanon, killing three "
        "people, after Hezbollah fired rockets at northern Israel.",
        5,
    ),
    _article(
        "NPR",
        "lebanon",
        "Israel strikes Hezbollah targets in southern Lebanon after rocket fire",
        "The Israeli military said it hit Hezbollah launchers in southern Lebanon after rockets "
        "were fired at northern Israel; Lebanese officials said three people were killed.",
        4,
    ),
]


def test_a_conflict_is_a_theme_not_one_story() -> None:
    stories, members = make_stories(AID + [LIVE] + LEBANON, {}, NOW)
    happenings = [{u.rsplit("/", 1)[1] for u in members[s.id]} - {"live"} for s in stories]
    assert happenings == [{"aid"}, {"lebanon"}], happenings  # two events, neither split
    assert stories[0].headline != LIVE.title  # a live page lists events; it heads none


def test_a_headline_joining_two_happenings_heads_neither() -> None:
    both = _article(
        "CBS News",
        "both",
        "Israeli troops kill 12 at Rafah aid site as strikes hit southern Lebanon villages",
        "Israeli fire killed 12 Palestinians waiting for food in Rafah, Gaza officials said.",
        6,
    )
    stories, members = make_stories(AID + [both] + LEBANON, {}, NOW)
    heads = {s.headline for s in stories}
    assert both.title not in heads  # it is close to both events, so it would head a mix of them
    assert AID[0].title in heads or AID[1].title in heads or AID[2].title in heads
    aid = next(s for s in stories if "aid" in {u.rsplit("/", 1)[1] for u in members[s.id]})
    assert {u.rsplit("/", 1)[1] for u in members[aid.id]} <= {"aid", "both"}


def test_two_events_cut_from_one_cluster_never_share_an_id() -> None:
    # The cluster is named after its first report, which here turns out to be the other event.
    rockets = _article(
        "Outlet A",
        "rockets",
        "Hezbollah fires rockets at northern Israel",
        "Hezbollah fired dozens of rockets at northern Israel on Saturday, the military said.",
        10,
    )
    strikes = [
        _article(
            f"Outlet {n}",
            "strikes",
            title,
            "Israeli strikes killed five Hezbollah fighters in southern Lebanon, the group said.",
            9 - n,
        )
        for n, title in enumerate(
            (
                "Israeli strikes kill 5 Hezbollah fighters in southern Lebanon",
                "Israeli strikes kill five Hezbollah fighters in southern Lebanon",
                "Israel strikes southern Lebanon, killing 5 Hezbollah fighters",
            )
        )
    ]
    stories, members = make_stories([rockets, *strikes], {}, NOW)
    assert len(stories) == 2 and len({s.id for s in stories}) == 2
    events = sorted(sorted(u.rsplit("/", 1)[1] for u in members[s.id]) for s in stories)
    assert events == [["rockets"], ["strikes", "strikes", "strikes"]]


def test_story_ids_stay_unique_over_a_day_of_hourly_rounds() -> None:
    # Short wire items about strikes on the same kinds of targets in four cities, grouped each
    # hour with the earlier rounds' assignments, as the bot does. An id an earlier round gave
    # to a story without its namesake report must not be minted again for another event.
    rng = random.Random(7)
    start = NOW - timedelta(hours=24)
    articles = []
    for k in range(60):
        place = rng.choice(["Kharkiv", "Odesa", "Gaza", "Beirut"])
        verb = rng.choice(["drone strike hits", "missile attack kills", "shelling damages"])
        target = rng.choice(["power plant", "port", "hospital"])
        published = start + timedelta(minutes=rng.randint(0, 24 * 60))
        articles.append(
            Article(
                f"https://x{k}.test/{k}",
                "f",
                rng.choice([f"Outlet{i}" for i in range(8)]),
                f"{verb.capitalize()} {target} in {place}",
                f"A {verb} a {target} in {place}, officials said on Monday, with several "
                "people killed and others wounded.",
                published,
                score=3.0 + rng.random(),
            )
        )
    assignments: dict[str, str] = {}
    for hour in range(1, 25):
        now = start + timedelta(hours=hour)
        window = [a for a in articles if a.published <= now]
        stories, members = make_stories(window, assignments, now)
        ids = [s.id for s in stories]
        assert len(ids) == len(set(ids)), f"hour {hour}: two stories share an id"
        assert sorted(u for urls in members.values() for u in urls) == sorted(a.url for a in window)
        assignments = {url: sid for sid, urls in members.items() for url in urls}


def test_a_story_id_stays_with_the_event_its_chats_were_sent() -> None:
    # Yesterday's story (its reports assigned to "s-known"), and a bigger event in the same
    # city today that the clustering first puts beside it: the id must not pass to that event,
    # or a chat that saw yesterday's story would get today's as an "update" (or not at all).
    known = [
        _article(
            outlet,
            "apartment",
            title,
            "Russian drones hit apartment blocks in Kharkiv overnight, killing 12 people.",
            23 - n,
        )
        for n, (outlet, title) in enumerate(
            (
                ("BBC World", "Russian drone strike kills 12 in Kharkiv apartment block"),
                ("DW", "Kharkiv: Russian drone attack on apartment blocks kills 12"),
            )
        )
    ]
    power = [
        _article(
            outlet,
            "power",
            title,
            "A Russian missile strike hit a power station in Kharkiv, cutting electricity to "
            "thousands, officials said.",
            2 + n / 10,
        )
        for n, (outlet, title) in enumerate(
            (
                ("BBC World", "Russian missile strike knocks out Kharkiv power station"),
                ("DW", "Kharkiv power station hit by Russian missiles, blackout follows"),
                (
                    "Al Jazeera",
                    "Russian missiles hit Kharkiv power station, thousands without power",
                ),
                ("France 24", "Kharkiv blackout after Russian missile strike on power station"),
            )
        )
    ]
    existing = {a.url: "s-known" for a in known}
    stories, members = make_stories([*known, *power], existing, NOW)
    by_id = {s.id: {u.rsplit("/", 1)[1] for u in members[s.id]} for s in stories}
    assert "apartment" in by_id["s-known"]
    assert all("power" not in slugs for sid, slugs in by_id.items() if sid == "s-known")


WARSHIPS = [
    _article(
        "NHK World",
        "okinawa",
        "Chinese warships sail near Okinawa as Japan scrambles patrol planes",
        "Japan said two Chinese destroyers passed between Okinawa and Miyako island, and it sent "
        "patrol aircraft to monitor them.",
        6,
    ),
    _article(
        "The Japan Times",
        "okinawa",
        "Japan tracks Chinese navy destroyers passing near Okinawa",
        "The Japanese defence ministry said two Chinese destroyers sailed between Okinawa and "
        "Miyako island on Monday.",
        5,
    ),
]


def test_outlet_count_leads_the_ranking() -> None:
    single = _article(
        "Long War Journal",
        "mogadishu",
        "Al-Shabaab suicide car bomb kills 20 soldiers at Mogadishu army base",
        "Al-Shabaab militants claimed the suicide bombing, in which a truck bomb rammed the gates "
        "before gunmen stormed the military base; the jihadist group said it targeted troops.",
        0.5,
    )
    assert single.score > 2 * max(a.score for a in WARSHIPS)  # the lone, fresher report...
    stories, _ = make_stories(WARSHIPS + [single], {}, NOW)
    assert [s.headline for s in stories][-1] == single.title  # ...ranks below two outlets


def test_summary_leads_with_the_headline_article_and_quotes_linked_articles_only() -> None:
    # The BBC's live page reports the same shooting, but the BBC source listed is its report:
    # nothing from the live page may appear, though its wording is the most central.
    bbc_live = _article(
        "BBC News",
        "aid-live",
        "Live: Gaza aid site shooting, Israeli fire kills 12 Palestinians waiting for food",
        "Israeli fire killed 12 Palestinians waiting for food at a Gaza aid site in Rafah, "
        "Gaza health officials said, as crowds gathered at the food distribution point.",
        8.5,
    )
    group = AID + [bbc_live]
    stories, _ = make_stories(group, {}, NOW)
    story = stories[0]
    lead = next(a for a in group if a.url == story.sources[0].url)
    assert story.headline == lead.title
    assert bbc_live.url not in {s.url for s in story.sources}
    cited = {s.outlet: s.url for s in story.sources}
    texts = {a.url: a.description for a in group}
    parts = re.split(r"(?:^|\s)([A-Z][\w ]+?) (?:reports|adds|quotes): ", story.summary)[1:]
    pairs = list(zip(parts[::2], parts[1::2], strict=True))
    assert pairs[0][0] == lead.outlet  # the headline's outlet speaks first, from its article
    assert pairs[0][1].split(". ")[0].rstrip(".") in lead.description
    for outlet, text in pairs:
        for sentence in re.split(r"(?<=\.)\s+", text.strip()):
            assert sentence.rstrip(".") in texts[cited[outlet]], (outlet, sentence)
    assert bbc_live.description.split(",")[0] not in story.summary
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", story.summary)) <= 3
    assert len(story.summary) <= 600


def test_a_summary_quotes_only_the_outlets_the_message_links() -> None:
    title = "Russian missile strike on Kharkiv apartment block kills 12"
    same = (
        "A Russian missile struck an apartment block in Kharkiv overnight, killing 12 people, "
        "Ukrainian officials said."
    )
    reports = [_article(f"Outlet {n}", "kharkiv", title, same, 2 + n / 60) for n in range(9)]
    # The tenth outlet adds a fact, but a story's message links only its first 8 outlets.
    extra = _article(
        "Outlet 9",
        "rescue",
        title,
        "Rescue workers in Kharkiv pulled survivors from the rubble of the apartment block "
        "after the missile strike, emergency services said.",
        1,
    )
    story = make_stories([*reports, extra], {}, NOW)[0][0]
    assert len(story.sources) == 10 and LINKED_SOURCES == 8
    linked = {s.outlet for s in story.sources[:LINKED_SOURCES]}
    quoted = set(re.findall(r"(Outlet \d) (?:reports|adds|quotes|says):", story.summary))
    assert quoted and quoted <= linked, (quoted, linked)
    assert "Rescue workers" not in story.summary


def test_a_summary_quotes_reports_not_photo_captions_questions_or_columns() -> None:
    caption = _article(
        "TIME",
        "aid",
        "Israeli fire kills 12 at Gaza aid site in Rafah",
        "Palestinians queue for food at a distribution point in Rafah, Gaza, on August 17, 2026. "
        "Twelve people waiting for aid were killed when Israeli troops opened fire, medics said.",
        8.5,
    )
    question = _article(
        "The Guardian",
        "aid",
        "Twelve killed as troops fire near Rafah aid site",
        "What happened at the Rafah aid site? Israeli troops fired on people queuing for food, "
        "killing 12, according to Gaza health officials.",
        8.2,
    )
    column = _article(
        "The Free Press",
        "aid",
        "Gaza aid site shooting: troops kill 12 in Rafah",
        "I thought of this reading about the 12 Palestinians killed by Israeli troops at the "
        "Rafah aid site. Medics said most of the dead were shot while queuing for food.",
        8.0,
    )
    stories, _ = make_stories([*AID, caption, question, column], {}, NOW)
    summary = stories[0].summary
    assert {"TIME", "The Guardian", "The Free Press"} <= {s.outlet for s in stories[0].sources}
    assert "2026" not in summary and "?" not in summary and "I thought" not in summary, summary


@pytest.mark.parametrize(
    ("outlet", "slug", "title", "description"),
    [
        # A headline-only item has no sentence to state the event with.
        (
            "CBS News",
            "aid-video",
            "Gaza aid site shooting: 12 Palestinians killed near Rafah food distribution point",
            "",
        ),
        # A video with a one-line caption is a clip to play, not a report to read.
        (
            "ABC News",
            "video/aid",
            "WATCH: Troops fire on crowd at Gaza aid site, killing 12 Palestinians near Rafah",
            "Israeli troops opened fire on crowds at a food distribution point in Rafah, killing 12.",
        ),
    ],
)
def test_a_headline_only_item_or_a_clip_gives_way_to_a_report_a_reader_can_read(
    outlet: str, slug: str, title: str, description: str
) -> None:
    # Each is the story's most central report; the headline and first link go to the
    # closest written report instead, and the item stays cited as its outlet's report.
    item = _article(outlet, slug, title, description, 8.8)
    stories, _ = make_stories([item, *AID], {}, NOW)
    story = stories[0]
    assert story.headline != item.title and story.headline in {a.title for a in AID}
    assert story.sources[0].url != item.url
    assert story.summary.startswith(f"{story.sources[0].outlet} reports: ")
    assert item.url in {s.url for s in story.sources}
    assert outlet in {s.outlet for s in story.sources}


def test_an_episode_listing_several_items_is_a_roundup() -> None:
    assert is_roundup("Trump declares economic warfare on Iran. And, SCOTUS to rule on ballroom")
    assert is_roundup("Gaza truce talks stall. Plus: what the primaries mean")
    assert is_roundup("First Thing: US aircraft carrier arrives to relieve USS Lincoln")
    assert not is_roundup('Trump says strait is "open." Shipping data appears to contradict him.')
    assert not is_roundup("U.S. and Israel strike Iran's nuclear sites")
    assert not is_roundup("U.S. And Israel Strike Iran's Nuclear Sites")


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


def _pubdate(hours_ago: float) -> str:
    return format_datetime(NOW - timedelta(hours=hours_ago))


def _fetched(outlet: str, items: list[tuple[str, str, str | None]]) -> FetchResult:
    """One fetch of ``outlet``'s RSS feed, holding ``items`` (title, link, pubDate)."""
    feed = f"https://{outlet.lower().replace(' ', '')}.example/rss"
    return FetchResult(FeedSpec(outlet, feed), 200, _rss(items))


def test_a_date_in_the_url_outside_the_window_beats_first_seen_and_a_fresh_pubdate() -> None:
    fresh = _pubdate(0)
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


def test_a_number_opening_a_slug_is_not_a_date() -> None:
    end_of = lambda y, m, d: datetime(y, m, d, 23, 59, 59, tzinfo=UTC)  # noqa: E731
    # Long War Journal files articles under /archives/YYYY/MM/: the "3" is three soldiers.
    lwj = "https://www.longwarjournal.org/archives/2026/08/3-us-soldiers-killed-in-syria.php"
    assert url_date(lwj) == end_of(2026, 8, 31)
    assert url_date("https://x.example/world/2026/08/12-killed-in-kharkiv/") == end_of(2026, 8, 31)
    assert url_date("https://x.example/news/2026/5-things-to-know-about-the-strike") is None
    # A full date may run into its slug.
    assert url_date("https://x.example/2020-12-16-convoy-attacked") == end_of(2020, 12, 16)
    assert url_date("https://x.example/news/20201216_convoy") == end_of(2020, 12, 16)
    body = _rss([("Three US soldiers killed in Syria drone attack", lwj, _pubdate(2))])
    parsed = parse_feed(body, FeedSpec("LWJ", "https://x.example/rss"), NOW, timedelta(hours=36))
    assert [a.url for a in parsed.articles] == [lwj] and parsed.skipped_old == 0


def test_an_item_dated_ahead_of_our_clock_is_news_in_a_feeds_first_fetch(tmp_path: Path) -> None:
    settings = Settings(database_path=tmp_path / "b.db")
    db = open_db(settings.database_path)
    now = NOW + timedelta(microseconds=537_000)  # a real clock: not on a whole second
    items = [
        (
            "Missile strike kills 12 in Kharkiv, Ukraine says",
            "https://f.example/a",
            _pubdate(-0.05),
        ),
        ("Gunmen kill nine soldiers at army post in Mali", "https://f.example/b", _pubdate(0)),
    ]
    ingest(db, _fetched("Fast Clock", items), settings, now)
    # A feed's clock a few minutes fast, or an item of this very second, is dated, not undated.
    headlines = {s.headline for s in build_brief(db, settings, now)[1].stories}
    assert headlines == {items[0][0], items[1][0]}
    db.close()


def test_undated_items_already_in_a_feeds_first_fetch_are_not_news(tmp_path: Path) -> None:
    settings = Settings(database_path=tmp_path / "b.db")
    db = open_db(settings.database_path)
    old = [
        ("Seven years on, the siege of Marawi in pictures of the war", "https://u.example/a", None),
        ("Islamic State militants seize Marawi after fierce fighting", "https://u.example/b", None),
    ]
    dated = (
        "Army retakes Marawi bridge from Islamic State militants",
        "https://u.example/d",
        _pubdate(2),
    )
    ingest(db, _fetched("Undated Daily", [*old, dated]), settings, NOW)
    # The undated items may be years old (carried since before we looked); the dated one is not.
    assert [s.headline for s in build_brief(db, settings, NOW)[1].stories] == [dated[0]]
    new = ("Suicide bombers attack army base in Marawi, killing 12", "https://u.example/c", None)
    later = NOW + timedelta(hours=1)
    ingest(db, _fetched("Undated Daily", [new, *old, dated]), settings, later)
    _, brief = build_brief(db, settings, later)
    assert sorted(s.headline for s in brief.stories) == sorted([new[0], dated[0]])
    db.close()


def test_features_with_war_words_weigh_less_than_news_of_the_war() -> None:
    feature = score_article(
        "The protest songs of Ukraine's war: how musicians answered the invasion"
    )
    anniversary = score_article("Ukrainians mark the anniversary of Russia's invasion")
    news = score_article("Russian drone strike on Kyiv kills 12")
    assert news.score >= 1.0
    assert feature.score < 1.0 and any("[framing]" in r for r in feature.reasons), feature
    assert anniversary.score < score_article("Russia's invasion force crosses into Ukraine").score
    assert any("[framing]" in r for r in anniversary.reasons)
    # A title naming a year long past is history, whatever words it uses.
    history = score_article("Survivors recall the massacre at the village in 1994", year=2026)
    news = score_article("Survivors recall the massacre at the village", year=2026)
    assert 0 < history.score < news.score and "history" in history.reasons[-1], history
    assert score_article("Militants attack convoy in 2026 offensive", year=2026).reasons == (
        score_article("Militants attack convoy in 2026 offensive").reasons
    )


def test_a_plainly_worded_report_of_a_scoring_event_joins_its_story() -> None:
    # Scores nothing alone (no security word), but is nearly the same report as the aid-site
    # story's reports; an unrelated plain item stays out.
    plain = _article(
        "The New York Times",
        "rafah",
        "Twelve Palestinians die waiting for food at Rafah aid distribution site",
        "Palestinians queuing for food at an aid distribution site in Rafah died, "
        "Gaza's civil defence said.",
        7,
    )
    other = _article(
        "The New York Times",
        "markets",
        "Food prices in Europe rise for a third month",
        "Supermarkets said the price of bread and milk rose again in July.",
        6,
    )
    assert plain.score < 1.0 and other.score < 1.0  # under the relevance bar
    stories, members = make_stories(AID, {}, NOW, plain=[plain, other])
    assert len(stories) == 1
    assert plain.url in members[stories[0].id] and other.url not in members[stories[0].id]
    assert "The New York Times" in {s.outlet for s in stories[0].sources}
    assert stories[0].headline != plain.title  # it joins; it never heads a story
    alone, _ = make_stories([], {}, NOW, plain=[plain])
    assert alone == []  # nor makes one
    # One scoring report and the plain one: the scoring report heads the pair.
    stories, _ = make_stories([AID[0], *LEBANON], {}, NOW, plain=[plain])
    pair = next(s for s in stories if s.sources[0].outlet == "Al Jazeera")
    assert pair.headline == AID[0].title
    assert [s.outlet for s in pair.sources] == ["Al Jazeera", "The New York Times"]


def test_a_carried_undated_item_counts_as_another_outlets_report_of_a_current_event(
    tmp_path: Path,
) -> None:
    settings = Settings(database_path=tmp_path / "c.db")
    db = open_db(settings.database_path)
    dated = _pubdate(3)
    title = "Islamic State militants attack army convoy near Marawi, killing 12 soldiers"
    ingest(db, _fetched("Dated", [(title, "https://d.example/1", dated)]), settings, NOW)
    undated = [
        (title, "https://u.example/1", None),
        ("Seven years on, the siege of Marawi in pictures", "https://u.example/2", None),
    ]
    ingest(db, _fetched("Undated", undated), settings, NOW)
    # Another feed still carries a like report of an ambush there years ago: alike is not enough.
    old = "Militants attack army convoy near Marawi as the siege drags on"
    ingest(db, _fetched("Archive", [(old, "https://a.example/1", None)]), settings, NOW)
    stories = build_brief(db, settings, NOW)[1].stories
    assert [s.headline for s in stories] == [title]
    assert {s.outlet for s in stories[0].sources} == {"Dated", "Undated"}
    db.close()


def test_a_brief_shows_a_single_outlet_story_only_when_it_is_clearly_security(
    tmp_path: Path,
) -> None:
    settings = Settings(database_path=tmp_path / "s.db")
    db = open_db(settings.database_path)
    when = _pubdate(2)
    clear = "Suicide bomber kills 20 at army base in Mogadishu, al-Shabaab claims attack"
    borderline = "Surge in city bloodshed tied to gunfire, gang feuds"
    for outlet, items in (("A", [clear]), ("B", [borderline])):
        entries = [(t, f"https://{outlet.lower()}.example/{i}", when) for i, t in enumerate(items)]
        ingest(db, _fetched(outlet, entries), settings, NOW)
    # Its words are all in the description: the headline is about something else.
    aside = _article(
        "C",
        "vacation",
        "President vacations at beach house after a week of heavy losses",
        "The Pentagon confirmed a drone strike killed 10 civilians; a grand jury "
        "indicted a campaign lawyer.",
        2,
    )
    # Its headline has only weak words ("armed", "fighters"); the strong one is the description's.
    outing = _article(
        "D",
        "pedalos",
        "Armed Taliban fighters ride pedalos on lake in Afghan national park",
        "Images appear to show militants riding swan-shaped pedal boats at Band-e "
        "Amir, once a hotspot for international travellers.",
        2,
    )
    news_store.save_articles(db, [aside, outing], NOW)
    assert (
        1.0 <= score_article(borderline).score < 3.0 <= min(score_article(clear).score, aside.score)
    )
    assert score_article(outing.title).score < 1.0 <= 3.0 <= outing.score
    assert [s.headline for s in build_brief(db, settings, NOW)[1].stories] == [clear]
    db.close()


def test_a_single_outlet_story_must_name_two_distinct_security_terms(tmp_path: Path) -> None:
    settings = Settings(database_path=tmp_path / "s.db")
    db = open_db(settings.database_path)
    # One word, said in the headline and again in the description: an insult, not an attack.
    insult = _article(
        "A",
        "insult",
        "President says he is happy 'lawless terrorist' rival is leaving office",
        "He called his rival 'the most lawless president' and a 'terrorist.'",
        2,
    )
    raid = _article(
        "B",
        "raid",
        "Gunmen storm police station in northern Burkina Faso, killing nine officers",
        "Jihadist militants attacked the post before dawn, the army said.",
        2,
    )
    news_store.save_articles(db, [insult, raid], NOW)
    assert insult.score >= 3.0 and score_article(insult.title).score >= 1.0  # clears the score bar
    assert len(score_article(insult.title, insult.description).terms) == 1
    # Spelling and inflection are one word: "terrorist" and "terrorism", "airstrike", "air strike".
    assert len(score_article("Rouhani calls Trump a terrorist", "economic terrorism").terms) == 1
    assert len(score_article("Airstrike on depot", "The air strike hit a depot.").terms) == 1
    assert len(score_article(raid.title, raid.description).terms) >= 2
    assert [s.headline for s in build_brief(db, settings, NOW)[1].stories] == [raid.title]
    db.close()


def test_a_live_page_or_newsletter_alone_is_no_story(tmp_path: Path) -> None:
    # A single-outlet story must be one event: a live page or a round-up lists several.
    settings = Settings(database_path=tmp_path / "s.db")
    db = open_db(settings.database_path)
    texts = {
        "live": "Australia news live: senator opposes gun buyback after Bondi terror attack",
        "roundup": "Primaries in Florida; Israel strikes Syrian air base; Ebola outbreak",
        "report": "Israeli air strikes hit Syrian air base near Hama, monitor says",
    }
    lede = "Missiles struck the base overnight; the attack killed two soldiers, the army said."
    articles = [
        _article(o, slug, t, lede, 2) for o, (slug, t) in zip("ABC", texts.items(), strict=True)
    ]
    news_store.save_articles(db, articles, NOW)
    assert all(a.score >= 3.0 for a in articles)  # each clears the score bar on its own
    assert [s.headline for s in build_brief(db, settings, NOW)[1].stories] == [texts["report"]]
    db.close()


def test_court_cases_and_press_news_weigh_less_than_the_events_they_concern() -> None:
    trial = score_article("Families of bombing victims will fight judge's ruling on damages")
    event = score_article("Bombing kills 12 at market, police say")
    assert trial.score < 1.0 <= event.score and "[framing]" in trial.reasons[-1]
    press = score_article("Pentagon fires editor and publisher of military newspaper")
    assert press.score < score_article("Pentagon fires commander of Pacific fleet").score
    # A court is a war word's companion, not security news by itself.
    assert score_article("ICC statement is political propaganda, palace says").score == 0.0
    assert score_article("ICC opens war crimes inquiry into Myanmar army").score >= 1.0
    assert score_article("Aukus: minister defends security pact amid criticism").score >= 1.0
    # Disease is health news, whatever its death toll.
    assert score_article("Ebola outbreak spreads as Congo death toll passes 2,500").score < 1.0


def test_every_story_a_brief_stores_is_summarised_even_below_stories_it_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Summaries are made for as many stories as a brief stores (here 2, in the bot 40): those
    # the single-outlet bar leaves out must not use them up, or a shown story keeps only its
    # headline as its summary.
    monkeypatch.setattr(pipeline, "STORED_STORIES", 2)
    settings = Settings(database_path=tmp_path / "s.db")
    db = open_db(settings.database_path)
    name_calling = [
        _article(
            "A",
            "insult",
            "President says he is happy 'lawless terrorist' rival is leaving office",
            "He called his rival 'the most lawless president' and a 'terrorist.'",
            2,
        ),
        _article(
            "C",
            "brand",
            "Opposition leader brands tax collectors 'economic terrorists' in budget row",
            "She repeated that the officials acted like 'terrorists' over the new levy.",
            2,
        ),
    ]
    warship = [  # two outlets, weakly scoring: ranked below the single-outlet items above
        _article(
            "D",
            "warship",
            "Navy warship visits port of Aden",
            "The warship docked on Monday for a three-day visit, the navy said.",
            3,
        ),
        _article(
            "E",
            "warship",
            "Navy warship docks in Aden for three-day visit",
            "Sailors will take part in exercises with the coast guard, officials said.",
            3,
        ),
    ]
    warship = [dataclasses.replace(a, score=1.2) for a in warship]
    news_store.save_articles(db, [*name_calling, *warship], NOW)
    (story,) = build_brief(db, settings, NOW)[1].stories
    assert (story.headline, story.summary) == (
        "Navy warship visits port of Aden",
        "D reports: The warship docked on Monday for a three-day visit, the navy said.",
    )
    db.close()


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Is Iran next?", "BBC reports: Is Iran next?"),
        ("Ceasefire collapses!", "BBC reports: Ceasefire collapses!"),
        ("Talks in Doha stall…", "BBC reports: Talks in Doha stall…"),
        ("Troops withdraw.", "BBC reports: Troops withdraw."),
        ("Troops withdraw", "BBC reports: Troops withdraw."),
    ],
)
def test_a_headline_only_summary_ends_its_sentence_once(title: str, summary: str) -> None:
    article = _article("BBC", "q", title, "", 1)
    assert headline_only(article) == summary


def test_a_story_keeps_the_reports_it_does_not_list() -> None:
    # Two reports from one outlet: the one closest to the headline is listed, the other kept
    # so that a chat shown it has seen the story.
    first, again = [
        _article(
            "Al Jazeera",
            slug,
            title,
            "Witnesses said Israeli troops opened fire on crowds at a food distribution point "
            "in Rafah on Monday, killing 12 people.",
            hours,
        )
        for slug, title, hours in (
            ("aid", "Troops fire on crowd at Gaza aid site, killing 12 Palestinians", 9),
            ("aid-2", "Gaza aid site shooting: what we know", 4),
        )
    ]
    stories, _ = make_stories([*AID, first, again], {}, NOW)
    story = next(s for s in stories if "Al Jazeera" in {src.outlet for src in s.sources})
    listed = {src.url for src in story.sources}
    everything = listed | {url for _, url in story.other_reports}
    assert {first.url, again.url} <= everything and not listed & {u for _, u in story.other_reports}
    assert [o for o, _ in story.other_reports].count("Al Jazeera") >= 1
