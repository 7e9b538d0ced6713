"""The long-running service: one tick polls the channels that are due; config reload on edit.

One APScheduler job, the tick, runs every few seconds and polls every channel whose
next poll (`kanalwerk.schedule`) has come through one `Pipeline.poll`, so the global
and per-host limits and the keep-alive client hold exactly as in `run --once`. The first
round is spread over `jitter`, each channel at the same place on every start, so a
daemon started after a long pause polls each channel once, in order, not all at once.
Translating and publishing run in a job of their own under one lock, so polls go on
during a long translation. Jobs are rebuilt at start, never pickled.

Time comes from the pipeline's clock. For tests only, `KANALWERK_CLOCK` ("START STEP":
an ISO time and seconds) starts it at START and moves it STEP at each tick, ticking as
fast as the machine allows: a simulated day passes in seconds, the same way however
busy the machine is. The config file is then looked at every `STEPPED_WATCH_SECONDS`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from kanalwerk.config import Config, load_config
from kanalwerk.errors import ConfigError, KanalwerkError, StopRequested
from kanalwerk.health import write_health
from kanalwerk.pipeline import Pipeline
from kanalwerk.pipeline.reports import PollReport, round_facts
from kanalwerk.schedule import first_offset

log = logging.getLogger(__name__)

CONFIG_WATCH_SECONDS = 2
#: How often the tick looks for due channels, in the clock's seconds.
TICK_SECONDS = 5.0
#: The shortest tick in wall seconds, however fast a test's clock runs.
MIN_TICK_SECONDS = 0.02
CLOCK_ENV = "KANALWERK_CLOCK"
#: How often the config file is looked at in wall seconds under a test's stepped clock.
STEPPED_WATCH_SECONDS = 0.1


@dataclass
class SteppedClock:
    """Time that stands still but for `step` at each tick of the daemon (tests only)."""

    now: datetime
    step: timedelta

    def __call__(self) -> datetime:
        return self.now

    def advance(self) -> None:
        self.now += self.step

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SteppedClock | None:
        """From `KANALWERK_CLOCK` ("START STEP", see the module docstring), if set."""
        value = environ.get(CLOCK_ENV)
        if not value:
            return None
        try:
            start, step = value.split()
            clock = cls(datetime.fromisoformat(start), timedelta(seconds=float(step)))
        except ValueError as exc:
            raise ConfigError(f"{CLOCK_ENV}={value!r} is not 'START STEP'") from exc
        if clock.now.tzinfo is None:
            raise ConfigError(f"{CLOCK_ENV}={value!r}: START needs a time zone")
        return clock


class Daemon:
    """Schedules `pipeline`'s stages and feeds it config edits; the caller closes it.

    `stepped`: the pipeline's clock when a test moves it at each tick.
    """

    def __init__(self, pipeline: Pipeline, *, stepped: SteppedClock | None = None):
        self.pipeline = pipeline
        self.clock: Callable[[], datetime] = pipeline.clock
        self._stepped = stepped
        self._tick_seconds = TICK_SECONDS if stepped is None else MIN_TICK_SECONDS
        self._watch_seconds = CONFIG_WATCH_SECONDS if stepped is None else STEPPED_WATCH_SECONDS
        self._due: dict[str, datetime] = {}  # channel id → when it is polled next
        self._disabled: set[str] = set()  # 410 Gone: checked each tick for `enable`
        self._process_lock = threading.Lock()
        self._dirty = threading.Event()
        self._config_mtime = _mtime(pipeline.config.path)
        self._restart_warned: tuple[str, Path] | None = None  # (store, output) last warned of
        self._stopping = False
        self._process_error: str | None = None  # the last translate/publish's, for status.json
        self._reload_asked = threading.Event()  # SIGHUP: read the config again now
        self._adding = threading.Lock()  # jobs add jobs under it, and none once stopping
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )

    # -- the plan -----------------------------------------------------------------------

    def plan(self, only: Collection[str] | None = None, *, first: bool = False) -> None:
        """Work out when channels are polled next: all, or those in `only` after a poll.

        At the start (`first`) and for channels new to the plan, a poll that is due goes
        to the channel's own place in the jitter window from now.
        """
        now = self.clock()
        plans = self.pipeline.plan(now, only=only)
        jitter = self.pipeline.config.schedule.jitter
        if only is None:
            for channel_id in [c for c in self._due if c not in plans]:
                del self._due[channel_id]
                log.info("stopped polling %s", channel_id)
            self._disabled &= set(plans)
        for channel_id, planned in plans.items():
            if planned.at is None:  # disabled: `enable` or a new URL brings it back
                self._due.pop(channel_id, None)
                self._disabled.add(channel_id)
                continue
            self._disabled.discard(channel_id)
            at = planned.at
            if first or channel_id not in self._due:
                at = max(at, now + first_offset(channel_id, jitter))
            elif only is None and planned.kind == "first":  # a reload keeps its place
                at = self._due[channel_id]
            elif only is not None and at <= now:  # a poll that recorded nothing (a handle
                # not resolved, a bug) is not repeated at every tick
                at = now + self._interval(channel_id)
            self._due[channel_id] = at

    def _interval(self, channel_id: str) -> timedelta:
        config = self.pipeline.config
        channel = config.channel(channel_id)
        return config.cadence(channel).interval if channel else config.schedule.interval

    def due(self) -> list[str]:
        now = self.clock()
        return sorted(channel_id for channel_id, at in self._due.items() if at <= now)

    # -- jobs -----------------------------------------------------------------------------

    def tick(self, only: Collection[str] | None = None) -> PollReport | None:
        """Poll every channel that is due (or those in `only`, now) in one round; None
        when there was none."""
        if self._disabled:  # `kanalwerk enable` may have brought one back
            self.plan(set(self._disabled))
        due = set(self.due()) if only is None else set(only)
        if not due or self.pipeline.stopping.is_set():
            return None
        channels = [c for c in self.pipeline.config.channels if c.id in due and c.enabled]
        log.debug(
            "round at %s: polling %s",
            f"{self.clock():%Y-%m-%d %H:%M:%S} UTC",
            ", ".join(sorted(due)),
        )
        try:
            report = self.pipeline.poll(channels)
        except StopRequested:
            return None  # what was stored stays; the rest is polled at the next start
        except Exception as exc:
            log.exception("polling %d channel(s) failed unexpectedly", len(channels))
            write_health(self.pipeline.config, round_facts(None, None, error=str(exc)))
            report = None
        self.plan(due)
        return report

    def _tick(self) -> None:
        """The tick's job: a round, then the next tick a tick later (never two at once,
        however long a round takes)."""
        try:
            self.follow(self.tick(), self.add_job)
        finally:
            if self._stepped is not None:
                self._stepped.advance()
            self._next_tick(timedelta(seconds=self._tick_seconds))

    def _next_tick(self, wait: timedelta) -> None:
        self.add_job(self._tick, "date", run_date=datetime.now(UTC) + wait)

    def add_job(self, func: Callable[[], None], *trigger: str, **options: object) -> None:
        """Schedule `func`, unless the daemon is stopping.

        `scheduler.shutdown(wait=True)` holds the scheduler's lock while it waits for the
        running jobs; a job adding one then (a round that ended just after the signal)
        would wait for that lock for ever. `run` sets `stopping` under `_adding` before
        it shuts the scheduler down, so no job adds one after that.
        """
        with self._adding:
            if not self.pipeline.stopping.is_set():
                self.scheduler.add_job(func, *trigger, **options)

    def follow(
        self, report: PollReport | None, start: Callable[[Callable[[], None]], object]
    ) -> None:
        """After a poll: `start` translating and publishing when there is work, else only
        send the hub pings still owed. The tick starts it as a job of its own."""
        if report is None:
            return
        if report.new_items or self._work_left():
            start(self.process)
        else:
            self.pipeline.notify_hub()  # a ping a hub refused earlier is due again
        write_health(self.pipeline.config, round_facts(report, None, error=self._process_error))

    def _work_left(self) -> bool:
        """Items to translate, articles not out yet, or a decision (approve, unpublish) the
        output does not show: work for a round though no poll brought anything."""
        store = self.pipeline.store
        return bool(
            store.pending_items(self.pipeline.config.translator.max_attempts, 1)
            or store.unpublished_count()
            or store.publish_requested()
        )

    def process(self) -> None:
        """Translate and publish; a call arriving meanwhile asks for one more round.

        Engines follow config edits here, under the lock, so none is closed while in use.
        """
        self._dirty.set()
        while self._dirty.is_set() and not self.pipeline.stopping.is_set():
            if not self._process_lock.acquire(blocking=False):
                return  # the holder sees `_dirty` and goes round once more
            try:
                while self._dirty.is_set():
                    self._dirty.clear()
                    self._process_error = None
                    try:
                        self.pipeline.translate()
                        self.pipeline.publish()
                    except KanalwerkError as exc:
                        log.error("%s", exc)
                        self._process_error = str(exc)
                    except Exception as exc:
                        log.exception("translate/publish failed unexpectedly")
                        self._process_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._process_lock.release()

    def _watch_config(self) -> None:
        current = self.pipeline.config
        mtime = _mtime(current.path)
        if mtime == self._config_mtime and not self._reload_asked.is_set():
            return
        self._reload_asked.clear()
        self._config_mtime = mtime
        try:
            config = load_config(current.path)
        except ConfigError as exc:
            log.error("config edit ignored, still running the previous one:\n%s", exc)
            return
        config = self._keep_store_and_output(config)
        self.pipeline.reconfigure(config)
        self.plan()
        log.info("reloaded %s: %d channel(s)", config.path, len(config.channels))
        self.process()

    def _keep_store_and_output(self, edited: Config) -> Config:
        """`edited` on the running store and output: the store is open and locked, and a
        new output folder would be a second site; both wait for a restart (said once)."""
        current = self.pipeline.config
        wanted = (edited.store, edited.output)
        if wanted == (current.store, current.output):
            self._restart_warned = None
            return edited
        if wanted != self._restart_warned:
            self._restart_warned = wanted
            log.warning(
                "store and output changes take effect after a restart; until then the "
                "site is still written to %s",
                current.output,
            )
        return edited.model_copy(update={"store": current.store, "output": current.output})

    # -- lifecycle --------------------------------------------------------------------

    def run(self) -> None:
        """Run the jobs until SIGTERM or Ctrl-C; return only when no job is running.

        Both signals end it the same way, by an exception in the main thread (a handler
        that set an `Event` could deadlock on the lock its own thread holds), after setting
        `pipeline.stopping`: a poll round stops at once, keeping what it stored, and a
        translation finishes the item in flight. The scheduler runs in a thread of its own
        and the main thread only waits, so no library code catches that exception
        (APScheduler's loop catches every exception around handing a job to its pool).
        `run` always ends by waiting for the running jobs: the caller closes the store
        and the engines and releases the lock right after. A second signal while waiting
        is only logged.
        """
        config = self.pipeline.config
        self.plan(first=True)
        self._next_tick(timedelta(0))
        self.scheduler.add_job(
            self._watch_config, IntervalTrigger(seconds=self._watch_seconds), id="config-watch"
        )
        if self._work_left():
            self.scheduler.add_job(self.process)  # what an earlier run left to do

        def stop(signum: int, frame: FrameType | None) -> None:
            if self._stopping:
                log.info("still stopping: waiting for the running jobs (signal %d)", signum)
                return
            self._stopping = True
            self.pipeline.stopping.set()
            log.info("stopping (signal %d): waiting for the running jobs", signum)
            raise StopRequested

        def reload(signum: int, frame: FrameType | None) -> None:
            log.info("SIGHUP: reading %s again", self.pipeline.config.path)
            self._reload_asked.set()  # the config watch picks it up within seconds

        previous = signal.getsignal(signal.SIGTERM)
        previous_hup = signal.signal(signal.SIGHUP, reload)
        log.info(
            "kanalwerk running: %d channel(s), every %s; Ctrl-C stops",
            sum(1 for c in config.channels if c.enabled),
            config.schedule.interval,
        )
        try:
            signal.signal(signal.SIGTERM, stop)
            self.scheduler.start()
            while True:  # until a signal's exception
                time.sleep(60)
        except StopRequested:
            pass
        except (KeyboardInterrupt, SystemExit):
            self._stopping = True
            self.pipeline.stopping.set()
            log.info("stopping: waiting for the running jobs")
        finally:
            with self._adding:
                self.pipeline.stopping.set()
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)
            if previous is not None:  # None: set outside Python, cannot be put back
                signal.signal(signal.SIGTERM, previous)
            if previous_hup is not None:
                signal.signal(signal.SIGHUP, previous_hup)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
