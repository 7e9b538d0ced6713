"""Download progress for people: a bar on a terminal, a few log lines otherwise."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

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
