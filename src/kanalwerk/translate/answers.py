"""Is an engine's answer a translation at all? Checked before it is cached or published.

Engines answer HTTP 200 with things that are no translation: an empty string, the
source unchanged, or pages of text for one sentence (a model that wandered off). Such
an answer is never cached (a cache entry is kept for good) and never published: it is
a failure like any other. One bad text is the item's (`Blame.ITEM`: the item counts an
attempt, the queue goes on). Every text of a request bad says little about the item and
much about the engine (misconfigured, or having a bad moment): `Blame.TRANSIENT`, so the
items wait for the next cycle instead of using up their attempts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.translate.base import TranslationRequest
from kanalwerk.translate.language import detect_language

#: An answer may be this many times longer than its source, plus `LENGTH_SLACK` characters
#: (German runs about 30 % longer than English; short texts vary more).
MAX_GROWTH = 3
LENGTH_SLACK = 200
#: A text left unchanged is suspicious only with this many words: names, product
#: names and short labels ("GPT-4o", "Sam Altman") stay the same in German.
MIN_WORDS_UNCHANGED = 6

_TAG = re.compile(r"<[^<>]*>")
_WORD = re.compile(r"[^\W\d_]{2,}")


def _words(text: str) -> list[str]:
    return _WORD.findall(_TAG.sub(" ", text))


def problem(source: str, answer: str, source_lang: str, target_lang: str) -> str | None:
    """What makes `answer` no translation of `source`, or None when it may be one."""
    if not _words(source):
        return None  # numbers, symbols, markup: nothing to translate
    if not _words(answer):
        return "the answer is empty"
    if len(answer) > MAX_GROWTH * len(source) + LENGTH_SLACK:
        return f"the answer is far longer than the source ({len(answer):,} for {len(source):,})"
    if (
        " ".join(answer.split()) == " ".join(source.split())
        and len(_words(source)) >= MIN_WORDS_UNCHANGED
        and _foreign(source, source_lang, target_lang)
    ):
        return "the answer is the source unchanged"
    return None


def _foreign(text: str, source_lang: str, target_lang: str) -> bool:
    """Whether `text` is not in the target language already (then unchanged is right)."""
    if source_lang not in ("", "auto"):
        return source_lang.split("-")[0].lower() != target_lang.split("-")[0].lower()
    detected = detect_language(_TAG.sub(" ", text))
    return detected is not None and detected != target_lang


def check_answers(engine: str, request: TranslationRequest, answers: Sequence[str]) -> None:
    """Raise `TranslationError` when an answer to `request` is not a translation."""
    bad = [
        (source, found)
        for source, answer in zip(request.texts, answers, strict=True)
        if (found := problem(source, answer, request.source_lang, request.target_lang))
    ]
    if not bad:
        return
    source, found = bad[0]
    shown = " ".join(source.split())
    shown = shown if len(shown) <= 60 else shown[:60] + "…"
    every = len(bad) == len(request.texts) > 1
    raise TranslationError(
        f"{engine}: no translation for {len(bad)} of {len(request.texts)} text(s) "
        f"({found}: {shown!r}); nothing of it is used"
        + ("; check the engine's settings" if every else ""),
        blame=Blame.TRANSIENT if every else Blame.ITEM,
        engine=engine,
    )
