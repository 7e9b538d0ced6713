"""Keeping CPython's cyclic garbage collector off the publisher's big, acyclic data.

A plan builds tens of thousands of long-lived objects at once (entries, pages, keys).
Each allocation burst triggers collections, and the oldest generation's full passes walk
every one of them again: at 10,000 articles that was more than half of a plan's time.
None of them forms a cycle, so nothing is lost by letting the collector wait.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside the block; the previous setting is restored after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def collector_frozen() -> Iterator[None]:
    """Everything alive now is left out of collections inside the block (`gc.freeze`).

    For rendering many pages: the plan stays alive throughout, and the renderer's own
    garbage is still collected, without walking the plan each time.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
