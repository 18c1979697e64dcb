import pytest

from bot.news.language import detect_language
from bot.news.text import canonical_url, content_terms, split_sentences, strip_html, truncate


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("<p>Hello &amp; <b>world</b></p>", "Hello & world"),
        ("Troops &amp;amp; rebels", "Troops & rebels"),
        ("5 < 10 and 7 > 3", "5 < 10 and 7 > 3"),
        ('Before<script>alert("x")</script>after', "Before after"),
        ("<iframe src=x></iframe>Text<img src=x onerror=alert(1)>", "Text"),
        ("It&#8217;s\n\n  spaced\tout", "It’s spaced out"),
        (None, ""),
        ("<p>Troops moved.</p><p>Officials said</p>", "Troops moved. Officials said"),
        # A standfirst is a sentence without its full stop; a feed's last paragraph may be cut.
        (
            "<p>Minister says hackers changed settings</p> <a href=x>Continue reading...</a>",
            "Minister says hackers changed settings. Continue reading...",
        ),
        ("<ul><li>Troops moved</li><li>Officials said</li></ul>", "Troops moved. Officials said"),
        ("<ul><li><p>Troops moved</p></li></ul><p>Next</p>", "Troops moved. Next"),
        ("<p>Cut short …</p><p>Next</p>", "Cut short … Next"),
        ("one<br>two<li>three</li>", "one two three"),
        ("Before<!-- a comment -->after", "Beforeafter"),
        ("Kept <!-- never closed", "Kept"),
        ("<style>p{color:red}</style><noscript>x</noscript>Text", "Text"),
        ("<script>unclosed script swallowing the rest", ""),
        ("A\x00B\x01C", "ABC"),
        ("&lt;b&gt;escaped&lt;/b&gt; stays text", "<b>escaped</b> stays text"),
    ],
)
def test_strip_html(raw: str | None, expected: str) -> None:
    assert strip_html(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            "https://www.bbc.co.uk/news/x?utm_source=rss&utm_medium=feed",
            "https://www.bbc.co.uk/news/x",
        ),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("HTTPS://Example.COM:443/a?id=5&fbclid=abc", "https://example.com/a?id=5"),
        ("http://example.com:8080/a?b=1", "http://example.com:8080/a?b=1"),
        ("https://example.com", "https://example.com/"),
        ("http://[2001:db8::1]:8080/a#x", "http://[2001:db8::1]:8080/a"),
        # Not URLs anyone can normalise: returned as they are, never an exception.
        ("https://example.com:99999/a", "https://example.com:99999/a"),
        ("http://[::1/a", "http://[::1/a"),
        ("https://example.com/\udc80", "https://example.com/\udc80"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_split_sentences_keeps_abbreviations() -> None:
    text = "Gen. Ali said U.S. troops left on Monday. Fighting resumed! Was it over? No."
    assert split_sentences(text) == [
        "Gen. Ali said U.S. troops left on Monday.",
        "Fighting resumed!",
        "Was it over?",
        "No.",
    ]


def test_a_place_and_its_adjective_are_one_term() -> None:
    # Stories are found by shared terms: "Ukraine" once stemmed to "ukrain" and never met
    # "Ukrainian" (folded to "ukraine"); the same for Palestine and France.
    pairs = [("Ukraine", "Ukrainian"), ("Palestine", "Palestinians"), ("France", "French")]
    for place, adjective in pairs:
        assert content_terms(place) == content_terms(adjective) == content_terms(f"{place}'s")
    assert content_terms("strikes striking") == ["strike", "strike"]  # other words still stem


def test_truncate_cuts_at_a_word() -> None:
    assert truncate("one two three four", 12) == "one two…"
    assert truncate("short", 12) == "short"


@pytest.mark.parametrize(
    "text, code",
    [
        ("Des frappes de drones ont touché la capitale selon les autorités", "fr"),
        ("Die Regierung hat die Truppen an die Grenze verlegt", "de"),
        ("Troops were moved to the border on Monday, officials said", "en"),
        ("Las fuerzas del gobierno atacaron la ciudad", "es"),
        ("Путин заявил о новых учениях", "ru"),
        ("", None),
    ],
)
def test_detect_language(text: str, code: str | None) -> None:
    assert detect_language(text) == code
