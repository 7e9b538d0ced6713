"""The one place that chains the stages: poll → store → translate → compose → publish.

`Pipeline` wires them with one config, store and set of engines; the command line, the
daemon and the tests all go through it. Each step lives in its own module: `poll`,
`translating` (one item's article in `articles`) and `publishing`; `reports` holds what
they return.

Every step is keyed by ids in the store and safe to repeat, so a crash anywhere is
repaired by running the cycle again: items are stored once per (channel, guid), an item
leaves the translation queue only when its article is saved, and output files are
replaced atomically.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path

from kanalwerk import schedule
from kanalwerk.config import ChannelConfig, Config
from kanalwerk.enrich import EnrichReport, build_sources, enrich_pending
from kanalwerk.fetch_loop import FetchLoop
from kanalwerk.pipeline.articles import source_language
from kanalwerk.pipeline.poll import PARSE_POOL_THRESHOLD, _poll, _utcnow, fetch_settings
from kanalwerk.pipeline.publishing import _publish_site
from kanalwerk.pipeline.reports import ChannelOutcome, CycleReport, PollReport, TranslateReport
from kanalwerk.pipeline.translating import _translate_pending
from kanalwerk.publish import PublishResult
from kanalwerk.publish.websub import changed_feeds, notify_hub
from kanalwerk.status.read import plan_polls
from kanalwerk.status.report import record_waiting as note_waiting
from kanalwerk.store import Store
from kanalwerk.translate.article.base import ArticleWriter
from kanalwerk.translate.base import Translator
from kanalwerk.translate.factory import (
    ArticleWriterHolder,
    TranslatorHolder,
    build_article_writer,
    build_translator,
    user_agent,
)

__all__ = [
    "PARSE_POOL_THRESHOLD",
    "ChannelOutcome",
    "CycleReport",
    "Pipeline",
    "PollReport",
    "TranslateReport",
    "fetch_settings",
    "open_pipeline",
    "source_language",
]

log = logging.getLogger(__name__)


def _sync_channels(config: Config, store: Store) -> None:
    """Make the store's channel table follow the config (new, renamed, re-pointed)."""
    store.sync_channels([(c.id, c.name, config.poll_url(c)) for c in config.channels])


# --- one cycle ----------------------------------------------------------------------


class Pipeline:
    """The composition root: one config, one store and the engines, wired once.

    `run --once`, the daemon and the tests all drive the stages through this object, so
    they build engines, site and fetch settings the same way. Engines are built on first
    use and kept across cycles; after `reconfigure` they follow the new config at the
    next `translate`, which the daemon runs under its lock, so none is closed while in
    use. Close the pipeline (or use `with`) to close the engines.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        translator_factory: Callable[[Config, Store], Translator] = build_translator,
        writer_factory: Callable[[Config, Store], ArticleWriter] = build_article_writer,
        clock: Callable[[], datetime] = _utcnow,
    ):
        self.store = store
        self.clock = clock  # when polls happen, for the schedule (tests speed it up)
        self.stopping = threading.Event()  # set: finish the item in flight, take no more
        self.translators = TranslatorHolder(translator_factory, store)
        self.writers = ArticleWriterHolder(writer_factory, store)  # used in article mode
        self._hub_lock = threading.Lock()
        self._fetching = FetchLoop()  # one client and its connections for every round
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """Follow `config`: the store's channels at once, the engines at the next `translate`."""
        self.config = config
        _sync_channels(config, self.store)

    def poll(
        self, channels: Sequence[ChannelConfig] | None = None, *, executor: Executor | None = None
    ) -> PollReport:
        """Fetch, parse and store the given (default: all enabled) channels once."""
        return _poll(
            self.config,
            self.store,
            channels,
            executor=executor,
            clock=self.clock,
            stopping=self.stopping,
            fetching=self._fetching,
        )

    def plan(
        self, now: datetime, only: Collection[str] | None = None
    ) -> dict[str, schedule.NextPoll]:
        """Each enabled channel's (or those in `only`) next poll and why (`kanalwerk.schedule`)."""
        return plan_polls(self.config, self.store, now, only)

    def enrich(self) -> EnrichReport:
        """Choose each new item's source text once: transcript, full text, or its own."""
        config = self.config
        sources = build_sources(config, fetch_settings(config))
        return enrich_pending(
            config, self.store, sources, language=lambda s: source_language(config, s)
        )

    def translate(self, *, limit: int | None = None) -> TranslateReport:
        """Turn stored items into German articles with the configured engines.

        Items first get their source text (`enrich`), so every caller translates from it.
        """
        self.enrich()
        config = self.config
        self.translators.update(config)
        self.writers.update(config)
        report = _translate_pending(
            config,
            self.store,
            self.translators.get,
            self.writers.get,
            limit=limit,
            stopping=self.stopping.is_set,
        )
        note_waiting(self.store, report.stopped_reason, report.deferred, datetime.now(UTC))
        return report

    def publish(self, *, force: bool = False) -> PublishResult | None:
        """Write the feed and site when something changed (always with `force`)."""
        result = _publish_site(self.config, self.store, force=force)
        self.notify_hub(result.written if result else ())
        return result

    def notify_hub(self, written: Sequence[Path] = ()) -> None:
        """Ping the WebSub hub for the feeds among `written` and any ping still owed.

        Never raises: a hub that fails is retried at a later cycle, publishing goes on.
        Two threads of the daemon never ping at once; the second leaves it to the first.
        """
        if not self._hub_lock.acquire(blocking=False):
            return
        try:
            site = self.config.site
            hub = str(site.websub_hub) if site.websub_hub else None
            feeds = changed_feeds(site.info().base_url, Path(self.config.output), written)
            notify_hub(self.store, hub, feeds, user_agent=user_agent(self.config))
        except Exception:
            log.exception("WebSub ping failed unexpectedly; publishing goes on")
        finally:
            self._hub_lock.release()

    def run_cycle(self, channels: Sequence[ChannelConfig] | None = None) -> CycleReport:
        """Poll, translate and publish once: what `kanalwerk run --once` does."""
        return CycleReport(self.poll(channels), self.translate(), self.publish())

    def close(self) -> None:
        try:
            self.translators.close()
            self.writers.close()
        finally:
            self._fetching.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def open_pipeline(config: Config, *, clock: Callable[[], datetime] = _utcnow) -> Iterator[Pipeline]:
    """The config's store opened and the pipeline on it; both closed at the end."""
    with Store.open(config.store) as store, Pipeline(config, store, clock=clock) as pipeline:
        yield pipeline
