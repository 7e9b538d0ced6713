from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kanalwerk import pipeline
from kanalwerk.config import Config, FetchConfig, SiteConfig
from kanalwerk.fetch import (
    ACCEPT,
    FetchSettings,
    create_client,
    default_user_agent,
    fetch_all,
    fetch_one,
)
from kanalwerk.models import FetchResult, FetchState
from tests.bombs import gzip_bomb
from tests.servers import LocalServer, Request, Resource, Response

DATA = Path(__file__).parent / "data"
FEED = (DATA / "youtube_cnbc.xml").read_bytes()


def fetch_settings(**fetch: Any) -> FetchSettings:
    """What a `fetch:` section with these keys gives; every default is the config model's."""
    fetch.setdefault("user_agent", "kanalwerk-test/1.0")
    site = SiteConfig(title="Test", base_url="https://blog.example.de/", author="Test")
    return pipeline.fetch_settings(Config.model_construct(site=site, fetch=FetchConfig(**fetch)))


SETTINGS = fetch_settings(timeout=2.0, connect_timeout=2.0)


def fetch(state: FetchState, settings: FetchSettings = SETTINGS) -> FetchResult:
    return asyncio.run(fetch_all([state], settings))[0]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- conditional GET ----------------------------------------------------------


def test_etag_round_trip_gives_304_without_content(server: LocalServer) -> None:
    server.routes["/feed"] = Resource(FEED, last_modified=False)
    first = fetch(FetchState("cnbc", server.url("/feed")))
    assert first.ok and first.status == 200
    assert first.content == FEED
    assert first.etag is not None and first.content_hash == sha(FEED)
    assert first.headers["content-type"] == "application/xml; charset=utf-8"

    state = FetchState("cnbc", first.final_url, etag=first.etag, content_hash=first.content_hash)
    second = fetch(state)
    assert server.requests[-1].headers["if-none-match"] == first.etag
    assert second.status == 304 and second.not_modified and second.ok
    assert second.content is None
    assert second.etag == first.etag
    assert second.content_hash == first.content_hash


def test_last_modified_only(server: LocalServer) -> None:
    server.routes["/feed"] = Resource(FEED, etag=False)
    first = fetch(FetchState("c", server.url("/feed")))
    assert first.etag is None and first.last_modified is not None
    second = fetch(FetchState("c", server.url("/feed"), last_modified=first.last_modified))
    sent = server.requests[-1].headers
    assert "if-none-match" not in sent
    assert sent["if-modified-since"] == first.last_modified
    assert second.not_modified and second.content is None
    assert second.last_modified == first.last_modified


def test_304_with_new_validators_updates_them(server: LocalServer) -> None:
    server.routes["/feed"] = lambda r: Response(304, b"", {"ETag": '"v2"'})
    result = fetch(FetchState("c", server.url("/feed"), etag='"v1"', last_modified="old"))
    assert result.not_modified
    assert result.etag == '"v2"'
    assert result.last_modified == "old"


def test_server_without_validators_detected_unchanged_by_hash(server: LocalServer) -> None:
    body = {"value": FEED}
    server.routes["/feed"] = lambda r: Response(200, body["value"], {"Content-Type": "text/xml"})
    first = fetch(FetchState("c", server.url("/feed")))
    assert first.content == FEED and first.etag is None and first.last_modified is None

    again = fetch(FetchState("c", server.url("/feed"), content_hash=first.content_hash))
    assert again.status == 200 and again.not_modified and again.content is None
    assert again.content_hash == first.content_hash

    body["value"] = FEED + b"\n"
    changed = fetch(FetchState("c", server.url("/feed"), content_hash=first.content_hash))
    assert not changed.not_modified and changed.content == FEED + b"\n"
    assert changed.content_hash == sha(FEED + b"\n")


def test_sends_user_agent_and_accept(server: LocalServer) -> None:
    server.routes["/feed"] = Resource(FEED)
    fetch(FetchState("c", server.url("/feed")))
    headers = server.requests[0].headers
    assert headers["user-agent"] == "kanalwerk-test/1.0"
    assert headers["accept"] == ACCEPT
    assert "gzip" in headers["accept-encoding"]
    assert "if-none-match" not in headers and "if-modified-since" not in headers


