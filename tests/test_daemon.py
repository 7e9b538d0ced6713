"""`kanalwerk run` as a daemon: first cycle, config edits while running, clean Ctrl-C.

In article mode the daemon keeps one article writer across rounds; that is driven in
process, through the daemon's own poll and reload jobs, against a loopback chat API.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from kanalwerk.config import Config, load_config
from kanalwerk.daemon import CLOCK_ENV, Daemon
from kanalwerk.lock import lock_path, single_instance
from kanalwerk.pipeline import Pipeline
from kanalwerk.schedule import first_offset
from kanalwerk.store import Store
from kanalwerk.translate.article import ArticleRequest, ArticleWriter, WrittenArticle
from kanalwerk.translate.factory import (
    ArticleWriterHolder,
    build_article_writer,
)
from tests.cli import command, environment, run_cli
from tests.fake_libretranslate import FakeLibreTranslate
from tests.fake_openai import FakeOpenAI, is_article_request
from tests.servers import LocalServer, Request, Resource, Response
from tests.test_article_mode import POSTS, rss
from tests.test_end_to_end import API_KEY, ATOM, write_config


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def still_clock() -> dict[str, str]:
    """`KANALWERK_CLOCK` standing at now: the daemon ticks and watches its config file at
    test speed, and no channel falls due again after its first poll."""
    return {CLOCK_ENV: f"{datetime.now(UTC).isoformat()} 0"}


def start_daemon(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """`kanalwerk ARGS run` in the config's folder, logging to daemon.log there."""
    log_file = config.parent / "daemon.log"
    with open(log_file, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command(config, *args, "run"),
            cwd=config.parent,
            env=environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, log_file


def stop_daemon(process: subprocess.Popen[bytes], signum: int, timeout: float) -> int:
    """Send `signum` and return the exit status; kill it and fail after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def without_jitter(config: Path) -> Path:
    """The config with every channel's first poll right at the start."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("\nchannels:", "\nschedule: {jitter: 0s}\nchannels:", 1))
    return config


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
    config = without_jitter(write_config(tmp_path, feeds, api))
    feed_file = tmp_path / "site" / "feed.atom"
    process, log_file = start_daemon(config, env={"KW_TEST_KEY": API_KEY, **still_clock()})
    try:
        assert wait_for(lambda: entry_count(feed_file) == 8), log_file.read_text()

        # A second run on the same config is refused (in process: refused, it ends at once).
        second = run_cli(config, "run", "--once", env={"KW_TEST_KEY": API_KEY})
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
        assert wait_for(lambda: entry_count(feed_file) > 8), log_file.read_text()
        assert "reloaded" in log_file.read_text()
    finally:
        returncode = stop_daemon(process, signal.SIGINT, 20)
    assert returncode == 0, log_file.read_text()
    assert "Traceback" not in log_file.read_text()


def test_two_configs_on_one_store_do_not_run_at_once(
    tmp_path: Path, servers: tuple[LocalServer, FakeOpenAI]
) -> None:
    """The lock belongs to the store: a second config on it is refused, another store is not."""
    feeds, api = servers
    for name in "abc":
        (tmp_path / name).mkdir()
    first = write_config(tmp_path / "a", feeds, api)
    database = tmp_path / "a" / "data" / "kanalwerk.db"
    second_folder = tmp_path / "b"
    second = write_config(second_folder, feeds, api)
    second.write_text(
        second.read_text(encoding="utf-8").replace(
            "sqlite:///data/kanalwerk.db", f"sqlite:///{database}"
        ),
        encoding="utf-8",
    )
    with single_instance(load_config(first).store):
        refused = run_cli(second, "run", "--once", env={"KW_TEST_KEY": API_KEY})
        assert refused.returncode == 1
        assert "already running" in refused.stderr
        assert str(database) in refused.stderr  # names the store, so the user finds the other
        assert not (second_folder / "site").exists()
        assert api.requests == 0

        third = write_config(tmp_path / "c", feeds, api)  # a store of its own
        assert run_cli(third, "run", "--once", env={"KW_TEST_KEY": API_KEY}).returncode == 0


def test_lock_follows_the_database_not_how_its_url_is_written(tmp_path: Path) -> None:
    database = tmp_path / "data" / "k.db"
    (tmp_path / "link").symlink_to(tmp_path / "data", target_is_directory=True)
    assert lock_path(f"sqlite:///{database}") == tmp_path / "data" / "k.db.lock"
    assert lock_path(f"sqlite:///{tmp_path / 'link' / 'k.db'}") == lock_path(
        f"sqlite:///{database}"
    )
    server = lock_path("postgresql://writer:secret@db.example:5432/kanalwerk")
    assert server == lock_path("postgresql://reader:other@db.example:5432/kanalwerk")
    assert server != lock_path("postgresql://writer:secret@db.example:5432/elsewhere")
    assert "secret" not in str(server)


def libretranslate_config(
    folder: Path, server: LocalServer, *, output: str = "site/", title: str = "Notizen"
) -> Path:
    """One English channel translated by a LibreTranslate on `server`."""
    path = folder / "feeds.yaml"
    path.write_text(
        f"""
site: {{title: {title}, base_url: "https://blog.example.org/", author: Redaktion}}
output: {output}
store: sqlite:///kanalwerk.db
schedule: {{jitter: 0s}}
translator:
  engine: libretranslate
  libretranslate: {{url: "{server.base_url}"}}
selection:
  backfill: all
channels:
  - name: Notes
    url: {server.url("/notes.rss")}
    language: en
""",
        encoding="utf-8",
    )
    stat = path.stat()  # every edit gets a later mtime, however coarse the clock
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + next(_EDITS) * 10**9))
    return path


