"""Which language an item is written in: configuration, the feed's word, or detection.

Detection is offline: py3langid ships its model inside the package, so nothing is
downloaded at run time.

Order, first answer wins:

1. the channel's `language:` in feeds.yaml — the user's own statement, never second-guessed;
2. the language the feed declares for the item (entry `xml:lang`, `dc:language`,
   the feed's `<language>` or `xml:lang`, Content-Language) — unless detection
   confidently reads the item's title and text as another language;
3. detection from the title and text;
4. `translator.source_language`, else "auto" (the engine decides).

Why detection may overrule a feed's declaration: many publishing tools fill the feed's
language with a default ("en" for many German video channels and blogs, "de-DE" for a
German blog that also posts in English), and trusting it either pays for "translating"
German text into German or publishes English text as if it were German. The bar for
overruling is much higher than for filling a gap (more text, near-certain guess), so
short titles full of names and product words, which detection gets wrong most often,
keep what the feed says.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Literal

from kanalwerk.sanitize import html_to_text
from kanalwerk.translate.iso639 import THREE_LETTER, TWO_LETTER

#: Below this many letters a guess is noise; the caller falls back to its default.
MIN_LETTERS = 20
#: Normalised probability a guess must reach to be trusted.
MIN_CONFIDENCE = 0.8
#: Evidence needed to overrule the language a feed declares.
OVERRIDE_MIN_LETTERS = 40
OVERRIDE_CONFIDENCE = 0.95
#: Detection reads at most this much text; more adds time, not certainty.
MAX_CHARS = 5000

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_CODE = re.compile(r"[a-z]{2,3}")

Origin = Literal["channel", "feed", "detected", "default"]


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _guess(text: str, min_letters: int, min_confidence: float) -> str | None:
    if len(_LETTER.findall(text[:MAX_CHARS])) < min_letters:
        return None
    lang, probability = _identifier().classify(text[:MAX_CHARS])
    return str(lang) if float(probability) >= min_confidence else None


def detect_language(text: str) -> str | None:
    """ISO 639 code of `text`, or None when it is too short or too mixed to tell."""
    return _guess(text, MIN_LETTERS, MIN_CONFIDENCE)


def item_text(title: str, body_html: str) -> str:
    """What detection reads: the title and the body as plain text."""
    return f"{title}\n{html_to_text(body_html)}"


def normalise_language(code: str | None) -> str | None:
    """`en-US`, `en_us`, `EN` → `en`; empty or not a language code ("English") → None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base if _CODE.fullmatch(base) else None


def language_code(value: str) -> str:
    """`value` as a real ISO 639 code (`en-US` → `en`); ValueError saying what to write.

    A language's name ("English") gets its code suggested, and so does a three-letter
    code that has a two-letter one: feeds and engines use those.
    """
    code = normalise_language(value)
    if code is not None and (code in TWO_LETTER or THREE_LETTER.get(code, "") is None):
        return code
    short = THREE_LETTER.get(code or "")
    if short is not None:
        raise ValueError(f"{value!r} is a three-letter code; did you mean `{short}`?")
    wanted = value.strip().casefold()
    named = [c for c, name in TWO_LETTER.items() if wanted in _names(name)]
    if named:
        raise ValueError(
            f"{value!r} is a language's name, not its code; did you mean `{named[0]}`?"
        )
    raise ValueError(f"{value!r} is not a language code; use an ISO 639 code such as en, fr or de")


def _names(name: str) -> set[str]:
    """'Greek, Modern (1453-)' → {'greek, modern (1453-)', 'greek'}, in lower case."""
    first = name.split(",")[0].split("(")[0].strip()
    return {name.casefold(), first.casefold()}


@dataclass(frozen=True)
class LanguageChoice:
    """The source language chosen for an item and where it came from."""

    code: str  # ISO 639 code, or "auto" when nothing is known
    origin: Origin
    declared: str | None = None  # the feed's language, when detection overruled it

    @property
    def overrules_feed(self) -> bool:
        return self.declared is not None


def choose_source_language(
    *,
    channel: str | None,
    declared: str | None,
    title: str,
    body_html: str,
    default: str | None = None,
) -> LanguageChoice:
    """Decide an item's source language; see the module docstring for the order and why.

    `channel` is the channel's `language:` from feeds.yaml, `declared` the item's
    language as parsed from the feed, `default` `translator.source_language`.
    """
    configured = normalise_language(channel)
    if configured:
        return LanguageChoice(configured, "channel")
    text = item_text(title, body_html)
    feed_says = normalise_language(declared)
    if feed_says:
        detected = _guess(text, OVERRIDE_MIN_LETTERS, OVERRIDE_CONFIDENCE)
        if detected and detected != feed_says:
            return LanguageChoice(detected, "detected", declared=feed_says)
        return LanguageChoice(feed_says, "feed")
    detected = detect_language(text)
    if detected:
        return LanguageChoice(detected, "detected")
    return LanguageChoice(normalise_language(default) or "auto", "default")