def test_default_user_agent() -> None:
    ua = default_user_agent("1.2.3", "https://example.org/")
    assert ua == "kanalwerk/1.2.3 (+https://example.org/)"


# --- body size cap ------------------------------------------------------------


@dataclass
class RawServer:
    """An asyncio TCP server for responses LocalServer cannot produce (drip, endless body)."""

    server: asyncio.Server
    sent: int = 0

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/feed"


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, RawServer], Awaitable[None]]


async def start_raw(handler: RawHandler) -> RawServer:
    raw: RawServer

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await handler(reader, writer, raw)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    raw = RawServer(await asyncio.start_server(serve, "127.0.0.1", 0))
    return raw


async def stop_raw(raw: RawServer) -> None:
    raw.server.close()
    await raw.server.wait_closed()


def test_content_length_over_cap_rejected_before_reading() -> None:
    async def declare_huge(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: RawServer
    ) -> None:
        # Announce 50 MB but send nothing: reading the body would hang until the timeout.
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 50000000\r\n\r\n"
        )
        await writer.drain()
        await reader.read()  # returns once the client hangs up

    async def main() -> FetchResult:
        raw = await start_raw(declare_huge)
        try:
            settings = fetch_settings(timeout=1.0, max_bytes=1_000_000)
            return (await fetch_all([FetchState("big", raw.url)], settings))[0]
        finally:
            await stop_raw(raw)

    started = time.monotonic()
    result = asyncio.run(main())
    assert (
        result.error == f"{result.final_url}: feed larger than the 1.0 MB limit (fetch.max_bytes)"
    )
    assert result.status == 200 and result.content is None
    assert time.monotonic() - started < 0.9


def test_chunked_body_over_cap_aborts_stream() -> None:
    total = 50_000_000
    chunk = b"x" * 65536

    async def endless(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: RawServer
    ) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        while raw.sent < total:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            raw.sent += len(chunk)

    async def main() -> tuple[FetchResult, int]:
        raw = await start_raw(endless)
        try:
            settings = fetch_settings(timeout=2.0, max_bytes=1_000_000)
            result = (await fetch_all([FetchState("big", raw.url)], settings))[0]
            await asyncio.sleep(0.05)
            return result, raw.sent
        finally:
            await stop_raw(raw)

    result, sent = asyncio.run(main())
    assert (
        result.error == f"{result.final_url}: feed larger than the 1.0 MB limit (fetch.max_bytes)"
    )
    assert result.content is None
    assert sent < total // 5  # stopped early; only socket buffers beyond the cap


def test_cap_applies_to_decoded_gzip(server: LocalServer) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 10_000
    server.routes["/feed"] = lambda r: Response(
        200, bomb, {"Content-Type": "text/xml", "Content-Encoding": "gzip"}
    )
    result = fetch(FetchState("c", server.url("/feed")), fetch_settings(max_bytes=1_000_000))
    assert result.error == (
        f"{server.url('/feed')}: feed larger than the 1.0 MB limit (fetch.max_bytes) "
        "once decompressed"
    )


def test_gzip_bomb_fixture_is_what_it_says() -> None:
    assert gzip.decompress(gzip_bomb(3)) == bytes(3 << 20)


def test_stacked_gzip_bomb_is_stopped_at_the_cap_with_bounded_memory(
    server: LocalServer,
) -> None:
    """1 GiB of zeros, gzipped twice, is 2.5 KB on the wire; it once took 2.1 GB of RAM."""
    bomb = gzip.compress(gzip_bomb(1024), 9)
    assert len(bomb) < 4000
    server.routes["/feed"] = lambda r: Response(
        200, bomb, {"Content-Type": "text/xml", "Content-Encoding": "gzip, gzip"}
    )
    settings = fetch_settings(max_bytes="10 MB")
    tracemalloc.start()
    try:
        result = fetch(FetchState("c", server.url("/feed")), settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == 200 and result.content is None
    assert result.error == (
        f"{server.url('/feed')}: feed larger than the 10.0 MB limit (fetch.max_bytes) "
        "once decompressed"
    )
    assert peak < 40_000_000


def test_gzip_body_is_decoded(server: LocalServer) -> None:
    server.routes["/feed"] = lambda r: Response(
        200, gzip.compress(FEED), {"Content-Type": "text/xml", "Content-Encoding": "gzip"}
    )
    result = fetch(FetchState("c", server.url("/feed")))
    assert result.content == FEED and result.content_hash == sha(FEED)


def deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("identity", FEED),
        ("deflate", deflate(FEED, zlib.MAX_WBITS)),
        ("deflate", deflate(FEED, -zlib.MAX_WBITS)),  # raw, as some servers send it
        ("x-gzip", gzip.compress(FEED)),
        ("gzip, deflate", deflate(gzip.compress(FEED), zlib.MAX_WBITS)),
        ("GZIP , identity, gzip", gzip.compress(gzip.compress(FEED))),
    ],
)
def test_every_stack_of_encodings_is_decoded(
    server: LocalServer, encoding: str, body: bytes
) -> None:
    server.routes["/feed"] = lambda r: Response(
        200, body, {"Content-Type": "text/xml", "Content-Encoding": encoding}
    )
    result = fetch(FetchState("c", server.url("/feed")))
    assert result.ok and result.content == FEED


