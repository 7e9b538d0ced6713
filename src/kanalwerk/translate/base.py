"""The contract every translation engine fulfils.

Engines are small: they turn a batch of texts into a batch of texts. Segmenting HTML,
caching, retries across cycles and fallback live outside them, so a new engine (DeepL,
LibreTranslate, a local model) only has to speak its own API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from kanalwerk.models import Usage

TextFormat = Literal["text", "html"]


@dataclass(frozen=True)
class TranslationRequest:
    """A batch of segments in one language to translate into another.

    With `fmt="html"` each text may hold inline markup placeholders produced by
    `translate.segment` (`<x1>…</x1>`, `<x2/>`); engines must keep them.
    """

    texts: tuple[str, ...]
    source_lang: str  # "en", or "auto" when unknown
    target_lang: str  # `translator.target_language`
    fmt: TextFormat = "text"
    glossary: tuple[tuple[str, str], ...] = ()  # (source term, target term)


@dataclass(frozen=True)
class Translation:
    """One output text per input text, in the same order."""

    texts: tuple[str, ...]
    engine: str
    model: str | None
    usage: Usage = field(default_factory=Usage)


@runtime_checkable
class Translator(Protocol):
    """A translation engine. Raise `errors.TranslationError` on failure, never partial output."""

    @property
    def engine(self) -> str:
        """Short engine name as used in `feeds.yaml` (`openai`, `deepl`, …)."""
        ...

    @property
    def model(self) -> str | None:
        """Model or variant identifier; part of the cache key."""
        ...

    def translate(self, request: TranslationRequest) -> Translation: ...

    def close(self) -> None: ...


class TranslatorWrapper:
    """Base of the wrappers around an engine (cache, glossary, meter): they go by its name."""

    def __init__(self, inner: Translator):
        self._inner = inner

    @property
    def engine(self) -> str:
        return self._inner.engine

    @property
    def model(self) -> str | None:
        return self._inner.model

    def close(self) -> None:
        self._inner.close()


def unwrap(translator: Translator) -> Translator:
    """The raw engine under any `TranslatorWrapper`s."""
    while isinstance(translator, TranslatorWrapper):
        translator = translator._inner
    return translator


def batched(texts: Sequence[str], max_items: int, max_chars: int) -> list[list[int]]:
    """Group text indexes into batches bounded by count and total characters.

    A single text longer than `max_chars` gets a batch of its own.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, text in enumerate(texts):
        if current and (len(current) >= max_items or size + len(text) > max_chars):
            batches.append(current)
            current, size = [], 0
        current.append(index)
        size += len(text)
    if current:
        batches.append(current)
    return batches
