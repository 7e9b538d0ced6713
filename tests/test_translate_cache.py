from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from kanalwerk.config import DeepLConfig, LibreTranslateConfig, OpenAIConfig
from kanalwerk.errors import Blame, TranslationError
from kanalwerk.models import Usage
from kanalwerk.store import Store
from kanalwerk.translate.base import Translation, TranslationRequest, Translator
from kanalwerk.translate.cache import (
    CachingTranslator,
    RequestLimits,
    StoreCache,
    text_hash,
)
from kanalwerk.translate.deepl import DeepLTranslator
from kanalwerk.translate.glossary import with_glossary
from kanalwerk.translate.libretranslate import LibreTranslateTranslator
from kanalwerk.translate.local import LocalTranslator
from kanalwerk.translate.openai import OpenAITranslator
from kanalwerk.translate.packages import InstalledPackage, install_from_file
from kanalwerk.translate.segment import segment_html
from tests.fake_deepl import FakeDeepL
from tests.fake_libretranslate import FakeLibreTranslate
from tests.fake_openai import FakeOpenAI, Fault, error_body
from tests.servers import LocalServer, Request, Response
from tests.tiny_model import session_models


class Recording:
    """An engine that records each request and answers "DE:" + text, or fails on demand."""

    def __init__(self, engine: str = "rec", model: str | None = "v1") -> None:
        self._engine = engine
        self._model = model
        self.requests: list[TranslationRequest] = []
        self.fail_on_call: int | None = None
        self.closed = False

    @property
    def engine(self) -> str:
        return self._engine

    @property
    def model(self) -> str | None:
        return self._model

    def translate(self, request: TranslationRequest) -> Translation:
        self.requests.append(request)
        if self.fail_on_call == len(self.requests):
            raise TranslationError("engine down", blame=Blame.TRANSIENT)
        texts = tuple(f"DE:{t}" for t in request.texts)
        return Translation(
            texts,
            self._engine,
            self._model,
            Usage(requests=1, characters=sum(len(t) for t in request.texts)),
        )

    def close(self) -> None:
        self.closed = True


