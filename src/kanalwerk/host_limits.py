"""How many requests may be in flight at once, per host and overall.

httpx's pool limits are global: `max_connections` caps the connections to all hosts
together and says nothing about one host, so a round of 1,000 YouTube feeds would open as
many connections to YouTube as the pool allows. The per-host cap lives here instead, as
a gate around each request (each hop of a redirect chain too), which holds whichever host
the request goes to.

Over HTTP/1.1 a connection carries one request at a time, so `max_per_host` requests in
flight means at most `max_per_host` connections open to the host. Once a host has answered
over HTTP/2, its requests share a connection as streams, and the gate widens to
`max_streams_per_host` requests at once; they no longer take a slot of the global limit,
which counts the HTTP/1.1 requests (one connection each) across all hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["HostLimits"]


@dataclass
class _Gate:
    """Requests in flight to one host: at most `capacity`, which widens for HTTP/2."""

    capacity: int
    multiplexed: bool = False
    active: int = 0
    ready: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def enter(self) -> None:
        async with self.ready:
            await self.ready.wait_for(lambda: self.active < self.capacity)
            self.active += 1

    async def leave(self) -> None:
        async with self.ready:
            self.active -= 1
            self.ready.notify()

    async def widen(self, capacity: int) -> None:
        async with self.ready:
            self.multiplexed = True
            if capacity > self.capacity:
                self.capacity = capacity
                self.ready.notify_all()


class HostLimits:
    """The gates of one event loop's requests, keyed by host name (ports share the host)."""

    def __init__(self, *, max_per_host: int, max_streams_per_host: int, max_connections: int):
        self.max_per_host = max_per_host
        self.max_streams_per_host = max(max_streams_per_host, max_per_host)
        self._overall = asyncio.Semaphore(max_connections)
        self._gates: dict[str, _Gate] = {}

    def _gate(self, host: str) -> _Gate:
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _Gate(self.max_per_host)
        return gate

    def in_flight(self, host: str) -> int:
        return self._gate(host).active

    def multiplexed(self, host: str) -> bool:
        """Whether `host` has answered over HTTP/2 (and so gets the wider gate)."""
        return self._gate(host).multiplexed

    async def enter(self, host: str) -> bool:
        """Wait for a place for one request to `host`; True if it took a global one too.

        The host's gate first, then the global one: a request waiting for its host holds
        no global place that a request to an idle host could use. Pass the answer to
        `leave`.
        """
        gate = self._gate(host)
        await gate.enter()
        if gate.multiplexed:
            return False
        try:
            await self._overall.acquire()
        except BaseException:
            await gate.leave()
            raise
        return True

    async def leave(self, host: str, took_global: bool) -> None:
        if took_global:
            self._overall.release()
        await self._gate(host).leave()

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """`enter` and `leave` around a block."""
        took_global = await self.enter(host)
        try:
            yield
        finally:
            await self.leave(host, took_global)

    async def learned_http2(self, host: str) -> None:
        """`host` answered over HTTP/2: let up to `max_streams_per_host` requests share it."""
        await self._gate(host).widen(self.max_streams_per_host)
