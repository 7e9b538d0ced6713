"""Where kanalwerk writes: the output folder and the store's folder, checked before a run.

`load_config` refuses an `output:` that cannot be right wherever it runs (a file, the
config's own folder, a folder holding the store: publishing there would mix the site
with the config or the database). Whether the folders can be written is a fact of the
machine, asked by `check` and `run` (`check_writable`), not by commands that only read.
"""

from __future__ import annotations

import os
from pathlib import Path

from kanalwerk.config.models import Config
from kanalwerk.errors import ConfigError


def output_problem(config: Config) -> str | None:
    """Why `config.output` cannot be the site's folder, or None."""
    output = config.output
    if output.is_file():
        return f"{output} is a file; name a folder for the site, e.g. output/"
    if output == config.path.parent:
        return (
            f"{output} is the config file's own folder; publishing would write the site "
            "beside feeds.yaml, so name a folder of its own, e.g. output/"
        )
    store = config.store_file
    if store is not None and store.is_relative_to(output):
        return (
            f"{output} holds the store {store}; the site would be published beside the "
            "database, so name another folder, e.g. output/"
        )
    return None


def writable_problem(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (made on demand), or None.

    The nearest existing folder on its path must be writable: `folder` and its parents
    are created from there.
    """
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            return f"{folder} cannot be created"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, so the folder {folder} cannot be created there"
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "it" if existing == folder else f"its folder {existing}"
        return f"{folder} cannot be written: {what} is not writable for this user"
    return None


def check_writable(config: Config) -> None:
    """Raise ConfigError when the output folder or the store's folder cannot be written.

    The store's folder also holds the run lock (`<database>.lock`).
    """
    problems = []
    output = writable_problem(config.output)
    if output is not None:
        problems.append(f"{config.path}: output: {output}; fix its permissions or choose another")
    store = config.store_file
    folder = writable_problem(store.parent) if store is not None else None
    if folder is not None:
        problems.append(
            f"{config.path}: store: {folder}; the database and its lock file "
            f"{store}.lock live there, so fix its permissions or point store: at a "
            "writable folder"
        )
    if problems:
        raise ConfigError("\n".join(problems))
