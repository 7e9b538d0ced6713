"""WebSub: `run --once` pings a hub on 127.0.0.1 for each changed feed, politely.

The hub is a real HTTP server (tests/servers.py); the cycles run in process through the
command line. Back-off timing is driven through `notify_hub` with an explicit clock.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from kanalwerk.config import load_config
from kanalwerk.daemon import Daemon
from kanalwerk.pipeline import Pipeline
from kanalwerk.publish import websub
from kanalwerk.publish.websub import (
    MAX_DELAY,
    PENDING_KEY,
    Pending,
    changed_feeds,
    notify_hub,
    retry_delay,
)
from kanalwerk.store import Store
from kanalwerk.translate.factory import user_agent
from tests.cli import run_cli
from tests.fake_libretranslate import FakeLibreTranslate
from tests.servers import LocalServer, Request, Resource, Response
from tests.test_article_mode import POSTS, rss
from tests.test_daemon import FakeClock, libretranslate_config, next_round

BASE = "https://blog.example.org/"


class Hub:
    """A hub on `server` at /hub: records each ping, answers with `status`."""

    def __init__(self, server: LocalServer) -> None:
        self.url = server.url("/hub")
        self.status = 204
        self.pings: list[Request] = []
        self._lock = threading.Lock()
        server.routes["/hub"] = self._answer

    def _answer(self, request: Request) -> Response:
        with self._lock:
            self.pings.append(request)
        return Response(self.status)

    def topics(self) -> list[str]:
        return [parse_qs(p.body.decode())["hub.url"][0] for p in self.pings]


def closed_port_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hub"


def write_config(folder: Path, server: LocalServer, hub: str | None) -> Path:
    """test_daemon's LibreTranslate config, with `hub` as `site.websub_hub`."""
    path = libretranslate_config(folder, server)
    if hub is not None:
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("author: Redaktion}", f"author: Redaktion, websub_hub: {hub!r}}}")
        )
    assert f'base_url: "{BASE}"' in path.read_text(encoding="utf-8")
    return path


@pytest.fixture
def feed_server(server: LocalServer) -> LocalServer:
    server.routes["/notes.rss"] = Resource(rss("Notes", POSTS[:1]))
    FakeLibreTranslate(server)
    return server


def top_level_feeds(output: Path) -> list[str]:
    return sorted(BASE + p.name for p in output.iterdir() if p.suffix in (".atom", ".rss", ".json"))


def pending(config: Path) -> Pending:
    with Store.open(load_config(config).store) as store:
        return Pending.from_json(store.get_meta(PENDING_KEY))


def test_run_once_pings_the_hub_for_each_changed_feed(
    tmp_path: Path, feed_server: LocalServer
) -> None:
    hub = Hub(feed_server)
    config = write_config(tmp_path, feed_server, hub.url)
    result = run_cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr

    feeds = top_level_feeds(tmp_path / "site")
    assert BASE + "feed.atom" in feeds
    assert sorted(hub.topics()) == feeds
    for ping in hub.pings:
        assert ping.method == "POST"
        assert ping.headers["content-type"] == "application/x-www-form-urlencoded"
        assert ping.headers["user-agent"] == user_agent(load_config(config))
        form = parse_qs(ping.body.decode(), strict_parsing=True)
        assert form.keys() == {"hub.mode", "hub.url"}
        assert form["hub.mode"] == ["publish"]
    assert pending(config) == Pending()


def test_no_ping_when_nothing_changed(tmp_path: Path, feed_server: LocalServer) -> None:
    hub = Hub(feed_server)
    config = write_config(tmp_path, feed_server, hub.url)
    assert run_cli(config, "run", "--once").returncode == 0
    first = len(hub.pings)
    assert first > 0

    again = run_cli(config, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert len(hub.pings) == first


def test_a_new_article_pings_again(tmp_path: Path, feed_server: LocalServer) -> None:
    hub = Hub(feed_server)
    config = write_config(tmp_path, feed_server, hub.url)
    assert run_cli(config, "run", "--once").returncode == 0
    hub.pings.clear()
    feed_server.routes["/notes.rss"] = Resource(rss("Notes", POSTS[:2]))
    assert run_cli(config, "run", "--once").returncode == 0
    assert BASE + "feed.atom" in hub.topics()


def test_a_failing_hub_does_not_fail_the_cycle_and_is_retried(
    tmp_path: Path, feed_server: LocalServer
) -> None:
    hub = Hub(feed_server)
    hub.status = 500
    config = write_config(tmp_path, feed_server, hub.url)
    result = run_cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "feed.atom").is_file()
    assert hub.pings, "the hub was asked"
    failed = [line for line in result.stderr.splitlines() if "WebSub hub" in line]
    assert len(failed) == 1 and "HTTP 500" in failed[0] and "next cycle" in failed[0]
    assert BASE + "feed.atom" in pending(config).topics

    hub.status = 204
    hub.pings.clear()
    retried = run_cli(config, "run", "--once")  # nothing new: only the owed ping goes out
    assert retried.returncode == 0, retried.stderr
    assert sorted(hub.topics()) == top_level_feeds(tmp_path / "site")
    assert pending(config) == Pending()


