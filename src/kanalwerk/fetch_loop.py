"""One event loop and one `Fetcher` kept from one poll round to the next.

`asyncio.run` makes a new loop each time, and an httpx client cannot outlive its loop:
each round would open new connections (and new TLS sessions) to every host and forget
which hosts speak HTTP/2. The pipeline keeps a `FetchLoop` instead, so the daemon's rounds
share keep-alive connections, and closes it with the pipeline.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kanalwerk.fetch import Fetcher, FetchSettings

__all__ = ["FetchLoop"]

T = TypeVar("T")


class FetchLoop:
    """Runs poll rounds on one loop with one fetcher; rounds from several threads take turns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runner: asyncio.Runner | None = None
        self._fetcher: Fetcher | None = None

    def run(self, settings: FetchSettings, work: Callable[[Fetcher], Awaitable[T]]) -> T:
        """`work(fetcher)` to its end; a fetcher made for other settings is replaced first."""
        with self._lock:
            if self._runner is None:
                self._runner = asyncio.Runner()
            return self._runner.run(self._with_fetcher(settings, work))

    async def _with_fetcher(
        self, settings: FetchSettings, work: Callable[[Fetcher], Awaitable[T]]
    ) -> T:
        if self._fetcher is not None and self._fetcher.settings != settings:
            await self._fetcher.aclose()
            self._fetcher = None
        if self._fetcher is None:
            self._fetcher = Fetcher(settings)
        return await work(self._fetcher)

    def close(self) -> None:
        """Close the connections and the loop; a later `run` starts afresh."""
        with self._lock:
            if self._runner is None:
                return
            try:
                if self._fetcher is not None:
                    self._runner.run(self._fetcher.aclose())
            finally:
                self._fetcher = None
                self._runner.close()
                self._runner = None
