"""The word lists in bot/news/data and an operator's LEXICON_FILE on top of them."""

from __future__ import annotations

import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from botharness import cli

from bot.config import ConfigError, load_settings
from bot.news import lexicon
from bot.news.relevance import REGIONS, TOPICS, Relevance, score_article
from bot.news.text import canonical_url, content_terms


def _data(name: str) -> dict:
    return tomllib.loads(resources.files("bot.news").joinpath("data", name).read_text("utf-8"))


def _bare(term: str) -> str:
    return term.split(">")[0].rstrip("=").strip()


def test_topic_terms_are_unique_known_and_weighted_in_range() -> None:
    topics = _data("topics.toml")["topics"]
    known = set(TOPICS) | set(lexicon.SPECIAL_TOPICS)
    assert set(topics) == known
    seen: Counter[str] = Counter()
    for topic, table in topics.items():
        assert table["label"].strip(), topic
        for weight, terms in table["terms"].items():
            value = float(weight)
            if topic == "negative":
                assert -5.0 <= value < 0, (topic, weight)
            elif topic == "neutral":
                assert value == 0, (topic, weight)
            else:
                assert 0 < value <= 3.0, (topic, weight)
            seen.update(_bare(t) for t in terms)
    assert [t for t, n in seen.items() if n > 1] == []


def test_places_are_unique_in_known_regions_and_fold_to_listed_places() -> None:
    places = _data("places.toml")["places"]
    assert tuple(places) == REGIONS
    seen: Counter[str] = Counter()
    folded: dict[str, str] = {}
    for region, table in places.items():
        for weight, terms in table.items():
            assert 0 < float(weight) <= 1.0, (region, weight)
            for term in terms:
                seen[_bare(term)] += 1
                if ">" in term:
                    folded[_bare(term)] = term.split(">")[1]
    assert [t for t, n in seen.items() if n > 1] == []
    # A folded spelling points at a place the list knows ("israeli>israel", "burkinabe>burkina"
    # as in "burkina faso"); "us" is how the pipeline spells the United States in tokens.
    words = {w for place in seen for w in place.split()} | {"us"}
    assert {s: p for s, p in folded.items() if p not in words} == {}


def test_word_lists_have_no_duplicates_and_framing_is_separate() -> None:
    text = _data("text.toml")
    for key in ("stopwords", "tracking_params"):
        words = text[key]
        assert len(words) == len(set(words)), key
    framing = text["framing"]
    assert 0 < framing["factor"] < 1
    topic_terms = {_bare(t) for t in lexicon.current().terms}
    assert [t for t in framing["terms"] if _bare(t) in topic_terms] == []
    assert len(framing["terms"]) == len(set(framing["terms"]))


def test_operator_file_adds_and_reweights_terms(tmp_path: Path) -> None:
    extra = tmp_path / "lexicon.toml"
    extra.write_text(
        'tracking_params = ["sref"]\nstopwords = ["exclusive"]\n'
        '[topics.armed_conflict.terms]\n"2.0" = ["technical convoy"]\n'
        '[topics.military.terms]\n"0.1" = ["warship"]\n'
        '[places."Africa"]\n"1.0" = ["kidal"]\n'
    )
    title = "Technical convoy seen near Kidal"
    assert score_article(title) == Relevance(0.0, (), None, ())  # unknown words by default
    try:
        lexicon.use(extra)
        rel = score_article(title)
        assert rel.score == 3.0 and rel.region == "Africa", rel
        assert score_article("Warship sails").score < 1.0
        assert canonical_url("https://x.org/a?sref=rss&id=1") == "https://x.org/a?id=1"
        assert "exclusive" not in content_terms("Exclusive: convoy ambushed")
    finally:
        lexicon.use(None)
    assert score_article(title).score == 0
    assert canonical_url("https://x.org/a?sref=rss") == "https://x.org/a?sref=rss"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[topics.sport.terms]\n"1.0" = ["goal"]\n', "unknown topic 'sport'"),
        ('[places."Atlantis"]\n"1.0" = ["poseidonia"]\n', "unknown region 'Atlantis'"),
        ('[topics.military.terms]\nheavy = ["tank"]\n', "'heavy' is not a weight"),
        ("[topics.military\n", "Expected"),
        ('[topics.military]\nlabel = "Army"\n', "labels cannot be changed"),
    ],
)
def test_a_bad_lexicon_file_stops_start_up_with_its_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    extra = tmp_path / "lexicon.toml"
    extra.write_text(content)
    result = cli("status", LEXICON_FILE=str(extra), DATABASE_PATH=str(tmp_path / "t.db"))
    assert result.returncode == 1
    assert "LEXICON_FILE" in result.stderr and problem in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_lexicon_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LEXICON_FILE.*no such file"):
        load_settings({"LEXICON_FILE": str(tmp_path / "nope.toml")}, env_file=None)


def test_lexicon_file_setting_is_read(tmp_path: Path) -> None:
    extra = tmp_path / "lexicon.toml"
    extra.write_text('[topics.terrorism.terms]\n"2.0" = ["sleeper cell"]\n')
    settings = load_settings({"LEXICON_FILE": str(extra)}, env_file=None)
    assert settings.lexicon_file == extra
    assert load_settings({}, env_file=None).lexicon_file is None
    title = "Police find sleeper cell in Hamburg flat"
    assert score_article(title).score == 0  # not a term by default
    try:
        lexicon.use(settings.lexicon_file)  # as the bot does at start-up
        rel = score_article(title)
        assert rel.score >= 1.0 and rel.topics == ("terrorism",), rel
    finally:
        lexicon.use(None)
    assert score_article(title).score == 0
