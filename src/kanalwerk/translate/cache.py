"""Translation cache in front of an engine: never pay twice for the same text.

Entries are keyed by engine, model, languages, format and a hash of the exact source
text together with the glossary, so a glossary edit translates everything afresh. The
model is the one that really translates the request's languages (a local pivot such as
`argos-fr_en-1.0+en_de-1.0`), so results name it and a new model version translates anew.
Misses are sent in chunks that each fit one request of the engine, and each chunk is
stored as soon as it comes back, so a crash or an engine failure half-way through an
item loses nothing already paid for. An answer that is no translation (empty, the
source unchanged, absurdly long; see `translate.answers`) is never stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.models import Usage
from kanalwerk.translate.answers import check_answers
from kanalwerk.translate.base import (
    Translation,
    TranslationRequest,
    Translator,
    TranslatorWrapper,
    batched,
    unwrap,
)

if TYPE_CHECKING:  # the type only: the cache module itself loads no SQL library
    from kanalwerk.store import Store

#: Bump to invalidate every cached entry (e.g. when segmentation changes what is sent).
KEY_VERSION = "1"
#: Share of an engine's per-request character limit a chunk may fill. The glossary
#: wrapper between cache and engine swaps terms for placeholder tags, which can make a
#: text a little longer than the cache saw it.
CHAR_HEADROOM = 0.9


@runtime_checkable
class RequestLimits(Protocol):
    """An engine that splits a translate call into requests of at most this size."""

    @property
    def max_batch_texts(self) -> int: ...

    @property
    def max_batch_chars(self) -> int | None:
        """Characters per request, or None when only the count is limited."""
        ...


@runtime_checkable
class ModelPerLanguage(Protocol):
    """An engine whose model depends on the languages (the local engine's routes)."""

    def model_for(self, source_lang: str, target_lang: str) -> str | None: ...


class CacheScope(NamedTuple):
    """What a cached text holds for: one engine and model, one language pair, one format.

    In the order of the store's `cache_get`/`cache_put` key arguments.
    """

    engine: str
    model: str | None
    source_lang: str
    target_lang: str
    fmt: str


class TranslationCache(Protocol):
    def get(self, scope: CacheScope, hashes: Sequence[str]) -> dict[str, str]: ...

    def put(self, scope: CacheScope, entries: Mapping[str, str]) -> None: ...


class StoreCache:
    """`TranslationCache` over the store's translation cache table (`Store.cache_get`/`put`)."""

    def __init__(self, store: Store):
        self._store = store

    def get(self, scope: CacheScope, hashes: Sequence[str]) -> dict[str, str]:
        return self._store.cache_get(*scope, hashes)

    def put(self, scope: CacheScope, entries: Mapping[str, str]) -> None:
        self._store.cache_put(*scope, entries)


def text_hash(text: str, glossary: Sequence[tuple[str, str]] = ()) -> str:
    """Cache key of one source text under a glossary (order of glossary terms is irrelevant)."""
    payload = json.dumps(
        [KEY_VERSION, text, sorted([source, target] for source, target in glossary)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _blank(text: str) -> bool:
    return not text.strip()


class CachingTranslator(TranslatorWrapper):
    """A `Translator` that answers from the cache and sends only misses, once each.

    Every answered engine request is cached at once. Engines split a translate call
    into requests of their own (OpenAI at most 40 texts and `max_batch_chars`,
    LibreTranslate 25 texts and 5000 characters, DeepL 50 texts and 128 KiB) and return
    nothing until all are answered, so a chunk of several requests whose last one
    fails would lose the answers already paid for. Hence the cache asks the engine for
    its limits (`RequestLimits`) and sends misses in chunks that fit one request each,
    at most `chunk_items` texts and `chunk_chars` characters, and caches each chunk
    right after it is translated. That keeps the engine contract simple (a batch in, a
    batch out, never partial output) and asks nothing of the wrappers between cache and
    engine (glossary, meter), which a progress callback from the engines would. The
    local engine declares no limits: it runs a whole call as one model batch, so the
    chunk size only bounds the work a crash can lose. Left over: a request an engine
    splits after a bad answer (OpenAI halves a batch it cannot parse, DeepL one it
    refused as too large) is still one chunk here.

    `engine` is the raw engine under any wrappers (default: the one under `inner`'s
    `TranslatorWrapper`s); its limits and, if it has one, its per-language model
    (`ModelPerLanguage`) are used. Blank texts are returned as they are without being sent.
    """

    def __init__(
        self,
        inner: Translator,
        cache: TranslationCache,
        *,
        engine: object | None = None,
        chunk_items: int = 50,
        chunk_chars: int = 12_000,
    ):
        super().__init__(inner)
        self._cache = cache
        self._info = unwrap(inner) if engine is None else engine
        self._chunk_items = chunk_items
        self._chunk_chars = chunk_chars
        if isinstance(self._info, RequestLimits):
            self._chunk_items = max(1, min(chunk_items, self._info.max_batch_texts))
            per_request = self._info.max_batch_chars
            if per_request is not None:
                self._chunk_chars = max(1, min(chunk_chars, int(per_request * CHAR_HEADROOM)))

    def _model_for(self, request: TranslationRequest) -> str | None:
        if isinstance(self._info, ModelPerLanguage):
            return self._info.model_for(request.source_lang, request.target_lang)
        return self._inner.model

    def translate(self, request: TranslationRequest) -> Translation:
        engine = self._inner.engine
        hashes = [text_hash(text, request.glossary) for text in request.texts]
        known: dict[str, str] = {
            h: text for h, text in zip(hashes, request.texts, strict=True) if _blank(text)
        }
        wanted = [h for h in dict.fromkeys(hashes) if h not in known]
        if not wanted:
            return Translation(request.texts, engine, self._inner.model)
        model = self._model_for(request)
        scope = CacheScope(engine, model, request.source_lang, request.target_lang, request.fmt)
        known.update(self._cache.get(scope, wanted))
        misses: dict[str, str] = {}
        for h, text in zip(hashes, request.texts, strict=True):
            if h not in known:
                misses.setdefault(h, text)
        usage = Usage()
        miss_hashes = list(misses)
        miss_texts = list(misses.values())
        for chunk in batched(miss_texts, self._chunk_items, self._chunk_chars):
            texts = tuple(miss_texts[i] for i in chunk)
            sent = replace(request, texts=texts)
            result = self._inner.translate(sent)
            if len(result.texts) != len(texts):
                raise TranslationError(
                    f"{engine} returned {len(result.texts)} translations for {len(texts)} texts",
                    blame=Blame.ITEM,
                    engine=engine,
                )
            check_answers(engine, sent, result.texts)
            entries = {miss_hashes[i]: out for i, out in zip(chunk, result.texts, strict=True)}
            self._cache.put(scope, entries)
            known.update(entries)
            usage = usage + result.usage
        return Translation(tuple(known[h] for h in hashes), engine, model, usage)
