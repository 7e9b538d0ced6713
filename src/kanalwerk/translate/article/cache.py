"""Finished articles in the translation cache, keyed by everything that shapes them."""

from __future__ import annotations

import hashlib
import json

from kanalwerk.models import Usage
from kanalwerk.translate.article.base import ArticleRequest, WrittenArticle
from kanalwerk.translate.article.condense import NOTES_VERSION
from kanalwerk.translate.cache import CacheScope, TranslationCache

#: Bump to invalidate every cached article (e.g. when validation becomes stricter).
KEY_VERSION = "1"
CACHE_FORMAT = "article"
#: Part of the key of an article written from notes: bump when condensing changes.
CONDENSE_METHOD = f"notes-{NOTES_VERSION}"


def article_key(
    template: str, request: ArticleRequest, max_source_chars: int, *, condensed: bool = False
) -> str:
    """Cache key of a finished article: everything that shapes what the model is asked.

    An article written from notes (`condensed`) also depends on how they are made.
    """
    # Added only when used, so the keys of articles cached before stay valid.
    method = [CONDENSE_METHOD] if condensed else []
    method += [f"label:{request.source_label}"] if request.source_label else []
    payload = json.dumps(
        [
            *method,
            KEY_VERSION,
            template,
            request.title,
            request.source_html,
            request.source_lang,
            request.channel_name,
            request.link,
            request.is_video,
            sorted([source, target] for source, target in request.glossary),
            max_source_chars,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def cached_article(
    cache: TranslationCache, engine: str, model: str | None, request: ArticleRequest, key: str
) -> WrittenArticle | None:
    """The article stored under `key`, costing nothing; None when absent or unreadable."""
    found = cache.get(_scope(engine, model, request), [key])
    try:
        data = json.loads(found[key])
        title, teaser, body = (data[name] for name in ("title", "teaser", "body_html"))
    except (KeyError, ValueError, TypeError):
        return None  # absent or unreadable: write it afresh
    if not all(isinstance(value, str) and value for value in (title, teaser, body)):
        return None
    return WrittenArticle(title, teaser, body, engine, model, Usage())


def store_article(
    cache: TranslationCache, request: ArticleRequest, key: str, article: WrittenArticle
) -> None:
    value = json.dumps(
        {"title": article.title, "teaser": article.teaser, "body_html": article.body_html},
        ensure_ascii=False,
    )
    cache.put(_scope(article.engine, article.model, request), {key: value})


def _scope(engine: str, model: str | None, request: ArticleRequest) -> CacheScope:
    return CacheScope(engine, model, request.source_lang, "de", CACHE_FORMAT)
