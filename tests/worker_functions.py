"""Functions the tests hand to worker processes, in a module that imports nothing heavy.

A worker imports the module of the function it is given. From a test module that is
pytest, kanalwerk and the fake servers, a second or more in every worker a test starts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kanalwerk.publish.workers import ArticleLoader

STOP = threading.Event()


def hang(body: bytes, url: str) -> str | None:
    """Stands in for trafilatura stuck on a pathological page (runs in the worker)."""
    if body == b"hang":
        STOP.wait()
    return body.decode()


def nothing_to_load() -> ArticleLoader:
    """A publishing worker's loader for a pool whose pages are never rendered."""
    return lambda item_ids: []
