"""Language codes: the ISO 639-1 code a feed's or a setting's language tag, code or name means."""

from __future__ import annotations

from functools import cache, lru_cache

# Values that name no language: undetermined, several, uncoded, no linguistic content.
_NO_LANGUAGE = frozenset({"und", "mul", "mis", "zxx"})


def language_code(value: object) -> str | None:
    """The ISO 639-1 code (else ISO 639-2/3) a language tag, code or English name stands for.

    "en-GB", "EN", "eng", "English" and "American English" all give "en"; anything not
    recognised gives None, so that the caller can detect the language instead.
    """
    if not isinstance(value, str):
        return None
    return _language_code(" ".join(value.split()).lower().replace("_", "-"))


@lru_cache(maxsize=1024)  # feeds repeat the same few values every round
def _language_code(text: str) -> str | None:
    codes, aliases, names = _languages()
    primary = text.split("-")[0]
    for candidate in (primary, aliases.get(primary), names.get(text)):
        code = candidate.split("_")[0] if candidate else None
        if code in codes:
            return code
    return None


@cache
def _languages() -> tuple[frozenset[str], dict[str, str], dict[str, str]]:
    # CLDR's data (via Babel): codes with English names, aliases (ISO 639-2 "eng"/"fre"/"ger",
    # retired "iw"/"in") and the names themselves. Imported on first use (~40 ms): the bot's
    # other paths need no Babel.
    from babel import Locale
    from babel.core import get_global

    english = Locale("en").languages
    codes = frozenset(c for c in english if c.isalpha() and c.islower()) - _NO_LANGUAGE
    aliases = {k: v for k, v in get_global("language_aliases").items() if v}
    names: dict[str, str] = {}
    for code, name in english.items():
        names.setdefault(name.lower(), code)
    return codes, aliases, names