def test_a_body_larger_than_one_piece_is_decoded_whole(server: LocalServer) -> None:
    text = b"".join(b"<item>%d</item>" % n for n in range(200_000))  # 3 MB, compresses well
    server.routes["/feed"] = lambda r: Response(
        200, gzip.compress(gzip.compress(text)), {"Content-Encoding": "gzip, gzip"}
    )
    result = fetch(FetchState("c", server.url("/feed")))
    assert result.ok and result.content == text


def test_asks_only_for_encodings_it_decodes(server: LocalServer) -> None:
    server.routes["/feed"] = Resource(FEED)
    fetch(FetchState("c", server.url("/feed")))
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("br", b"\x0b\x02\x80hi\x03", "the server sent Content-Encoding 'br', which"),
        ("gzip, gzip, gzip, gzip", b"", "the server stacked 4 content encodings"),
        ("gzip", b"not gzip at all", "the gzip body is corrupt"),
    ],
)
def test_undecodable_bodies_are_a_clear_error(
    server: LocalServer, encoding: str, body: bytes, message: str
) -> None:
    server.routes["/feed"] = lambda r: Response(200, body, {"Content-Encoding": encoding})
    result = fetch(FetchState("c", server.url("/feed")))
    assert result.status == 200 and result.content is None
    assert result.error is not None
    assert result.error.startswith(f"{server.url('/feed')}: {message}")


def dribbled(encoding: str, pieces: list[bytes]) -> FetchResult:
    """A chunked response whose body arrives in `pieces`, one network read each."""

    async def dribble(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: RawServer
    ) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Encoding: " + encoding.encode() + b"\r\n\r\n"
        )
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.02)  # so the client reads each piece on its own
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def main() -> FetchResult:
        raw = await start_raw(dribble)
        try:
            return (await fetch_all([FetchState("d", raw.url)], SETTINGS))[0]
        finally:
            await stop_raw(raw)

    return asyncio.run(main())


def test_raw_deflate_whose_first_read_is_one_byte_is_decoded() -> None:
    body = deflate(FEED, -zlib.MAX_WBITS)
    result = dribbled("deflate", [body[:1], body[1:2], body[2:]])
    assert result.error is None
    assert result.content == FEED


def test_every_member_of_a_multi_member_gzip_body_is_decoded() -> None:
    first, second = gzip.compress(FEED[:1000]), gzip.compress(FEED[1000:])
    joined = first + second
    cut = len(first) + 5  # the second member's header arrives in two reads
    result = dribbled(
        "gzip", [joined[: len(first) - 3], joined[len(first) - 3 : cut], joined[cut:]]
    )
    assert result.error is None
    assert result.content == FEED


@pytest.mark.parametrize("missing", [1, 8, 300])
def test_a_gzip_body_cut_short_is_an_error(server: LocalServer, missing: int) -> None:
    body = gzip.compress(FEED)[:-missing]
    server.routes["/feed"] = lambda r: Response(
        200, body, {"Content-Type": "text/xml", "Content-Encoding": "gzip"}
    )
    result = fetch(FetchState("c", server.url("/feed")))
    assert result.content is None
    assert result.error == f"{server.url('/feed')}: the gzip body is cut short; try again later"


# --- redirects ----------------------------------------------------------------


