from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from kanalwerk.errors import FetchError
from kanalwerk.sources.youtube import (
    channel_id_from_page,
    feed_url_for_channel_id,
    parse_channel_ref,
    resolve_handle,
)
from tests.servers import LocalServer, Request, Response

CNBC = "UCvJJ_dzjViJCoLf5uKUTwoA"
OTHER = "UCaaaaaaaaaaaaaaaaaaaaaa"

CHANNEL_PAGE = f"""<!DOCTYPE html><html lang="en"><head>
<title>CNBC - YouTube</title>
<link rel="canonical" href="https://www.youtube.com/channel/{CNBC}">
<meta property="og:title" content="CNBC">
</head><body><script>var ytInitialData = {{"header":{{"featured":{{"channelId":"{OTHER}"}}}}}};
</script></body></html>"""


def html(body: str) -> Response:
    return Response(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})


def resolve(server: LocalServer, handle: str) -> str:
    async def main() -> str:
        async with httpx.AsyncClient(timeout=2.0) as client:
            return await resolve_handle(client, handle, base=server.base_url)

    return asyncio.run(main())


# --- feed URLs ---------------------------------------------------------------------------


def test_feed_url_for_channel_id() -> None:
    assert feed_url_for_channel_id(CNBC) == (
        f"https://www.youtube.com/feeds/videos.xml?channel_id={CNBC}"
    )
    with pytest.raises(ValueError, match="not a YouTube channel id"):
        feed_url_for_channel_id("UCtooshort")


# --- channel references ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (CNBC, (CNBC, None)),
        (f"  {CNBC} ", (CNBC, None)),
        (f"https://www.youtube.com/channel/{CNBC}", (CNBC, None)),
        (f"https://youtube.com/channel/{CNBC}/videos", (CNBC, None)),
        (f"www.youtube.com/channel/{CNBC}", (CNBC, None)),
        (f"https://www.youtube.com/feeds/videos.xml?channel_id={CNBC}", (CNBC, None)),
        ("@CNBC", (None, "@CNBC")),
        ("https://www.youtube.com/@CNBC", (None, "@CNBC")),
        ("https://m.youtube.com/@simon.willison/videos", (None, "@simon.willison")),
        ("youtube.com/@CNBC", (None, "@CNBC")),
        ("https://music.youtube.com/@CNBC", (None, "@CNBC")),
        ("https://www.youtube.com/@%E3%81%82%E3%81%84%E3%81%86/videos", (None, "@あいう")),
    ],
)
def test_parse_channel_ref(ref: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_channel_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "empty"),
        ("CNBC", "did you mean '@CNBC'"),
        ("https://vimeo.com/@CNBC", "is not a YouTube channel"),
        ("https://www.youtube.com/watch?v=WEBiebbeNCA", "is not a YouTube channel"),
        ("https://www.youtube.com/user/cnbc", "legacy YouTube URL"),
        ("https://www.youtube.com/c/CNBC", "legacy YouTube URL"),
        ("@a", "not a valid YouTube handle"),
        ("@has space", "not a valid YouTube handle"),
    ],
)
def test_parse_channel_ref_rejects_with_help(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_channel_ref(ref)
    assert "@" in str(info.value) or "legacy" in str(info.value)  # says what would work


# --- handle resolution -------------------------------------------------------------------


def test_resolve_handle_from_canonical_link(server: LocalServer) -> None:
    server.routes["/@CNBC"] = lambda r: html(CHANNEL_PAGE)
    assert resolve(server, "@CNBC") == CNBC
    request = server.requests_to("/@CNBC")[0]
    assert "SOCS=" in request.headers["cookie"]  # skips the EU consent interstitial


def test_resolve_handle_accepts_name_without_at(server: LocalServer) -> None:
    server.routes["/@CNBC"] = lambda r: html(CHANNEL_PAGE)
    assert resolve(server, "CNBC") == CNBC


def test_resolve_handle_follows_redirects(server: LocalServer) -> None:
    server.routes["/@cnbc"] = lambda r: Response(301, b"", {"Location": "/@CNBC"})
    server.routes["/@CNBC"] = lambda r: html(CHANNEL_PAGE)
    assert resolve(server, "@cnbc") == CNBC


def test_resolve_handle_quotes_non_ascii(server: LocalServer) -> None:
    server.routes["/@M%C3%BCnchen"] = lambda r: html(CHANNEL_PAGE)
    assert resolve(server, "@München") == CNBC


@pytest.mark.parametrize(
    "page",
    [
        f'<meta itemprop="channelId" content="{CNBC}">',
        f'<meta content="{CNBC}" itemprop="identifier">',
        f'<link href="https://www.youtube.com/channel/{CNBC}" rel="canonical">',
        f'<script>{{"metadata":{{"channelMetadataRenderer":{{"externalId":"{CNBC}"}}}}}}</script>',
    ],
)
def test_channel_id_from_other_page_shapes(page: str) -> None:
    assert channel_id_from_page(page) == CNBC


def test_canonical_beats_featured_channel_ids() -> None:
    assert channel_id_from_page(CHANNEL_PAGE) == CNBC
    assert channel_id_from_page(f'"channelId":"{OTHER}"') == OTHER


def test_resolve_handle_without_id_raises(server: LocalServer) -> None:
    server.routes["/@empty"] = lambda r: html("<html><head><title>YouTube</title></head></html>")
    with pytest.raises(FetchError, match="found no channel id"):
        resolve(server, "@empty")


def test_resolve_unknown_handle_raises(server: LocalServer) -> None:
    with pytest.raises(FetchError, match="no channel @nobody"):
        resolve(server, "@nobody")


def test_resolve_handle_server_error(server: LocalServer) -> None:
    def fail(request: Request) -> Response:
        return Response(500, b"", {})

    server.routes["/@CNBC"] = fail
    with pytest.raises(FetchError, match="HTTP 500"):
        resolve(server, "@CNBC")


def test_resolve_handle_consent_page(server: LocalServer) -> None:
    consent = server.base_url.replace("127.0.0.1", "consent.localhost")
    server.routes["/@CNBC"] = lambda r: Response(302, b"", {"Location": consent + "/m"})
    server.routes["/m"] = lambda r: html("<html>Before you continue to YouTube</html>")

    async def main() -> str:
        # "consent.localhost" must reach the loopback server without a DNS lookup.
        transport = httpx.AsyncHTTPTransport()
        async with httpx.AsyncClient(transport=_LoopbackTransport(transport)) as client:
            return await resolve_handle(client, "@CNBC", base=server.base_url)

    with pytest.raises(FetchError, match="cookie-consent page"):
        asyncio.run(main())


class _LoopbackTransport(httpx.AsyncBaseTransport):
    """Sends every request to 127.0.0.1, keeping the Host the client asked for."""

    def __init__(self, inner: httpx.AsyncHTTPTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loopback = httpx.Request(
            request.method,
            request.url.copy_with(host="127.0.0.1"),
            headers=request.headers,
            stream=request.stream,
        )
        return await self.inner.handle_async_request(loopback)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_resolve_handle_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> str:
        async with httpx.AsyncClient(timeout=2.0) as client:
            return await resolve_handle(client, "@CNBC", base=f"http://127.0.0.1:{port}")

    with pytest.raises(FetchError, match="could not load") as info:
        asyncio.run(main())
    assert isinstance(info.value.__cause__, httpx.ConnectError)
