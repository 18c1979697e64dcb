from urllib.parse import unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.news import lexicon
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
        # The query is kept byte for byte: escapes that are not UTF-8 name different articles.
        ("https://old.example/a.php?title=caf%E9", "https://old.example/a.php?title=caf%E9"),
        ("https://old.example/a.php?title=caf%E8", "https://old.example/a.php?title=caf%E8"),
        ("https://e.example/a?x=1;y=2", "https://e.example/a?x=1;y=2"),
        ("https://e.example/item?12345", "https://e.example/item?12345"),
        (
            "https://e.example/a?q=a+b%2F&%75tm_source=x&RSS&id=%FF",
            "https://e.example/a?q=a+b%2F&id=%FF",
        ),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def _is_tracking(pair: str) -> bool:
    raw_key, _, value = pair.partition("=")
    key = unquote_plus(raw_key).lower()
    if key in ("ref", "via"):  # referral tags: tracking unless their value names a page
        return not any(c.isdigit() for c in unquote_plus(value))
    return key.startswith("utm_") or key in lexicon.current().tracking_params


# Query text as feeds send it: any characters but the pair separator, the fragment mark and
# the tab and line breaks urlsplit deletes, with escapes that are not UTF-8 mixed in.
_QUERY_TEXT = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_characters="&#\t\r\n"), max_size=5),
        st.sampled_from(["%E9", "%FF", "%", "%2", "=", ";", "+", "%26", "%3D", "?", "/"]),
    ),
    max_size=6,
).map("".join)
_PAIR = _QUERY_TEXT.filter(lambda pair: not _is_tracking(pair))
_TRACKING_PAIR = st.one_of(
    st.sampled_from(["utm_source", "rss", "FBCLID"]),
    st.builds(
        "{}={}".format,
        st.sampled_from(["utm_source", "UTM_Medium", "%75tm_campaign", "utm_", "fbclid", "rss"]),
        _QUERY_TEXT,
    ),
)


@given(st.lists(_PAIR, max_size=6).map("&".join).filter(lambda q: q == q.rstrip()))
def test_canonical_url_keeps_a_query_without_tracking_exactly(query: str) -> None:
    expected = "https://example.com/a" + (f"?{query}" if query else "")
    assert canonical_url(f"https://example.com/a?{query}#frag") == expected


@given(st.lists(st.tuples(st.booleans(), _PAIR, _TRACKING_PAIR), max_size=6))
def test_canonical_url_drops_only_the_tracking_pairs_in_order(
    pairs: list[tuple[bool, str, str]],
) -> None:
    query = "&".join(pair if keep else tracking for keep, pair, tracking in pairs)
    kept = "&".join(pair for keep, pair, _ in pairs if keep).rstrip()  # a URL's end is stripped
    expected = "https://example.com/a" + (f"?{kept}" if kept else "")
    assert canonical_url(f"https://example.com/a?{query}") == expected


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
