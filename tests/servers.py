"""Real HTTP servers on 127.0.0.1 for tests: feed fixtures and API fakes.

`LocalServer` runs a `ThreadingHTTPServer` in a thread. Routes map a path to either a
`Resource` (static body with ETag/Last-Modified support) or a handler callable that gets
the `Request` and returns a `Response`. Every request is recorded in `server.requests`.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


@dataclass
class Resource:
    """A static document served with validators; a matching conditional GET gets 304."""

    body: bytes
    content_type: str = "application/xml; charset=utf-8"
    etag: bool = True
    last_modified: bool = True
    modified_at: float = 1_700_000_000.0

    def respond(self, request: Request) -> Response:
        headers = {"Content-Type": self.content_type}
        tag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        stamp = email.utils.formatdate(self.modified_at, usegmt=True)
        if self.etag:
            headers["ETag"] = tag
        if self.last_modified:
            headers["Last-Modified"] = stamp
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if (self.etag and inm == tag) or (not inm and self.last_modified and ims == stamp):
            return Response(304, b"", {k: v for k, v in headers.items() if k != "Content-Type"})
        return Response(200, self.body, headers)


Handler = Callable[[Request], Response]


class LocalServer:
    """A threaded HTTP server on an ephemeral loopback port."""

    def __init__(self) -> None:
        self.routes: dict[str, Resource | Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: headers and body go out as separate writes, and with Nagle's
            # algorithm the body waits ~40 ms for the client's delayed ACK on keep-alive.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with server._lock:
                    server.requests.append(request)
                route = server.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    response = Response(404, b"not found", {"Content-Type": "text/plain"})
                elif isinstance(route, Resource):
                    response = route.respond(request)
                else:
                    response = route(request)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.status != 304 and "content-length" not in {
                    k.lower() for k in response.headers
                }:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD" and response.status != 304:
                    # The client may hang up early, e.g. on purpose past a size cap.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(response.body)

            do_GET = do_POST = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        # `stop` writes to the one to end the serving loop at once; `serve_forever` only
        # looks for `shutdown` between polls, and that wait ended every test using a server.
        self._wake, self._waker = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def reset(self) -> LocalServer:
        """Forget the routes and requests of an earlier test, for a server shared by many."""
        self.routes.clear()
        with self._lock:
            self.requests.clear()
        return self

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._httpd, selectors.EVENT_READ)
            selector.register(self._wake, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake in ready:
                    return
                self._httpd.handle_request()

    def stop(self) -> None:
        """Stop serving and close the port; stopping again does nothing."""
        if self._waker.fileno() == -1:
            return
        self._waker.send(b"\0")
        self._thread.join(timeout=5)
        self._httpd.server_close()
        self._wake.close()
        self._waker.close()
