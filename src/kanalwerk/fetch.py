"""HTTP polling of feeds: conditional GET, size cap, redirects, timeouts, per-host limits.

Every problem with one channel becomes a `FetchResult` with `error` set, so one broken
feed never stops the others. Redirects are followed by hand: httpx's automatic redirects
read each intermediate body without a size limit, and we need every hop's status to know
whether a move is permanent.

One `Fetcher` (one httpx client with keep-alive, HTTP/2 where the server offers it, and
the per-host gates of `host_limits`) serves a whole round, and the pipeline keeps it from
one round to the next. Concurrency stays modest (8 connections; 6 per host, as browsers
allow; 24 streams on an HTTP/2 connection): httpx spends more CPU per request as
concurrency rises (encode/httpx#3215), and feed servers are often small sites. Tune
through `FetchSettings`, not here.

Private addresses: a feed the user configured may live on one (an intranet feed), and
may then move anywhere; a public feed may not redirect into the local network, and a URL
taken from a feed (`untrusted`: article pages, transcripts) may not reach one at all,
unless `fetch.allow_private_addresses` is on. `addresses.GuardTransport` enforces this
at connect time, on every address the host resolves to, after every redirect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import http
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

import httpx

from kanalwerk.addresses import GUARDED, GuardTransport
from kanalwerk.content_encoding import ACCEPT_ENCODING, ContentDecoder
from kanalwerk.errors import FetchError, PrivateAddressRefused
from kanalwerk.host_limits import HostLimits
from kanalwerk.logs import printable
from kanalwerk.models import FetchResult, FetchState
from kanalwerk.retry_after import HONOURED_STATUSES, parse_retry_after

__all__ = [
    "ACCEPT",
    "MAX_REDIRECTS",
    "FetchSettings",
    "Fetcher",
    "create_client",
    "default_user_agent",
    "fetch_all",
    "fetch_one",
]

log = logging.getLogger(__name__)

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, application/feed+json;q=0.8, */*;q=0.5"
)
MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = frozenset({301, 308})
KEPT_HEADERS = (
    "content-type",
    "content-location",
    "content-language",
    "etag",
    "last-modified",
    "retry-after",
    # For the next poll's time (kanalwerk.freshness): how long the feed stays fresh.
    "cache-control",
    "expires",
    "date",
)


def default_user_agent(version: str, base_url: str) -> str:
    """`kanalwerk/<version> (+<base_url>)`: tells feed owners who polls them and where to look."""
    return f"kanalwerk/{version} (+{base_url})"


@dataclass(frozen=True)
class FetchSettings:
    """The `fetch:` section as fetching needs it; its defaults live in the config model."""

    timeout: float  # read/write timeout, seconds
    connect_timeout: float
    max_bytes: int  # decoded body size cap
    max_connections: int  # all hosts together
    max_per_host: int  # connections to one host, so HTTP/1.1 requests to it at once
    max_streams_per_host: int  # requests at once to a host that speaks HTTP/2
    user_agent: str
    allow_private_addresses: bool  # may any fetched URL reach a private address?

    def __post_init__(self) -> None:
        for name in (
            "timeout",
            "connect_timeout",
            "max_bytes",
            "max_connections",
            "max_per_host",
            "max_streams_per_host",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"FetchSettings.{name} must be positive")

    @property
    def deadline(self) -> float:
        """Whole-request limit, so a server dripping one byte per read timeout can't hang us."""
        return self.timeout * 2


#: Idle connections are kept this long, so that the daemon's next tick can use them.
KEEPALIVE_SECONDS = 30.0


