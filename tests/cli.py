"""Running kanalwerk as `kanalwerk run --once` does: as a command, or one cycle in process.

`run_cli` drives the command in this process with click's `CliRunner`, which is what
most tests need and costs no interpreter start. `command` and `environment` start a
real process: for the daemon, signals and killing mid-run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner

from kanalwerk.cli import main
from kanalwerk.config import Config
from kanalwerk.pipeline import CycleReport, open_pipeline


def command(config: Path, *args: str) -> list[str]:
    """`kanalwerk ARGS --config CONFIG` with this interpreter."""
    return [sys.executable, "-m", "kanalwerk", *args, "--config", str(config)]


def environment(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with `env` on top; a None value removes the variable."""
    merged = {**os.environ, **(env or {})}
    return {name: value for name, value in merged.items() if value is not None}


def run_cli(
    config: Path, *args: str, env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`kanalwerk ARGS --config CONFIG` in this process, in the config's folder.

    The answer looks like a finished process's: exit status, stdout, and stderr with
    the log, error messages and, as Python would print it, any uncaught traceback.
    """
    with contextlib.chdir(config.parent):
        result = CliRunner().invoke(main, [*args, "--config", str(config)], env=env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(
        command(config, *args), result.exit_code, result.stdout, stderr
    )


def run_cycle(config: Config) -> CycleReport:
    """One poll, translate and publish cycle in process, wired as `run --once` wires it."""
    with open_pipeline(config) as pipeline:
        return pipeline.run_cycle()
