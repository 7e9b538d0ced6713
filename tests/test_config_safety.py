"""Every value `check` accepts is one `run` can use: each bad one is a config error.

Each case is driven through the command line in process (`check`, then `run --once`):
exit status 1, one message naming the file, line and key, and no traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import run_cli

SITE = "site: {title: T, base_url: 'https://example.org/', author: A}\n"
CHANNEL = "channels:\n  - name: Feed\n    url: http://127.0.0.1:9/feed.xml\n"


def write(folder: Path, body: str, channel: str = CHANNEL) -> Path:
    path = folder / "feeds.yaml"
    path.write_text(SITE + body + channel, encoding="utf-8")
    return path


def refused(config: Path, *args: str) -> str:
    """Run the command, assert it failed cleanly with exit status 1; return stderr."""
    result = run_cli(config, *args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "unexpected error" not in result.stderr
    return result.stderr


CASES = {
    # An interval over a year used to pass `check` and crash the scheduler.
    "interval over a year": (
        "schedule: {interval: 400d, jitter: 1m}\n",
        CHANNEL,
        r"feeds\.yaml:2: schedule\.interval: '400d' is longer than a year \(365d\)",
    ),
    "interval past what a timedelta holds": (
        "schedule: {interval: 99999999999d}\n",
        CHANNEL,
        r"feeds\.yaml:2: schedule\.interval: '99999999999d' is longer than a year",
    ),
    "interval in seconds past a year": (
        "schedule: {interval: 100000000000000000000}\n",
        CHANNEL,
        r"feeds\.yaml:2: schedule\.interval: 100000000000000000000 is longer than a year",
    ),
    "jitter above the interval": (
        "schedule: {interval: 5m, jitter: 10m}\n",
        CHANNEL,
        r"feeds\.yaml:2: schedule: jitter \(10m\) is longer than the interval \(5m\)",
    ),
    "a channel's interval below the jitter": (
        "schedule: {interval: 1h, jitter: 10m}\n",
        CHANNEL + "    interval: 5m\n",
        r"feeds\.yaml:6: channels\[0\]\.interval: 5m is shorter than schedule\.jitter \(10m\)",
    ),
    "a language's name": (
        "",
        CHANNEL + "    language: english\n",
        r"feeds\.yaml:5: channels\[0\]\.language: 'english' is a language's name, not its "
        r"code; did you mean `en`\?",
    ),
    "no language at all": (
        "",
        CHANNEL + "    language: xx\n",
        r"channels\[0\]\.language: 'xx' is not a language code; use an ISO 639 code",
    ),
    "a three-letter code with a two-letter one": (
        "translator: {source_language: deu}\n",
        CHANNEL,
        r"feeds\.yaml:2: translator\.source_language: 'deu' is a three-letter code; "
        r"did you mean `de`\?",
    ),
    "a language's name among the selection's": (
        "selection: {languages: [en, French]}\n",
        CHANNEL,
        r"selection\.languages\[1\]: 'French' is a language's name, not its code; "
        r"did you mean `fr`\?",
    ),
    "output is the config's own folder": (
        "output: .\n",
        CHANNEL,
        r"feeds\.yaml:2: output: .* is the config file's own folder",
    ),
    "output holds the store": (
        "output: data/\nstore: sqlite:///data/sub/k.db\n",
        CHANNEL,
        r"feeds\.yaml:2: output: .*data holds the store .*k\.db",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_value_run_cannot_use_is_a_config_error(tmp_path: Path, case: str) -> None:
    body, channel, expected = CASES[case]
    config = write(tmp_path, body, channel)
    for command in (["check"], ["run", "--once"]):
        stderr = refused(config, *command)
        assert len(stderr.splitlines()) == 1, stderr
        assert re.search(expected, stderr), stderr
    assert not (tmp_path / "kanalwerk.db").exists()  # `run` stopped before the store


def test_an_output_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "site").write_text("not a folder", encoding="utf-8")
    config = write(tmp_path, "output: site\n")
    for command in (["check"], ["run", "--once"]):
        stderr = refused(config, *command)
        assert f"feeds.yaml:2: output: {tmp_path / 'site'} is a file" in stderr
    assert (tmp_path / "site").read_text(encoding="utf-8") == "not a folder"


def test_the_accepted_limits_still_pass(tmp_path: Path) -> None:
    """The bounds refuse only what is wrong: a year, a jitter equal to the interval, en-GB."""
    config = write(
        tmp_path,
        "schedule: {interval: 365d, jitter: 365d}\ntranslator: {source_language: auto}\n",
        CHANNEL + "    language: en-GB\n    interval: 365d\n",
    )
    result = run_cli(config, "check")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` cannot be written while the block runs, even by root (immutable there)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("root cannot be kept from writing a folder without chattr")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("this file system takes no immutable flag, and root writes anywhere")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_output_that_cannot_be_written(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    config = write(tmp_path, "output: locked/site/\nstore: sqlite:///data/k.db\n")
    with read_only(locked):
        for command in (["check"], ["run", "--once"]):
            stderr = refused(config, *command)
            assert f"output: {locked / 'site'} cannot be written: its folder {locked}" in stderr
    assert not (tmp_path / "data").exists()  # refused before the store was made


def test_a_config_folder_that_cannot_be_written(tmp_path: Path) -> None:
    """The default store and output live beside feeds.yaml: both are named, no traceback."""
    folder = tmp_path / "conf"
    folder.mkdir()
    config = write(folder, "")
    with read_only(folder):
        stderr = refused(config, "run", "--once")
        check = refused(config, "check")
    assert stderr == check
    assert f"output: {folder / 'output'} cannot be written: its folder {folder}" in stderr
    assert f"its lock file {folder / 'kanalwerk.db'}.lock live there" in stderr
    assert list(folder.iterdir()) == [config]


def test_a_store_folder_where_the_lock_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    config = write(tmp_path, "store: sqlite:///afile/k.db\n")
    stderr = refused(config, "check")
    assert f"store: {tmp_path / 'afile'} is a file, so the folder" in stderr
    assert "lock file" in stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "{config}", "-q", "check"],
        ["check", "--config", "{config}", "-q"],
        ["-q", "check", "--config", "{config}"],
        ["--config", "{config}", "check", "-q"],
    ],
)
def test_global_options_before_or_after_the_command(tmp_path: Path, args: list[str]) -> None:
    from click.testing import CliRunner

    from kanalwerk.cli import main

    folder = tmp_path / "elsewhere"
    folder.mkdir()
    config = write(folder, "")
    argv = [a.format(config=config) for a in args]
    with contextlib.chdir(tmp_path):  # no feeds.yaml here: only --config finds it
        result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    assert f"{config}: OK" in result.stdout


def test_verbose_after_the_command_shows_debug_lines(tmp_path: Path) -> None:
    config = write(tmp_path, "")
    quiet = run_cli(config, "run", "--once", "-q")
    loud = run_cli(config, "run", "--once", "-v")
    assert quiet.returncode == loud.returncode == 1  # the feed's port takes no connection
    assert " INFO " not in quiet.stderr and " ERROR " in quiet.stderr
    assert " DEBUG " in loud.stderr
