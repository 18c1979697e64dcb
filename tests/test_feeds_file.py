from pathlib import Path

import pytest

from bot.models import FeedSpec
from bot.news.feeds import (
    FeedsFileError,
    default_feeds,
    export_opml,
    feeds_to_toml,
    import_opml,
    load_feeds,
    parse_feeds_toml,
)


def test_bundled_default_list_has_the_reputable_outlets() -> None:
    names = {spec.name for spec in default_feeds()}
    assert {"BBC World", "Al Jazeera", "Guardian World", "UN News", "Long War Journal"} <= names
    assert len(names) == 13


def test_user_file_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(
        '[[feeds]]\nname = "Mine"\nurl = "https://example.com/rss"\nlanguage = "EN"\nweight = 2\n'
    )
    assert load_feeds(path) == [FeedSpec("Mine", "https://example.com/rss", "en", 2.0)]
    assert len(load_feeds(None)) == 13


@pytest.mark.parametrize(
    "text, message",
    [
        ("not toml = = ", "not valid TOML"),
        ("title = 'x'", r"no \[\[feeds\]\] entries"),
        ('[[feeds]]\nurl = "https://x"', "'name' is missing"),
        ('[[feeds]]\nname = "X"\nurl = "ftp://x"', "'url' must be"),
        ('[[feeds]]\nname = "X"\nurl = "https://x"\nweight = -1', "'weight' must be"),
    ],
)
def test_bad_feeds_file_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FeedsFileError, match=message):
        parse_feeds_toml(text)


def test_missing_feeds_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FeedsFileError, match="cannot read feeds file"):
        load_feeds(tmp_path / "nope.toml")


def test_opml_round_trip_and_toml_round_trip() -> None:
    specs = default_feeds()
    assert import_opml(export_opml(specs)) == specs
    assert parse_feeds_toml(feeds_to_toml(specs)) == specs


def test_opml_from_another_reader_imports_nested_outlines() -> None:
    opml = """<?xml version="1.0"?><opml version="1.0"><head/><body>
      <outline text="News"><outline text="BBC" type="rss" xmlUrl="http://feeds.bbci.co.uk/news/world/rss.xml"/>
      <outline title="DW" xmlUrl="https://rss.dw.com/rdf/rss-en-world"/></outline>
      <outline text="No feed here" htmlUrl="https://example.com"/></body></opml>"""
    assert [(s.name, s.url) for s in import_opml(opml)] == [
        ("BBC", "http://feeds.bbci.co.uk/news/world/rss.xml"),
        ("DW", "https://rss.dw.com/rdf/rss-en-world"),
    ]


def test_broken_opml_is_a_clear_error() -> None:
    with pytest.raises(FeedsFileError, match="not a valid OPML"):
        import_opml("<opml><body>")
