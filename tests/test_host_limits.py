"""Per-host politeness against a counting feed host: requests and connections at once.

The host holds each answer back a little (`LATENCY`), so a client allowed more requests
at once than the limit really has them in flight together and the server sees it. Where
a test asks for the limit exactly, the host also holds the answers until that many were
in flight (`gather`), so a busy machine sending slowly does not look like a lower limit.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.fetch import fetch_all
from kanalwerk.fetch_loop import FetchLoop
from kanalwerk.host_limits import HostLimits
from kanalwerk.models import FetchResult, FetchState
from kanalwerk.pipeline import Pipeline
from kanalwerk.store import Store
from tests.cli import command, environment, run_cli
from tests.fake_feed_host import FeedHost
from tests.servers import LocalServer, Request, Response
from tests.test_daemon import wait_for
from tests.test_fetch import fetch_settings

LATENCY = 0.02
CHANNELS = 20


@pytest.fixture
def host() -> Iterator[FeedHost]:
    served = FeedHost(latency=LATENCY).start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def tls_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedHost]:
    """The host over HTTPS, offering HTTP/2; httpx trusts its CA through SSL_CERT_FILE."""
    (tmp_path / "tls").mkdir()
    served = FeedHost(latency=LATENCY, tls_folder=tmp_path / "tls").start()
    assert served.ca_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(served.ca_file))
    try:
        yield served
    finally:
        served.stop()


def write_config(folder: Path, urls: list[str], fetch: str) -> Path:
    """German channels (no translation engine needed) with the given `fetch:` section."""
    lines = [
        "site: {title: Testblog, base_url: 'https://blog.example.de/', author: Test}",
        "output: site/",
        "store: sqlite:///kanalwerk.db",
        f"fetch: {{{fetch}}}",
        "channels:",
        *(f"  - {{name: Kanal {i}, url: '{url}', language: de}}" for i, url in enumerate(urls)),
    ]
    path = folder / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_run_once_never_has_more_than_max_per_host_requests_at_once(
    host: FeedHost, tmp_path: Path
) -> None:
    host.gather = 2
    config = write_config(tmp_path, [host.url(n) for n in range(CHANNELS)], "max_per_host: 2")
    result = run_cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    seen = host.seen
    assert seen.requests == CHANNELS
    assert seen.peak_in_flight == 2  # the limit, and never above it
    # Keep-alive: the channels share the two connections instead of one each.
    assert len(seen.ports) == 2


def test_pipeline_rounds_keep_the_limit_and_share_connections(
    host: FeedHost, tmp_path: Path
) -> None:
    """The daemon's way: one pipeline polls round after round (here: two rounds)."""
    host.gather = 2
    config = load_config(
        write_config(tmp_path, [host.url(n) for n in range(CHANNELS)], "max_per_host: 2")
    )
    with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
        first = pipeline.poll()
        second = pipeline.poll()
    assert [o.status for o in first.outcomes] == [200] * CHANNELS and first.failed == 0
    assert all(o.not_modified for o in second.outcomes) and len(second.outcomes) == CHANNELS
    assert host.seen.requests == 2 * CHANNELS
    assert host.seen.peak_in_flight == 2
    assert len(host.seen.ports) == 2  # the second round used the first round's connections


def test_http2_multiplexes_within_the_stream_limit_on_one_connection(tls_host: FeedHost) -> None:
    tls_host.gather = 8
    states = [FetchState(f"c{n}", tls_host.url(n)) for n in range(CHANNELS)]
    settings = fetch_settings(max_per_host=2, max_streams_per_host=8)
    results = asyncio.run(fetch_all(states, settings))
    assert [r.error for r in results] == [None] * CHANNELS
    seen = tls_host.seen
    assert seen.versions == {"2": CHANNELS}
    assert seen.peak_in_flight == 8  # streams at once: the stream limit, not max_per_host
    assert len(seen.ports) == 1


def test_https_without_http2_keeps_max_per_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = FeedHost(latency=LATENCY, gather=2, tls_folder=tmp_path, http2=False).start()
    try:
        assert served.ca_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(served.ca_file))
        states = [FetchState(f"c{n}", served.url(n)) for n in range(CHANNELS)]
        settings = fetch_settings(max_per_host=2, max_streams_per_host=8)
        results = asyncio.run(fetch_all(states, settings))
    finally:
        served.stop()
    assert [r.error for r in results] == [None] * CHANNELS
    assert served.seen.versions == {"1.1": CHANNELS}
    assert served.seen.peak_in_flight == 2 and len(served.seen.ports) == 2


