"""`--log-format json` and the progress of a long run, through real runs on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import re
import select
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kanalwerk import logs
from kanalwerk.progress import round_progress
from tests.cli import run_cli
from tests.once import Setup, run_setup


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with run_setup(tmp_path) as ready:
        yield ready


def objects(stderr: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stderr.splitlines()]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def test_json_log_is_one_object_a_line(setup: Setup) -> None:
    setup.write("/en.rss", "/missing.rss")
    result = run_cli(setup.config, "--log-format", "json", "run", "--once")
    assert result.returncode == 3, result.stderr
    lines = objects(result.stderr)  # every line, the summary too, is JSON
    assert {tuple(sorted(line)) for line in lines} == {
        ("channel", "event", "level", "message", "outcome", "time")
    }
    polls = {line["channel"]: line for line in lines if line["event"] == "poll"}
    assert polls["feed-0"]["outcome"] == "fetched" and polls["feed-0"]["level"] == "info"
    assert polls["feed-1"]["outcome"] == "error" and polls["feed-1"]["level"] == "error"
    assert "HTTP 404" in polls["feed-1"]["message"]
    translated = [line for line in lines if line["event"] == "translate"]
    assert [t["channel"] for t in translated] == ["feed-0", "feed-0"]
    assert {t["outcome"] for t in translated} == {"translated"}
    summary = next(line for line in lines if line["event"] == "cycle")
    assert summary["message"].startswith("1/2 channel(s) fetched")
    published = next(line for line in lines if line["message"].startswith("published"))
    assert published["event"] == "kanalwerk.pipeline" and published["channel"] is None
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", x["time"]) for x in lines
    )

    # After the command works the same; -q leaves only warnings and errors.
    quiet = run_cli(setup.config, "run", "--once", "-q", "--log-format", "json")
    assert {line["level"] for line in objects(quiet.stderr)} <= {"warning", "error"}


def test_json_log_escapes_what_a_terminal_would_obey(tmp_path: Path) -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad \x1b[2J \x9b1m\n", (), None)
    line = logs.JsonFormatter().format(record)
    assert "\x1b" not in line and "\x9b" not in line and "\n" not in line
    assert json.loads(line)["message"] == "bad \x1b[2J \x9b1m\n"


def test_a_long_run_logs_its_progress_when_not_on_a_terminal(setup: Setup) -> None:
    setup.write(*(["/en.rss"] + [f"/missing-{n}.rss" for n in range(11)]))
    result = run_cli(setup.config, "run", "--once")
    assert result.returncode == 3, result.stderr
    progress = re.findall(r"INFO    channels polled: (\d+) of 12$", result.stderr, re.M)
    assert progress and progress[-1] == "12" and len(progress) <= 10
    assert "items translated" not in result.stderr  # two items: too short to show


def test_on_a_terminal_the_progress_is_a_bar() -> None:
    """Written to a real pseudo-terminal; per-channel lines are held back meanwhile."""
    master, slave = os.openpty()
    terminal = os.fdopen(slave, "w", encoding="utf-8")
    console = logging.StreamHandler(terminal)
    console.setLevel(logging.NOTSET)
    root, log = logging.getLogger(), logging.getLogger("kanalwerk.pipeline")
    root.addHandler(console)
    before = root.level
    root.setLevel(logging.INFO)
    try:
        with round_progress(terminal, console) as progress:
            progress.phase("channels polled", "poll", 12)
            assert console.level == logging.WARNING
            for n in range(12):
                log.info("c%d: unchanged", n, extra=logs.fields(channel=f"c{n}", event="poll"))
        assert console.level == logging.NOTSET
        terminal.flush()
        written = b""
        while select.select([master], [], [], 0)[0]:  # all of it is there already
            written += os.read(master, 65536)
        shown = written.decode()
    finally:
        root.removeHandler(console)
        root.setLevel(before)
        terminal.close()
        os.close(master)
    assert "channels polled" in shown and "12/12" in shown
    assert "unchanged" not in shown
