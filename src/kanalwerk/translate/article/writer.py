"""The article writer: an OpenAI-compatible model writes a German article, checked strictly.

A faulty answer is sent back once with the reason; a second one raises `ArticleInvalid`
(the item's fault), and the caller translates the item instead. A source too long for
one request is condensed into notes first (`condense`: map), and the article is written
from them (reduce). A cached article costs nothing and is returned even when the budget
is spent.
"""

from __future__ import annotations

import logging
from typing import Unpack

from kanalwerk.config import OpenAIConfig
from kanalwerk.errors import ArticleInvalid
from kanalwerk.models import Usage
from kanalwerk.translate.article.base import ArticleRequest, WrittenArticle, describe_usage
from kanalwerk.translate.article.cache import article_key, cached_article, store_article
from kanalwerk.translate.article.condense import Condensed, Condenser
from kanalwerk.translate.article.prompt import (
    DEFAULT_ARTICLE_PROMPT,
    condensed_message,
    correction,
    render_article_prompt,
    source_message,
    source_text,
)
from kanalwerk.translate.article.validate import validate_article
from kanalwerk.translate.cache import TranslationCache
from kanalwerk.translate.meter import Meter
from kanalwerk.translate.openai import (
    ChatEngine,
    ChatReply,
    ChatSettings,
    api_key,
    decode_json_answer,
)

log = logging.getLogger(__name__)


class OpenAIArticleWriter(ChatEngine):
    """Writes German articles through `POST {base_url}/chat/completions` in JSON mode."""

    def __init__(
        self,
        settings: OpenAIConfig,
        *,
        api_key: str | None,
        cache: TranslationCache | None = None,
        meter: Meter | None = None,
        **chat: Unpack[ChatSettings],
    ):
        # Writing a whole article takes longer than translating.
        super().__init__(settings, api_key=api_key, timeout=settings.article_timeout, **chat)
        self._temperature = settings.article_temperature
        self._template = settings.article_prompt or DEFAULT_ARTICLE_PROMPT
        self._max_source_chars = settings.article_max_source_chars
        self._max_tokens = settings.article_max_tokens
        self._prices = (settings.price_per_million_input, settings.price_per_million_output)
        self._cache = cache
        self._meter = meter
        self._condenser = Condenser(
            self._complete,
            engine=self.engine,
            model=self._model,
            label=self._chat.label,
            max_source_chars=self._max_source_chars,
            cache=cache,
            meter=meter,
            prices=self._prices,
        )

    @classmethod
    def from_config(
        cls,
        settings: OpenAIConfig,
        *,
        cache: TranslationCache | None = None,
        meter: Meter | None = None,
        **chat: Unpack[ChatSettings],
    ) -> OpenAIArticleWriter:
        """Built with the key from the environment variable `settings` names."""
        return cls(settings, api_key=api_key(settings), cache=cache, meter=meter, **chat)

    def write(self, request: ArticleRequest) -> WrittenArticle:
        """The German article for `request`; `TranslationError` (or `ArticleInvalid`) if none.

        A source longer than `article_max_source_chars` is first condensed into notes
        (`condense`), and the article is written from them. A cached article costs
        nothing and is returned even when the budget is spent.
        """
        text = source_text(request.source_html)
        long_source = len(text) > self._max_source_chars
        key = article_key(self._template, request, self._max_source_chars, condensed=long_source)
        if self._cache is not None:
            cached = cached_article(self._cache, self.engine, self._model, request, key)
            if cached is not None:
                return cached
        condensed: Condensed | None = None
        if long_source:
            condensed = self._condenser.condense(text, request.source_lang)
            user, characters = condensed_message(request, condensed), len(condensed.text())
        else:
            user, characters = source_message(request, text), len(text)
        notes_usage = condensed.usage if condensed is not None else Usage()
        if self._meter is not None:
            self._meter.check(self.engine, characters, needed_for=" for an article")
        messages: list[dict[str, str]] = [
            {"role": "system", "content": render_article_prompt(self._template, request)},
            {"role": "user", "content": user},
        ]
        usage = Usage()
        for attempt in (1, 2):
            reply = self._complete(messages, characters)
            usage = usage + reply.usage
            if self._meter is not None:
                self._meter.record(self.engine, self._model, reply.usage)
            if reply.context_exceeded:
                raise self._invalid(
                    "the source exceeds the model's context; lower max_source_chars",
                    notes_usage + usage,
                )
            if reply.finish_reason == "length":
                raise self._invalid(
                    "answer truncated; raise max tokens or shorten the source",
                    notes_usage + usage,
                )
            try:
                if reply.content is None:
                    raise ArticleInvalid("the answer has no content")
                try:
                    data = decode_json_answer(reply.content)
                except ValueError as exc:
                    raise ArticleInvalid("the answer is not JSON") from exc
                title, teaser, body = validate_article(
                    data, source_html=request.source_html, link=request.link
                )
            except ArticleInvalid as exc:
                if attempt == 2:
                    raise self._invalid(exc.reason, notes_usage + usage, after=attempt) from exc
                log.warning("%s: unusable article (%s); asking again", self._chat.label, exc.reason)
                messages += [
                    {"role": "assistant", "content": reply.content or ""},
                    {"role": "user", "content": correction(exc.reason)},
                ]
                continue
            written = WrittenArticle(
                title,
                teaser,
                body,
                self.engine,
                self._model,
                notes_usage + usage,
                notes_usage,
                len(condensed.parts) if condensed is not None else 0,
            )
            if self._cache is not None:
                store_article(self._cache, request, key, written)
            return written
        raise AssertionError("unreachable")  # pragma: no cover

    def _complete(self, messages: list[dict[str, str]], characters: int) -> ChatReply:
        """One request in article mode, notes or article: `characters` of the source in it."""
        return self._chat.complete(
            messages,
            characters=characters,
            temperature=self._temperature,
            max_tokens=self._max_tokens,
        )

    def _invalid(self, reason: str, usage: Usage, *, after: int = 0) -> ArticleInvalid:
        attempts = f" after {after} attempts" if after else ""
        return ArticleInvalid(
            reason,
            message=f"{self._chat.label} wrote no usable article{attempts}: {reason}",
            spent=describe_usage(usage, *self._prices),
        )
