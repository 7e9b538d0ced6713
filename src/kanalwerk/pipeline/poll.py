"""The poll step: fetch the channels' feeds, parse them off the event loop, store the new items.

Items are stored at once, in one transaction with the validators of the body they came
from; outcomes without new items are written in batches, since losing one only means
the next poll asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

import kanalwerk.sources.youtube as youtube
from kanalwerk import logs, schedule
from kanalwerk.config import ChannelConfig, Config
from kanalwerk.errors import KanalwerkError, ParseError, StopRequested
from kanalwerk.fetch import Fetcher, FetchSettings
from kanalwerk.fetch_loop import FetchLoop
from kanalwerk.freshness import fresh_for
from kanalwerk.models import FetchResult, FetchState
from kanalwerk.parse_job import ParseOutcome, parse_and_sanitize
from kanalwerk.pipeline.reports import ChannelOutcome, PollReport
from kanalwerk.retry_after import parse_retry_after
from kanalwerk.select import Rules, decide
from kanalwerk.status.report import record_handle_lookup as note_lookup
from kanalwerk.store import FetchRecord, Store
from kanalwerk.translate.factory import user_agent

#: The stages log as the pipeline: a JSON log line without an event names it.
log = logging.getLogger("kanalwerk.pipeline")


#: Below this many bodies, parsing inline beats the cost of starting worker processes.
PARSE_POOL_THRESHOLD = 16

#: Outcomes without new items are written to the store this many at a time.
RECORD_BATCH = 200

#: How soon a poll round notices it is asked to stop.
STOP_CHECK_SECONDS = 0.1


def fetch_settings(config: Config) -> FetchSettings:
    f = config.fetch
    return FetchSettings(
        timeout=f.timeout,
        connect_timeout=f.connect_timeout,
        max_bytes=f.max_bytes,
        max_connections=f.max_connections,
        max_per_host=f.max_per_host,
        max_streams_per_host=f.max_streams_per_host,
        user_agent=user_agent(config),
        allow_private_addresses=f.allow_private_addresses,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _poll(
    config: Config,
    store: Store,
    channels: Sequence[ChannelConfig] | None = None,
    *,
    executor: Executor | None = None,
    clock: Callable[[], datetime] = _utcnow,
    stopping: threading.Event | None = None,
    fetching: FetchLoop | None = None,
) -> PollReport:
    """Fetch, parse and store the given (default: all enabled) channels once.

    Disabled channels (410 Gone) are left out. When `stopping` is set meanwhile, no
    further result is stored and `StopRequested` is raised: what was stored stays.
    All channels go through one client (`fetching`'s, kept for the next round; without
    it, one for this round), so the per-host limits hold across channels and connections
    are reused.
    """
    chosen = [c for c in (channels if channels is not None else config.channels) if c.enabled]
    if not chosen:
        return PollReport(())
    settings = fetch_settings(config)
    _resolve_handles(config, chosen, store, settings)

    states: list[FetchState] = []
    outcomes: list[ChannelOutcome] = []
    known = store.fetch_states([c.id for c in chosen])
    now = clock()
    histories = store.poll_histories([c.id for c in chosen], now)
    for channel in chosen:
        state = known.get(channel.id)
        history = histories.get(channel.id)
        if history is not None and history.disabled_at is not None:
            plan = schedule.next_poll(history, config.cadence(channel), now)
            outcome = ChannelOutcome(channel.id, channel.name, None, disabled=plan.reason)
            _log_outcome(outcome)
            outcomes.append(outcome)
            continue
        if state is None:
            outcomes.append(
                ChannelOutcome(channel.id, channel.name, None, error="no feed URL known yet")
            )
            continue
        if state.not_before is not None and state.not_before > now:
            # The server said when to come back (429/503 Retry-After); asking earlier
            # only gets a feed reader blocked.
            outcome = ChannelOutcome(channel.id, channel.name, None, waiting_until=state.not_before)
            _log_outcome(outcome)
            outcomes.append(outcome)
            continue
        states.append(state)

    if not states:
        return PollReport(tuple(outcomes))
    by_id = {c.id: (c, config.rules(c)) for c in chosen}
    pool = _LazyPool(executor, enabled=executor is not None or len(states) >= PARSE_POOL_THRESHOLD)
    loop = fetching or FetchLoop()
    try:
        outcomes += loop.run(
            settings,
            lambda fetcher: _until_stopped(
                _fetch_parse_store(states, fetcher, store, by_id, pool, config.remakes, clock),
                stopping,
            ),
        )
    finally:
        pool.shutdown()
        if fetching is None:
            loop.close()
    return PollReport(tuple(outcomes))


async def _until_stopped(
    work: Coroutine[object, object, list[ChannelOutcome]], stopping: threading.Event | None
) -> list[ChannelOutcome]:
    """`work`'s result, or `StopRequested` soon after `stopping` is set.

    Stopping cancels the round: requests in flight are dropped, results not yet stored
    are fetched again next time, and what was stored stays (each write is one transaction).
    """
    task = asyncio.ensure_future(work)
    while stopping is not None and not task.done():
        if stopping.is_set():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise StopRequested
        await asyncio.wait({task}, timeout=STOP_CHECK_SECONDS)
    return await task


class _LazyPool:
    """A process pool started only when a body actually needs parsing.

    Workers come from a fork server, not a plain fork: the daemon has threads, and
    forking a threaded process can deadlock.
    """

    def __init__(self, given: Executor | None, *, enabled: bool):
        self._given = given
        self._enabled = enabled
        self._own: ProcessPoolExecutor | None = None
        self._starting = asyncio.Lock()

    async def ready(self) -> Executor | None:
        """`get()`, starting a new pool on a thread: its first worker waits for the fork
        server to import the parser, seconds in which the event loop would stall every
        fetch in flight (and a server may drop the idle connections)."""
        if self._own is None and self._given is None and self._enabled:
            async with self._starting:
                if self._own is None:
                    await asyncio.to_thread(self._start)
        return self.get()

    def _start(self) -> None:
        pool = self._make()
        try:
            pool.submit(int).result()
        except Exception:  # a broken pool: each channel's parse says so
            log.debug("the parse pool failed to start", exc_info=True)
        self._own = pool

    def get(self) -> Executor | None:
        if self._given is not None or not self._enabled:
            return self._given
        if self._own is None:
            self._own = self._make()
        return self._own

    @staticmethod
    def _make() -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["kanalwerk.parse_job"])
        return ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=context)

    def shutdown(self) -> None:
        if self._own is not None:
            self._own.shutdown()
            self._own = None


def _resolve_handles(
    config: Config, channels: Sequence[ChannelConfig], store: Store, settings: FetchSettings
) -> None:
    """Turn `@handle` channels into feed URLs once; the store remembers the answer."""
    by_handle = [c for c in channels if c.feed_url is None and c.youtube_handle]
    if not by_handle:
        return
    known = store.fetch_states([c.id for c in by_handle])
    pending = [c for c in by_handle if c.id not in known]
    if not pending:
        return

    def now() -> datetime:
        return datetime.now(UTC)

    async def resolve_all() -> None:
        async with httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent},
            timeout=settings.timeout,
            follow_redirects=True,
        ) as client:
            for channel in pending:
                assert channel.youtube_handle is not None
                try:
                    channel_id = await youtube.resolve_handle(client, channel.youtube_handle)
                except KanalwerkError as exc:
                    log.error("%s: %s", channel.name, exc)
                    note_lookup(store, channel.id, channel.youtube_handle, str(exc), now())
                    continue
                note_lookup(store, channel.id, channel.youtube_handle, None, now())
                url = youtube.feed_url_for_channel_id(channel_id)
                if not config.rules(channel).shorts:
                    url = youtube.uploads_feed_url(channel_id)
                log.info("%s: %s is channel %s", channel.name, channel.youtube_handle, channel_id)
                store.set_channel_url(channel.id, url)

    asyncio.run(resolve_all())


async def _fetch_parse_store(
    states: Sequence[FetchState],
    fetcher: Fetcher,
    store: Store,
    channels: Mapping[str, tuple[ChannelConfig, Rules]],
    pool: _LazyPool,
    remakes: Callable[[str], bool],
    clock: Callable[[], datetime] = _utcnow,
) -> list[ChannelOutcome]:
    """Parse each body as soon as it arrives, on other cores when a pool is given.

    Parsing and sanitizing never run on the event loop: feedparser and nh3 are CPU-bound,
    and there one huge item would stall every other channel's fetch into a timeout.
    Without a process pool they run in a thread (nh3 releases the GIL).
    """
    loop = asyncio.get_running_loop()
    outcomes: list[ChannelOutcome] = []
    pending: list[FetchRecord] = []  # outcomes without new items, written in batches

    async def handle(result: FetchResult) -> None:
        parsed: ParseOutcome | None = None
        if result.ok and result.content is not None:
            parsed = await _parse_off_loop(loop, await pool.ready(), result)
        updates = remakes(result.channel_id)
        channel, rules = channels[result.channel_id]
        outcome, record = _store_result(
            store, channel, rules, result, parsed, updates=updates, now=clock()
        )
        if record is not None:
            pending.append(record)
            if len(pending) >= RECORD_BATCH:
                store.record_fetches(pending)
                pending.clear()
        _log_outcome(outcome)
        outcomes.append(outcome)

    try:
        await fetcher.fetch_all(states, on_result=handle)
    finally:
        store.record_fetches(pending)
    return outcomes


async def _parse_off_loop(
    loop: asyncio.AbstractEventLoop, executor: Executor | None, result: FetchResult
) -> ParseOutcome:
    """`parse_and_sanitize` in `executor` (default: a thread); never raises."""
    try:
        return await loop.run_in_executor(executor, parse_and_sanitize, result)
    except Exception as exc:  # e.g. a worker process died on this body
        return ParseError(f"parsing failed: {type(exc).__name__}: {exc}")


def _store_result(
    store: Store,
    channel: ChannelConfig,
    rules: Rules,
    result: FetchResult,
    parsed: ParseOutcome | None,
    *,
    updates: bool = True,
    now: datetime | None = None,
) -> tuple[ChannelOutcome, FetchRecord | None]:
    """Store new items as `select` decided, at once; return the rest as a record to batch.

    Only outcomes whose loss is harmless are deferred: without them the next poll just
    asks again. Validators of a body with items are written right after its items, so
    a crash can never leave a stored ETag whose items are missing. `now` is when the
    poll counts as done, for the schedule; a 410 Gone disables the channel.
    """
    now = now or _utcnow()
    if not result.ok:
        fallback = youtube.channel_feed_instead_of_uploads(result.requested_url)
        if result.status == 404 and fallback is not None:
            # Shorts are then dropped by their /shorts/ links (select.py).
            log.warning(
                "%s: no uploads playlist on YouTube; polling %s instead", channel.name, fallback
            )
            store.set_channel_url(channel.id, fallback)
        gone = GONE if result.status == 410 else None
        record = FetchRecord(
            result, retry_after_until=_retry_after(result, now), at=now, disable=gone
        )
        outcome = ChannelOutcome(
            channel.id,
            channel.name,
            result.status,
            error=result.error,
            disabled=f"{gone} on {now:%Y-%m-%d}" if gone else None,
        )
        return outcome, record
    fresh = _fresh_until(result, now)
    if result.not_modified or parsed is None:
        outcome = ChannelOutcome(channel.id, channel.name, result.status, not_modified=True)
        return outcome, FetchRecord(result, at=now, fresh_until=fresh)
    if isinstance(parsed, ParseError):
        outcome = ChannelOutcome(channel.id, channel.name, result.status, error=str(parsed))
        return outcome, FetchRecord(result, error=str(parsed), at=now)
    # Sanitized by parse_and_sanitize; the validators go into the same transaction as the items.
    try:
        facts = store.selection_facts(channel.id, parsed.items)
        decisions = decide(channel.id, parsed.items, rules, facts, home=parsed.link)
        fetched = FetchRecord(result, parsed, at=now, fresh_until=fresh)
        stored = store.store_decisions(channel.id, decisions, fetched=fetched, updates=updates)
    except Exception as exc:  # one channel's items must not stop the others
        error = f"storing its items failed: {exc}"
        outcome = ChannelOutcome(channel.id, channel.name, result.status, error=error)
        return outcome, FetchRecord(result, error=error, at=now)
    outcome = ChannelOutcome(
        channel.id,
        channel.name,
        result.status,
        new_items=len(stored.new_ids),
        warning=parsed.warning,
        notes=parsed.notes,
        skipped=stored.skipped,
        held=stored.held,
    )
    return outcome, None


#: Why a channel answering 410 is disabled: the server says the feed is gone for good.
GONE = "410 Gone"


def _retry_after(result: FetchResult, now: datetime) -> datetime | None:
    """When the server wants the next request (fetch keeps the header only on 429/503)."""
    value = result.headers.get("retry-after") if result.headers else None
    seconds = parse_retry_after(value, now=now.timestamp())
    if not seconds:
        return None
    return now + timedelta(seconds=seconds)


def _fresh_until(result: FetchResult, now: datetime) -> datetime | None:
    """Until when the server calls the feed fresh (Cache-Control max-age / Expires)."""
    seconds = fresh_for(result.headers, now=now.timestamp()) if result.headers else None
    return now + timedelta(seconds=seconds) if seconds else None


def _log_outcome(o: ChannelOutcome) -> None:
    status = f"HTTP {o.status}" if o.status else "no response"
    outcome = (
        "disabled"
        if o.disabled is not None
        else "waiting"
        if o.waiting_until is not None
        else "error"
        if o.error
        else "unchanged"
        if o.not_modified
        else "fetched"
    )
    extra = logs.fields(channel=o.channel_id, event="poll", outcome=outcome)
    if o.disabled is not None:
        if o.status is not None:  # just now
            log.error(
                "%s: %s; no longer polled (disabled) until its URL in the config changes "
                "or `kanalwerk enable %s`",
                o.name,
                o.error,
                o.channel_id,
                extra=extra,
            )
        else:
            log.info("%s: not polled: disabled (%s)", o.name, o.disabled, extra=extra)
    elif o.waiting_until is not None:
        log.info(
            "%s: not polled; the server asked to wait until %s",
            o.name,
            f"{o.waiting_until:%Y-%m-%d %H:%M} UTC",
            extra=extra,
        )
    elif o.error:
        log.error("%s: %s (%s)", o.name, o.error, status, extra=extra)
    elif o.not_modified:
        log.info("%s: unchanged (%s)", o.name, status, extra=extra)
    else:
        if o.warning:
            log.warning("%s: feed is malformed but usable: %s", o.name, o.warning)
        for note in o.notes:
            log.warning("%s: %s", o.name, note)
        chosen = [f"{o.skipped} skipped"] if o.skipped else []
        chosen += [f"{o.held} held until aired"] if o.held else []
        new = ", ".join([f"{o.new_items} new item(s)", *chosen])
        log.info("%s: %s (%s)", o.name, new, status, extra=extra)
