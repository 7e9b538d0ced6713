"""The translate step: the queue of stored items made into articles, and what a failure costs.

A failure is charged to the item, the engine or an outage as its `Blame` says; an
engine that looks broken rests, and every article is saved as soon as it is made.
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from kanalwerk import logs
from kanalwerk.config import Config
from kanalwerk.dates import utc_seconds
from kanalwerk.errors import Blame, TranslationDeferred, TranslationError
from kanalwerk.models import Article, StoredItem
from kanalwerk.pipeline.articles import _translate_item
from kanalwerk.pipeline.reports import TranslateReport
from kanalwerk.store import Store
from kanalwerk.translate.article.base import ARTICLE_MODE_SUFFIX, ArticleWriter
from kanalwerk.translate.base import Translator
from kanalwerk.translate.chain import Suspensions
from kanalwerk.translate.factory import translator_settings
from kanalwerk.translate.outage import OutageProbe, probe_position
from kanalwerk.translate.streak import ItemFailureStreak

#: The stages log as the pipeline: a JSON log line without an event names it.
log = logging.getLogger("kanalwerk.pipeline")


#: Store meta key: ids of the items whose failures ended the last translate step as an
#: outage, as a JSON list; the next step asks other items first (`probe_position`).
LAST_OUTAGE_KEY = "translate_last_outage_items"


def _item_ids(data: object) -> set[int]:
    """The ids kept under `LAST_OUTAGE_KEY`; anything unreadable counts as none."""
    return {i for i in data if isinstance(i, int)} if isinstance(data, list) else set()


@dataclass(frozen=True)
class _Failure:
    """One item's failed attempt, charged once it is sure to be the item's."""

    stored: StoredItem
    error: str
    level: int


def _translate_pending(
    config: Config,
    store: Store,
    get_translator: Callable[[], Translator],
    get_writer: Callable[[], ArticleWriter],
    *,
    limit: int | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> TranslateReport:
    """Turn stored items into German articles; what a failure costs is its `Blame`.

    `get_translator` and `get_writer` (article mode) are called only when an item needs
    them, so an engine that needs setup costs nothing on quiet cycles; the caller owns
    and closes what they return. An `ITEM` failure, or any unexpected exception while
    one item is handled, counts an attempt against that item and the cycle goes on; an
    `ENGINE` one, a rate limit (429) or any error naming `until` ends the step with the
    items queued. A `TRANSIENT` one (a 5xx, a timeout) may be the item's or an outage:
    the step goes on with the newest item not involved in the last outage
    (`OutageProbe`, `probe_position`), and only a second one in a row ends it, so an
    outage costs two items' retries per cycle and a bad item its own. A few `ITEM`
    failures in a row from one engine (`ItemFailureStreak`) say the engine is broken:
    their attempts are given back and the engine rests in the store's `Suspensions`
    (1 h, doubling, until the translator settings change), so no cycle burns the queue.
    An item no engine can take now (`TranslationDeferred`) waits without counting an
    attempt; each such reason is logged once per call.
    """
    max_attempts = config.translator.max_attempts
    pending = store.pending_items(max_attempts, limit=limit)
    if not pending:
        return TranslateReport()
    site = config.site.info()
    resting = Suspensions(store, settings=translator_settings(config))
    resting.forget_stale()
    translator: Translator | None = None
    writer: ArticleWriter | None = None

    def engine() -> Translator:
        nonlocal translator
        if translator is None:
            translator = get_translator()
        return translator

    def article_writer() -> ArticleWriter | None:
        """The writer, or None while it rests (the chain translates meanwhile)."""
        nonlocal writer
        if writer is None:
            try:
                writer = get_writer()
            except TranslationError as exc:
                # A missing key is no fault of the item: keep the queue as it is.
                raise TranslationError(f"article mode: {exc}", blame=Blame.ENGINE) from exc
        return None if resting.get(writer.engine) else writer

    writing = article_writer if config.translator.mode == "article" else None
    translated = failed = 0
    errors: list[str] = []
    deferred: dict[str, int] = {}  # reason → items waiting for it
    streak: ItemFailureStreak[_Failure] = ItemFailureStreak()
    probe: OutageProbe[_Failure] = OutageProbe()

    def charge(failures: Sequence[_Failure]) -> None:
        nonlocal failed
        for f in failures:
            stored = f.stored
            state = store.mark_attempt_failed(stored.id, f.error, max_attempts)
            failed += 1
            errors.append(f"{stored.source.channel_name}: {stored.item.title}: {f.error}")
            log.log(
                f.level,
                "%s: could not translate %r (%s); item is %s",
                stored.source.channel_name,
                stored.item.title,
                f.error,
                "given up" if state == "failed" else "queued again",
            )

    def stop(reason: str, waiting: int, level: int) -> TranslateReport:
        charge(streak.release())
        waiting += sum(deferred.values()) + probe.drop()
        log.log(level, "%s; %d item(s) wait for the next cycle", reason, waiting)
        return TranslateReport(
            translated, failed, waiting, reason, tuple(errors), tuple(deferred.items())
        )

    last_outage = _item_ids(store.get_meta_json(LAST_OUTAGE_KEY))
    recovered: set[str] = set()  # engines whose suspect trips this step has forgotten
    try:
        queue = collections.deque(pending)
        while queue:
            if stopping():  # shutting down: the item in flight is done, the rest wait
                return stop("stopping", len(queue), logging.INFO)
            if probe.held is not None:  # another item tells whether the engine is out
                position = probe_position([s.id for s in queue], last_outage)
                stored = queue[position]
                del queue[position]
            else:
                stored = queue.popleft()
            try:
                article = _translate_item(config, stored, engine, site, writing, resting)
            except TranslationDeferred as exc:
                deferred[str(exc)] = deferred.get(str(exc), 0) + 1
                continue
            except TranslationError as exc:
                # A rate limit (429) is about the pace, never one text: it ends the step.
                if exc.blame is Blame.TRANSIENT and exc.until is None and exc.status != 429:
                    earlier = probe.hold(_Failure(stored, str(exc), logging.WARNING))
                    if earlier is None:
                        log.info(
                            "%s: could not translate %r (%s); asking another item to tell "
                            "whether the engine is out",
                            stored.source.channel_name,
                            stored.item.title,
                            exc,
                        )
                        continue
                    # A second item in a row: the engine is out, not the items.
                    told = sorted([stored.id, earlier.stored.id])
                    store.set_meta(LAST_OUTAGE_KEY, json.dumps(told))
                    reason = f"translation engine unavailable for two items in a row: {exc}"
                    return stop(reason, len(queue) + 1, logging.ERROR)
                if exc.blame is not Blame.ITEM:
                    # A pause the engine named (budget, quota, Retry-After) is expected.
                    level = logging.WARNING if exc.until is not None else logging.ERROR
                    reason = f"translation engine unavailable: {exc}"
                    return stop(reason, len(queue) + 1, level)
                failure = _Failure(stored, str(exc), logging.WARNING)
                if exc.engine is None:
                    charge([*streak.release(), failure])
                    continue
                released, tripped = streak.failed(exc.engine, failure)
                charge(released)
                if tripped:
                    # Garbage for item after item is the engine's failure (a wrong model?).
                    reason = f"{exc.engine} failed {streak.limit} items in a row; it looks broken"
                    for name in exc.engine.split(", "):
                        paused = resting.suspect(name, f"{reason} (check its model and settings)")
                    reason += f"; not asked until {paused.until:%Y-%m-%d %H:%M} UTC"
                    reason += " or until the translator settings change"
                    return stop(reason, len(queue) + streak.limit, logging.ERROR)
            except Exception as exc:  # a bug shown by one item must not stall the queue
                name, title = stored.source.channel_name, stored.item.title
                log.debug("%s: %r failed", name, title, exc_info=True)
                error = f"unexpected {type(exc).__name__}: {exc} (run with -v for details)"
                charge([*streak.release(), _Failure(stored, error, logging.ERROR)])
            else:
                charge(streak.release())
                if article.engine != "none":  # the engine answered: an earlier 5xx was the item's
                    charge(probe.answered())
                    if last_outage:
                        store.set_meta(LAST_OUTAGE_KEY, "[]")
                        last_outage = set()
                    answered_by = article.engine.removesuffix(ARTICLE_MODE_SUFFIX)
                    if answered_by not in recovered:  # once per engine and step
                        resting.recovered(answered_by)
                        recovered.add(answered_by)
                _save(config, store, stored, article)
                translated += 1
        charge(streak.release())
        charge(probe.settle(lambda f: f.stored.last_error == f.error))
    finally:
        for reason, count in deferred.items():
            log.warning("%d item(s) wait: %s", count, reason)
    waiting = sum(deferred.values()) + probe.drop()
    return TranslateReport(
        translated, failed, waiting, None, tuple(errors), tuple(deferred.items())
    )


def _save(config: Config, store: Store, stored: StoredItem, article: Article) -> None:
    """Keep the article: a draft when its channel is under review, published otherwise.

    A re-made article (its original was edited) shows when: its `updated` moves to now.
    """
    if stored.remake:
        article = replace(article, updated=max(article.updated, utc_seconds(datetime.now(UTC))))
    draft = config.reviews(stored.channel_id)
    store.save_article(article, source_hash=stored.content_hash, draft=draft)
    log.info(
        "%s: %s %r → %r%s",
        stored.source.channel_name,
        "re-made" if stored.remake else "translated",
        stored.item.title,
        article.title,
        " (draft, waits for review)" if draft and not stored.remake else "",
        extra=logs.fields(channel=stored.channel_id, event="translate", outcome="translated"),
    )