def test_sigterm_lets_the_translation_in_flight_finish(tmp_path: Path, server: LocalServer) -> None:
    """systemd stops with SIGTERM: the paid answer is stored and published, no other item
    is started, and the next start publishes the rest."""
    server.routes["/notes.rss"] = Resource(rss("Notes", [*POSTS, THIRD_POST]))
    answer = FakeLibreTranslate(server)._translate
    arrived, release = threading.Event(), threading.Event()

    def held(request: Request) -> Response:
        arrived.set()
        release.wait(timeout=60)
        return answer(request)

    server.routes["/translate"] = held
    config = libretranslate_config(tmp_path, server)
    process, log_file = start_daemon(config)
    try:
        assert arrived.wait(timeout=30), log_file.read_text()
        process.send_signal(signal.SIGTERM)
        assert wait_for(lambda: "stopping" in log_file.read_text()), log_file.read_text()
        release.set()
    finally:
        release.set()
        returncode = stop_daemon(process, signal.SIGTERM, 30)
    text = log_file.read_text()
    assert returncode == 0, text
    assert "closed" not in text and "Traceback" not in text, text
    assert "stopping; 2 item(s) wait for the next cycle" in text
    with Store.open(load_config(config).store) as store:
        assert [a.title for a in store.articles()] == ["DE:OPEN MODEL BEATS THE GIANTS"]
        assert len(store.pending_items(max_attempts=5)) == 2
    feed_file = tmp_path / "site" / "feed.atom"
    assert entry_count(feed_file) == 1  # a whole, valid feed of what was translated

    assert run_cli(config, "run", "--once").returncode == 0
    assert entry_count(feed_file) == 3


def test_sigterm_during_a_poll_round_exits_at_once_and_keeps_what_arrived(
    tmp_path: Path, server: LocalServer
) -> None:
    """A feed that does not answer holds no shutdown: the round stops, what it stored stays."""
    server.routes["/notes.rss"] = Resource(rss("Notes", POSTS[:1]))
    arrived, release = threading.Event(), threading.Event()

    def hanging(_request: Request) -> Response:
        arrived.set()
        release.wait(timeout=60)
        return Response(200, rss("Slow", POSTS[1:2]))

    server.routes["/slow.rss"] = hanging
    config = libretranslate_config(tmp_path, server)
    text = config.read_text(encoding="utf-8")
    config.write_text(text + f"  - name: Slow\n    url: {server.url('/slow.rss')}\n")
    process, log_file = start_daemon(config)
    try:
        assert arrived.wait(timeout=30), log_file.read_text()
        assert wait_for(lambda: "Notes: 1 new item" in log_file.read_text()), log_file.read_text()
    finally:
        returncode = stop_daemon(process, signal.SIGTERM, 10)  # the feed still hangs
        release.set()
    text = log_file.read_text()
    assert returncode == 0, text
    assert "Traceback" not in text, text
    with Store.open(load_config(config).store) as store:
        fetched = {row.id: row.last_fetched_at for row in store.channel_statuses()}
        assert fetched["notes"] is not None and fetched["slow"] is None
        assert [i.item.title for i in store.pending_items(5)] == ["Open model beats the giants"]
        assert store.articles() == []