def redirect(status: int, location: str) -> Callable[[Request], Response]:
    return lambda r: Response(status, b"", {"Location": location})


def test_permanent_redirect_chain_sets_permanent_url(server: LocalServer) -> None:
    server.routes["/old"] = redirect(301, "/middle")
    server.routes["/middle"] = redirect(308, server.url("/feed"))
    server.routes["/feed"] = Resource(FEED)
    result = fetch(FetchState("c", server.url("/old")))
    assert result.ok and result.content == FEED
    assert result.requested_url == server.url("/old")
    assert result.final_url == server.url("/feed")
    assert result.permanent_url == server.url("/feed")


def test_temporary_redirect_keeps_url(server: LocalServer) -> None:
    server.routes["/old"] = redirect(302, "/feed")
    server.routes["/feed"] = Resource(FEED)
    result = fetch(FetchState("c", server.url("/old")))
    assert result.ok and result.final_url == server.url("/feed")
    assert result.permanent_url is None


def test_mixed_chain_is_not_permanent(server: LocalServer) -> None:
    server.routes["/a"] = redirect(301, "/b")
    server.routes["/b"] = redirect(307, "/feed")
    server.routes["/feed"] = Resource(FEED)
    result = fetch(FetchState("c", server.url("/a")))
    assert result.ok and result.permanent_url is None


def test_permanent_redirect_to_error_is_not_adopted(server: LocalServer) -> None:
    server.routes["/old"] = redirect(301, "/gone")
    result = fetch(FetchState("c", server.url("/old")))
    assert result.status == 404 and result.permanent_url is None
    assert result.final_url == server.url("/gone")


def test_redirect_loop_stops(server: LocalServer) -> None:
    server.routes["/loop"] = redirect(302, "/loop")
    result = fetch(FetchState("c", server.url("/loop")))
    assert result.error == "too many redirects (more than 5)"
    assert len(server.requests_to("/loop")) == 6


def test_conditional_headers_follow_redirect(server: LocalServer) -> None:
    server.routes["/old"] = redirect(301, "/feed")
    server.routes["/feed"] = Resource(FEED, last_modified=False)
    first = fetch(FetchState("c", server.url("/old")))
    second = fetch(FetchState("c", server.url("/old"), etag=first.etag))
    assert second.not_modified and second.permanent_url == server.url("/feed")


# --- redirects to private addresses ------------------------------------------

#: A public address. The tests cannot reach the internet, so requests for it go to the
#: loopback server acting as the HTTP proxy the environment names; the guard still sees
#: the real URLs and addresses.
PUBLIC = "http://1.2.3.4"


