"""Progress for people: a bar on a terminal, a few log lines otherwise.

For model downloads (`download_progress`) and long runs (`round_progress`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

import click
from click._termui_impl import ProgressBar

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]


def download_progress(label: str) -> Progress:
    """A callback taking (bytes so far, total or None) that reports in a sensible way."""
    if sys.stderr.isatty():
        return _bar(label)
    last_step = -1

    def report(done: int, total: int | None) -> None:
        nonlocal last_step
        if not total:
            return
        step = done * 10 // total
        if step != last_step:
            last_step = step
            log.info("%s: %d%% of %.0f MB", label, step * 10, total / 1e6)

    return report


def _bar(label: str) -> Progress:
    state: dict[str, int] = {"shown": 0}
    bar: list[ProgressBar[int]] = []

    def report(done: int, total: int | None) -> None:
        if not bar:
            bar.append(click.progressbar(length=total or 0, label=label, file=sys.stderr))
        bar[0].update(done - state["shown"])
        state["shown"] = done
        if total and done >= total:
            bar[0].render_finish()

    return report


#: A run with at least this many channels (or items to translate) shows its progress.
LONG_RUN = 10


class RoundProgress(logging.Handler):
    """Progress of a long run, counted from the log's `poll` and `translate` events.

    The stages already log one line per channel and item (with `logs.fields`), so
    counting those needs no hook in the pipeline. On a terminal a bar is drawn and the
    per-channel INFO lines are held back meanwhile (`console` is raised to WARNING, -v
    keeps them); elsewhere a plain line is logged at every tenth of the way.
    """

    def __init__(self, stream: TextIO, console: logging.Handler | None = None):
        super().__init__(logging.DEBUG)
        self._stream = stream
        self._terminal = stream.isatty()
        self._console = console
        self._console_level = console.level if console is not None else logging.NOTSET
        self._event: str | None = None
        self._label = ""
        self._total = self._done = self._step = 0
        self._bar: ProgressBar[int] | None = None

    def phase(self, label: str, event: str, total: int) -> None:
        """Count `event`s from now on, out of `total`; a short phase shows nothing."""
        self._end_bar()
        self._event = event if total >= LONG_RUN else None
        self._label, self._total, self._done, self._step = label, total, 0, 0
        if self._event is None or not self._terminal:
            return
        if self._console is not None and logging.getLogger().level > logging.DEBUG:
            self._console.setLevel(logging.WARNING)
        self._bar = click.progressbar(
            length=total, label=label, file=self._stream, show_pos=True, show_eta=False
        )
        self._bar.render_progress()

    def emit(self, record: logging.LogRecord) -> None:
        if self._event is None or getattr(record, "kw_event", None) != self._event:
            return
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        step = min(self._done, self._total) * 10 // self._total
        if step > self._step:
            self._step = step
            log.info("%s: %d of %d", self._label, self._done, self._total)

    def _end_bar(self) -> None:
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None
        if self._console is not None:
            self._console.setLevel(self._console_level)

    def close(self) -> None:
        self._end_bar()
        super().close()


@contextlib.contextmanager
def round_progress(
    stream: TextIO, console: logging.Handler | None = None
) -> Iterator[RoundProgress]:
    """A `RoundProgress` listening to the log while the block runs."""
    progress = RoundProgress(stream, console)
    root = logging.getLogger()
    root.addHandler(progress)
    try:
        yield progress
    finally:
        root.removeHandler(progress)
        progress.close()
