"""A loopback DeepL API v2 for tests: `/v2/translate` and `/v2/usage` on a `LocalServer`.

It answers like DeepL does where kanalwerk depends on it: the `DeepL-Auth-Key` header
(403 with DeepL's messages, including "Wrong endpoint" for a Free key on the Pro host and
back), 413 for more than 50 texts or a body over 128 KiB, 400 for bad parameters, strict
XML parsing under `tag_handling: "xml"`, 456 once `character_limit` is spent, and
`ignore_tags`. The "translation" is deterministic: `DE:` plus the text upper-cased, with
tags, entities and ignored elements left alone under tag handling.

    fake = FakeDeepL(server, key="k:fx")
    fake.fail_next(429, retry_after=7)
    ... fake.calls  # JSON bodies of every /v2/translate request that passed auth
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Collection
from typing import Any
from xml.etree import ElementTree

from tests.servers import LocalServer, Request, Response

MAX_TEXTS = 50
MAX_BODY_BYTES = 128 * 1024
SOURCE_LANGS = frozenset({"BG", "CS", "DA", "DE", "EL", "EN", "ES", "FR", "IT", "JA", "NL", "PL"})
TARGET_LANGS = frozenset({"DE", "EN-GB", "EN-US", "ES", "FR", "IT", "JA", "NL", "PL"})
FREE_URL = "https://api-free.deepl.com"
PRO_URL = "https://api.deepl.com"

_TOKEN = re.compile(r"(<[^<>]+>|&#?\w+;)")
_TAG_NAME = re.compile(r"<(/?)([^\s/>]+)")


def pseudo_translate(text: str, *, markup: bool, ignore_tags: Collection[str] = ()) -> str:
    """`DE:` + upper-cased text; with `markup`, tags, entities and ignored elements stay."""
    if not markup:
        return "DE:" + text.upper()
    out: list[str] = []
    ignored = 0
    for index, token in enumerate(_TOKEN.split(text)):
        if index % 2 == 0:
            out.append(token if ignored else token.upper())
            continue
        match = _TAG_NAME.match(token)
        if match and match.group(2) in ignore_tags and not token.endswith("/>"):
            ignored += -1 if match.group(1) else 1
        out.append(token)
    return "DE:" + "".join(out)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"message": message}, status, headers)


class FakeDeepL:
    """Routes `/v2/translate` and `/v2/usage` on `server`; knobs are plain attributes."""

    def __init__(
        self,
        server: LocalServer,
        *,
        key: str = "fake-deepl-key:fx",
        free: bool | None = None,
        character_limit: int = 500_000,
    ):
        self.server = server
        self.key = key
        self.free = key.endswith(":fx") if free is None else free
        self.character_limit = character_limit
        self.character_count = 0
        self.calls: list[dict[str, Any]] = []
        self._failures: deque[Response] = deque()
        self._lock = threading.Lock()
        server.routes["/v2/translate"] = self._translate
        server.routes["/v2/usage"] = self._usage

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
        """Answer the next `times` authorised requests with `status` instead."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        response = _error(status, message or f"scripted {status}", headers)
        with self._lock:
            self._failures.extend([response] * times)

    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme != "DeepL-Auth-Key" or not given:
            return _error(403, "Authorization failed. Please supply a valid auth_key parameter.")
        if given.endswith(":fx") != self.free:
            return _error(403, f"Wrong endpoint. Use {FREE_URL if not self.free else PRO_URL}")
        if given != self.key:
            return _error(403, "Authorization failed. Please supply a valid auth_key parameter.")
        return None

    def _scripted(self) -> Response | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _usage(self, request: Request) -> Response:
        if request.method != "GET":
            return _error(405, "Method not allowed")
        denied = self._auth(request) or self._scripted()
        if denied:
            return denied
        with self._lock:
            count = self.character_count
        return Response.json({"character_count": count, "character_limit": self.character_limit})

    def _translate(self, request: Request) -> Response:
        if request.method != "POST":
            return _error(405, "Method not allowed")
        denied = self._auth(request)
        if denied:
            return denied
        if len(request.body) > MAX_BODY_BYTES:
            return _error(413, "Request Entity Too Large")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "Invalid JSON in request body")
        with self._lock:
            self.calls.append(body)
        scripted = self._scripted()
        if scripted:
            return scripted
        problem = self._validate(body)
        if problem:
            return problem
        texts: list[str] = body["text"]
        tag_handling = body.get("tag_handling")
        if tag_handling == "xml":
            for text in texts:
                try:
                    ElementTree.fromstring(f"<doc>{text}</doc>")
                except ElementTree.ParseError:
                    return _error(400, "Tag handling parsing failed, please check input.")
        size = sum(len(t) for t in texts)
        with self._lock:
            if self.character_count + size > self.character_limit:
                return _error(456, "Quota Exceeded")
            self.character_count += size
        ignore = body.get("ignore_tags") or []
        translations = [
            {
                "detected_source_language": body.get("source_lang", "EN"),
                "text": pseudo_translate(text, markup=tag_handling is not None, ignore_tags=ignore),
            }
            for text in texts
        ]
        return Response.json({"translations": translations})

    def _validate(self, body: Any) -> Response | None:
        if not isinstance(body, dict):
            return _error(400, "Invalid request body")
        texts = body.get("text")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _error(400, "Parameter 'text' not specified.")
        if len(texts) > MAX_TEXTS:
            return _error(413, f"Too many texts: at most {MAX_TEXTS} per request")
        if body.get("target_lang") not in TARGET_LANGS:
            return _error(400, "Value for 'target_lang' not supported.")
        source = body.get("source_lang")
        if source is not None and source not in SOURCE_LANGS:
            return _error(400, "Value for 'source_lang' not supported.")
        if body.get("tag_handling") not in (None, "xml", "html"):
            return _error(400, "Value for 'tag_handling' not supported.")
        ignore = body.get("ignore_tags")
        if ignore is not None and not (
            isinstance(ignore, list) and all(isinstance(t, str) for t in ignore)
        ):
            return _error(400, "Value for 'ignore_tags' not supported.")
        if body.get("glossary_id") and source is None:
            return _error(400, "Use of a glossary requires the source_lang parameter.")
        if body.get("formality") not in (
            None,
            "default",
            "more",
            "less",
            "prefer_more",
            "prefer_less",
        ):
            return _error(400, "Value for 'formality' not supported.")
        return None