def test_a_round_ending_after_the_stop_signal_adds_no_job(
    tmp_path: Path, server: LocalServer
) -> None:
    """Stopping, the scheduler holds its lock while it waits for the running jobs: a round
    that ends then and has work to hand on must not wait for that lock (no exit ever)."""
    server.routes["/notes.rss"] = Resource(rss("Notes", POSTS[:1]))
    config = load_config(libretranslate_config(tmp_path, server))
    with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
        daemon = Daemon(pipeline)
        report = daemon.tick(["notes"])
        assert report is not None and report.new_items == 1
        pipeline.stopping.set()
        held, release = threading.Event(), threading.Event()

        def shutting_down() -> None:
            with daemon.scheduler._jobstores_lock:
                held.set()
                release.wait(timeout=10)

        shutdown = threading.Thread(target=shutting_down)
        shutdown.start()
        try:
            assert held.wait(timeout=5)
            ending = threading.Thread(target=daemon.follow, args=(report, daemon.add_job))
            ending.start()
            ending.join(timeout=5)
            assert not ending.is_alive()
        finally:
            release.set()
            shutdown.join()
        assert daemon.scheduler.get_jobs() == []


def test_reload_keeps_the_store_and_output_it_started_with(
    tmp_path: Path, server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning says store and output wait for a restart; the reload must agree."""
    config = load_config(libretranslate_config(tmp_path, server))
    with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
        daemon = Daemon(pipeline)
        libretranslate_config(tmp_path, server, output="elsewhere/", title="Neu")
        daemon._watch_config()
        assert pipeline.config.site.title == "Neu"
        assert pipeline.config.output == config.output
        assert pipeline.config.store == config.store
        libretranslate_config(tmp_path, server, output="elsewhere/", title="Neuer")
        daemon._watch_config()  # the same restart still pending: not said again
        assert pipeline.config.site.title == "Neuer"
        assert pipeline.config.output == config.output
    assert (tmp_path / "site" / "feed.atom").exists()
    assert not (tmp_path / "elsewhere").exists()
    warnings = [r for r in caplog.records if "after a restart" in r.getMessage()]
    assert len(warnings) == 1


def test_the_first_round_waits_for_each_channels_place_in_the_jitter_after_reload_and_pause(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/notes.rss"] = Resource(rss("Notes", POSTS[:1]))

    def write(title: str) -> Path:
        path = libretranslate_config(tmp_path, server, title=title)
        path.write_text(path.read_text().replace("jitter: 0s", "jitter: 30m"), encoding="utf-8")
        return path

    path = write("Notizen")
    clock = FakeClock()
    start = clock.now
    offset = first_offset("notes", timedelta(minutes=30))
    assert timedelta(minutes=1) < offset  # else pick another channel name
    config = load_config(path)
    with Store.open(config.store) as store, Pipeline(config, store, clock=clock) as pipeline:
        daemon = Daemon(pipeline)
        daemon.plan(first=True)
        assert daemon.tick() is None and server.requests == []
        write("Neu")  # an edit meanwhile
        daemon._watch_config()
        assert pipeline.config.site.title == "Neu"
        clock.now = start + offset - timedelta(seconds=1)
        assert daemon.tick() is None
        clock.now = start + offset
        report = daemon.tick()
        assert report is not None and report.new_items == 1
        assert daemon.tick() is None
        clock.advance(hours=24)  # its only post is old: quiet, polled daily
        assert daemon.tick() is not None
        polled = len(server.requests_to("/notes.rss"))

        # Started again after ten days off: one poll at its place in the jitter, no burst.
        clock.advance(days=10)
        restarted = Daemon(pipeline)
        restarted.plan(first=True)
        assert restarted.tick() is None
        clock.advance(seconds=offset.total_seconds())
        assert restarted.tick() is not None and restarted.tick() is None
        assert len(server.requests_to("/notes.rss")) == polled + 1


# --- article mode: one writer across rounds ------------------------------------------------


class Recorded:
    """An article writer that notes whether it was closed."""

    def __init__(self, inner: ArticleWriter):
        self.inner = inner
        self.closed = False

    @property
    def engine(self) -> str:
        return self.inner.engine

    @property
    def model(self) -> str | None:
        return self.inner.model

    def write(self, request: ArticleRequest) -> WrittenArticle:
        return self.inner.write(request)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


class FakeClock:
    """A clock for the pipeline that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def next_round(daemon: Daemon, clock: FakeClock) -> None:
    """A day later: one tick polls what is due and what follows runs right away."""
    clock.advance(days=1)
    report = daemon.tick()
    assert report is not None
    daemon.follow(report, lambda work: work())


def poll_now(daemon: Daemon, *channel_ids: str) -> None:
    """The channels polled in one round now, and what follows run right away."""
    daemon.follow(daemon.tick(channel_ids), lambda work: work())


class Writers:
    """A writer factory for the holder: the real one, with each writer it built kept."""

    def __init__(self) -> None:
        self.built: list[Recorded] = []

    def __call__(self, config: Config, store: Store) -> ArticleWriter:
        self.built.append(Recorded(build_article_writer(config, store)))
        return self.built[-1]


_EDITS = itertools.count(1)
THIRD_POST = ("A third post", POSTS[0][1] + "third/", POSTS[0][2])


def article_config(
    folder: Path, feeds: LocalServer, api: FakeOpenAI, *, model: str, title: str
) -> Path:
    path = folder / "feeds.yaml"
    path.write_text(
        f"""
site: {{title: {title}, base_url: "https://blog.example.org/", author: Redaktion}}
output: site/
store: sqlite:///kanalwerk.db
translator:
  engine: openai
  mode: article
  openai: {{base_url: "{api.base_url}", model: {model}, api_key_env: KW_TEST_KEY}}
selection:
  backfill: all
channels:
  - name: Notes
    url: {feeds.url("/notes.rss")}
    language: en
""",
        encoding="utf-8",
    )
    # Every edit gets a later mtime, however coarse the file system's clock.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + next(_EDITS) * 10**9))
    return path


@pytest.fixture
def article_daemon(
    tmp_path: Path,
    servers: tuple[LocalServer, FakeOpenAI],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Daemon, Writers, FakeOpenAI, FakeClock]]:
    feeds, api = servers
    monkeypatch.setenv("KW_TEST_KEY", API_KEY)
    feeds.routes["/notes.rss"] = Resource(rss("Notes", POSTS[:1]))
    config = load_config(article_config(tmp_path, feeds, api, model="model-a", title="A"))
    writers = Writers()
    clock = FakeClock()
    with (
        Store.open(config.store) as store,
        Pipeline(config, store, writer_factory=writers, clock=clock) as pipeline,
    ):
        daemon = Daemon(pipeline)
        daemon.plan(first=True)
        yield daemon, writers, api, clock


