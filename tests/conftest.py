from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kanalwerk.store import Store
from tests.servers import LocalServer

DATA = Path(__file__).parent / "data"


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