def test_a_hub_not_listening_does_not_fail_the_cycle(
    tmp_path: Path, feed_server: LocalServer
) -> None:
    config = write_config(tmp_path, feed_server, closed_port_url())
    result = run_cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "1 translated" in result.stderr
    assert "ConnectError" in result.stderr
    assert "Traceback" not in result.stderr
    owed = pending(config)
    assert BASE + "feed.atom" in owed.topics and owed.failures == 1

    hub = Hub(feed_server)  # the hub is back, at the configured address now
    write_config(tmp_path, feed_server, hub.url)
    assert run_cli(config, "run", "--once").returncode == 0
    assert BASE + "feed.atom" in hub.topics()
    assert pending(config) == Pending()


def test_without_a_hub_nothing_is_pinged_and_nothing_is_owed(
    tmp_path: Path, feed_server: LocalServer, store: Store
) -> None:
    config = write_config(tmp_path, feed_server, None)
    assert run_cli(config, "run", "--once").returncode == 0
    assert not [r for r in feed_server.requests if r.method == "POST" and r.path == "/hub"]
    assert pending(config) == Pending()

    # A hub removed from the config drops what was owed to it.
    store.set_meta(PENDING_KEY, Pending((BASE + "feed.atom",), 2).to_json())
    assert notify_hub(store, None, [], user_agent="t").sent == ()
    assert Pending.from_json(store.get_meta(PENDING_KEY)) == Pending()


def test_the_retry_backs_off_after_repeated_failures(store: Store, server: LocalServer) -> None:
    hub = Hub(server)
    hub.status = 503
    topic = BASE + "feed.atom"
    now = datetime(2025, 1, 27, 12, 0, tzinfo=UTC)

    first = notify_hub(store, hub.url, [topic], user_agent="t", now=now)
    assert first.owed == (topic,) and first.error == "HTTP 503"
    second = notify_hub(store, hub.url, [], user_agent="t", now=now)  # the next cycle
    assert second.error == "HTTP 503"
    assert len(hub.pings) == 2

    owed = Pending.from_json(store.get_meta(PENDING_KEY))
    assert owed.failures == 2 and owed.not_before == now + timedelta(minutes=2)
    # Within the back-off a cycle asks nothing, but remembers a newly changed feed.
    waiting = notify_hub(store, hub.url, [BASE + "feed.rss"], user_agent="t", now=now)
    assert waiting.owed == (topic, BASE + "feed.rss") and len(hub.pings) == 2

    hub.status = 204
    later = now + timedelta(minutes=2)
    done = notify_hub(store, hub.url, [], user_agent="t", now=later)
    assert done.sent == (topic, BASE + "feed.rss") and done.owed == ()
    assert store.get_meta(PENDING_KEY) == ""


def test_retry_delays_grow_to_a_cap() -> None:
    assert retry_delay(1) == timedelta(0)
    assert [retry_delay(n) for n in (2, 3, 4)] == [timedelta(minutes=m) for m in (2, 4, 8)]
    assert retry_delay(50) == MAX_DELAY


def test_only_the_top_level_feeds_are_topics(tmp_path: Path) -> None:
    written = [
        tmp_path / "feed.atom",
        tmp_path / "feed.json",
        tmp_path / "feed.rss",
        tmp_path / "index.html",
        tmp_path / "archiv" / "3.atom",
        tmp_path / "artikel" / "x.html",
        tmp_path / "sitemap.xml",
    ]
    assert changed_feeds(BASE, tmp_path, written) == [
        BASE + "feed.atom",
        BASE + "feed.json",
        BASE + "feed.rss",
    ]


def test_unreadable_pending_state_counts_as_nothing_owed() -> None:
    assert Pending.from_json("not json") == Pending()
    assert Pending.from_json('{"topics": 5}') == Pending()
    assert Pending.from_json(None) == Pending()


def test_the_daemon_sends_an_owed_ping_after_a_quiet_poll(
    tmp_path: Path, feed_server: LocalServer
) -> None:
    """A poll with nothing new publishes nothing, yet an owed ping that is due goes out."""
    hub = Hub(feed_server)
    hub.status = 500
    config = load_config(write_config(tmp_path, feed_server, hub.url))
    clock = FakeClock()
    with Store.open(config.store) as store, Pipeline(config, store, clock=clock) as pipeline:
        daemon = Daemon(pipeline)
        daemon.plan(first=True)
        next_round(daemon, clock)  # new article published, the hub refuses
        assert BASE + "feed.atom" in Pending.from_json(store.get_meta(PENDING_KEY)).topics
        hub.status = 204
        hub.pings.clear()
        next_round(daemon, clock)  # 304 from the feed: nothing to translate or publish
        assert BASE + "feed.atom" in hub.topics()
        assert store.get_meta(PENDING_KEY) == ""


