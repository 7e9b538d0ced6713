"""What counts as no translation: checked on every answer before it is cached."""

from __future__ import annotations

import pytest

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.translate.answers import check_answers, problem
from kanalwerk.translate.base import TranslationRequest

SENTENCE = "The new model beats every older one on the common benchmarks."
GERMAN = "Das ist schon ein ganz normaler deutscher Satz."


@pytest.mark.parametrize(
    ("source", "answer", "lang", "found"),
    [
        (SENTENCE, "", "en", "empty"),
        (SENTENCE, "<x1></x1> ", "en", "empty"),
        (SENTENCE, f"  {SENTENCE} ", "en", "unchanged"),
        (SENTENCE, f"<p>{SENTENCE}</p>" * 8, "en", "longer"),
        (SENTENCE, SENTENCE, "auto", "unchanged"),  # detected as English
    ],
)
def test_answers_that_are_no_translation(source: str, answer: str, lang: str, found: str) -> None:
    assert found in (problem(source, answer, lang, "de") or "")


@pytest.mark.parametrize(
    ("source", "answer", "lang"),
    [
        (SENTENCE, "Das neue Modell schlägt jedes ältere in den üblichen Benchmarks.", "en"),
        ("Sam Altman", "Sam Altman", "en"),  # names stay
        ("OpenAI o3 and GPT-4o", "OpenAI o3 and GPT-4o", "en"),  # too few words to tell
        ("2025 – 42 %", "", "en"),  # nothing to translate
        (GERMAN, GERMAN, "auto"),  # detected as German already
        ("OK", "In Ordnung, das passt so", "en"),  # short texts may grow a lot
    ],
)
def test_answers_that_may_be_translations(source: str, answer: str, lang: str) -> None:
    assert problem(source, answer, lang, "de") is None


def test_one_bad_text_is_the_items_fault_all_bad_are_not() -> None:
    request = TranslationRequest(
        (SENTENCE, "A second sentence with plenty of words in it."), "en", "de"
    )
    with pytest.raises(TranslationError, match="1 of 2") as one:
        check_answers("openai", request, ("Der Satz.", ""))
    assert one.value.blame is Blame.ITEM
    with pytest.raises(TranslationError, match="2 of 2") as every:
        check_answers("openai", request, ("", ""))
    assert every.value.blame is Blame.TRANSIENT
    check_answers("openai", request, ("Der Satz.", "Ein zweiter Satz."))
