"""The private-address guard: URLs taken from feeds never reach the local network.

Listeners on loopback count connections, so "refused" means no connection was made. A
public address cannot be reached here: where a test needs one, either 127.0.0.1 plays
the public internet (`public_loopback`) or the environment's HTTP proxy (a loopback
server) stands between, as in test_fetch.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest

import kanalwerk.addresses as addresses
from kanalwerk.addresses import GUARDED, GuardedBackend, checked_addresses, is_private_address
from kanalwerk.errors import PrivateAddressRefused
from kanalwerk.fetch import FetchSettings, create_client, fetch_all
from kanalwerk.models import FetchResult, FetchState
from tests.servers import LocalServer, Resource, Response
from tests.test_fetch import fetch_settings

SETTINGS = fetch_settings(timeout=5.0, connect_timeout=2.0)
PAGE = b"<html><body><p>The page.</p></body></html>"


class Listener:
    """A TCP listener that counts the connections made to it and answers each with 200."""

    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen()
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    it = Listener("127.0.0.1")
    yield it
    it.close()


@pytest.fixture
def listener6() -> Iterator[Listener]:
    try:
        it = Listener("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    yield it
    it.close()


def fetch_untrusted(url: str, settings: FetchSettings = SETTINGS) -> FetchResult:
    (result,) = asyncio.run(fetch_all([FetchState("page", url)], settings, untrusted=True))
    return result


REFUSAL = (
    "links taken from feeds may not lead to private or loopback addresses; "
    "set fetch.allow_private_addresses: true if this is intended"
)


# --- which addresses ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata (AWS, GCP, Azure)
        "100.100.100.200",  # Alibaba Cloud metadata, shared address space
        "fd00:ec2::254",  # AWS metadata over IPv6
        "::1",
        "0.0.0.0",
        "224.0.0.1",  # multicast counts as global to Python
        "ff02::1",
        "240.0.0.1",
        "fe80::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:0a00:0001::",  # 6to4 of 10.0.0.1
    ],
)
def test_private_addresses(text: str) -> None:
    assert is_private_address(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    "text", ["93.184.215.14", "1.1.1.1", "2606:4700::1111", "64:ff9b::101:101", "::ffff:1.1.1.1"]
)
def test_public_addresses(text: str) -> None:
    assert not is_private_address(ipaddress.ip_address(text))


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    async def mixed(host: str, port: int) -> Sequence[str]:
        return ["93.184.215.14", "10.0.0.1"]

    with pytest.raises(PrivateAddressRefused, match=r"intranet\.example \(10\.0\.0\.1\)"):
        asyncio.run(checked_addresses("intranet.example", 80, mixed))


# --- no connection is made --------------------------------------------------------


class Recorder(httpcore.AsyncNetworkBackend):
    """Where the guarded backend would have connected; connects nowhere."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: object, **kw: object) -> object:  # type: ignore[override]
        self.attempts.append((host, port))
        raise httpcore.ConnectError("recorded")


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "10.0.0.1", "::1", "[::1]", "fd00:ec2::254", "LOCALHOST."]
)
def test_the_backend_refuses_before_connecting(host: str) -> None:
    recorder = Recorder()
    backend = GuardedBackend(recorder)
    with pytest.raises(PrivateAddressRefused):
        asyncio.run(backend.connect_tcp(host, 80))
    assert recorder.attempts == []


def test_the_backend_connects_to_the_address_it_checked() -> None:
    """Resolved once; the connection goes to that answer, not to a second lookup."""
    answers = iter([["93.184.215.14"], ["10.0.0.1"]])  # a rebinding name's two answers
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return next(answers)

    recorder = Recorder()
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(GuardedBackend(recorder, rebinding).connect_tcp("news.example", 443))
    assert asked == ["news.example"] and recorder.attempts == [("93.184.215.14", 443)]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_link_to_loopback_is_refused_without_a_connection(listener: Listener, host: str) -> None:
    url = f"http://{host}:{listener.port}/admin"
    result = fetch_untrusted(url)
    assert result.error is not None and result.error.startswith(f"{url} refused: {host}")
    assert result.error.endswith(REFUSAL)
    assert result.status is None and listener.connections == 0


def test_a_link_to_ipv6_loopback_is_refused_without_a_connection(listener6: Listener) -> None:
    url = f"http://[::1]:{listener6.port}/"
    result = fetch_untrusted(url)
    assert result.error == f"{url} refused: ::1 is a private or loopback address; " + REFUSAL
    assert listener6.connections == 0


