"""`kanalwerk serve`: the output folder over HTTP, for previews and small installations.

Starlette's `StaticFiles` does the file work (ETag and Last-Modified with 304 answers,
HEAD, ranges, no listing, nothing outside the folder, symlinks out refused) and uvicorn
speaks HTTP; this module only names the content types a feed reader expects, keeps
dotfiles (write_atomic's temp files) private and runs the server in a thread, so the
main thread stays free for signals, or for the daemon in `run --serve`.

Larger sites put nginx or Caddy in front of the output folder instead (README).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kanalwerk.errors import KanalwerkError

log = logging.getLogger(__name__)

#: What each published file is, by suffix; the charset is said because readers guess wrong.
CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".opml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
}

#: Pages and feeds change with every publish: caches may keep them but must ask first
#: (a cheap 304 thanks to the validators).
CACHE_CONTROL = "no-cache"

#: How long a stop waits for requests in flight before cutting them off.
GRACEFUL_SECONDS = 2


class SiteFiles(StaticFiles):
    """`StaticFiles` with our content types and no dotfiles.

    A folder URL serves its `index.html` (after a redirect to the URL with a slash);
    without one it is a 404, never a listing.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)

    async def get_response(self, path: str, scope: Scope) -> Response:
        # Dotfiles are write_atomic's half-written temp files or nothing to publish.
        if any(part.startswith(".") for part in Path(path).parts if part != "."):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        media_type = CONTENT_TYPES.get(Path(full_path).suffix.lower())
        response = FileResponse(
            full_path, status_code=status_code, stat_result=stat_result, media_type=media_type
        )
        response.headers["cache-control"] = CACHE_CONTROL
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response

    async def check_config(self) -> None:
        """A missing folder is no error: `run --serve` serves before the first publish."""


class WeakETagWhenCompressed:
    """Mark the ETag weak on a gzip-compressed answer, as nginx does.

    The compressed bytes differ from the file's, so the file's strong validator no
    longer names them; a weak one still lets `If-None-Match` answer 304.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_weak(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                etag = headers.get("etag")
                if etag and headers.get("content-encoding") and not etag.startswith("W/"):
                    headers["etag"] = "W/" + etag
            await send(message)

        await self.app(scope, receive, send_weak)


def site_app(output: Path) -> Starlette:
    """The ASGI app serving `output` (which may appear after the server starts)."""
    return Starlette(
        routes=[Mount("/", app=SiteFiles(output))],
        middleware=[Middleware(WeakETagWhenCompressed), Middleware(GZipMiddleware)],
    )


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port`; port 0 picks a free one (see `getsockname`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise KanalwerkError(f"cannot serve on {host}:{port}: {exc}; check --host") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise KanalwerkError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)"
        ) from exc
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class Serving:
    address: Address
    thread: threading.Thread

    def wait(self) -> None:
        """Block until the server ends; a signal handler's exception interrupts it."""
        self.thread.join()
        raise KanalwerkError(f"the server at {self.address.url} stopped; see the log above")


@contextlib.contextmanager
def serving(output: Path, host: str, port: int) -> Iterator[Serving]:
    """Serve `output` in a background thread until the block ends.

    The socket is bound here, before the thread starts, so a busy port is an error in
    the caller and the address yielded is the real one even for port 0. Leaving the
    block stops the server: requests in flight get `GRACEFUL_SECONDS` to finish.
    """
    sock = listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        site_app(output),
        log_config=None,  # our logging is set up already; uvicorn's loggers propagate
        access_log=True,  # logged at INFO: shown with -v
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="kanalwerk-serve", daemon=True
    )
    thread.start()
    try:
        yield Serving(Address(bound_host, bound_port), thread)
    finally:
        server.should_exit = True
        thread.join(timeout=GRACEFUL_SECONDS + 3)
        sock.close()
