from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from requests.adapters import BaseAdapter

from kanalwerk.sources import youtube_transcripts
from kanalwerk.store import Store
from tests.compiled_sql import compiled_once
from tests.migrated_template import MigratedTemplate
from tests.servers import LocalServer

DATA = Path(__file__).parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as Python handles it, also where the run was started in the background.

    A shell without job control starts background commands with SIGINT ignored, and
    processes inherit that: a daemon a test starts would ignore the SIGINT it is sent.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Each `run` with full text starts an extraction worker from the fork server, and each
    # imported trafilatura, a second apiece; forked from a server that imported it once,
    # they start at once. The parse pool's module stays preloaded as kanalwerk has it. A
    # pool that sets its own list before the server starts (the parse pool) still wins.
    multiprocessing.set_forkserver_preload(
        ["kanalwerk.parse_job", "kanalwerk.sources.fulltext", "trafilatura"]
    )
    config.addinivalue_line(
        "markers",
        "migrations: new stores run every migration instead of starting as a copy of the "
        "migrated template (for tests of what the migrations create)",
    )


@pytest.fixture(scope="session", autouse=True)
def small_trust_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Trust one throwaway CA instead of the full bundle; tests name their own CA anyway.

    Every HTTP client builds an SSL context, and loading the ~150 certificates of the
    default bundle costs some 25 ms each time, hundreds of times a run; tests never reach
    a real TLS host. A test serving TLS points SSL_CERT_FILE at its own CA, as before.
    """
    import trustme

    ca_file = tmp_path_factory.mktemp("trust") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(ca_file))
        yield


@pytest.fixture(scope="session", autouse=True)
def compiled_sql_shared() -> Iterator[None]:
    """The stores of all tests share compiled SQL (see `tests.compiled_sql`)."""
    with compiled_once():
        yield


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplate:
    return MigratedTemplate(tmp_path_factory.mktemp("migrated"))


@pytest.fixture(autouse=True)
def stores_start_migrated(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    migrated_template: MigratedTemplate,
) -> None:
    """New stores a test opens start as a copy of the migrated template (see there).

    Tests marked `migrations` run the real migrations on every store they open.
    """
    if request.node.get_closest_marker("migrations") is not None:
        return
    original = Store.open.__func__  # type: ignore[attr-defined]

    def open_migrated(
        cls: type[Store], url: str, *, create: bool = True, migrate: bool = True
    ) -> Store:
        if create and migrate:
            migrated_template.place(url)
        store: Store = original(cls, url, create=create, migrate=migrate)
        return store

    monkeypatch.setattr(Store, "open", classmethod(open_migrated))


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh loopback HTTP server; add routes to `server.routes`."""
    srv = LocalServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LocalServer]:
    """One loopback server for a whole test module; the module resets it for each test."""
    srv = LocalServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A new, empty store in the test's folder."""
    with Store.open(f"sqlite:///{tmp_path / 'k.db'}") as opened:
        yield opened


class _Offline(BaseAdapter):
    """Refuses every request: tests never reach YouTube itself."""

    def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        raise requests.ConnectionError(f"tests do not reach {request.url}")

    def close(self) -> None:
        pass


def offline_session() -> requests.Session:
    client = requests.Session()
    client.mount("https://", _Offline())
    client.mount("http://", _Offline())
    return client


@pytest.fixture(autouse=True)
def youtube_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Video transcripts fail as without a network, unless a test routes them to a fake."""
    monkeypatch.setattr(youtube_transcripts, "session", offline_session)