def test_a_name_resolving_to_loopback_is_refused_without_a_connection(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def to_loopback(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr(addresses, "resolve", to_loopback)
    url = f"http://blog.example:{listener.port}/post"
    result = fetch_untrusted(url)
    assert result.error == (
        f"{url} refused: blog.example (127.0.0.1) is a private or loopback address; " + REFUSAL
    )
    assert listener.connections == 0


def test_a_link_to_a_private_address_is_fetched_when_allowed(listener: Listener) -> None:
    settings = dataclasses.replace(SETTINGS, allow_private_addresses=True)
    result = fetch_untrusted(f"http://localhost:{listener.port}/", settings)
    assert result.ok and result.content == b"ok" and listener.connections == 1


def test_only_requests_marked_guarded_are_kept_from_private_addresses(listener: Listener) -> None:
    """fetch_one marks its requests; URLs kanalwerk builds itself (YouTube) go as they are."""

    async def main() -> None:
        async with create_client(SETTINGS) as client:
            url = f"http://127.0.0.1:{listener.port}/"
            assert (await client.get(url)).text == "ok"
            with pytest.raises(PrivateAddressRefused):
                await client.get(url, extensions={GUARDED: True})

    asyncio.run(main())
    assert listener.connections == 1


def test_a_configured_feed_on_a_private_address_is_still_polled(server: LocalServer) -> None:
    server.routes["/feed"] = Resource(PAGE, "text/html")
    (result,) = asyncio.run(fetch_all([FetchState("c", server.url("/feed"))], SETTINGS))
    assert result.ok and result.content == PAGE


# --- redirects --------------------------------------------------------------------


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """127.0.0.1 plays a public address, `blog.example` resolves to it; names asked are listed."""
    real = addresses.is_private_address
    asked: list[str] = []

    def private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return address != ipaddress.ip_address("127.0.0.1") and real(address)

    async def blog(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        if host != "blog.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ["127.0.0.1"]

    monkeypatch.setattr(addresses, "is_private_address", private)
    monkeypatch.setattr(addresses, "resolve", blog)
    return asked


def test_a_public_page_is_fetched_from_the_checked_address_with_its_host_kept(
    server: LocalServer, public_loopback: list[str]
) -> None:
    server.routes["/post"] = Resource(PAGE, "text/html")
    port = server.base_url.rsplit(":", 1)[1]
    result = fetch_untrusted(f"http://blog.example:{port}/post")
    assert result.ok and result.content == PAGE
    assert server.requests_to("/post")[0].headers["host"] == f"blog.example:{port}"
    assert public_loopback == ["blog.example"]


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_tls_is_verified_for_the_name_while_connecting_to_the_checked_address(
    data_dir: Path, public_loopback: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate is for blog.example (tests/data/tls, signed by ca.pem)."""
    tls = data_dir / "tls"
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls / "blog.pem", tls / "blog.key")

    def seen(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = seen
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls / "ca.pem"))
    try:
        port = httpd.server_address[1]
        result = fetch_untrusted(f"https://blog.example:{port}/post")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert result.ok and result.content == f"blog.example:{port}".encode()
    assert names == ["blog.example"] and public_loopback == ["blog.example"]


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/", "http://[::1]:{port6}/"])
def test_a_redirect_from_an_allowed_page_to_a_private_address_is_refused(
    server: LocalServer, public_loopback: list[str], target: str
) -> None:
    inside = Listener("127.0.0.2")
    try:
        inside6: Listener | None = Listener("::1")
    except OSError:
        inside6 = None
    try:
        if "[::1]" in target and inside6 is None:
            pytest.skip("no IPv6 loopback here")
        location = target.format(port=inside.port, port6=inside6.port if inside6 else 0)
        server.routes["/post"] = lambda r: Response(302, b"", {"Location": location})
        port = server.base_url.rsplit(":", 1)[1]
        url = f"http://blog.example:{port}/post"
        result = fetch_untrusted(url)
        assert result.error == (
            f"redirect from {url} to {location} refused: a link taken from a feed may not "
            "lead to a private or loopback address; set fetch.allow_private_addresses: true "
            "if this is intended"
        )
        assert result.status == 302 and len(server.requests_to("/post")) == 1
        assert inside.connections == 0 and (inside6 is None or inside6.connections == 0)
    finally:
        inside.close()
        if inside6 is not None:
            inside6.close()


@pytest.mark.parametrize("inside", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"])
def test_a_redirect_to_cloud_metadata_through_a_proxy_is_refused(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    """Through the environment's proxy the host is checked before the proxy is asked."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    monkeypatch.setenv("http_proxy", server.base_url)
    server.routes["http://1.2.3.4/post"] = lambda r: Response(301, b"", {"Location": inside})
    server.routes[inside] = Resource(b"secret", "text/plain")
    result = fetch_untrusted("http://1.2.3.4/post")
    assert result.error is not None and result.error.startswith(
        f"redirect from http://1.2.3.4/post to {inside} refused"
    )
    assert [r.path for r in server.requests] == ["http://1.2.3.4/post"]
