"""Running kanalwerk as `kanalwerk run --once` does: as a command, or one cycle in process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from kanalwerk import pipeline
from kanalwerk.config import Config
from kanalwerk.store import Store
from kanalwerk.translate.factory import (
    ArticleWriterHolder,
    TranslatorHolder,
    build_article_writer,
    build_translator,
)


def command(config: Path, *args: str) -> list[str]:
    """`kanalwerk ARGS --config CONFIG` with this interpreter."""
    return [sys.executable, "-m", "kanalwerk", *args, "--config", str(config)]


def environment(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with `env` on top; a None value removes the variable."""
    merged = {**os.environ, **(env or {})}
    return {name: value for name, value in merged.items() if value is not None}


def run_cli(
    config: Path, *args: str, env: Mapping[str, str | None] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`kanalwerk ARGS --config CONFIG` in a fresh process in the config's folder."""
    return subprocess.run(
        command(config, *args),
        cwd=config.parent,
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cycle(config: Config) -> pipeline.CycleReport:
    """One poll, translate and publish cycle in process, with the engines the command builds."""
    with Store.open(config.store) as store:
        pipeline.sync_channels(config, store)
        translators = TranslatorHolder(build_translator, store)
        writers = ArticleWriterHolder(build_article_writer, store)
        translators.update(config)
        writers.update(config)
        try:
            return pipeline.run_cycle(config, store, translators.get, writers.get)
        finally:
            translators.close()
            writers.close()