@pytest.fixture
def via_proxy(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    monkeypatch.setenv("http_proxy", server.base_url)
    return server


@pytest.mark.parametrize("status", [301, 302])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_redirect_from_a_public_to_a_private_address_is_refused(
    via_proxy: LocalServer, status: int, host: str
) -> None:
    inside = via_proxy.url("/admin").replace("127.0.0.1", host)
    via_proxy.routes[PUBLIC + "/feed.xml"] = redirect(status, inside)
    via_proxy.routes[inside] = Resource(FEED)
    result = fetch(FetchState("c", PUBLIC + "/feed.xml"))
    assert result.error == (
        f"redirect from {PUBLIC}/feed.xml to {inside} refused: a public feed may not lead "
        "to a private or loopback address; set fetch.allow_private_addresses: true if "
        "this is intended"
    )
    assert result.status == status and result.permanent_url is None and result.content is None
    assert [r.path for r in via_proxy.requests] == [PUBLIC + "/feed.xml"]


def test_redirect_to_a_private_address_is_followed_when_allowed(via_proxy: LocalServer) -> None:
    inside = via_proxy.url("/feed.xml")
    via_proxy.routes[PUBLIC + "/feed.xml"] = redirect(301, inside)
    via_proxy.routes[inside] = Resource(FEED)
    settings = fetch_settings(allow_private_addresses=True)
    result = fetch(FetchState("c", PUBLIC + "/feed.xml"), settings)
    assert result.ok and result.content == FEED and result.permanent_url == inside


def test_redirect_between_public_addresses_is_followed(via_proxy: LocalServer) -> None:
    via_proxy.routes[PUBLIC + "/feed.xml"] = redirect(301, "http://1.2.3.5/feed.xml")
    via_proxy.routes["http://1.2.3.5/feed.xml"] = Resource(FEED)
    result = fetch(FetchState("c", PUBLIC + "/feed.xml"))
    assert result.ok and result.permanent_url == "http://1.2.3.5/feed.xml"


# --- status codes -------------------------------------------------------------


def test_404_and_500_recorded_with_status(server: LocalServer) -> None:
    server.routes["/broken"] = lambda r: Response(500, b"oops", {"Content-Type": "text/plain"})
    missing, broken = asyncio.run(
        fetch_all(
            [FetchState("a", server.url("/missing")), FetchState("b", server.url("/broken"))],
            SETTINGS,
        )
    )
    assert missing.status == 404 and missing.error == "HTTP 404 Not Found"
    assert broken.status == 500 and broken.error == "HTTP 500 Internal Server Error"
    assert not missing.ok and missing.content is None


def test_error_keeps_previous_validators(server: LocalServer) -> None:
    result = fetch(FetchState("a", server.url("/missing"), etag='"e"', content_hash="abc"))
    assert result.error and result.etag == '"e"' and result.content_hash == "abc"


def test_410_tells_user_to_remove_channel(server: LocalServer) -> None:
    server.routes["/feed"] = lambda r: Response(410, b"", {})
    result = fetch(FetchState("a", server.url("/feed")))
    assert result.status == 410
    assert result.error is not None
    assert result.error.startswith("HTTP 410 Gone") and "remove this channel" in result.error


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_error_and_headers(server: LocalServer, status: int) -> None:
    server.routes["/feed"] = lambda r: Response(status, b"slow down", {"Retry-After": "120"})
    result = fetch(FetchState("a", server.url("/feed")))
    assert result.status == status
    assert result.error is not None and "retry after 120s" in result.error
    assert result.headers["retry-after"] == "120"


@pytest.mark.parametrize("status", [404, 500, 301])
def test_retry_after_is_dropped_where_it_is_not_honoured(server: LocalServer, status: int) -> None:
    headers = (
        {"Retry-After": "120", "Location": "/feed"} if status == 301 else {"Retry-After": "120"}
    )
    server.routes["/old"] = lambda r: Response(status, b"no", headers)
    server.routes["/feed"] = lambda r: Response(404, b"no", {"Retry-After": "120"})
    result = fetch(FetchState("a", server.url("/old")))
    assert result.status == (404 if status == 301 else status)
    assert "retry-after" not in result.headers and "retry" not in (result.error or "")


# --- network failures ---------------------------------------------------------


def test_connection_refused() -> None:
    result = fetch(FetchState("a", f"http://127.0.0.1:{closed_port()}/feed"))
    assert result.error == "connection refused"
    assert result.status is None and result.content is None


def test_invalid_url_is_an_error() -> None:
    result = fetch(FetchState("a", "feed.example.org/rss"))
    assert result.error is not None and result.error.startswith("unsupported URL")


def test_slow_server_read_timeout(server: LocalServer) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(2.0)
        return Response(200, FEED, {"Content-Type": "text/xml"})

    server.routes["/feed"] = slow
    started = time.monotonic()
    try:
        result = fetch(FetchState("a", server.url("/feed")), fetch_settings(timeout=0.2))
    finally:
        release.set()
    assert result.error == "timed out after 0.2s"
    assert result.status is None
    assert time.monotonic() - started < 1.0


def test_drip_feed_hits_overall_deadline() -> None:
    async def drip(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: RawServer
    ) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 10000\r\n\r\n")
        for _ in range(10000):  # each byte arrives well within the read timeout
            writer.write(b"<")
            await writer.drain()
            await asyncio.sleep(0.05)

    async def main() -> FetchResult:
        raw = await start_raw(drip)
        try:
            return (await fetch_all([FetchState("d", raw.url)], fetch_settings(timeout=0.3)))[0]
        finally:
            await stop_raw(raw)

    started = time.monotonic()
    result = asyncio.run(main())
    assert result.error == "timed out after 0.6s (whole request)"
    assert time.monotonic() - started < 1.5


# --- concurrency --------------------------------------------------------------


class ConcurrencyProbe:
    """A handler that sleeps briefly and records how many requests overlap."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        time.sleep(self.delay)
        with self.lock:
            self.current -= 1
        return Response(200, request.path.encode(), {"Content-Type": "text/xml"})


def test_per_host_limit(server: LocalServer) -> None:
    probe = ConcurrencyProbe()
    server.routes["/feed"] = probe
    states = [FetchState(f"ch{i}", server.url(f"/feed?n={i}")) for i in range(20)]
    settings = fetch_settings(max_per_host=2, max_connections=8)
    results = asyncio.run(fetch_all(states, settings))
    assert probe.peak == 2
    assert [r.channel_id for r in results] == [s.channel_id for s in states]
    assert [r.content for r in results] == [f"/feed?n={i}".encode() for i in range(20)]


def test_global_limit_across_hosts(server: LocalServer) -> None:
    probe = ConcurrencyProbe()
    server.routes["/feed"] = probe
    port = server.base_url.rsplit(":", 1)[1]
    hosts = ["127.0.0.1", "localhost"]
    states = [FetchState(f"c{i}", f"http://{hosts[i % 2]}:{port}/feed?n={i}") for i in range(12)]
    results = asyncio.run(fetch_all(states, fetch_settings(max_per_host=2, max_connections=3)))
    assert all(r.ok for r in results)
    assert probe.peak == 3


def test_one_broken_channel_does_not_stop_others(server: LocalServer) -> None:
    server.routes["/good"] = Resource(FEED)
    server.routes["/boom"] = lambda r: Response(500, b"", {})
    states = [
        FetchState("good1", server.url("/good")),
        FetchState("refused", f"http://127.0.0.1:{closed_port()}/feed"),
        FetchState("boom", server.url("/boom")),
        FetchState("bad-url", "http://[::1/feed"),
        FetchState("good2", server.url("/good")),
    ]
    results = asyncio.run(fetch_all(states, SETTINGS))
    assert [r.channel_id for r in results] == [s.channel_id for s in states]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert results[0].content == FEED and results[4].content == FEED


def test_fetch_one_with_a_redirect_following_client(server: LocalServer) -> None:
    server.routes["/old"] = redirect(301, "/feed")
    server.routes["/feed"] = Resource(FEED)

    async def main() -> FetchResult:
        async with httpx.AsyncClient(follow_redirects=True) as client:
            return await fetch_one(client, FetchState("c", server.url("/old")), SETTINGS)

    result = asyncio.run(main())
    assert result.ok and result.content == FEED and result.elapsed > 0
    assert result.permanent_url == server.url("/feed")  # hops still seen one by one
    assert server.requests_to("/feed")[0].headers["user-agent"] == "kanalwerk-test/1.0"


def test_create_client_identifies_itself(server: LocalServer) -> None:
    server.routes["/page"] = lambda r: Response(200, b"ok", {"Content-Type": "text/plain"})

    async def main() -> None:
        async with create_client(SETTINGS) as client:
            await client.get(server.url("/page"))

    asyncio.run(main())
    assert server.requests_to("/page")[0].headers["user-agent"] == "kanalwerk-test/1.0"


def test_fetch_all_empty() -> None:
    assert asyncio.run(fetch_all([], SETTINGS)) == []


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_per_host"):
        dataclasses.replace(SETTINGS, max_per_host=0)


# --- connection reuse ---------------------------------------------------------


def test_304_redirect_and_error_responses_keep_the_connection_alive() -> None:
    """An all-304 poll must not open a TCP connection per feed (bodies are drained)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    connections: list[tuple[str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(self.client_address)

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            if self.path.startswith("/moved"):
                self.send_response(302)
                self.send_header("Location", "/feed" + self.path.removeprefix("/moved"))
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"moved on.")
            elif self.path.startswith("/gone"):
                page = b"<html><body>not here</body></html>"
                self.send_response(404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
            else:
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        paths = ["/feed", "/moved", "/gone"] * 4
        states = [
            FetchState(f"c{i}", f"{base}{path}?n={i}", etag='"v1"') for i, path in enumerate(paths)
        ]
        settings = fetch_settings(max_connections=1, max_per_host=1)
        results = asyncio.run(fetch_all(states, settings))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [r.not_modified for r in results] == [p != "/gone" for p in paths]
    assert [r.status for r in results if not r.ok] == [404] * 4
    assert len(connections) == 1
