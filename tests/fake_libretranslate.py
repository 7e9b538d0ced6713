"""A loopback LibreTranslate for tests: `/translate` and `/languages` on a `LocalServer`.

It mirrors the server's own checks: with `api_keys` set, an unknown `api_key` gets 403
`{"error": "Invalid API key"}` and a missing one 400 (the server asks for a key); limits
(`batch_limit`, `char_limit`) and unsupported languages or formats get 400; `q` may be
a string or a list and `translatedText` answers in kind. Translations come from
`pseudo_translate` (`DE:` + upper-cased text nodes, tags kept for `format: "html"`).
A text containing one of `broken_texts` gets a 500, as the server's own "Cannot translate
text" when its model crashes on that text; `down` answers every request with a 503.

    fake = FakeLibreTranslate(server, api_keys={"k"})
    fake.fail_next(429)
    ... fake.calls  # JSON bodies of every /translate request
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection, Mapping
from typing import Any

from tests.fake_deepl import pseudo_translate
from tests.servers import LocalServer, Request, Response

DEFAULT_LANGUAGES: Mapping[str, tuple[str, Collection[str]]] = {
    "en": ("English", ("de", "fr")),
    "de": ("German", ("en", "fr")),
    "fr": ("French", ("en", "de")),
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"error": message}, status, headers)


class FakeLibreTranslate:
    """Routes `/translate` and `/languages` on `server`; knobs are plain attributes."""

    def __init__(
        self,
        server: LocalServer,
        *,
        api_keys: Collection[str] = (),
        languages: Mapping[str, tuple[str, Collection[str]]] = DEFAULT_LANGUAGES,
        batch_limit: int = -1,
        char_limit: int = -1,
    ):
        self.server = server
        self.api_keys = set(api_keys)
        self.languages = dict(languages)
        self.batch_limit = batch_limit
        self.char_limit = char_limit
        self.broken_texts: set[str] = set()
        self.down = False
        self.calls: list[dict[str, Any]] = []
        self._failures: deque[Response] = deque()
        self._lock = threading.Lock()
        server.routes["/translate"] = self._translate
        server.routes["/languages"] = self._languages

    @property
    def url(self) -> str:
        return self.server.base_url

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` `/translate` requests with `status` instead."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        default = "Slowdown: 10 per 1 minute" if status == 429 else f"scripted {status}"
        response = _error(status, message or default, headers)
        with self._lock:
            self._failures.extend([response] * times)

    def _languages(self, request: Request) -> Response:
        if request.method != "GET":
            return _error(405, "Method not allowed")
        return Response.json(
            [
                {"code": code, "name": name, "targets": sorted(targets)}
                for code, (name, targets) in self.languages.items()
            ]
        )

    def _translate(self, request: Request) -> Response:
        if request.method != "POST":
            return _error(405, "Method not allowed")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "Invalid JSON format")
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON format")
        with self._lock:
            self.calls.append(body)
            scripted = self._failures.popleft() if self._failures else None
        if scripted:
            return scripted
        if self.down:
            return _error(503, "Service Unavailable")
        if self.api_keys:
            key = body.get("api_key")
            if key and key not in self.api_keys:
                return _error(403, "Invalid API key")
            if not key:
                return _error(400, "Please contact the server operator to get an API key")
        return self._answer(body)

    def _answer(self, body: dict[str, Any]) -> Response:
        q, source, target = body.get("q"), body.get("source"), body.get("target")
        for name, value in (("q", q), ("source", source), ("target", target)):
            if not value:
                return _error(400, f"Invalid request: missing {name} parameter")
        texts: list[Any] = q if isinstance(q, list) else [q]
        if not all(isinstance(t, str) for t in texts):
            return _error(400, "Invalid request: q must be a string or a list of strings")
        if any(broken in t for t in texts for broken in self.broken_texts):
            return _error(500, "Cannot translate text: index out of range")
        if isinstance(q, list) and self.batch_limit != -1 and len(q) > self.batch_limit:
            return _error(
                400,
                f"Invalid request: request ({len(q)}) exceeds text limit ({self.batch_limit})",
            )
        chars = sum(len(t) for t in texts)
        if self.char_limit != -1 and chars > self.char_limit:
            return _error(
                400, f"Invalid request: request ({chars}) exceeds text limit ({self.char_limit})"
            )
        if source != "auto" and source not in self.languages:
            return _error(400, f"{source} is not supported")
        if target not in self.languages:
            return _error(400, f"{target} is not supported")
        if source != "auto" and target not in self.languages[source][1]:
            return _error(400, f"{target} is not available as a target language from {source}")
        fmt = body.get("format") or "text"
        if fmt not in ("text", "html"):
            return _error(400, f"{fmt} format is not supported")
        translated = [pseudo_translate(t, markup=fmt == "html") for t in texts]
        answer: dict[str, Any] = {
            "translatedText": translated if isinstance(q, list) else translated[0]
        }
        if source == "auto":
            detected = {"confidence": 90.0, "language": "en"}
            answer["detectedLanguage"] = (
                [detected] * len(texts) if isinstance(q, list) else detected
            )
        return Response.json(answer)
