"""One stored item made into a German article: translated, written by the article writer
in article mode, or taken as it is when it is German already.

Errors say whose failure it was (`Blame`); the translate step decides what each costs.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from kanalwerk.basis import basis
from kanalwerk.compose import compose_article
from kanalwerk.config import Config
from kanalwerk.errors import ArticleInvalid, Blame, TranslationError
from kanalwerk.models import Article, SiteInfo, StoredItem
from kanalwerk.sanitize import html_to_text
from kanalwerk.translate.article.base import (
    ArticleRequest,
    ArticleWriter,
    article_engine,
    describe_written,
)
from kanalwerk.translate.article.source import article_source
from kanalwerk.translate.base import TranslationRequest, Translator
from kanalwerk.translate.chain import Suspensions
from kanalwerk.translate.language import choose_source_language
from kanalwerk.translate.segment import segment_html

#: The stages log as the pipeline: a JSON log line without an event names it.
log = logging.getLogger("kanalwerk.pipeline")


def source_language(config: Config, stored: StoredItem) -> str:
    """The item's language: channel config, else the feed's word or detection; see `language`."""
    channel = config.channel(stored.channel_id)
    item = stored.item
    choice = choose_source_language(
        channel=channel.language if channel else None,
        declared=item.language,
        title=item.title,
        body_html=item.content_html or item.summary_html,
        default=config.translator.source_language,
    )
    if choice.overrules_feed:
        log.info(
            "%s: %r reads as %s although the feed says %s",
            stored.source.channel_name,
            item.title,
            choice.code,
            choice.declared,
        )
    return choice.code


def _translate_item(
    config: Config,
    stored: StoredItem,
    engine: Callable[[], Translator],
    site: SiteInfo,
    article_writer: Callable[[], ArticleWriter | None] | None,
    resting: Suspensions,
) -> Article:
    """The item's German article: written by `article_writer` when given, else translated.

    An article the writer cannot get right (`ArticleInvalid`) falls back to translation.
    So does a writer that must rest (its error names `until`: Retry-After, quota,
    budget): it is suspended in `resting` under its engine's name, so neither it nor the
    chain's engine of that name is asked again until then, and the chain's fallback
    translates meanwhile; with no fallback the item waits. Any other error propagates,
    so an outage leaves the item queued.
    """
    item = stored.item
    channel = config.channel(stored.channel_id)
    made_from = basis(stored, transcript_section=channel.transcript_section if channel else True)
    lang = source_language(config, stored)
    if lang == "de":
        return compose_article(
            stored,
            title_de=item.title,
            body_html_de=made_from.body_html,
            teaser_de=None,
            engine="none",
            model=None,
            site=site,
            translated=False,
            basis=made_from.kind,
            chapters_html_de=made_from.chapters_html,
            transcript_html_de=made_from.transcript_html,
        )
    writer = article_writer() if article_writer is not None else None
    if writer is not None:
        written = _write_article(config, stored, writer, site, lang, resting)
        if written is not None:
            return written
    # Body, chapter titles and transcript travel in one request, each segment cached on
    # its own: a retranslation pays for nothing it has translated before.
    parts = [
        segment_html(made_from.body_html),
        segment_html(made_from.chapters_html),
        segment_html(made_from.transcript_html),
    ]
    # The title travels as an HTML segment without tags so the whole item is one request.
    texts = (html.escape(item.title, quote=False), *(t for part in parts for t in part.texts))
    request = TranslationRequest(
        texts=texts,
        source_lang=lang,
        target_lang=config.translator.target_language,
        fmt="html",
        glossary=tuple(config.translator.glossary.items()),
    )
    result = engine().translate(request)
    if len(result.texts) != len(texts):
        raise TranslationError(
            f"{result.engine} returned {len(result.texts)} texts for {len(texts)}",
            blame=Blame.ITEM,
            engine=result.engine,
        )
    title_de = html_to_text(result.texts[0]).strip() or item.title
    rendered: list[str] = []
    start = 1
    for part in parts:
        rendered.append(part.render(result.texts[start : start + len(part.texts)]))
        start += len(part.texts)
    body_de, chapters_de, transcript_de = rendered
    return compose_article(
        stored,
        title_de=title_de,
        body_html_de=body_de,
        teaser_de=None,
        engine=result.engine,
        model=result.model,
        site=site,
        translated=True,
        basis=made_from.kind,
        chapters_html_de=chapters_de,
        transcript_html_de=transcript_de,
    )


def _write_article(
    config: Config,
    stored: StoredItem,
    writer: ArticleWriter,
    site: SiteInfo,
    lang: str,
    resting: Suspensions,
) -> Article | None:
    """The writer's article for `stored`; `None` when it could not get one right or rests.

    It is written from the best source text there is (`article_source`).
    """
    item = stored.item
    o = config.translator.openai
    prices = (o.price_per_million_input, o.price_per_million_output)
    source = article_source(stored)
    try:
        written = writer.write(
            ArticleRequest(
                title=item.title,
                source_html=source.html,
                source_lang=lang,
                channel_name=stored.source.channel_name,
                link=stored.source.link or item.link,
                is_video=item.video_id is not None,
                glossary=tuple(config.translator.glossary.items()),
                source_label=source.label,
            )
        )
    except ArticleInvalid as exc:
        log.warning(
            "%s: no usable article for %r, translating it instead (%s; spent %s)",
            stored.source.channel_name,
            item.title,
            exc,
            exc.spent,
        )
        return None
    except TranslationError as exc:
        if exc.until is None:
            raise
        resting.suspend(writer.engine, exc.until, str(exc))
        log.warning(
            "article writer: %s; not asked until %s UTC; the other engines translate meanwhile",
            exc,
            f"{exc.until:%Y-%m-%d %H:%M}",
        )
        return None
    if written.usage.requests:
        log.info(
            "%s: article for %r written (%s)",
            stored.source.channel_name,
            item.title,
            describe_written(written, *prices),
        )
    # The teaser leads the page, as in a blog post; the body never repeats it.
    lead = f"<p>{html.escape(written.teaser, quote=False)}</p>"
    return compose_article(
        stored,
        title_de=written.title,
        body_html_de=lead + written.body_html,
        teaser_de=written.teaser,
        engine=article_engine(written.engine),
        model=written.model,
        site=site,
        translated=True,
        basis=source.kind,
    )
