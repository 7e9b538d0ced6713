"""Build the configured translation engine, wrapped in the cache, from `feeds.yaml`.

Engines are imported lazily so that a user of one engine never pays for another's
dependencies (the local engine loads native libraries).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from kanalwerk import __version__
from kanalwerk.config import Config
from kanalwerk.errors import Blame, TranslationError
from kanalwerk.fetch import default_user_agent
from kanalwerk.store import Store
from kanalwerk.translate.article.base import ArticleWriter
from kanalwerk.translate.article.writer import OpenAIArticleWriter
from kanalwerk.translate.base import Translator
from kanalwerk.translate.cache import CachingTranslator, StoreCache
from kanalwerk.translate.chain import ChainTranslator, settings_key
from kanalwerk.translate.glossary import with_glossary
from kanalwerk.translate.meter import Meter, MeteredTranslator


def user_agent(config: Config) -> str:
    """The configured User-Agent, else kanalwerk's own; one for feeds and engines alike."""
    return config.fetch.user_agent or default_user_agent(__version__, config.site.base_url)


def build_engine(name: str, config: Config) -> Translator:
    """One raw engine by its `feeds.yaml` name, configured but not cached."""
    tc = config.translator
    agent = user_agent(config)
    if name == "openai":
        from kanalwerk.translate.openai import OpenAITranslator

        return OpenAITranslator.from_config(tc.openai, user_agent=agent)
    if name == "local":
        from kanalwerk.progress import download_progress
        from kanalwerk.translate.local import local_translator

        return local_translator(
            tc.local,
            tc.source_language,
            tc.target_language,
            progress=download_progress("downloading translation model"),
        )
    if name == "deepl":
        from kanalwerk.translate.deepl import DeepLTranslator

        return DeepLTranslator.from_config(tc.deepl, user_agent=agent)
    if name == "libretranslate":
        from kanalwerk.translate.libretranslate import LibreTranslateTranslator

        engine = LibreTranslateTranslator.from_config(tc.libretranslate, user_agent=agent)
        try:
            engine.check_languages(tc.source_language, tc.target_language)
        except TranslationError:
            engine.close()
            raise
        return engine
    raise TranslationError(
        f"translator engine {name!r} is not available in this version of kanalwerk",
        blame=Blame.ENGINE,
    )


def build_translator(config: Config, store: Store) -> Translator:
    """The configured engine and its fallbacks, each metered and behind the cache.

    Order of wrapping: chain → cache → glossary → meter → engine. The cache answers
    before the meter, so cached text never counts against a budget; the glossary
    wrapper (`translate.glossary`) swaps terms for placeholders and back around what
    the meter counts and the engine sees.
    """
    tc = config.translator
    names = tc.engines
    cache = StoreCache(store)

    def factory(name: str) -> Callable[[], Translator]:
        def build() -> Translator:
            budget = tc.budget_for(name)
            engine = build_engine(name, config)
            metered = MeteredTranslator(
                engine,
                store,
                daily_characters=budget.daily_characters,
                daily_tokens=budget.daily_tokens,
            )
            glossary_id = tc.deepl.glossary_id
            return CachingTranslator(
                with_glossary(name, metered, deepl_glossary_id=glossary_id), cache
            )

        return build

    chain = [(name, factory(name)) for name in names]
    return ChainTranslator(chain, store=store, settings=translator_settings(config))


def translator_settings(config: Config) -> str:
    """The fingerprint of the translator section: a suspect engine's pause ends with it."""
    return settings_key(config.translator.model_dump_json())


def build_article_writer(config: Config, store: Store) -> ArticleWriter:
    """The writer for `translator.mode: article`, from the `translator.openai` settings.

    Whatever `translator.engine` is, articles are written by the OpenAI-compatible API;
    the engine chain translates an item whose article came out unusable. Written
    articles are cached in the store, and usage counts against the openai budget.
    """
    tc = config.translator
    budget = tc.budget_for("openai")
    meter = Meter(store, daily_characters=budget.daily_characters, daily_tokens=budget.daily_tokens)
    return OpenAIArticleWriter.from_config(
        tc.openai, cache=StoreCache(store), meter=meter, user_agent=user_agent(config)
    )


class _Closeable(Protocol):
    def close(self) -> None: ...


_Built = TypeVar("_Built", bound=_Closeable)


class Holder(Generic[_Built]):
    """Keeps what `factory` builds (one HTTP client) across rounds.

    Built on first use, and closed and built anew only after a config edit changed
    `translator`.
    """

    def __init__(self, factory: Callable[[Config, Store], _Built], store: Store):
        self._factory = factory
        self._store = store
        self._config: Config | None = None
        self._built: _Built | None = None
        self._lock = threading.Lock()

    def update(self, config: Config) -> None:
        with self._lock:
            unchanged = self._config is not None and self._config.translator == config.translator
            self._config = config
            if not unchanged and self._built is not None:
                self._built.close()
                self._built = None

    def get(self) -> _Built:
        with self._lock:
            assert self._config is not None
            if self._built is None:
                self._built = self._factory(self._config, self._store)
            return self._built

    def close(self) -> None:
        with self._lock:
            if self._built is not None:
                self._built.close()
                self._built = None


class TranslatorHolder(Holder[Translator]):
    """The engine chain for translation."""


class ArticleWriterHolder(Holder[ArticleWriter]):
    """The article writer for `translator.mode: article`."""
