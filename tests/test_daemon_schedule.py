"""The daemon's schedule as a process: a simulated day against feeds on 127.0.0.1.

`KANALWERK_CLOCK` moves the daemon's clock 20 minutes at each tick, so a day passes
in a few seconds and every poll lands at a time the test can work out exactly: the
first round spread over the jitter, 500s backing off, 410 disabling, `max-age` and
`Retry-After` moving the next poll. The daemon logs each round's time with `-v`.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.daemon import CLOCK_ENV
from kanalwerk.models import FetchResult
from kanalwerk.schedule import first_offset
from kanalwerk.store import FetchRecord, Store
from tests.cli import run_cli
from tests.servers import LocalServer, Request, Resource, Response
from tests.test_article_mode import rss
from tests.test_daemon import start_daemon, stop_daemon, wait_for

START = datetime(2026, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=20)
JITTER = timedelta(hours=2)
EMPTY = rss("Leer", [])
ROUND = re.compile(r"round at (\S+ \S+) UTC: polling (.*)")


def respond(status: int, headers: dict[str, str]) -> Callable[[Request], Response]:
    def handler(_request: Request) -> Response:
        return Response(status, EMPTY if status == 200 else b"", headers)

    return handler


@pytest.fixture
def feeds() -> Iterator[LocalServer]:
    server = LocalServer().start()
    server.routes["/steady.rss"] = Resource(EMPTY)
    server.routes["/broken.rss"] = respond(500, {})
    server.routes["/gone.rss"] = respond(410, {})
    server.routes["/cached.rss"] = respond(200, {"Cache-Control": "public, max-age=21600"})
    server.routes["/busy.rss"] = respond(429, {"Retry-After": "18000"})
    try:
        yield server
    finally:
        server.stop()


def write_config(folder: Path, feeds: LocalServer) -> Path:
    channels = "".join(
        f"  - name: {name.title()}\n    url: {feeds.url(f'/{name}.rss')}\n    language: de\n"
        for name in ("steady", "broken", "gone", "cached", "busy")
    )
    path = folder / "feeds.yaml"
    path.write_text(
        f"""
site: {{title: Zeitplan, base_url: "https://blog.example.org/", author: Redaktion}}
output: site/
store: sqlite:///kanalwerk.db
schedule: {{interval: 2h, jitter: 2h, max_interval: 24h}}
channels:
{channels}""",
        encoding="utf-8",
    )
    return path


def rounds(log: str) -> dict[str, list[timedelta]]:
    """Each channel's polls in the log, as time since START."""
    polls: dict[str, list[timedelta]] = {}
    for when, names in ROUND.findall(log):
        at = datetime.fromisoformat(when).replace(tzinfo=UTC) - START
        for name in names.split(", "):
            polls.setdefault(name, []).append(at)
    return polls


def first_poll(channel_id: str) -> timedelta:
    """The first tick at or after the channel's place in the jitter window."""
    return STEP * math.ceil(first_offset(channel_id, JITTER) / STEP)


def test_a_simulated_day_of_polls(tmp_path: Path, feeds: LocalServer) -> None:
    config = write_config(tmp_path, feeds)
    clock = f"{START.isoformat()} {STEP.total_seconds():g}"
    process, log_file = start_daemon(config, "-v", env={CLOCK_ENV: clock})
    try:

        def simulated() -> timedelta:
            polls = rounds(log_file.read_text(encoding="utf-8"))
            return max((at for times in polls.values() for at in times), default=timedelta(0))

        done = wait_for(lambda: process.poll() is not None or simulated() >= timedelta(1), 60)
        assert done and process.poll() is None, log_file.read_text()
        text = log_file.read_text(encoding="utf-8")
        polls = rounds(text)
        day = {
            name: [at for at in times if at < timedelta(days=1)] for name, times in polls.items()
        }

        # The first round: each channel at its own place in the jitter window.
        firsts = {name: times[0] for name, times in day.items()}
        assert firsts == {name: first_poll(name) for name in firsts}
        assert len(set(firsts.values())) >= 3 and max(firsts.values()) <= JITTER

        def after_first(name: str) -> list[timedelta]:
            return [at - firsts[name] for at in day[name]]

        every_2h = [timedelta(hours=h) for h in range(0, 24, 2)]
        assert after_first("steady") == [h for h in every_2h if firsts["steady"] + h < timedelta(1)]
        # 500s: 4, 8, 16 hours apart instead of every 2 hours.
        assert after_first("broken") == [timedelta(hours=h) for h in (0, 4, 12)]
        assert after_first("gone") == [timedelta(0)]  # 410: never again
        assert after_first("cached") == [timedelta(hours=h) for h in (0, 6, 12, 18)]
        # Retry-After: its 5 h win over 4 h of backoff; then 8 h of backoff win over them.
        assert after_first("busy") == [timedelta(hours=h) for h in (0, 5, 13)]

        # What the server saw is what the log says (the latest round may be in flight).
        latest = simulated()
        for name, times in polls.items():
            seen = len(feeds.requests_to(f"/{name}.rss"))
            assert len([at for at in times if at < latest]) <= seen <= len(times), name
        assert "gone: the feed is gone" not in text and "Gone: the feed is gone" in text

        now = START + simulated()
        status = run_cli(config, "status", env={CLOCK_ENV: f"{now.isoformat()} 600"})
        assert status.returncode == 0, status.stderr
        shown = status.stdout
        assert "next poll disabled: 410 Gone on 2026-03-01" in shown
        assert "kanalwerk enable gone" in shown
        assert "backing off after 3 errors" in shown
        assert ": server asked (max-age)" in shown

        enabled = run_cli(config, "enable", "Gone")
        assert enabled.returncode == 0, enabled.stderr
        assert "Gone is enabled again" in enabled.stdout
        assert wait_for(lambda: len(feeds.requests_to("/gone.rss")) == 2), log_file.read_text()
        assert "not disabled" in run_cli(config, "enable", "steady").stdout
    finally:
        returncode = stop_daemon(process, signal.SIGTERM, 10)
    text = log_file.read_text(encoding="utf-8")
    assert returncode == 0, text
    assert "Traceback" not in text


def test_enable_names_what_it_did(tmp_path: Path, feeds: LocalServer) -> None:
    config = write_config(tmp_path, feeds)
    unknown = run_cli(config, "enable", "nope")
    assert unknown.returncode == 1 and "no channel 'nope'" in unknown.stderr
    assert "steady" in unknown.stderr  # the ids it knows
    before = run_cli(config, "enable", "Gone")
    assert before.returncode == 0
    assert "Gone is not disabled (nothing polled yet)" in before.stdout
    assert not (tmp_path / "kanalwerk.db").exists()  # enable creates no store


def test_status_flags_a_channel_failing_for_a_week(tmp_path: Path, feeds: LocalServer) -> None:
    config = write_config(tmp_path, feeds)
    url = feeds.url("/broken.rss")
    with Store.open(load_config(config).store) as store:
        store.sync_channels([("broken", "Broken", url)])
        for day in range(9):
            failed = FetchResult("broken", url, url, 500, error="HTTP 500 Internal Server Error")
            store.record_fetches([FetchRecord(failed, at=START + timedelta(days=day))])
    now = START + timedelta(days=8, hours=1)
    shown = run_cli(config, "status", env={CLOCK_ENV: f"{now.isoformat()} 600"}).stdout
    assert "next poll in 23 h: failing since 2026-03-01, polled daily" in shown
    assert "FAILING for 8 days" in shown
    assert "next poll now: first poll" in shown  # the channels never polled