class Caches:
    """Real store-backed caches, each on a fresh database file, and their rows to look at."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._stores: dict[int, tuple[Store, Path]] = {}

    def new(self) -> StoreCache:
        path = self._folder / f"cache-{len(self._stores)}.db"
        store = Store.open(f"sqlite:///{path}")
        cache = StoreCache(store)
        self._stores[id(cache)] = (store, path)
        return cache

    def rows(self, cache: StoreCache) -> list[tuple[str, str, str, str, str, str]]:
        """(engine, model, source, target, format, hash) of every entry in `cache`."""
        with closing(sqlite3.connect(self._stores[id(cache)][1])) as db:
            query = "SELECT engine, model, source_lang, target_lang, fmt, text_hash"
            return list(db.execute(query + " FROM translation_cache"))

    def close(self) -> None:
        for store, _ in self._stores.values():
            store.close()


@pytest.fixture
def caches(tmp_path: Path) -> Iterator[Caches]:
    made = Caches(tmp_path)
    try:
        yield made
    finally:
        made.close()


def req(*texts: str, glossary: tuple[tuple[str, str], ...] = ()) -> TranslationRequest:
    return TranslationRequest(texts, "en", "de", "html", glossary)


def test_second_identical_call_is_answered_from_the_cache(caches: Caches) -> None:
    inner = Recording()
    cached = CachingTranslator(inner, caches.new())
    assert isinstance(cached, Translator)
    first = cached.translate(req("Hello", "World"))
    second = cached.translate(req("Hello", "World"))
    assert first.texts == second.texts == ("DE:Hello", "DE:World")
    assert len(inner.requests) == 1
    assert first.usage == Usage(requests=1, characters=10)
    assert second.usage == Usage()
    assert (second.engine, second.model) == ("rec", "v1")


def test_duplicates_in_one_batch_are_sent_once(caches: Caches) -> None:
    inner = Recording()
    result = CachingTranslator(inner, caches.new()).translate(req("A b", "C d", "A b", "A b"))
    assert result.texts == ("DE:A b", "DE:C d", "DE:A b", "DE:A b")
    assert [r.texts for r in inner.requests] == [("A b", "C d")]
    assert result.usage.characters == 6


def test_partial_hits_send_only_misses(caches: Caches) -> None:
    inner = Recording()
    cached = CachingTranslator(inner, caches.new())
    cached.translate(req("one", "two"))
    result = cached.translate(req("two", "three", "one", "four"))
    assert result.texts == ("DE:two", "DE:three", "DE:one", "DE:four")
    assert inner.requests[-1].texts == ("three", "four")
    assert inner.requests[-1].source_lang == "en"
    assert inner.requests[-1].fmt == "html"
    assert result.usage == Usage(requests=1, characters=9)


def test_glossary_change_invalidates(caches: Caches) -> None:
    inner = Recording()
    cached = CachingTranslator(inner, caches.new())
    cached.translate(req("Agent mode", glossary=(("Agent", "Agent"),)))
    cached.translate(req("Agent mode", glossary=(("Agent", "Agent"),)))
    assert len(inner.requests) == 1
    cached.translate(req("Agent mode", glossary=(("Agent", "Agent"), ("mode", "Modus"))))
    assert len(inner.requests) == 2
    assert inner.requests[-1].glossary == (("Agent", "Agent"), ("mode", "Modus"))
    # same terms in another order: same meaning, same key
    cached.translate(req("Agent mode", glossary=(("mode", "Modus"), ("Agent", "Agent"))))
    assert len(inner.requests) == 2
    assert text_hash("x", (("a", "b"),)) != text_hash("x", (("a", "c"),))


def test_key_includes_engine_model_languages_and_format(caches: Caches) -> None:
    cache = caches.new()
    CachingTranslator(Recording("rec", "v1"), cache).translate(req("Hello"))
    for inner, request in [
        (Recording("rec", "v2"), req("Hello")),
        (Recording("other", "v1"), req("Hello")),
        (Recording("rec", "v1"), TranslationRequest(("Hello",), "fr", "de", "html")),
        (Recording("rec", "v1"), TranslationRequest(("Hello",), "en", "de", "text")),
    ]:
        CachingTranslator(inner, cache).translate(request)
        assert len(inner.requests) == 1


def test_empty_and_blank_texts_make_no_call(caches: Caches) -> None:
    inner = Recording()
    cached = CachingTranslator(inner, caches.new())
    assert cached.translate(req()).texts == ()
    assert cached.translate(req("", "  \n")).texts == ("", "  \n")
    assert inner.requests == []


def test_each_chunk_is_stored_before_the_next_is_sent(caches: Caches) -> None:
    inner = Recording()
    inner.fail_on_call = 3
    cache = caches.new()
    cached = CachingTranslator(inner, cache, chunk_items=2, chunk_chars=1000)
    texts = tuple(f"text {i}" for i in range(6))
    with pytest.raises(TranslationError, match="engine down"):
        cached.translate(req(*texts))
    assert len(caches.rows(cache)) == 4  # the two chunks that succeeded are kept

    inner.fail_on_call = None
    result = cached.translate(req(*texts))
    assert result.texts == tuple(f"DE:{t}" for t in texts)
    assert inner.requests[-1].texts == ("text 4", "text 5")
    assert result.usage.requests == 1


def test_wrong_number_of_results_is_an_error_and_not_cached(caches: Caches) -> None:
    class Short(Recording):
        def translate(self, request: TranslationRequest) -> Translation:
            full = super().translate(request)
            return Translation(full.texts[:-1], full.engine, full.model, full.usage)

    cache = caches.new()
    with pytest.raises(TranslationError, match="returned 1 translations for 2"):
        CachingTranslator(Short(), cache).translate(req("a x", "b y"))
    assert caches.rows(cache) == []


def test_close_closes_the_engine(caches: Caches) -> None:
    inner = Recording()
    CachingTranslator(inner, caches.new()).close()
    assert inner.closed


def test_store_cache_persists_across_translators(store: Store) -> None:
    first = Recording()
    CachingTranslator(first, StoreCache(store)).translate(req("Hello", "World"))
    again = Recording()
    result = CachingTranslator(again, StoreCache(store)).translate(req("World", "Hello", "New"))
    assert result.texts == ("DE:World", "DE:Hello", "DE:New")
    assert [r.texts for r in again.requests] == [("New",)]


def test_segmented_article_through_cache_and_openai_engine(
    server: LocalServer, store: Store
) -> None:
    fake = FakeOpenAI(server, api_key="sk-e2e")
    engine = OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url, model="deepseek-chat"),
        api_key="sk-e2e",
        sleep=lambda s: None,
    )
    cached = CachingTranslator(engine, StoreCache(store))
    doc = (
        '<p>Read <a href="https://example.org/">this post</a> now.</p>'
        "<p>Run <code>pip install x</code> first.</p><p>Read it again.</p><p>Read it again.</p>"
    )
    try:
        seg = segment_html(doc)
        fake.fail_next(Fault.rate_limited("0"))
        result = cached.translate(TranslationRequest(seg.texts, "en", "de", "html"))
        out = seg.render(result.texts)
        assert out == (
            '<p>DE: Read <a href="https://example.org/">this post</a> now.</p>'
            "<p>DE: Run <code>pip install x</code> first.</p>"
            "<p>DE: Read it again.</p><p>DE: Read it again.</p>"
        )
        assert fake.segments() == [
            "Read <x1>this post</x1> now.",
            "Run <x1/> first.",
            "Read it again.",
        ]
        assert result.usage.requests == 1
        assert (result.engine, result.model) == ("openai", "deepseek-chat")
        before = fake.requests
        again = cached.translate(TranslationRequest(seg.texts, "en", "de", "html"))
        assert again.texts == result.texts
        assert fake.requests == before
    finally:
        cached.close()


# --- chunks match the engine's requests ---------------------------------------------


class Limited(Recording):
    """A `Recording` engine that declares request limits like the HTTP engines do."""

    def __init__(self, texts: int, chars: int | None) -> None:
        super().__init__()
        self._limits = (texts, chars)

    @property
    def max_batch_texts(self) -> int:
        return self._limits[0]

    @property
    def max_batch_chars(self) -> int | None:
        return self._limits[1]


def test_misses_are_chunked_by_the_engines_request_limits(caches: Caches) -> None:
    by_count = Limited(3, None)
    assert isinstance(by_count, RequestLimits)
    texts = tuple(f"text {i}" for i in range(8))
    CachingTranslator(by_count, caches.new()).translate(req(*texts))
    assert [len(r.texts) for r in by_count.requests] == [3, 3, 2]
    # Characters: a chunk fills at most 90 % of the limit (room for glossary tags).
    by_chars = Limited(50, 100)
    CachingTranslator(by_chars, caches.new()).translate(req(*(f"{i:02d}" * 10 for i in range(6))))
    assert [len(r.texts) for r in by_chars.requests] == [4, 2]
    # The cache's own, smaller chunk size still applies.
    small = Limited(50, None)
    CachingTranslator(small, caches.new(), chunk_items=2).translate(req(*texts[:5]))
    assert [len(r.texts) for r in small.requests] == [2, 2, 1]


def test_limits_come_from_the_raw_engine_under_wrappers(caches: Caches) -> None:
    raw = Limited(4, None)
    wrapped = with_glossary("libretranslate", raw)
    assert not isinstance(wrapped, RequestLimits)
    texts = tuple(f"AI text {i}" for i in range(10))
    cached = CachingTranslator(wrapped, caches.new(), engine=raw)
    result = cached.translate(req(*texts, glossary=(("AI", "KI"),)))
    assert [len(r.texts) for r in raw.requests] == [4, 4, 2]
    assert result.texts == tuple(f"DE:KI text {i}" for i in range(10))


@dataclass
class Api:
    """One HTTP engine on a loopback fake: how to build it and read a request's texts."""

    name: str
    path: str
    per_request: int
    build: Callable[[LocalServer], Translator]
    texts_of: Callable[[Request], list[str]]


