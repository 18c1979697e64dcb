"""Descriptions as a reader should see them: no photo credits, datelines, spliced headlines or
feed furniture, no stray spaces, whole sentences, no captions, no restated sentences.

The cases are shortened from what real feeds sent (the captures of ../shared/corpora); the
last tests feed the cleaning adversarial text, to hold it to linear time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.models import Article
from bot.news import lexicon
from bot.news.summarise import _sentences, summarise, usable
from bot.news.text import (
    content_terms,
    drop_boilerplate,
    normalise_space,
    split_sentences,
    strip_html,
)

NOW = datetime(2026, 8, 18, 12, tzinfo=UTC)
PROPERTY = settings(
    max_examples=200,
    deadline=None,  # the time bounds are the explicit tests at the end
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _clean(raw: str) -> str:
    """A description as parse stores it."""
    return drop_boilerplate(strip_html(raw))


def _article(description: str, outlet: str = "Wire", title: str = "Headline") -> Article:
    slug = outlet.lower().replace(" ", "")
    return Article(
        url=f"https://{slug}.example/{abs(hash(description))}",
        feed_url=f"https://{slug}.example/feed",
        outlet=outlet,
        title=title,
        description=description,
        published=NOW,
    )


# --- photo credits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, clean",
    [
        (
            "Joe Buglewicz/GETTY A Texas court has reduced the penalty handed to Alex Jones.",
            "A Texas court has reduced the penalty handed to Alex Jones.",
        ),
        (
            "Kevin Lamarque / REUTERS Treasury Secretary Scott Bessent was widely criticized.",
            "Treasury Secretary Scott Bessent was widely criticized.",
        ),
        (
            "Striking a soldier costs more, per ministry figures. Diego Herrera Carcedo/Anadolu via"
            " Getty Images Ukraine said its June data shows it costs about $3,000.",
            "Striking a soldier costs more, per ministry figures. Ukraine said its June data"
            " shows it costs about $3,000.",
        ),
        (
            "The USS Abraham Lincoln on February 28, 2026. —U.S. Navy/Getty Images The carrier has"
            " been at sea for months.",
            "The USS Abraham Lincoln on February 28, 2026. The carrier has been at sea for months.",
        ),
        (
            "Trump at the G7 summit on June 16, 2026. | Evelyn Hockstein/AFP via Getty Images Can"
            " President Donald Trump pen a new chapter?",
            "Trump at the G7 summit on June 16, 2026. Can President Donald Trump pen a new"
            " chapter?",
        ),
        (
            "Settlers near Nablus on Aug. 13, 2026. Photo by Zain Jaafar/AFP via Getty Images US"
            " Ambassador Mike Huckabee called the settlers “Israeli terrorists.”",
            "Settlers near Nablus on Aug. 13, 2026. US Ambassador Mike Huckabee called the"
            " settlers “Israeli terrorists.”",
        ),
        (  # cut short by the feed, like any text
            "NBC / Nathan Congleton/NBC via Getty I Human remains were found near the home.",
            "Human remains were found near the home.",
        ),
        (
            "Senator Aisha Wahab attends a press conference. (Photo by Tayfun Coskun/Anadolu via"
            " Getty Images)",
            "Senator Aisha Wahab attends a press conference.",
        ),
        (
            "The move drew scrutiny from the Supreme Court. AP Photo/Meg Kinnard South Carolina"
            " Gov. Henry McMaster named his son.",
            "The move drew scrutiny from the Supreme Court. South Carolina Gov. Henry McMaster"
            " named his son.",
        ),
        (
            "Kevin Dietsch/Getty Images ; Joe Raedle/Getty Images Florida's Palm Beach airport"
            " now bears the president's name.",
            "Florida's Palm Beach airport now bears the president's name.",
        ),
    ],
)
def test_photo_credits_are_cut_and_the_text_after_them_kept(raw: str, clean: str) -> None:
    assert _clean(raw) == clean


def test_an_agency_named_in_a_sentence_is_not_a_credit() -> None:
    assert _clean("Ken Cedeno / REUTERS Trump fueled fresh calls.") == "Trump fueled fresh calls."
    for sentence in (
        "Reuters reported that the talks had stalled.",
        "Thomson Reuters Foundation said 12 journalists were held.",
        "He told AFP: The army will not retreat.",
        "The Getty Images archive was sold to a rival.",
        "Trump wins. Officials said the vote was fair.",  # a short sentence is not a name
    ):
        assert _clean(sentence) == sentence


# --- spliced headlines, furniture, "Read more", datelines ----------------------------------------


@pytest.mark.parametrize(
    "raw, clean",
    [
        (
            "Iran failed to reach a final deal by Monday’s deadline. TRUMP WARNS IRAN FIGHTING"
            " ISN'T OVER AS HE VOWS US WILL 'WIN' AS TALKS FADE Iranian Foreign Ministry"
            " spokesperson Esmail Baghaei said talks went on.",
            "Iran failed to reach a final deal by Monday’s deadline. Iranian Foreign Ministry"
            " spokesperson Esmail Baghaei said talks went on.",
        ),
        (
            "The Mets took a shot at Daniels on X. CLICK HERE FOR MORE SPORTS COVERAGE ON"
            " FOXNEWS.COM The team later apologized.",
            "The Mets took a shot at Daniels on X. The team later apologized.",
        ),
        (  # the capital word before a lower-case one begins the next sentence
            "It was a close call. DAD SUFFERS HEART ATTACK DAYS BEFORE DAUGHTER'S WEDDING A man"
            " who climbed stairs lived longer.",
            "It was a close call. A man who climbed stairs lived longer.",
        ),
    ],
)
def test_headlines_spliced_in_capitals_are_dropped(raw: str, clean: str) -> None:
    assert _clean(raw) == clean
    # Capitals quoted inside a sentence, or a feed that writes everything in capitals, stay.
    quoted = "Trump wrote that “THE FAKE NEWS MEDIA IS LYING AGAIN” on Sunday."
    assert _clean(quoted) == quoted
    shouting = "TROOPS MOVED TO THE BORDER ON MONDAY, OFFICIALS SAID."
    assert _clean(shouting) == shouting


def test_live_page_furniture_is_cut_and_ends_the_standfirst() -> None:
    raw = (
        "The buyback is set to commence in NSW from November. Follow live updates Get our"
        " breaking news email , free app or daily news podcast Richard Marles is visiting Port"
        " Moresby this weekend."
    )
    assert _clean(raw) == (
        "The buyback is set to commence in NSW from November. Richard Marles is visiting Port"
        " Moresby this weekend."
    )
    raw = (
        "Suspected gunman fled the scene before he was found dead Sign up for the Breaking News"
        " US email A mass shooting on Friday has left six people dead."
    )
    assert _clean(raw) == (
        "Suspected gunman fled the scene before he was found dead. A mass shooting on Friday has"
        " left six people dead."
    )


@pytest.mark.parametrize(
    "raw, clean",
    [
        (
            "One source opined to the Daily Mail . Read more at The Daily Beast.",
            "One source opined to the Daily Mail.",
        ),
        (
            "Marvel named the new cast… Read the full story at The Verge.",
            "Marvel named the new cast…",
        ),
        (
            "She speaks with Kailey Leinz on Bloomberg's Balance of Power. (Source: Bloomberg)",
            "She speaks with Kailey Leinz on Bloomberg's Balance of Power.",
        ),
        (
            'ABC has sued the FCC over "The View." (Image credit: Aurore Marechal)',
            'ABC has sued the FCC over "The View."',
        ),
    ],
)
def test_trailing_read_more_source_and_credit_go(raw: str, clean: str) -> None:
    assert _clean(raw) == clean


@pytest.mark.parametrize(
    "raw, clean",
    [
        (
            "NEW YORK (AP) — Madonna leads the MTV award nominations.",
            "Madonna leads the MTV award nominations.",
        ),
        (
            "AUSTIN — Democrats teed up South Carolina to lead.",
            "Democrats teed up South Carolina to lead.",
        ),
        (
            "LONDON -- Prince Harry and six others were ordered to pay.",
            "Prince Harry and six others were ordered to pay.",
        ),
        (
            "PIERRE, S.D. — South Dakota's attorney general spoke.",
            "South Dakota's attorney general spoke.",
        ),
        (
            "EXCLUSIVE - DETROIT, MI - Republican Mike Rogers has a message.",
            "Republican Mike Rogers has a message.",
        ),
        (
            "Israeli strikes hit Deir Al-Zahrani on August 15, 2026. Photo by Houssam Shbaro/"
            "Anadolu via Getty Images. Monday, August 17, 2026 – Sixty-day negotiating period"
            " ends without final deal.",
            "Israeli strikes hit Deir Al-Zahrani on August 15, 2026. Sixty-day negotiating period"
            " ends without final deal.",
        ),
        (  # Straits Times: a time stamp, then two line breaks
            "September 19, 2021 7:45 PM<br/><br/>Only about 40 streets here are named after women.",
            "Only about 40 streets here are named after women.",
        ),
        (
            "September 19, 2021 7:26 PM<br/><br/>SINGAPORE - When Ms Chong Lee Lee went to"
            " Northpoint, she found it closed.",
            "When Ms Chong Lee Lee went to Northpoint, she found it closed.",
        ),
    ],
)
def test_datelines_and_time_stamps_at_a_sentence_start_go(raw: str, clean: str) -> None:
    assert _clean(raw) == clean
    for sentence in (
        "US — China talks resumed on Monday.",
        "The FBI — not the police — led the raid.",
        "U.S.–China trade talks collapsed on Monday.",
        "Officials met on Monday. IRGC — Iran's Revolutionary Guards — seized a tanker.",
    ):
        assert _clean(sentence) == sentence


def test_two_line_breaks_end_a_paragraph() -> None:
    assert strip_html("September 19, 2021 7:45 PM<br/><br/>Only about 40 streets.") == (
        "September 19, 2021 7:45 PM. Only about 40 streets."
    )
    assert strip_html("Troops moved<br/>\n <br/>Officials said") == "Troops moved. Officials said"
    assert strip_html("one<br>two<br>three") == "one two three"  # one break is a line, not an end


# --- spaces and invisible marks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, clean",
    [
        (
            "Iran’s foreign minister said his country had “ not yet made a decision ” and is"
            " readying for escalation , according to The Wall Street Journal .",
            "Iran’s foreign minister said his country had “not yet made a decision” and is"
            " readying for escalation, according to The Wall Street Journal.",
        ),
        (
            "meeting with Papua New Guinea’s prime minister, James Marape , and defence minister",
            "meeting with Papua New Guinea’s prime minister, James Marape, and defence minister",
        ),
        (
            "taxed soda (well, in some places ), built programs",
            "taxed soda (well, in some places), built programs",
        ),
        (
            '"Stopped at 4 out of respect for Jayden Daniels ," the Mets wrote',
            '"Stopped at 4 out of respect for Jayden Daniels," the Mets wrote',
        ),
        ("leaves unresolved Iran ’s nuclear program", "leaves unresolved Iran’s nuclear program"),
        ("injured on Friday \u200cat a Swedish school", "injured on Friday at a Swedish school"),
        ("\u200cAdministration asks justices to act", "Administration asks justices to act"),
    ],
)
def test_spaces_before_closing_marks_and_loose_zwnj_go(raw: str, clean: str) -> None:
    assert normalise_space(raw) == clean
    for kept in (
        "a .45-caliber firearm",
        "music of the ’90s",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian needs its ZWNJ
    ):
        assert normalise_space(kept) == kept


_SPACED = st.text(st.sampled_from("ab ,.;:!?)(“”’'\"\u200c"), max_size=40)


@PROPERTY
@given(_SPACED)
@example("escalation , according")
@example("“ not yet ”")
def test_clean_text_has_no_space_before_a_closing_mark_and_is_stable(raw: str) -> None:
    text = normalise_space(raw)
    assert normalise_space(text) == text
    for mark in ",.;:!?)”":
        assert f" {mark} " not in f"{text} "
    assert not text.startswith(("( ", "“ ")) and " ( " not in text and " “ " not in text
    assert "\u200c " not in text and " \u200c" not in text
    assert not text.startswith("\u200c") and not text.endswith("\u200c")


# --- whole sentences -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, sentences",
    [
        (
            "Disgraced former Rep. Eric Swalwell, D-Calif., admitted the affair. He resigned.",
            ["Disgraced former Rep. Eric Swalwell, D-Calif., admitted the affair.", "He resigned."],
        ),
        (
            "As the new L.A.. school board president, Kelly Gonez marks a generational shift.",
            ["As the new L.A.. school board president, Kelly Gonez marks a generational shift."],
        ),
        (
            "Trump ordered a return to steam catapults, and the U.S. Navy is...",
            ["Trump ordered a return to steam catapults, and the U.S. Navy is..."],
        ),
    ],
)
def test_a_piece_that_cannot_start_a_sentence_joins_the_one_before(
    text: str, sentences: list[str]
) -> None:
    assert split_sentences(text) == sentences


@PROPERTY
@given(st.text(st.sampled_from('ab AB.,;:)?!"”'), max_size=60))
@example("Rep. Eric Swalwell, D-Calif., admitted it.")
@example("the U.S. Navy is...")
def test_no_sentence_starts_with_a_closing_mark_or_is_only_punctuation(text: str) -> None:
    pieces = split_sentences(text)
    for piece in pieces[1:]:
        assert piece[0] not in ",;:)" and any(c.isalnum() for c in piece), pieces


def test_an_unstopped_description_is_a_sentence_unless_it_was_cut() -> None:
    forbes = (
        "The United States has just 11 nuclear-powered aircraft carriers in service, but just"
        " three are currently deployed, and two are already in the Middle East"
    )
    assert _sentences(_article(forbes)) == [forbes]
    hill = (
        "Trump is wading into the designs of U.S. aircraft carriers. The president has ordered a"
        " return to steam catapults, and the U.S. Navy is..."
    )
    assert _sentences(_article(hill)) == [
        "Trump is wading into the designs of U.S. aircraft carriers."
    ]
    for cut in (
        "Host Bill Maher said that moderates had to justify the far left as just",  # dangling word
        # an open quote
        "Rep. Rich McCormick said the leaders are popular, and “You’re not going to do",
        "Trump posted on his platform that the strikes would go on,",
        "Witherspoon agreed to a record deal. It not only makes him the league's highest paid"
        " player but also",  # the writer stops sentences: an unstopped last one was cut
    ):
        assert all(not s.endswith(cut[-12:]) for s in _sentences(_article(cut))), cut


# --- sentences never quoted, labels --------------------------------------------------------------


@pytest.mark.parametrize(
    "junk",
    [
        "CBS News national security contributor Joseph Zacks has more.",
        "Wayne Sanders, Senior Defense Analyst for Bloomberg Intelligence, discusses the latest"
        " Iran headlines.",
        "NPR's Rob Schmitz speaks with State Department spokesperson Tommy Pigott about the war.",
        "This is an edition of The Atlantic Daily, a newsletter that guides you through the news.",
        "This story appeared in The Logoff, a daily newsletter that helps you stay informed.",
        "Brent crude rises above $90 after Trump tells Tehran to surrender Business live – latest"
        " updates Oil prices have risen again after the window to negotiate a deal expired.",
        "Follow our live blog for the latest updates.",
        "The defunct Abu al-Duhur air base in northwestern Syria on Tuesday.",
        "The Sierra Madre, a Philippine naval ship, in the South China Sea in 2023.",
        "Trump speaks as Rep. Lisa McClain claps at the proving grounds on July 27, 2026, in"
        " Milford, Michigan.",
    ],
)
def test_furniture_presenters_and_captions_are_never_quoted(junk: str) -> None:
    assert not usable(_article(junk))


def test_reports_like_them_still_are() -> None:
    assert not usable(_article("CBS News' Charlie D'Agata has more."))
    for report in (
        "Iran has more than 2,000 ballistic missiles, officials said.",
        "The Lancet agreed to publish a commentary which discusses a laboratory leak.",
        "Israeli strikes killed 11 people in southern Lebanon on Saturday.",
        "Houthi rebels fire missiles at ships in the Red Sea.",
        "Trump to visit troops in Qatar next week, the White House said.",
        "Russia has more troops near the border than a year ago, NATO says.",
        "Putin discusses Ukraine peace plan with Xi in Beijing.",
        "Zelensky speaks with Trump about a ceasefire.",
        "A storm swept through Florida on Sunday.",
        "Ukraine dealt a heavy blow to Russia in Kursk last week.",
    ):
        assert usable(_article(report)), report


def test_a_post_in_capitals_is_a_quote_not_a_spliced_headline() -> None:
    for quote in (
        '"THE UNITED STATES WILL NOT ALLOW IRAN TO HAVE A NUCLEAR WEAPON," Trump wrote.',
        'He posted: "IRAN HAS BEEN WARNED. THEY WILL PAY A VERY BIG PRICE," he wrote.',
    ):
        assert _clean(quote) == quote


def test_a_link_after_a_quoted_post_is_not_joined_to_its_sentence() -> None:
    text = "It landed in her pool. pic.twitter.com/abc — ABC7 News (@abc7) August 2, 2026"
    assert split_sentences(text)[0] == "It landed in her pool."


def test_a_paragraph_label_is_stripped_and_attribution_kept() -> None:
    axios = (
        "Why it matters: The San Diego-based aircraft carrier has been deployed for nine months."
    )
    assert _sentences(_article(axios)) == [
        "The San Diego-based aircraft carrier has been deployed for nine months."
    ]
    label = 'What they\'re saying: "The deployment is not nearly long enough," Trump said.'
    assert _sentences(_article(label)) == [
        '"The deployment is not nearly long enough," Trump said.'
    ]
    for kept in (
        "Police said: The suspect fled the scene on foot.",
        "Trump: South Korea has been protected by us for many, many years.",
        "Dune: Part Three does not open for another four months.",
        # A source is attribution, not a label: the claim must stay theirs.
        "Israeli military: Hamas fighters used the hospital as a command centre.",
        "Kremlin spokesman: Russia will respond to the drone attack.",
        "It would read: The John F. Kennedy Memorial Center for the Performing Arts.",
    ):
        assert _sentences(_article(kept)) == [kept]


# --- no paraphrase of a sentence already chosen --------------------------------------------------


def test_a_later_outlet_must_add_something_new() -> None:
    bloomberg = _article(
        "President Donald Trump downplayed concerns over conditions for sailors aboard the USS"
        " Abraham Lincoln, amid an uproar from service members’ families as its deployment to"
        " the Middle East approaches nine months.",
        "Bloomberg",
        "Trump Downplays Concerns Over Conditions on USS Abraham Lincoln",
    )
    post = _article(
        "President Donald Trump dismissed the concerns of military families about worsening"
        " conditions on the USS Abraham Lincoln.",
        "The Washington Post",
    )
    cbs = _article(
        "The Navy said the USS George Washington will relieve the USS Abraham Lincoln, whose"
        " sailors have been deployed for a record nine months.",
        "CBS News",
    )
    # The story's common words weigh little, as across a day's news.
    common = "President Donald Trump USS Abraham Lincoln concerns conditions Navy sailors deployed"
    idf = {term: 0.5 for term in content_terms(common)}
    assert "The Washington Post" not in summarise([bloomberg, post], {}, idf, 3.0)
    assert "CBS News reports: The Navy said" in summarise([bloomberg, post, cbs], {}, idf, 3.0)


# --- the lists are data an operator can extend ---------------------------------------------------


def test_an_operator_adds_agencies_furniture_and_junk(tmp_path: Path) -> None:
    extra = tmp_path / "lexicon.toml"
    extra.write_text(
        '[cleaning]\nagencies = ["Kyodo"]\nfurniture = ["Listen to this article"]\n'
        '[junk]\nphrases = ["sponsored content"]\n'
    )
    credit = "Taro Sato/Kyodo Japan scrambled jets on Monday."
    furniture = "Japan scrambled jets Listen to this article The ministry said so."
    sponsored = "This sponsored content is brought to you by a defence contractor."
    try:
        lexicon.use(extra)
        assert _clean(credit) == "Japan scrambled jets on Monday."
        assert _clean(furniture) == "Japan scrambled jets. The ministry said so."
        assert not usable(_article(sponsored))
        assert (
            _clean("Kevin Lamarque / REUTERS Bessent spoke.") == "Bessent spoke."
        )  # defaults stay
    finally:
        lexicon.use(None)
    assert _clean(credit) == credit
    assert usable(_article(sponsored))


# --- linear time, with the work done -------------------------------------------------------------

_CAPITALISED = st.sampled_from(["Kevin", "Lamarque", "J.", "Al", "U.S.", "NGAN", "O'Neil", "Navy"])
# A name as credits give it: capitalised words and initials, a particle only inside.
_NAMES = st.builds(
    lambda first, middle, last: " ".join([first, *middle, last]),
    _CAPITALISED,
    st.lists(st.one_of(_CAPITALISED, st.just("de")), max_size=3),
    _CAPITALISED,
)
_SEPARATORS = st.sampled_from(["/", " / ", "—", ", ", " via "])
_AGENCIES = st.sampled_from(["REUTERS", "Getty Images", "AFP via Getty Images", "Anadolu", "AP"])
_TEXTS = st.sampled_from(
    [
        "Troops moved to the border on Monday.",
        "A Texas court has reduced the penalty.",
        "“We will respond,” the ministry said.",
    ]
)


@PROPERTY
@given(_NAMES, _SEPARATORS, _AGENCIES, _TEXTS)
@example("Jonathan Ernst", " / ", "REUTERS", "Troops moved to the border on Monday.")
def test_any_credit_before_a_sentence_goes(name: str, sep: str, agency: str, text: str) -> None:
    assert _clean(f"{name}{sep}{agency} {text}") == text
    assert _clean(f"It rained. {name}{sep}{agency} {text}") == f"It rained. {text}"


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("Kevin Lamarque / REUTERS Bessent spoke. " * 1600, ("Bessent spoke. " * 1600).strip()),
        ("A. " * 20_000 + "Getty Images The end.", "A. " * 20_000 + "The end."),
        ("It ended. " + "ABCD " * 12_000 + "Troops moved.", "It ended. Troops moved."),
        (  # no run of five: each capital word before a lower-case one starts a sentence
            "It ended. " + "ABCD EFGH IJKL MNOP QRST a. " * 2_000 + "(Source: Bloomberg)",
            "It ended. " + ("ABCD EFGH IJKL MNOP QRST a. " * 2_000).strip(),
        ),
        ("AUSTIN — " * 6_000 + "Democrats met.", "Democrats met."),
        (  # no credit: it does not start a sentence
            "x " + "Kevin / " * 8_000 + "REUTERS The end. Read more at The Daily Beast.",
            "x " + "Kevin / " * 8_000 + "REUTERS The end.",
        ),
        ("Follow live updates " * 3_000 + "Troops moved.", "Troops moved."),
    ],
)
def test_cleaning_an_adversarial_description_is_quick(raw: str, clean: str) -> None:
    started = time.monotonic()
    text = _clean(raw)
    assert time.monotonic() - started < 0.5
    assert text == clean
