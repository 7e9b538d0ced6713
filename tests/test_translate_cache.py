from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kanalwerk.errors import TranslationError
from kanalwerk.store import Store
from kanalwerk.translate.base import Translation, TranslationRequest, Translator, Usage
from kanalwerk.translate.cache import CachingTranslator, MemoryCache, StoreCache, text_hash
from kanalwerk.translate.openai import OpenAITranslator
from kanalwerk.translate.segment import segment_html
from tests.fake_openai import FakeOpenAI, Fault
from tests.servers import LocalServer


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
            raise TranslationError("engine down", retryable=True)
        texts = tuple(f"DE:{t}" for t in request.texts)
        return Translation(
            texts,
            self._engine,
            self._model,
            Usage(requests=1, characters=sum(len(t) for t in request.texts)),
        )

    def close(self) -> None:
        self.closed = True


def req(*texts: str, glossary: tuple[tuple[str, str], ...] = ()) -> TranslationRequest:
    return TranslationRequest(texts, "en", "de", "html", glossary)


def test_second_identical_call_is_answered_from_the_cache() -> None:
    inner = Recording()
    cached = CachingTranslator(inner, MemoryCache())
    assert isinstance(cached, Translator)
    first = cached.translate(req("Hello", "World"))
    second = cached.translate(req("Hello", "World"))
    assert first.texts == second.texts == ("DE:Hello", "DE:World")
    assert len(inner.requests) == 1
    assert first.usage == Usage(requests=1, characters=10)
    assert second.usage == Usage()
    assert (second.engine, second.model) == ("rec", "v1")


def test_duplicates_in_one_batch_are_sent_once() -> None:
    inner = Recording()
    result = CachingTranslator(inner, MemoryCache()).translate(req("A b", "C d", "A b", "A b"))
    assert result.texts == ("DE:A b", "DE:C d", "DE:A b", "DE:A b")
    assert [r.texts for r in inner.requests] == [("A b", "C d")]
    assert result.usage.characters == 6


def test_partial_hits_send_only_misses() -> None:
    inner = Recording()
    cached = CachingTranslator(inner, MemoryCache())
    cached.translate(req("one", "two"))
    result = cached.translate(req("two", "three", "one", "four"))
    assert result.texts == ("DE:two", "DE:three", "DE:one", "DE:four")
    assert inner.requests[-1].texts == ("three", "four")
    assert inner.requests[-1].source_lang == "en"
    assert inner.requests[-1].fmt == "html"
    assert result.usage == Usage(requests=1, characters=9)


def test_glossary_change_invalidates() -> None:
    inner = Recording()
    cached = CachingTranslator(inner, MemoryCache())
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


def test_key_includes_engine_model_languages_and_format() -> None:
    cache = MemoryCache()
    CachingTranslator(Recording("rec", "v1"), cache).translate(req("Hello"))
    for inner, request in [
        (Recording("rec", "v2"), req("Hello")),
        (Recording("other", "v1"), req("Hello")),
        (Recording("rec", "v1"), TranslationRequest(("Hello",), "fr", "de", "html")),
        (Recording("rec", "v1"), TranslationRequest(("Hello",), "en", "de", "text")),
    ]:
        CachingTranslator(inner, cache).translate(request)
        assert len(inner.requests) == 1


def test_empty_and_blank_texts_make_no_call() -> None:
    inner = Recording()
    cached = CachingTranslator(inner, MemoryCache())
    assert cached.translate(req()).texts == ()
    assert cached.translate(req("", "  \n")).texts == ("", "  \n")
    assert inner.requests == []


def test_each_chunk_is_stored_before_the_next_is_sent() -> None:
    inner = Recording()
    inner.fail_on_call = 3
    cache = MemoryCache()
    cached = CachingTranslator(inner, cache, chunk_items=2, chunk_chars=1000)
    texts = tuple(f"text {i}" for i in range(6))
    with pytest.raises(TranslationError, match="engine down"):
        cached.translate(req(*texts))
    assert len(cache.entries) == 4  # the two chunks that succeeded are kept

    inner.fail_on_call = None
    result = cached.translate(req(*texts))
    assert result.texts == tuple(f"DE:{t}" for t in texts)
    assert inner.requests[-1].texts == ("text 4", "text 5")
    assert result.usage.requests == 1


def test_wrong_number_of_results_is_an_error_and_not_cached() -> None:
    class Short(Recording):
        def translate(self, request: TranslationRequest) -> Translation:
            full = super().translate(request)
            return Translation(full.texts[:-1], full.engine, full.model, full.usage)

    cache = MemoryCache()
    with pytest.raises(TranslationError, match="returned 1 translations for 2"):
        CachingTranslator(Short(), cache).translate(req("a x", "b y"))
    assert cache.entries == {}


def test_close_closes_the_engine() -> None:
    inner = Recording()
    CachingTranslator(inner, MemoryCache()).close()
    assert inner.closed


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'k.db'}") as opened:
        yield opened


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
        base_url=fake.base_url, model="deepseek-chat", api_key="sk-e2e", sleep=lambda s: None
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
