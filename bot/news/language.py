"""Per-item language identification for feeds that do not declare a language (py3langid)."""

from __future__ import annotations

from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Below this probability the guess is left open (None): a headline of names ("Trump", "ICC")
# carries too little text, and an unsure item is better kept than dropped as foreign.
MIN_CONFIDENCE = 0.5


@cache
def _identifier() -> LanguageIdentifier:
    # Loaded on first use: ~0.1 s, and most feeds declare their language and never need it.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """The ISO 639-1 language of ``text``, or None when unsure."""
    if not text or not any(ch.isalpha() for ch in text):
        return None
    code, probability = _identifier().classify(text)
    return code if probability >= MIN_CONFIDENCE else None
