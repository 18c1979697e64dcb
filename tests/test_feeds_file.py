import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from botharness import cli
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("weight", ["nan", "+nan", "inf", "-inf", "0", "0.0", "1" + "0" * 400])
def test_a_weight_that_is_not_finite_and_above_zero_is_refused(weight: str) -> None:
    # A nan weight scores every item of the feed nan, which is neither kept nor dropped.
    text = f'[[feeds]]\nname = "DW"\nurl = "https://rss.dw.com/rdf/rss-en-world"\nweight = {weight}'
    with pytest.raises(
        FeedsFileError, match=r"feed #1 \(DW\): 'weight' must be a finite number above 0"
    ):
        parse_feeds_toml(text)


HARD_OPML = """<?xml version="1.0"?><opml version="2.0"><body>
  <outline title="BBC&#10;World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
  <outline title="DW" weight="0" xmlUrl="https://rss.dw.com/rdf/rss-en-world"/>
  <outline title="  " xmlUrl="https://www.aljazeera.com/xml/rss/all.xml"/>
  <outline title="UN" weight="nan" xmlUrl="https://news.un.org/feed/subscribe/en/news/all/rss.xml"/>
</body></opml>"""


def test_what_opml_import_writes_always_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    specs = import_opml(HARD_OPML)
    assert [(s.name, s.weight) for s in specs] == [
        ("BBC\nWorld", 1.0),
        ("DW", 1.0),
        ("www.aljazeera.com", 1.0),  # a blank title: the feed's host names it
        ("UN", 1.0),
    ]
    assert "OPML feed DW: weight '0' is not a finite number above 0; using 1" in caplog.text
    assert "OPML feed UN: weight 'nan'" in caplog.text
    path = tmp_path / "feeds.toml"
    path.write_text(feeds_to_toml(specs), "utf-8")
    assert load_feeds(path) == specs


def test_feeds_import_command_writes_a_file_that_loads(tmp_path: Path) -> None:
    opml, out = tmp_path / "subs.opml", tmp_path / "feeds.toml"
    opml.write_text(HARD_OPML, "utf-8")
    imported = cli("feeds", "import", str(opml), "-o", str(out))
    assert imported.returncode == 0 and "Wrote 4 feeds" in imported.stderr
    assert "OPML feed DW: weight '0' is not a finite number above 0" in imported.stderr
    assert [s.name for s in load_feeds(out)] == [
        "BBC\nWorld",
        "DW",
        "www.aljazeera.com",
        "UN",
    ]


# Any text an XML attribute can hold (XML 1.0 allows tab, line feed and carriage return of C0).
_XML_TEXT = st.text(
    st.one_of(
        st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)).filter(
            lambda c: c not in "\ufffe\uffff"
        ),
        st.sampled_from("\t\n\r"),
    ),
    max_size=20,
)
_WEIGHT = st.one_of(
    _XML_TEXT,
    st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e400", "1e-400", "2.5", " 3 "]),
    st.floats().map(repr),
)


@settings(max_examples=200, deadline=None)
@example([{"xmlUrl": "https://\x850"}])  # a host that is blank once stripped ("\x85" is space)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"xmlUrl": _XML_TEXT.map("https://{}".format)},
            optional={
                "title": _XML_TEXT,
                "text": _XML_TEXT,
                "weight": _WEIGHT,
                "language": _XML_TEXT,
            },
        ),
        min_size=1,
        max_size=4,
    )
)
def test_opml_import_of_any_outlines_writes_toml_that_loads_back(
    outlines: list[dict[str, str]],
) -> None:
    root = ET.Element("opml", version="2.0")
    body = ET.SubElement(root, "body")
    for attrs in outlines:
        ET.SubElement(body, "outline", attrs)
    specs = import_opml(ET.tostring(root, encoding="unicode"))
    assert parse_feeds_toml(feeds_to_toml(specs)) == specs


@given(
    st.text(min_size=1).map(str.strip).filter(bool),
    st.text().map("https://{}".format).map(str.strip),
    st.none() | st.sampled_from(["en", "fr", "de", "uk", "fil"]),  # stored as codes
)
def test_feeds_toml_round_trips_any_text_including_control_characters(
    name: str, url: str, language: str | None
) -> None:
    specs = [FeedSpec(name, url, language or None, 2.5)]
    assert parse_feeds_toml(feeds_to_toml(specs)) == specs