def _openai(server: LocalServer) -> Translator:
    fake = FakeOpenAI(server, api_key="sk-chunks")
    return OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url, model="m", max_retries=0),
        api_key="sk-chunks",
        sleep=lambda s: None,
    )


def _deepl(server: LocalServer) -> Translator:
    fake = FakeDeepL(server, key="chunks:fx")
    return DeepLTranslator(
        DeepLConfig(base_url=fake.url, max_retries=0), api_key="chunks:fx", sleep=lambda s: None
    )


def _libre(server: LocalServer) -> Translator:
    fake = FakeLibreTranslate(server, batch_limit=25, char_limit=5000)
    return LibreTranslateTranslator(
        LibreTranslateConfig(url=fake.url, max_retries=0), sleep=lambda s: None
    )


APIS = [
    Api(
        "openai",
        "/v1/chat/completions",
        40,
        _openai,
        lambda r: list(json.loads(r.json()["messages"][-1]["content"])["segments"]),
    ),
    Api("deepl", "/v2/translate", 50, _deepl, lambda r: list(r.json()["text"])),
    Api("libretranslate", "/translate", 25, _libre, lambda r: list(r.json()["q"])),
]


@pytest.mark.parametrize("api", APIS, ids=[a.name for a in APIS])
def test_a_failing_request_loses_no_answered_one(
    server: LocalServer, api: Api, caches: Caches
) -> None:
    """Each engine request is one cache chunk: what was answered is cached at once."""
    engine = api.build(server)
    inner = server.routes[api.path]
    assert callable(inner)
    answered: list[list[str]] = []
    seen = 0

    def gate(request: Request) -> Response:
        nonlocal seen
        seen += 1
        if seen == 2:
            return Response.json(error_body("scripted outage", "server_error", None), 500)
        assert callable(inner)
        response = inner(request)
        if response.status == 200:
            answered.append(api.texts_of(request))
        return response

    server.routes[api.path] = gate
    texts = tuple(f"Paragraph {n} explains step {n} of the report." for n in range(120))
    cache = caches.new()
    cached = CachingTranslator(engine, cache)
    try:
        with pytest.raises(TranslationError):
            cached.translate(req(*texts))
        assert [len(t) for t in answered] == [api.per_request]
        assert len(caches.rows(cache)) == api.per_request  # the answered request, kept
        result = cached.translate(req(*texts))
    finally:
        cached.close()
    assert len(result.texts) == len(texts) and all(result.texts)
    sizes = [len(t) for t in answered]
    assert max(sizes) == api.per_request and sum(sizes) == len(texts)
    counts = Counter(text for batch in answered for text in batch)
    assert max(counts.values()) == 1  # nothing was paid for twice