def create_client(settings: FetchSettings) -> httpx.AsyncClient:
    """The shared client: feed Accept header, our User-Agent, timeouts and pool limits.

    HTTP/2 is offered to HTTPS servers (ALPN), plain HTTP stays HTTP/1.1. The pool's
    limit is global; the per-host one is `HostLimits`' (see `Fetcher`). Its transport
    keeps requests marked `addresses.GUARDED` from private addresses (see the module
    docstring); `fetch_one` marks its requests.
    """
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
        keepalive_expiry=KEEPALIVE_SECONDS,
    )
    return httpx.AsyncClient(
        http2=True,
        headers=_headers(settings),
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.timeout,
            write=settings.timeout,
            pool=settings.timeout * 2,
        ),
        limits=limits,
        transport=GuardTransport(
            limits, allow_private=settings.allow_private_addresses, http2=True
        ),
        follow_redirects=False,
    )


def _headers(settings: FetchSettings) -> dict[str, str]:
    # Accept-Encoding names only what content_encoding decodes (httpx would add br and
    # zstd when their packages are installed).
    return {
        "User-Agent": settings.user_agent,
        "Accept": ACCEPT,
        "Accept-Encoding": ACCEPT_ENCODING,
    }


class Fetcher:
    """One client and its per-host gates, for a round of polls or many rounds in a row.

    Keep-alive connections, and what was learnt about a host (it speaks HTTP/2), carry
    over from one `fetch_all` to the next. Belongs to one event loop: use it, and close
    it, on the loop that created it.
    """

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self.client = create_client(settings)
        self.limits = HostLimits(
            max_per_host=settings.max_per_host,
            max_streams_per_host=settings.max_streams_per_host,
            max_connections=settings.max_connections,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch_all(
        self,
        states: Sequence[FetchState],
        on_result: Callable[[FetchResult], Awaitable[None]] | None = None,
        *,
        untrusted: bool = False,
    ) -> list[FetchResult]:
        """Poll every channel concurrently; results come back in the order of `states`.

        `untrusted`: the URLs come from feeds (pages, transcripts), not from the config,
        so none of them may reach a private address (see the module docstring).

        With `on_result`, each result is handed over as soon as it arrives (so parsing
        overlaps fetching) and the returned results no longer hold the bodies, which
        keeps memory flat however many channels there are.
        """
        settings = self.settings
        # Channels fetched or handed over at once: without a bound, fast fetching ahead
        # of slow parsing would hold every feed in memory. Wide enough for a host's
        # HTTP/2 streams, and taken in turns across hosts (`_interleaved`), so that a
        # thousand channels waiting for one host do not hold every place.
        backlog = asyncio.Semaphore(
            2 * max(settings.max_connections, settings.max_streams_per_host)
        )

        async def one(state: FetchState) -> FetchResult:
            async with backlog:
                result = await fetch_one(
                    self.client, state, settings, self.limits, untrusted=untrusted
                )
                if on_result is None:
                    return result
                await on_result(result)
            return dataclasses.replace(result, content=None)

        order = _interleaved(states)
        tasks = [asyncio.ensure_future(one(states[i])) for i in order]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            # The loop outlives this round: nothing of it may run on in the next one.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        by_index = dict(zip(order, results, strict=True))
        return [by_index[i] for i in range(len(states))]


def _interleaved(states: Sequence[FetchState]) -> list[int]:
    """Indices of `states` taking each host in turn: a, b, c, a, b, a, ..."""
    queues: dict[str, list[int]] = {}
    for index, state in enumerate(states):
        queues.setdefault(_host_key(state.url), []).append(index)
    order: list[int] = []
    depth = 0
    while len(order) < len(states):
        order += [queue[depth] for queue in queues.values() if depth < len(queue)]
        depth += 1
    return order


async def fetch_all(
    states: Sequence[FetchState],
    settings: FetchSettings,
    on_result: Callable[[FetchResult], Awaitable[None]] | None = None,
    *,
    untrusted: bool = False,
) -> list[FetchResult]:
    """`Fetcher.fetch_all` with a client of its own, closed at the end (one round).

    `untrusted`: the URLs come from feeds (pages, transcripts), not from the config, so
    none of them may reach a private address (see the module docstring).
    """
    if not states:
        return []
    fetcher = Fetcher(settings)
    try:
        return await fetcher.fetch_all(states, on_result, untrusted=untrusted)
    finally:
        await fetcher.aclose()


async def fetch_one(
    client: httpx.AsyncClient,
    state: FetchState,
    settings: FetchSettings,
    limits: HostLimits | None = None,
    *,
    untrusted: bool = False,
) -> FetchResult:
    """Poll one channel. Never raises for the channel's own problems.

    With `limits`, each request of the redirect chain waits for a place at its own host;
    the deadline counts only the time spent holding one. The private-address guard needs
    a client from `create_client`.
    """
    started = time.monotonic()
    progress = _Progress(state.url, untrusted=untrusted)
    hops = _Hops(limits, settings.deadline)
    try:
        async with asyncio.timeout(None) as hops.timeout:
            return await _fetch(client, state, settings, hops, progress, started)
    except TimeoutError:
        error = f"timed out after {settings.deadline:g}s (whole request)"
    except httpx.HTTPError as exc:
        error = _transport_message(exc, settings)
    except httpx.InvalidURL as exc:
        error = f"invalid URL: {exc}"
    except Exception as exc:  # a bug here must not stop the other channels
        log.exception("unexpected error fetching channel %s", state.channel_id)
        error = f"unexpected error: {type(exc).__name__}: {exc}"
    log.debug("fetch %s failed: %s", state.channel_id, error)  # the caller reports it
    return _failure(state, progress, started, error, status=None)


#: A request that failed this way got no answer at all: the kept-alive connection it went
#: out on had been closed by the server (httpcore notices that before reusing an HTTP/1.1
#: connection, not an HTTP/2 one).
STALE_CONNECTION_ERRORS = (httpx.RemoteProtocolError, httpx.WriteError)


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send `request`; once more, on a new connection, if a kept-alive one was stale.

    Safe for our GETs. Explicitly without following redirects: a caller's client may
    follow them by itself, which would hide the hops we need and read their bodies
    without the size cap.
    """
    try:
        return await client.send(request, stream=True, follow_redirects=False)
    except STALE_CONNECTION_ERRORS as exc:
        log.debug("%s: %r; asking once more", request.url, exc)
    return await client.send(request, stream=True, follow_redirects=False)


class _Hops:
    """The requests of one redirect chain: each holds a place at its host while it runs,
    and the chain's time budget (the deadline) runs only then, not while it waits.
    """

    def __init__(self, limits: HostLimits | None, deadline: float) -> None:
        self.limits = limits
        self.left = deadline
        self.timeout: asyncio.Timeout | None = None  # set by the caller's `async with`
        self._host = ""
        self._took_global = False
        self._since = 0.0

    async def enter(self, url: str) -> None:
        self._host = _host_key(url)
        if self.limits is not None:
            self._took_global = await self.limits.enter(self._host)
        self._since = asyncio.get_running_loop().time()
        if self.timeout is not None:
            self.timeout.reschedule(self._since + self.left)

    async def answered(self, response: httpx.Response) -> None:
        if self.limits is not None and response.http_version == "HTTP/2":
            await self.limits.learned_http2(self._host)

    async def leave(self) -> None:
        self.left -= asyncio.get_running_loop().time() - self._since
        if self.timeout is not None and not self.timeout.expired():
            self.timeout.reschedule(None)
        if self.limits is not None:
            await self.limits.leave(self._host, self._took_global)


@dataclass
class _Progress:
    """Where the redirect chain has got to; kept outside `_fetch` for error results."""

    url: str
    untrusted: bool = False  # a URL from a feed: never to a private address
    redirects: int = 0
    permanent: bool = True
    private_allowed: bool = False  # set when the configured URL itself is private
    status: int | None = None  # of the last redirect


async def _fetch(
    client: httpx.AsyncClient,
    state: FetchState,
    settings: FetchSettings,
    hops: _Hops,
    progress: _Progress,
    started: float,
) -> FetchResult:
    # Set per request too, so `fetch_one` behaves the same with a caller's own client.
    headers = _headers(settings)
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    while True:
        extensions = {} if progress.private_allowed else {GUARDED: True}
        request = client.build_request("GET", progress.url, headers=headers, extensions=extensions)
        await hops.enter(progress.url)
        try:
            response = await _send(client, request)
        except PrivateAddressRefused as exc:
            await hops.leave()
            if progress.redirects == 0 and not progress.untrusted:
                # A feed the user configured on a private address (an intranet feed, a
                # test server): theirs to choose, and it may move anywhere from there.
                progress.private_allowed = True
                continue
            error = _refusal_message(state, progress, exc)
            return _failure(state, progress, started, error, progress.status)
        except BaseException:
            await hops.leave()
            raise
        try:
            await hops.answered(response)
            if response.has_redirect_location and response.next_request is not None:
                if progress.redirects >= MAX_REDIRECTS:
                    error = f"too many redirects (more than {MAX_REDIRECTS})"
                    return _failure(state, progress, started, error, response.status_code)
                target = response.next_request.url
                progress.status = response.status_code
                progress.permanent = progress.permanent and (
                    response.status_code in PERMANENT_REDIRECTS
                )
                progress.redirects += 1
                progress.url = str(target)
                continue
            return await _complete(response, state, settings, progress, started)
        finally:
            await _release(response)  # first: its connection is free for the next request
            await hops.leave()


def _refusal_message(state: FetchState, progress: _Progress, exc: PrivateAddressRefused) -> str:
    hint = "set fetch.allow_private_addresses: true if this is intended"
    if progress.redirects == 0:
        return (
            f"{progress.url} refused: {exc}; links taken from feeds may not lead to private "
            f"or loopback addresses; {hint}"
        )
    who = "a link taken from a feed" if progress.untrusted else "a public feed"
    return (
        f"redirect from {state.url} to {progress.url} refused: {who} may not lead to a "
        f"private or loopback address; {hint}"
    )


#: Unread bodies (304, redirects, error pages) up to this size are drained, not dropped.
DRAIN_LIMIT = 64 * 1024
DRAIN_SECONDS = 1.0


async def _release(response: httpx.Response) -> None:
    """Close the response so that its connection can serve the next feed.

    httpcore keeps a connection alive only when the body was read to its end, even an
    empty one: closing a 304 unread means a new TCP connection for every request of an
    all-304 poll. A 2xx body left unread was refused (too large), and large or slow
    leftovers are not worth waiting for: those connections are dropped.
    """
    declared = response.headers.get("content-length", "").strip()
    worth_draining = not response.is_stream_consumed and not response.is_success
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        worth_draining = False
    drained = 0
    try:
        if worth_draining:
            async with asyncio.timeout(DRAIN_SECONDS):
                async for chunk in response.aiter_raw():
                    drained += len(chunk)
                    if drained > DRAIN_LIMIT:
                        break
    except (httpx.HTTPError, TimeoutError) as exc:
        log.debug("%s: connection dropped while draining: %r", response.url, exc)
    finally:
        await response.aclose()


async def _complete(
    response: httpx.Response,
    state: FetchState,
    settings: FetchSettings,
    progress: _Progress,
    started: float,
) -> FetchResult:
    status = response.status_code
    kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    if status not in HONOURED_STATUSES:
        # Kept only where it counts, so nothing downstream can honour it on a 404 or 500.
        kept.pop("retry-after", None)
    if status == 304:
        return FetchResult(
            channel_id=state.channel_id,
            requested_url=state.url,
            final_url=progress.url,
            status=status,
            headers=kept,
            etag=kept.get("etag") or state.etag,
            last_modified=kept.get("last-modified") or state.last_modified,
            content_hash=state.content_hash,
            permanent_url=_permanent_url(progress),
            not_modified=True,
            elapsed=time.monotonic() - started,
        )
    if not 200 <= status < 300:
        return _failure(state, progress, started, _status_message(response), status, kept)
    try:
        body = await _read_capped(response, settings.max_bytes)
    except FetchError as exc:
        error = f"{progress.url}: {exc}"
        return _failure(state, progress, started, error, status, kept)
    digest = hashlib.sha256(body).hexdigest()
    unchanged = digest == state.content_hash
    return FetchResult(
        channel_id=state.channel_id,
        requested_url=state.url,
        final_url=progress.url,
        status=status,
        content=None if unchanged else body,
        headers=kept,
        etag=kept.get("etag"),
        last_modified=kept.get("last-modified"),
        content_hash=digest,
        permanent_url=_permanent_url(progress),
        not_modified=unchanged,
        elapsed=time.monotonic() - started,
    )


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body; FetchError as soon as it is known to exceed `max_bytes`.

    The cap counts decoded bytes as they are produced, for any stack of encodings, so a
    small gzip bomb holds at most the cap plus one piece (`content_encoding.PIECE`).
    """
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(_too_large(max_bytes, decompressed=False))
    decoder = ContentDecoder(response.headers.get_list("content-encoding", split_commas=True))
    body = bytearray()

    def take(pieces: Iterator[bytes]) -> None:
        for piece in pieces:
            body.extend(piece)
            if len(body) > max_bytes:
                raise FetchError(_too_large(max_bytes, decompressed=decoder.layers > 0))

    async for chunk in response.aiter_raw():
        take(decoder.decode(chunk))
    take(decoder.finish())
    return bytes(body)


def _too_large(max_bytes: int, *, decompressed: bool) -> str:
    text = f"feed larger than the {max_bytes / 1_000_000:.1f} MB limit (fetch.max_bytes)"
    return text + " once decompressed" if decompressed else text


def _permanent_url(progress: _Progress) -> str | None:
    """Only a chain of permanent redirects (301/308) may replace the configured URL."""
    return progress.url if progress.redirects and progress.permanent else None


def _failure(
    state: FetchState,
    progress: _Progress,
    started: float,
    error: str,
    status: int | None,
    headers: dict[str, str] | None = None,
) -> FetchResult:
    # The old validators are carried over, so a store that saves them blindly loses nothing.
    # The error is shown by `status` and logged: no control character from a server in it.
    return FetchResult(
        channel_id=state.channel_id,
        requested_url=state.url,
        final_url=progress.url,
        status=status,
        headers=headers or {},
        etag=state.etag,
        last_modified=state.last_modified,
        content_hash=state.content_hash,
        error=printable(error),
        elapsed=time.monotonic() - started,
    )


def _status_message(response: httpx.Response) -> str:
    status = response.status_code
    text = f"HTTP {status} {response.reason_phrase or _standard_phrase(status)}".rstrip()
    if status == 410:
        return f"{text}: the feed is gone for good; remove this channel from the config"
    if status in HONOURED_STATUSES:
        delay = parse_retry_after(response.headers.get("retry-after"))
        if delay is not None:
            return f"{text}: the server asks to retry after {delay:.0f}s"
    return text


def _standard_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _transport_message(exc: httpx.HTTPError, settings: FetchSettings) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connection timed out after {settings.connect_timeout:g}s"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {settings.timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        return _connect_message(exc)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL: {exc}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _connect_message(exc: BaseException) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS error: certificate verify failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"could not resolve host name: {cause.strerror or cause}"
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "ssl" in text.lower() or "certificate" in text.lower():
        return f"TLS error: {text}"
    return f"connection failed: {text}" if text else "connection failed"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and members of exception groups."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending and len(seen) < 20:
        current = pending.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def _host_key(url: str) -> str:
    try:
        return httpx.URL(url).host.lower()
    except httpx.InvalidURL:
        return ""
