"""A feed host on 127.0.0.1 that counts what politeness is about.

Every path `/feed/<n>.xml` is a small RSS feed with an ETag (a repeated poll gets 304).
The server (hypercorn, in a thread) counts the requests in flight at once, the
connections busy at once and the connections in all (distinct client ports), and which
HTTP versions were spoken. `latency` holds each answer back as a round trip would,
without holding up the others, so that a client allowed more requests at once really
has them in flight together. `gather` holds the answers until that many requests were in
flight at once (or `GATHER_SECONDS` passed): a client allowed that many reaches them
however slowly a busy machine sends its requests.

Over TLS (a throwaway CA from trustme; point `SSL_CERT_FILE` at `ca_file`) the server
offers HTTP/2 through ALPN, or only HTTP/1.1 with `http2=False`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

GATHER_SECONDS = 0.5


def feed_body(path: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
        "<link>https://example.org/</link>"
        f"<item><title>Post at {path}</title><guid>{path}</guid>"
        "<link>https://example.org/post</link><description>Hallo</description></item>"
        "</channel></rss>"
    ).encode()


@dataclass
class Seen:
    """What the server saw since the last `reset`."""

    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    busy: Counter[int] = field(default_factory=Counter)  # client port -> requests in flight
    peak_busy_connections: int = 0
    ports: set[int] = field(default_factory=set)
    versions: Counter[str] = field(default_factory=Counter)


class FeedHost:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        gather: int = 0,
        tls_folder: Path | None = None,
        http2: bool = True,
        port: int = 0,
    ) -> None:
        """A host on `port` (default: a free one); certificates already in `tls_folder`
        are reused, so a host started again where another stopped is trusted the same."""
        self.latency = latency
        self.gather = gather
        self.seen = Seen()
        self._lock = threading.Lock()
        self.ca_file: Path | None = None
        config = Config()
        config.accesslog = config.errorlog = None
        if tls_folder is not None:
            self.ca_file = self._make_certificates(tls_folder, config)
            config.alpn_protocols = ["h2", "http/1.1"] if http2 else ["http/1.1"]
        with socket.socket() as listening:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(("127.0.0.1", port))
            listening.listen(128)  # connections wait in the backlog until hypercorn accepts
            self.port = listening.getsockname()[1]
            # Hypercorn takes a copy of the descriptor over and closes it when it stops.
            config.bind = [f"fd://{os.dup(listening.fileno())}"]
        self._config = config
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _make_certificates(folder: Path, config: Config) -> Path:
        import trustme

        ca_file, cert_file, key_file = (folder / n for n in ("ca.pem", "cert.pem", "key.pem"))
        if not ca_file.exists():
            ca = trustme.CA()
            issued = ca.issue_cert("127.0.0.1")
            ca.cert_pem.write_to_path(str(ca_file))
            issued.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
            issued.private_key_pem.write_to_path(str(key_file))
        config.certfile, config.keyfile = str(cert_file), str(key_file)
        return ca_file

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ca_file else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, n: int) -> str:
        return f"{self.base_url}/feed/{n}.xml"

    def reset(self) -> None:
        with self._lock:
            self.seen = Seen()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        port = scope["client"][1]
        with self._lock:
            seen = self.seen
            seen.requests += 1
            seen.in_flight += 1
            seen.peak_in_flight = max(seen.peak_in_flight, seen.in_flight)
            seen.busy[port] += 1
            busy = sum(1 for n in seen.busy.values() if n)
            seen.peak_busy_connections = max(seen.peak_busy_connections, busy)
            seen.ports.add(port)
            seen.versions[scope["http_version"]] += 1
        try:
            deadline = time.monotonic() + GATHER_SECONDS
            while seen.peak_in_flight < self.gather and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            if self.latency:
                await asyncio.sleep(self.latency)
            body = feed_body(scope["path"])
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            sent = dict(scope["headers"]).get(b"if-none-match", b"").decode()
            status, content = (304, b"") if sent == etag else (200, body)
            headers = [(b"etag", etag.encode()), (b"content-type", b"application/rss+xml")]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})
        finally:
            with self._lock:
                seen.in_flight -= 1
                seen.busy[port] -= 1

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await serve(self._app, self._config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

        try:
            asyncio.run(main())
        except (RuntimeError, OSError, asyncio.CancelledError):
            # Stopping with a client's connection still open: hypercorn's TLS shutdown
            # may trip over it. Nothing a test asks about.
            if self._stop is None or not self._stop.is_set():
                raise

    def start(self) -> FeedHost:
        self._thread.start()
        self._started.wait(5)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return  # stopped already
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        # A client's idle TLS connection holds the loop until the client answers the
        # close (seconds, or never while its own loop sleeps between rounds). A test
        # needs the port closed and the connections told to go, which comes first.
        deadline = time.monotonic() + 5
        self._thread.join(timeout=0.05)
        while self._thread.is_alive() and not self._port_free() and time.monotonic() < deadline:
            self._thread.join(timeout=0.01)

    def _port_free(self) -> bool:
        """No socket listens on the port any more (a bind would fail while one does)."""
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return False
        return True
