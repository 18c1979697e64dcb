"""The word lists the pipeline reads (bot/news/data/*.toml), extended by an operator's LEXICON_FILE."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

SPECIAL_TOPICS = ("negative", "neutral")
_FILES = ("topics.toml", "places.toml", "text.toml")
T = TypeVar("T")


class LexiconError(ValueError):
    """A lexicon file is unreadable or does not follow the layout of bot/news/data."""


@dataclass(frozen=True)
class Lexicon:
    """Every word list, merged: the package's defaults, then the operator's file."""

    topics: dict[str, str]  # security topic -> label, in display order
    terms: dict[str, tuple[str, float]]  # raw term ("shelling=") -> (topic, weight), file order
    places: dict[str, tuple[str, float]]  # raw place term -> (region, weight), file order
    same_place: dict[str, str]  # spelling -> the place it names ("israeli" -> "israel")
    regions: tuple[str, ...]
    stopwords: frozenset[str]
    tracking_params: frozenset[str]
    framing: tuple[str, ...]
    framing_factor: float
    roundup: tuple[str, ...]
    agencies: tuple[str, ...]  # photo agencies, capitals as written ("Getty Images", "AFP")
    furniture: tuple[str, ...]  # phrases cut out of descriptions, capitals as written
    dangling: frozenset[str]  # words no sentence ends with
    speech: frozenset[str]  # verbs of speech ("said", "told")
    labels: frozenset[str]  # paragraph labels ("why it matters"), stripped before a sentence
    junk: tuple[str, ...]  # phrases of sentences never quoted
    presenters: tuple[str, ...]  # present-tense verbs of clip introductions and captions
    finite_verbs: frozenset[str]  # finite verbs without an -ed or -s ending ("said", "fled")
    subjects: frozenset[str]  # subject pronouns: a sentence with one has a verb


def _weight(key: str, where: str) -> float:
    try:
        return float(key)
    except ValueError:
        raise LexiconError(f"{where}: {key!r} is not a weight") from None


def _terms(table: object, where: str) -> list[tuple[float, str]]:
    if not isinstance(table, dict):
        raise LexiconError(f"{where}: expected a table of weight = [terms]")
    out: list[tuple[float, str]] = []
    for key, terms in table.items():
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise LexiconError(f"{where}.{key}: expected a list of strings")
        weight = _weight(key, where)
        out += [(weight, t.strip().lower()) for t in terms if t.strip()]
    return out


# The phrase and word lists of text.toml: (table, key) -> field. Agencies and furniture keep
# their capitals (a credit's agency is matched as written or in capitals); the rest are lower-cased.
_LISTS = {
    ("cleaning", "agencies"): "agencies",
    ("cleaning", "furniture"): "furniture",
    ("sentences", "dangling"): "dangling",
    ("sentences", "speech"): "speech",
    ("junk", "phrases"): "junk",
    ("junk", "presenters"): "presenters",
    ("junk", "labels"): "labels",
    ("captions", "verbs"): "finite_verbs",
    ("captions", "subjects"): "subjects",
}
_AS_WRITTEN = frozenset({"agencies", "furniture"})


def _strings(raw: dict, table: str, key: str, where: str) -> list[str]:
    section = raw.get(table) or {}
    if not isinstance(section, dict):
        raise LexiconError(f"{where}: [{table}] must be a table")
    words = section.get(key, [])
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise LexiconError(f"{where}: {table}.{key} must be a list of strings")
    return [w.strip() for w in words if w.strip()]


def _merge(data: dict, raw: dict, where: str, extending: bool = False) -> None:
    for topic, table in (raw.get("topics") or {}).items():
        if not isinstance(table, dict):
            raise LexiconError(f"{where}: [topics.{topic}] must be a table")
        if extending and topic not in data["topics"]:
            # Chats filter by topic and the keyboards list them: an operator adds words only.
            raise LexiconError(f"{where}: unknown topic {topic!r}; known: {sorted(data['topics'])}")
        if "label" in table:
            if extending:  # the keyboards and the brief show the bundled labels all run long
                raise LexiconError(f"{where}: topic labels cannot be changed ({topic})")
            data["topics"][topic] = str(table["label"])
        for weight, term in _terms(table.get("terms", {}), f"{where}: topics.{topic}.terms"):
            data["terms"][term] = (topic, weight)
    for region, table in (raw.get("places") or {}).items():
        if extending and region not in data["regions"]:
            raise LexiconError(f"{where}: unknown region {region!r}; known: {data['regions']}")
        if region not in data["regions"]:
            data["regions"].append(region)
        for weight, term in _terms(table, f"{where}: places.{region}"):
            name, _, same = term.partition(">")
            data["places"][name.strip()] = (region, weight)
            if same.strip():
                data["same_place"][name.strip().rstrip("=")] = same.strip()
    for key in ("stopwords", "tracking_params"):
        words = raw.get(key, [])
        if not isinstance(words, list):
            raise LexiconError(f"{where}: {key} must be a list")
        data[key] |= {str(w).strip().lower() for w in words}
    data["roundup"] += [str(t).strip().lower() for t in (raw.get("roundup") or {}).get("terms", [])]
    framing = raw.get("framing") or {}
    data["framing"] += [str(t).strip().lower() for t in framing.get("terms", [])]
    if "factor" in framing:
        data["framing_factor"] = float(framing["factor"])
    for (table, key), name in _LISTS.items():
        words = _strings(raw, table, key, where)
        data[name] += words if name in _AS_WRITTEN else [w.lower() for w in words]


def _read(path: Path | None, name: str) -> dict:
    try:
        if path is None:
            text = resources.files("bot.news").joinpath("data", name).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LexiconError(f"{path or name}: {exc}") from None


def load(extra: Path | None = None) -> Lexicon:
    """The default word lists, then ``extra`` (an operator's file) added on top."""
    data: dict = {
        "topics": {},
        "terms": {},
        "places": {},
        "same_place": {},
        "regions": [],
        "stopwords": set(),
        "tracking_params": set(),
        "framing": [],
        "framing_factor": 1.0,
        "roundup": [],
        **{name: [] for name in _LISTS.values()},
    }
    for name in _FILES:
        _merge(data, _read(None, name), name)
    if extra is not None:
        _merge(data, _read(extra, ""), str(extra), extending=True)
    if not 0.0 <= data["framing_factor"] <= 1.0:
        raise LexiconError("framing.factor must be between 0 and 1")
    return Lexicon(
        topics={t: label for t, label in data["topics"].items() if t not in SPECIAL_TOPICS},
        terms=data["terms"],
        places=data["places"],
        same_place=data["same_place"],
        regions=tuple(data["regions"]),
        stopwords=frozenset(data["stopwords"]),
        tracking_params=frozenset(data["tracking_params"]),
        framing=tuple(dict.fromkeys(data["framing"])),
        framing_factor=data["framing_factor"],
        roundup=tuple(dict.fromkeys(data["roundup"])),
        agencies=tuple(dict.fromkeys(data["agencies"])),
        furniture=tuple(dict.fromkeys(data["furniture"])),
        dangling=frozenset(data["dangling"]),
        speech=frozenset(data["speech"]),
        labels=frozenset(data["labels"]),
        junk=tuple(dict.fromkeys(data["junk"])),
        presenters=tuple(dict.fromkeys(data["presenters"])),
        finite_verbs=frozenset(data["finite_verbs"]),
        subjects=frozenset(data["subjects"]),
    )


_current: Lexicon | None = None
_source: Path | None = None


def current() -> Lexicon:
    """The lexicon in use (the bundled word lists until :func:`use` says otherwise)."""
    global _current
    if _current is None:
        _current = load(_source)
    return _current


def use(extra: Path | None) -> Lexicon:
    """Switch to the defaults plus ``extra`` (LEXICON_FILE); a no-op when already in use."""
    global _current, _source
    if _current is not None and extra == _source:
        return _current
    _current, _source = load(extra), extra
    return _current


def derived(build: Callable[[Lexicon], T]) -> Callable[[], T]:
    """A getter for ``build(current())``, rebuilt only when the lexicon in use changes.

    Modules keep their indexes this way (pulled when used) rather than registering listeners.
    """
    built: list = [None, None]

    def get() -> T:
        lex = current()
        if built[0] is not lex:
            built[0], built[1] = lex, build(lex)
        return built[1]

    return get