def test_a_redirect_waits_for_a_place_at_the_host_it_leads_to(
    host: FeedHost, server: LocalServer
) -> None:
    """Half the channels reach the host directly, half through a redirect from another
    host name: together they still never have more than max_per_host requests there."""
    target = f"http://localhost:{host.port}"
    host.gather = 2

    def moved(request: Request) -> Response:
        n = request.path.rsplit("/", 1)[1]
        return Response(302, b"", {"Location": f"{target}/feed/{n}.xml"})

    server.routes.update({f"/moved/{n}": moved for n in range(CHANNELS // 2)})
    states = [FetchState(f"m{n}", server.url(f"/moved/{n}")) for n in range(CHANNELS // 2)]
    states += [FetchState(f"d{n}", f"{target}/feed/{n}.xml") for n in range(CHANNELS // 2)]
    results = asyncio.run(fetch_all(states, fetch_settings(max_per_host=2)))
    assert [r.error for r in results] == [None] * CHANNELS
    assert host.seen.requests == CHANNELS
    assert host.seen.peak_in_flight == 2


def test_the_deadline_does_not_count_the_wait_for_a_place(host: FeedHost) -> None:
    """One place for 30 channels: the last waits 29 answers, longer than its deadline."""
    states = [FetchState(f"c{n}", host.url(n)) for n in range(30)]
    settings = fetch_settings(max_per_host=1, timeout=0.25)  # deadline 0.5 s, waits ~0.6 s
    results = asyncio.run(fetch_all(states, settings))
    assert [r.error for r in results] == [None] * 30
    assert host.seen.peak_in_flight == 1


def test_host_limits_widen_for_http2_and_leave_the_global_limit() -> None:
    async def scenario() -> tuple[int, int, bool, bool]:
        limits = HostLimits(max_per_host=2, max_streams_per_host=5, max_connections=2)
        entered: list[bool] = []

        async def hold(host: str, release: asyncio.Event) -> None:
            took_global = await limits.enter(host)
            entered.append(took_global)
            await release.wait()
            await limits.leave(host, took_global)

        release = asyncio.Event()
        await limits.learned_http2("a.example")
        tasks = [asyncio.create_task(hold("a.example", release)) for _ in range(7)]
        tasks += [asyncio.create_task(hold("b.example", release)) for _ in range(3)]
        for _ in range(5):
            await asyncio.sleep(0)
        counts = limits.in_flight("a.example"), limits.in_flight("b.example")
        release.set()
        await asyncio.gather(*tasks)
        return *counts, any(entered[:5]), all(entered[5:7])

    a, b, a_took_global, b_took_global = asyncio.run(scenario())
    assert (a, b) == (5, 2)  # a: its streams; b: max_per_host, also the global limit
    assert not a_took_global and b_took_global


def test_the_daemon_never_has_more_than_max_per_host_requests_at_once(
    host: FeedHost, tmp_path: Path
) -> None:
    """`kanalwerk run` as a process: its first round over 20 channels keeps the limit too."""
    config = write_config(tmp_path, [host.url(n) for n in range(CHANNELS)], "max_per_host: 2")
    with config.open("a", encoding="utf-8") as extra:
        extra.write("schedule: {interval: 1h, jitter: 0s}\n")
    log_file = tmp_path / "daemon.log"
    with open(log_file, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command(config, "run"),
            cwd=tmp_path,
            env=environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_for(lambda: host.seen.requests >= CHANNELS), log_file.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert returncode == 0, log_file.read_text()
    assert host.seen.requests == CHANNELS
    assert host.seen.peak_in_flight <= 2
    assert len(host.seen.ports) <= 2


def test_a_round_that_fails_leaves_nothing_running_into_the_next(host: FeedHost) -> None:
    """The pipeline's loop lives on between rounds: a failed round's fetches end with it."""
    settings = fetch_settings(max_per_host=1)
    first = [FetchState(f"a{n}", host.url(n)) for n in range(6)]

    async def refuse(result: FetchResult) -> None:
        raise RuntimeError("store gone")

    fetching = FetchLoop()
    try:
        with pytest.raises(RuntimeError, match="store gone"):
            fetching.run(settings, lambda fetcher: fetcher.fetch_all(first, refuse))
        asked = host.seen.requests
        assert asked < len(first)
        second = [FetchState("b", host.url(100))]
        (result,) = fetching.run(settings, lambda fetcher: fetcher.fetch_all(second))
    finally:
        fetching.close()
    assert result.error is None
    assert host.seen.requests == asked + 1


def test_an_http2_connection_closed_between_rounds_is_replaced(
    tls_host: FeedHost, tmp_path: Path
) -> None:
    """httpcore does not notice an idle HTTP/2 connection closed by the server: the
    request that finds it so is sent once more on a new connection."""
    settings = fetch_settings(max_per_host=2)
    states = [FetchState(f"c{n}", tls_host.url(n)) for n in range(4)]
    fetching = FetchLoop()
    try:
        first = fetching.run(settings, lambda fetcher: fetcher.fetch_all(states))
        tls_host.stop()  # closes the connection the client keeps for the next round
        again = FeedHost(tls_folder=tmp_path / "tls", port=tls_host.port).start()
        try:
            second = fetching.run(settings, lambda fetcher: fetcher.fetch_all(states))
        finally:
            again.stop()
    finally:
        fetching.close()
    assert [r.error for r in first + second] == [None] * 8
    assert again.seen.versions == {"2": 4} and len(again.seen.ports) == 1
