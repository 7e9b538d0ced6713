"""Which addresses a fetched URL may reach, enforced where the connection is made.

Links in feeds are untrusted: a page link or a redirect could point at the machine
itself, the local network or a cloud metadata service (169.254.169.254). Checking the
URL's host before the request is not enough, since a name may resolve differently when
the client connects (DNS rebinding). So `GuardedBackend` resolves each host once,
checks every address it resolves to, and connects to a checked address itself; the TLS
server name and the Host header still come from the URL.

`GuardTransport` is the transport of the client `fetch.create_client` builds: requests
marked `GUARDED` go through the guard unless `fetch.allow_private_addresses` is on.
`fetch.fetch_one` marks every request but those for a feed the user configured on a
private address; requests for URLs kanalwerk builds itself (YouTube lookups) go as
they are. Through an HTTP proxy the
environment names, the proxy connects, so there the host is checked before the request
is handed to it (the best that can be done without seeing the proxy's connection).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from kanalwerk.errors import PrivateAddressRefused

__all__ = [
    "GUARDED",
    "GuardTransport",
    "GuardedBackend",
    "is_private_address",
    "resolve",
]

#: Request extension: this request may not reach private addresses (see module docstring).
GUARDED = "kanalwerk.guarded"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

#: NAT64 prefixes (RFC 6052, RFC 8215): an IPv4 address travels in the last 32 bits.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def is_private_address(address: IPAddress) -> bool:
    """Anything but a public unicast address: loopback, private, link-local (cloud
    metadata), shared (100.64/10), multicast, reserved, unspecified, and IPv6 forms that
    carry such an IPv4 address (mapped, NAT64, 6to4, Teredo).

    IPv4-mapped and NAT64 addresses are judged by the IPv4 address alone: on an
    IPv6-only network, DNS64 gives every IPv4 site such an address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        carried = _carried_ipv4(address)
        if carried is not None:
            return is_private_address(carried)
        tunnelled = [address.sixtofour, address.teredo[1] if address.teredo else None]
        if any(t is not None and is_private_address(t) for t in tunnelled):
            return True
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_link_local
    )


def _carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _private_name(host: str) -> bool:
    """`localhost` and its subdomains are loopback by definition (RFC 6761)."""
    return host == "localhost" or host.endswith(".localhost")


async def resolve(host: str, port: int) -> Sequence[str]:
    """Every address `host` resolves to (the system resolver, as connecting would use)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(host: str, port: int, resolver: Resolver | None = None) -> list[str]:
    """The addresses of `host`, once; PrivateAddressRefused if any of them is private.

    One private address among public ones refuses the host too: which one a client
    would use is not ours to predict.
    """
    name = host.lower().rstrip(".")
    if _private_name(name):
        raise PrivateAddressRefused(host, None)
    try:
        literal = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        answers = await (resolver or resolve)(name, port)
    else:
        answers = [str(literal)]
    for answer in answers:
        if is_private_address(ipaddress.ip_address(answer)):
            raise PrivateAddressRefused(host, answer)
    return list(answers)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to checked public addresses, resolving each host exactly once."""

    def __init__(
        self, inner: httpcore.AsyncNetworkBackend | None = None, resolver: Resolver | None = None
    ) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await checked_addresses(host, port, self._resolver or resolve)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolving found no address: getaddrinfo raises instead
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise PrivateAddressRefused(path, None)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardTransport(httpx.AsyncBaseTransport):
    """Sends each request through the guard, an unguarded pool, or the environment's proxy.

    The guarded and unguarded requests keep separate connection pools, so a connection
    opened for a configured private feed is never reused for an untrusted URL.
    """

    def __init__(self, limits: httpx.Limits, *, allow_private: bool, http2: bool = False) -> None:
        self._limits = limits
        self._http2 = http2
        self._allow_private = allow_private
        self._open = httpx.AsyncHTTPTransport(limits=limits, http2=http2)
        self._guarded = _guarded_transport(limits, GuardedBackend(), http2=http2)
        self._proxies = urllib.request.getproxies_environment()
        self._via: dict[str, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        allowed = self._allow_private or not request.extensions.get(GUARDED)
        proxy = self._proxy_for(request.url)
        if proxy is not None:
            if not allowed:
                await checked_addresses(request.url.host, request.url.port or 80)
            return await self._through(proxy).handle_async_request(request)
        transport = self._open if allowed else self._guarded
        return await transport.handle_async_request(request)

    def _proxy_for(self, url: httpx.URL) -> str | None:
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):
            return None
        return proxy

    def _through(self, proxy: str) -> httpx.AsyncHTTPTransport:
        if proxy not in self._via:
            self._via[proxy] = httpx.AsyncHTTPTransport(
                limits=self._limits, http2=self._http2, proxy=proxy
            )
        return self._via[proxy]

    async def aclose(self) -> None:
        for transport in (self._open, self._guarded, *self._via.values()):
            await transport.aclose()


def _guarded_transport(
    limits: httpx.Limits, backend: httpcore.AsyncNetworkBackend, *, http2: bool
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections `backend` opens.

    httpx takes no network backend; its transport sends through the httpcore pool in
    `_pool` (httpx 0.18 to 0.28), replaced here by one on `backend` with the same limits
    and TLS settings.
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, http2=http2)
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise TypeError("this httpx version keeps no httpcore pool in AsyncHTTPTransport._pool")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http2=http2,
        network_backend=backend,
    )
    return transport