# --- the local engine: the model that really translated ---------------------------


class PerLanguage(Recording):
    """Answers with a model that depends on the source language, like local pivots."""

    def model_for(self, source_lang: str, target_lang: str) -> str:
        return f"via-{source_lang}-{target_lang}"

    def translate(self, request: TranslationRequest) -> Translation:
        result = super().translate(request)
        model = self.model_for(request.source_lang, request.target_lang)
        return Translation(result.texts, result.engine, model, result.usage)


def test_cache_keeps_and_returns_the_model_used(caches: Caches) -> None:
    inner = PerLanguage()
    cache = caches.new()
    cached = CachingTranslator(inner, cache)
    french = TranslationRequest(("Bonjour",), "fr", "de", "html")
    assert cached.translate(french).model == "via-fr-de"
    again = cached.translate(french)
    assert (again.model, again.usage, len(inner.requests)) == ("via-fr-de", Usage(), 1)
    assert {row[1] for row in caches.rows(cache)} == {"via-fr-de"}
    assert cached.translate(req("Hello")).model == "via-en-de"


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, InstalledPackage]:
    models = session_models(tmp_path_factory)
    data = tmp_path_factory.mktemp("cache-pivot")
    return {
        "en_de": install_from_file(models.en_de, data),
        "fr_en": install_from_file(models.fr_en, data),
    }


def test_local_engine_translates_one_model_batch_per_chunk(
    routes: dict[str, InstalledPackage], caches: Caches
) -> None:
    """It declares no request limits: a whole call is one batch, so chunks keep their size."""
    engine = LocalTranslator([routes["en_de"]], threads=1, beam_size=2)
    assert not isinstance(engine, RequestLimits)
    texts = tuple(f"The model {n} is big." for n in range(60))
    result = CachingTranslator(engine, caches.new()).translate(req(*texts))
    assert len(result.texts) == 60 and result.usage.requests == 2  # 50, then 10


def test_pivoted_local_translation_is_labelled_with_both_models(
    routes: dict[str, InstalledPackage], caches: Caches
) -> None:
    engine = LocalTranslator(
        [routes["en_de"]],
        threads=1,
        beam_size=2,
        resolve=lambda f, t: [routes["fr_en"], routes["en_de"]],
    )
    cached = CachingTranslator(engine, caches.new())
    french = TranslationRequest(("Le modèle est grand.",), "fr", "de", "text")
    first, second = cached.translate(french), cached.translate(french)
    assert first.model == second.model == "argos-fr_en-1.0+en_de-1.0"
    assert second.usage == Usage() and second.texts == first.texts  # from the cache
    english = cached.translate(TranslationRequest(("The model is big.",), "en", "de", "text"))
    assert english.model == "argos-en_de-1.0"
    assert cached.model == "argos-en_de-1.0"  # the engine's default route is unchanged
