"""What counts as no translation: checked on every answer before it is cached."""

from __future__ import annotations

import pytest

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.translate.answers import check_answers, problem
from kanalwerk.translate.base import TranslationRequest

SENTENCE = "The new model beats every older one on the common benchmarks."
GERMAN = "Das ist schon ein ganz normaler deutscher Satz."


#: A list item of model names: the same in German, and long enough to look like prose.
MODELS = "GPT-4o, Claude Sonnet, Gemini Pro, Llama Maverick, Mistral Large"


@pytest.mark.parametrize(
    ("source", "answer", "found"),
    [
        (SENTENCE, "", "empty"),
        (SENTENCE, "<x1></x1> ", "empty"),
        (SENTENCE, f"<p>{SENTENCE}</p>" * 8, "longer"),
    ],
)
def test_texts_that_are_no_translation(source: str, answer: str, found: str) -> None:
    assert found in (problem(source, answer) or "")


@pytest.mark.parametrize(
    ("source", "answer"),
    [
        (SENTENCE, "Das neue Modell schlägt jedes ältere in den üblichen Benchmarks."),
        (SENTENCE, SENTENCE),  # one text unchanged says nothing; see `unchanged`
        (MODELS, MODELS),
        ("2025 – 42 %", ""),  # nothing to translate
        ("OK", "In Ordnung, das passt so"),  # short texts may grow a lot
    ],
)
def test_texts_that_may_be_translations(source: str, answer: str) -> None:
    assert problem(source, answer) is None


def _request(*texts: str, lang: str = "en") -> TranslationRequest:
    return TranslationRequest(texts, lang, "de", fmt="html")


@pytest.mark.parametrize("lang", ["en", "auto"])
def test_a_whole_item_unchanged_is_no_translation(lang: str) -> None:
    texts = ("Solar power in winter", f"<p>{SENTENCE}</p>", f"<li>{MODELS}</li>")
    with pytest.raises(TranslationError, match="unchanged") as raised:
        check_answers("deepl", _request(*texts, lang=lang), texts)
    assert raised.value.blame is Blame.ITEM


@pytest.mark.parametrize(
    "texts",
    [
        (f"<li>{MODELS}</li>",),  # a list of names: right to keep them
        ("Sam Altman", "OpenAI o3 and GPT-4o"),  # too few words to tell
        (GERMAN, "Noch ein deutscher Satz, der schon fertig ist."),  # German already
    ],
)
def test_an_item_that_may_stay_unchanged(texts: tuple[str, ...]) -> None:
    check_answers("deepl", _request(*texts), texts)


def test_names_unchanged_within_a_translated_item_pass() -> None:
    """segment_html makes one segment of a `<li>` of model names; DeepL keeps it."""
    texts = (f"<p>{SENTENCE}</p>", f"<li>{MODELS}</li>")
    answers = ("<p>Das neue Modell schlägt jedes ältere in den üblichen Benchmarks.</p>", texts[1])
    check_answers("deepl", _request(*texts), answers)


def test_every_answer_problem_is_the_items_fault() -> None:
    """No answer check ends the step: a bad answer costs its item an attempt, nothing more."""
    request = _request(SENTENCE, "A second sentence with plenty of words in it.")
    for answers in [("Der Satz.", ""), ("", ""), request.texts]:
        with pytest.raises(TranslationError) as raised:
            check_answers("openai", request, answers)
        assert raised.value.blame is Blame.ITEM
    check_answers("openai", request, ("Der Satz.", "Ein zweiter Satz."))
