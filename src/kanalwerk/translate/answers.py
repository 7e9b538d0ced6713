"""Is an engine's answer a translation at all? Checked before it is cached or published.

Engines answer HTTP 200 with things that are no translation: an empty string, the
source unchanged, or pages of text for one sentence (a model that wandered off). Such
an answer is never cached (a cache entry is kept for good) and never published: it is
a failure like any other, and always the item's (`Blame.ITEM`: the item counts an
attempt, the queue goes on with the next one). No answer check ever ends the step, so
one item cannot stop the others; an engine that answers garbage for item after item is
caught by the pipeline's `ItemFailureStreak` instead.

"Unchanged" is judged on the whole request, never on one text: a list of product names
comes back unchanged from a good engine, a whole article in English does not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.sanitize import collapse_whitespace
from kanalwerk.translate.base import TranslationRequest
from kanalwerk.translate.language import detect_language, normalise_language

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


def _flat(text: str) -> str:
    """The text without its tags, whitespace folded."""
    return collapse_whitespace(_TAG.sub(" ", text))


def problem(source: str, answer: str) -> str | None:
    """What makes `answer` no translation of the one text `source`, or None when it may be one."""
    if not _words(source):
        return None  # numbers, symbols, markup: nothing to translate
    if not _words(answer):
        return "the answer is empty"
    if len(answer) > MAX_GROWTH * len(source) + LENGTH_SLACK:
        return f"the answer is far longer than the source ({len(answer):,} for {len(source):,})"
    return None


def unchanged(
    sources: Sequence[str], answers: Sequence[str], source_lang: str, target_lang: str
) -> bool:
    """Whether the texts together came back as they went, though they need translating.

    Only with enough real words, and only when detection says the joined text is in
    the source language (not already in the target one): names and short labels stay
    the same in German.
    """
    joined = " ".join(_flat(s) for s in sources)
    if joined != " ".join(_flat(a) for a in answers):
        return False
    if len(_words(joined)) < MIN_WORDS_UNCHANGED:
        return False
    detected = detect_language(joined)
    if detected is None or detected == normalise_language(target_lang):
        return False
    source = normalise_language(source_lang)  # None for "auto": any other language counts
    return source is None or detected == source


def check_answers(engine: str, request: TranslationRequest, answers: Sequence[str]) -> None:
    """Raise a `TranslationError` blamed on the item when `answers` are no translation."""
    bad = [
        (source, found)
        for source, answer in zip(request.texts, answers, strict=True)
        if (found := problem(source, answer))
    ]
    count = f"{len(bad)} of {len(request.texts)} text(s)"
    if not bad and unchanged(request.texts, answers, request.source_lang, request.target_lang):
        bad = [(" ".join(request.texts), "the answer is the source unchanged")]
        count = f"all {len(request.texts)} text(s)"
    if not bad:
        return
    source, found = bad[0]
    shown = _flat(source)
    shown = shown if len(shown) <= 60 else shown[:60] + "…"
    raise TranslationError(
        f"{engine}: no translation for {count} ({found}: {shown!r}); nothing of it is used",
        blame=Blame.ITEM,
        engine=engine,
    )
