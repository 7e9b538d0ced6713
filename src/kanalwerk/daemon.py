"""The long-running service: one APScheduler job per channel, config reload on edit.

Jobs are rebuilt from the config at start and on every edit (`replace_existing`), never
pickled. Channel jobs fetch concurrently; translating and publishing run under one lock
so two jobs never work on the same queue at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from kanalwerk.config import ChannelConfig, Config, load_config
from kanalwerk.errors import ConfigError, KanalwerkError, StopRequested
from kanalwerk.health import round_facts, write_health
from kanalwerk.pipeline import Pipeline

log = logging.getLogger(__name__)

CONFIG_WATCH_SECONDS = 2


class Daemon:
    """Schedules `pipeline`'s stages and feeds it config edits; the caller closes it."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self._process_lock = threading.Lock()
        self._dirty = threading.Event()
        self._config_mtime = _mtime(pipeline.config.path)
        self._restart_warned: tuple[str, Path] | None = None  # (store, output) last warned of
        self._stopping = False
        self._process_error: str | None = None  # the last translate/publish's, for status.json
        self._reload_asked = threading.Event()  # SIGHUP: read the config again now
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone="UTC",
        )

    # -- jobs -------------------------------------------------------------------------

    def _schedule(self, config: Config, *, first: bool) -> None:
        wanted = {f"channel:{c.id}" for c in config.channels if c.enabled}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("channel:") and job.id not in wanted:
                job.remove()
                log.info("stopped polling %s", job.id.removeprefix("channel:"))
        for channel in config.channels:
            if not channel.enabled:
                continue
            interval = channel.interval or config.schedule.interval
            trigger = IntervalTrigger(
                seconds=int(interval.total_seconds()),
                jitter=int(config.schedule.jitter.total_seconds()) or None,
            )
            job_id = f"channel:{channel.id}"
            existing = self.scheduler.get_job(job_id)
            if (
                existing is not None
                and existing.trigger.interval == trigger.interval
                and existing.trigger.jitter == trigger.jitter
            ):
                continue  # unchanged: keep its place in the schedule
            kwargs: dict[str, Any] = {}
            if first or existing is None:
                kwargs["next_run_time"] = datetime.now(UTC)  # new channels start right away
            self.scheduler.add_job(
                self._poll_channel,
                trigger,
                args=[channel.id],
                id=job_id,
                name=channel.name,
                replace_existing=True,
                **kwargs,
            )
        self.scheduler.add_job(
            self._watch_config,
            IntervalTrigger(seconds=CONFIG_WATCH_SECONDS),
            id="config-watch",
            replace_existing=True,
        )

    def _channel(self, channel_id: str) -> ChannelConfig | None:
        return next((c for c in self.pipeline.config.channels if c.id == channel_id), None)

    def _poll_channel(self, channel_id: str) -> None:
        channel = self._channel(channel_id)
        if channel is None or not channel.enabled:
            return
        try:
            report = self.pipeline.poll([channel])
        except Exception as exc:
            log.exception("%s: poll failed unexpectedly", channel.name)
            write_health(self.pipeline.config, round_facts(None, None, error=str(exc)))
            return
        store, max_attempts = self.pipeline.store, self.pipeline.config.translator.max_attempts
        # Decisions (approve, unpublish) wait for a round too, though no poll brought anything.
        if (
            report.new_items
            or store.pending_items(max_attempts, 1)
            or store.unpublished_count()
            or store.publish_requested()
        ):
            self._process()
        else:
            self.pipeline.notify_hub()  # a ping a hub refused earlier is due again
        write_health(self.pipeline.config, round_facts(report, None, error=self._process_error))

    def _process(self) -> None:
        """Translate and publish; a job arriving meanwhile asks for one more round.

        Engines follow config edits here, under the lock, so none is closed while in use.
        """
        self._dirty.set()
        if not self._process_lock.acquire(blocking=False):
            return
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
        self._schedule(config, first=False)
        log.info("reloaded %s: %d channel(s)", config.path, len(config.channels))
        self._process()

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

        Both signals end the scheduler's loop the same way, by an exception in the main
        thread (a handler that set an `Event` could deadlock on the lock its own thread
        holds), and `run` always ends by waiting for the running jobs: the caller closes
        the store and the engines and releases the lock right after, and a request in
        flight is paid for. A second signal while waiting is only logged.
        """
        config = self.pipeline.config
        self._schedule(config, first=True)

        def stop(signum: int, frame: FrameType | None) -> None:
            if self._stopping:
                log.info("still stopping: waiting for the running jobs (signal %d)", signum)
                return
            self._stopping = True
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
        except StopRequested:
            pass
        except (KeyboardInterrupt, SystemExit):
            self._stopping = True
            log.info("stopping: waiting for the running jobs")
        finally:
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
