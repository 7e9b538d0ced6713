"""`kanalwerk run` as a daemon: first cycle, config edits while running, clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer, Resource
from tests.test_end_to_end import API_KEY, ATOM, write_config


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def entry_count(feed_file: Path) -> int:
    try:
        return len(etree.parse(str(feed_file)).getroot().findall(f"{ATOM}entry"))
    except (OSError, etree.XMLSyntaxError):
        return -1


@pytest.fixture
def servers(data_dir: Path) -> Iterator[tuple[LocalServer, FakeOpenAI]]:
    feeds = LocalServer().start()
    api_server = LocalServer().start()
    try:
        feeds.routes["/cnbc.xml"] = Resource((data_dir / "youtube_cnbc.xml").read_bytes())
        feeds.routes["/wordpress.rss"] = Resource((data_dir / "wordpress.rss").read_bytes())
        feeds.routes["/blog.atom"] = Resource((data_dir / "blog.atom").read_bytes())
        feeds.routes["/json.json"] = Resource(
            (data_dir / "feed.json").read_bytes(), "application/feed+json"
        )
        yield feeds, FakeOpenAI(api_server, api_key=API_KEY)
    finally:
        feeds.stop()
        api_server.stop()


def test_daemon_runs_reloads_config_and_stops_on_ctrl_c(
    tmp_path: Path, servers: tuple[LocalServer, FakeOpenAI]
) -> None:
    feeds, api = servers
    config = write_config(tmp_path, feeds, api)
    feed_file = tmp_path / "site" / "feed.atom"
    log_file = tmp_path / "daemon.log"
    with open(log_file, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kanalwerk", "run", "--config", str(config)],
            cwd=tmp_path,
            env={**os.environ, "KW_TEST_KEY": API_KEY},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_for(lambda: entry_count(feed_file) == 9), log_file.read_text()

        # A second daemon on the same config is refused.
        second = subprocess.run(
            [sys.executable, "-m", "kanalwerk", "run", "--config", str(config)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "already running" in second.stderr

        # A broken edit is reported and ignored; the daemon keeps running.
        good = config.read_text(encoding="utf-8")
        config.write_text(good.replace("channels:", "channels: [oops"), encoding="utf-8")
        assert wait_for(lambda: "config edit ignored" in log_file.read_text())
        assert process.poll() is None

        # Adding a channel takes effect without a restart.
        extra = f"  - name: JSON Blog\n    url: {feeds.url('/json.json')}\n"
        config.write_text(good + extra, encoding="utf-8")
        assert wait_for(lambda: entry_count(feed_file) > 9), log_file.read_text()
        assert "reloaded" in log_file.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert returncode == 0, log_file.read_text()
    assert "Traceback" not in log_file.read_text()
