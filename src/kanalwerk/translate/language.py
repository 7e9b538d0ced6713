"""Offline language detection, for items whose feed does not say its language.

py3langid ships its model inside the package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from kanalwerk.sanitize import html_to_text

#: Below this many letters a guess is noise; the caller falls back to its default.
MIN_LETTERS = 20
#: Normalised probability a guess must reach to be trusted.
MIN_CONFIDENCE = 0.8

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text`, or None when it is too short or too mixed to tell."""
    if len(_LETTER.findall(text)) < MIN_LETTERS:
        return None
    lang, probability = _identifier().classify(text[:5000])
    return str(lang) if float(probability) >= MIN_CONFIDENCE else None


def detect_html_language(title: str, body_html: str) -> str | None:
    return detect_language(f"{title}\n{html_to_text(body_html)}")


def normalise_language(code: str | None) -> str | None:
    """`en-US`, `en_us`, `EN` → `en`; empty → None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base or None