class StallingHub:
    """A raw socket hub on 127.0.0.1 that never finishes an answer.

    With `drip`, it sends a status line and then one header line every 0.5 s for as
    long as the client listens; without, it accepts and says nothing.
    """

    def __init__(self, *, drip: bool) -> None:
        self._drip = drip
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hub"
        self.connections = 0
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._stall, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _stall(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self._drip:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                n = 0
                while not self._stop.wait(0.5):
                    if self._drip:
                        n += 1
                        conn.sendall(f"X-Drip-{n}: x\r\n".encode())
            except OSError:
                return  # the client hung up

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._listener.close()


@pytest.fixture(params=["drip", "silent"])
def stalling_hub(request: pytest.FixtureRequest) -> Iterator[StallingHub]:
    hub = StallingHub(drip=request.param == "drip")
    yield hub
    hub.close()


def test_a_stalling_hub_costs_one_deadline_and_the_ping_stays_owed(
    tmp_path: Path,
    feed_server: LocalServer,
    stalling_hub: StallingHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx's timeouts are per read: only a deadline on the whole round bounds a hub
    that answers one header line at a time."""
    monkeypatch.setattr(websub, "DEADLINE", 1.0)
    config = write_config(tmp_path, feed_server, stalling_hub.url)
    started = time.monotonic()
    result = run_cli(config, "run", "--once")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < websub.DEADLINE + 5, f"run --once took {elapsed:.1f} s"
    assert stalling_hub.connections >= 1, "the hub was asked"
    assert (tmp_path / "site" / "feed.atom").is_file()
    failed = [line for line in result.stderr.splitlines() if "WebSub hub" in line]
    assert len(failed) == 1 and "no complete answer within 1 s" in failed[0], result.stderr
    owed = pending(config)
    assert BASE + "feed.atom" in owed.topics and owed.failures == 1


def test_what_is_owed_is_recorded_before_the_hub_is_asked(
    store: Store, server: LocalServer
) -> None:
    """A process killed mid-ping loses nothing: the topics are owed while the POST runs."""
    topic = BASE + "feed.atom"
    seen: list[Pending] = []

    def answer(request: Request) -> Response:
        seen.append(Pending.from_json(store.get_meta(PENDING_KEY)))
        return Response(204)

    server.routes["/hub"] = answer
    report = notify_hub(store, server.url("/hub"), [topic], user_agent="t")
    assert report.sent == (topic,)
    assert seen and topic in seen[0].topics
    assert store.get_meta(PENDING_KEY) == ""


def ours(caplog: pytest.LogCaptureFixture) -> list[str]:
    """kanalwerk's log lines (httpx's own request log is silenced by the command line)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("kanalwerk")]


@pytest.mark.parametrize("refusing", [True, False])
def test_hub_secrets_never_reach_the_log(
    store: Store, server: LocalServer, caplog: pytest.LogCaptureFixture, refusing: bool
) -> None:
    if refusing:
        Hub(server).status = 500
        port = server.url("/").split(":")[2].split("/")[0]
    else:
        port = closed_port_url().split(":")[2].split("/")[0]
    hub = f"http://kanal:s3cr3t@127.0.0.1:{port}/hub?token=t0k3n"
    caplog.set_level(logging.DEBUG, logger="kanalwerk")
    report = notify_hub(store, hub, [BASE + "feed.atom"], user_agent="t")
    assert report.owed == (BASE + "feed.atom",)
    assert report.error is not None
    shown = " ".join([*ours(caplog), report.error])
    assert f"WebSub hub http://127.0.0.1:{port}/hub " in shown
    assert "s3cr3t" not in shown and "t0k3n" not in shown and "kanal" not in shown

    Hub(server).status = 204  # and when the hub takes it
    caplog.clear()
    good = server.url("/hub").replace("http://", "http://kanal:s3cr3t@") + "?token=t0k3n"
    assert notify_hub(store, good, [], user_agent="t").sent == (BASE + "feed.atom",)
    shown = " ".join(ours(caplog))
    assert "127.0.0.1" in shown
    assert "s3cr3t" not in shown and "t0k3n" not in shown


def test_a_hub_url_with_a_password_is_a_config_error(
    tmp_path: Path, feed_server: LocalServer
) -> None:
    """The hub is named in every feed (rel="hub"): a password there reaches every reader."""
    config = write_config(tmp_path, feed_server, "https://kanal:s3cr3t@hub.example.org/")
    line = next(
        n
        for n, text in enumerate(config.read_text(encoding="utf-8").splitlines(), 1)
        if "websub_hub" in text
    )
    result = run_cli(config, "run", "--once")
    assert result.returncode != 0
    assert f"{config.name}:{line}" in result.stderr, result.stderr
    assert "site.websub_hub" in result.stderr and "password" in result.stderr
    assert "s3cr3t" not in result.stderr and "Traceback" not in result.stderr
