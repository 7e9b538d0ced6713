"""`run --once` exit codes for cron, and status.json after every round (run --once, daemon).

Real runs against feeds and LibreTranslate on 127.0.0.1; the daemon's round is driven
in process through its own poll job, its SIGHUP in a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.daemon import Daemon
from kanalwerk.pipeline import open_pipeline
from tests.cli import command, environment, run_cli
from tests.once import Setup, run_setup
from tests.test_daemon import poll_now, still_clock, stop_daemon, wait_for


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with run_setup(tmp_path) as ready:
        yield ready


@pytest.mark.parametrize(
    ("feeds", "code", "says"),
    [
        (["/en.rss"], 0, None),
        (["/missing.rss"], 1, "Error: no channel could be fetched"),
        (["/en.rss", "/missing.rss"], 3, "warning: 1 channel(s) could not be fetched"),
        (["/en.rss", "/it.rss"], 4, "warning: 1 item(s) wait for an engine"),
    ],
)
def test_run_once_exit_codes(setup: Setup, feeds: list[str], code: int, says: str | None) -> None:
    setup.write(*feeds)
    result = run_cli(setup.config, "run", "--once")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if says is not None:
        assert says in result.stderr


def test_publishing_that_fails_exits_1(setup: Setup) -> None:
    setup.write("/en.rss")
    (setup.folder / "site" / "index.html").mkdir(parents=True)  # a folder where a page goes
    result = run_cli(setup.config, "run", "--once")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Error: cannot write the site" in result.stderr
    health = setup.read_health()
    assert health["last_round_ok"] is False
    assert "cannot write the site" in health["last_round"]["error"]


def test_the_exit_codes_are_in_the_help(setup: Setup) -> None:
    setup.write("/en.rss")
    text = " ".join(run_cli(setup.config, "run", "--help").stdout.split())
    for code in (
        "0 all fine",
        "1 no channel could be fetched or publishing failed",
        "3 some channels failed",
        "4 items wait because no engine could translate them",
    ):
        assert code in text


def test_each_round_writes_status_json_beside_the_store(setup: Setup) -> None:
    setup.write("/en.rss")
    before = datetime.now(UTC)
    assert run_cli(setup.config, "run", "--once").returncode == 0
    first = setup.read_health()
    assert first["last_round_ok"] is True
    success = datetime.fromisoformat(first["last_success_at"])
    assert before <= success <= datetime.now(UTC)
    assert first["last_success_unix"] == int(success.timestamp())
    assert first["last_round"] == {
        "channels": 1,
        "fetched": 1,
        "failed": 0,
        "new_items": 2,
        "translated": 2,
        "waiting": 0,
        "files_written": first["last_round"]["files_written"],
        "error": None,
    }
    assert first["last_round"]["files_written"] > 0
    assert list(setup.health.parent.glob(".status.json*")) == []  # no temp file left

    # A round where nothing could be fetched keeps the last success.
    setup.feeds.routes.pop("/en.rss")
    assert run_cli(setup.config, "run", "--once").returncode == 1
    second = setup.read_health()
    assert second["last_round_ok"] is False
    assert second["last_success_at"] == first["last_success_at"]
    assert second["last_round_at"] > first["last_round_at"]

    status = json.loads(run_cli(setup.config, "status", "--json").stdout)
    assert status["daemon"] == second


def test_the_daemon_writes_status_json_after_a_round(setup: Setup) -> None:
    setup.write("/en.rss")
    config = load_config(setup.config)
    with open_pipeline(config) as pipeline:
        daemon = Daemon(pipeline)
        assert not setup.health.exists()
        poll_now(daemon, "feed-0")
        health = setup.read_health()
        assert health["last_round_ok"] is True
        assert health["last_round"]["new_items"] == 2
        assert health["pid"] == os.getpid()
        assert (setup.folder / "site" / "feed.atom").is_file()  # translated and published

        setup.feeds.routes.pop("/en.rss")
        poll_now(daemon, "feed-0")
        failed = setup.read_health()
        assert failed["last_round_ok"] is False
        assert failed["last_success_at"] == health["last_success_at"]


def test_sighup_reads_the_config_again(setup: Setup) -> None:
    """An edit whose file time is put back is seen only because of the SIGHUP."""
    setup.write("/en.rss")
    log_file = setup.folder / "daemon.log"
    with open(log_file, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command(setup.config, "run"),
            stderr=log,
            env=environment(still_clock()),
            cwd=setup.folder,
        )
    try:
        assert wait_for(setup.health.exists), log_file.read_text(encoding="utf-8")
        # The edit is written beside the config with the config's file time and moved
        # over it at once: the config watch never sees a new time, nor half a file.
        stat = setup.config.stat()
        beside = Setup(setup.folder / "edit", setup.feeds, setup.libre)
        beside.folder.mkdir()
        beside.write("/en.rss", "/it.rss")
        os.utime(beside.config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        beside.config.replace(setup.config)
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "reloaded" in log_file.read_text(encoding="utf-8"))
        text = log_file.read_text(encoding="utf-8")
        assert "SIGHUP: reading" in text
        assert "2 channel(s)" in text.split("SIGHUP: reading", 1)[1]
        assert process.poll() is None  # SIGHUP does not stop it
    finally:
        assert stop_daemon(process, signal.SIGTERM, 20) == 0