def test_daemon_keeps_one_article_writer_until_the_openai_settings_change(
    tmp_path: Path,
    servers: tuple[LocalServer, FakeOpenAI],
    article_daemon: tuple[Daemon, Writers, FakeOpenAI, FakeClock],
) -> None:
    feeds, _ = servers
    daemon, writers, api, clock = article_daemon

    next_round(daemon, clock)
    feeds.routes["/notes.rss"] = Resource(rss("Notes", POSTS))
    next_round(daemon, clock)  # a second round with a new item
    assert [is_article_request(body) for body in api.bodies] == [True, True]
    assert len(writers.built) == 1 and not writers.built[0].closed

    # An edit outside the translator keeps the writer (and its connections).
    article_config(tmp_path, feeds, api, model="model-a", title="B")
    daemon._watch_config()
    assert daemon.pipeline.config.site.title == "B"
    assert daemon.pipeline.writers.get() is writers.built[0] and not writers.built[0].closed

    # A changed model closes it; the next item is written by a new one.
    article_config(tmp_path, feeds, api, model="model-b", title="B")
    daemon._watch_config()
    assert writers.built[0].closed
    feeds.routes["/notes.rss"] = Resource(rss("Notes", [*POSTS, THIRD_POST]))
    next_round(daemon, clock)
    assert len(writers.built) == 2 and writers.built[1].model == "model-b"
    assert [body["model"] for body in api.bodies] == ["model-a", "model-a", "model-b"]


def test_article_writer_holder_builds_lazily_and_closes(
    tmp_path: Path, servers: tuple[LocalServer, FakeOpenAI], monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds, api = servers
    monkeypatch.setenv("KW_TEST_KEY", API_KEY)
    config = load_config(article_config(tmp_path, feeds, api, model="model-a", title="A"))
    writers = Writers()
    with Store.open(config.store) as store:
        holder = ArticleWriterHolder(writers, store)
        holder.update(config)
        assert writers.built == []  # nothing built before it is needed
        first = holder.get()
        assert holder.get() is first
        holder.update(load_config(article_config(tmp_path, feeds, api, model="model-a", title="B")))
        assert holder.get() is first
        holder.update(load_config(article_config(tmp_path, feeds, api, model="model-c", title="B")))
        assert writers.built[0].closed and len(writers.built) == 1  # the new one waits for get()
        assert holder.get().model == "model-c"
        holder.close()
        assert [w.closed for w in writers.built] == [True, True]
