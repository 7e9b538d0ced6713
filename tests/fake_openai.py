"""A fake OpenAI-compatible chat completions API on a `LocalServer`.

It speaks the real contract: Bearer authentication with the OpenAI error shape, the
JSON-mode rule that the messages must mention JSON, a `chat.completion` object with
`id`, `created`, `model`, `choices[].finish_reason` and `usage`. It "translates" each
segment of the user message's `{"segments": [...]}` with `translate` (default: a
"DE: " prefix, which keeps placeholders).

Knobs: `faults` is a queue of scripted failures, one used per request; `content`
(segments → the answer's raw text, or None for the usual JSON) answers as a model that
ignored the contract would, say one misled by the text it was given; `max_segments`
makes every answer for more segments than that come back truncated; `requests`,
`bodies`, `headers` and `usage_total` record what happened.

Article mode: a request whose system prompt asks for `"body_html"` gets an article.
`articles` is a queue of scripted answers (a dict is sent as JSON, a string as it is),
one per article request; when it is empty, `write_article` (default: `default_article`)
answers. The `http`, `length`, `fenced`, `not_json` and `no_usage` faults apply too.

Notes on a part of a long source: a request whose system prompt asks for `{"notes"`
gets `write_notes(text, target)` (default: `default_notes`, sentences of the part spread
over it, within the length the request asks for) as `{"notes": [...]}`; `notes_parts()`
lists the parts received.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.servers import LocalServer, Request, Response

FaultKind = Literal[
    "http", "length", "wrong_length", "fenced", "not_json", "drop_placeholders", "no_usage"
]

_PLACEHOLDER = re.compile(r"</?x\d+/?>")
ARTICLE_MARKER = '"body_html"'
NOTES_MARKER = '{"notes"'
_NOTES_TARGET = re.compile(r"at most about (\d+) characters")
_NOTES_TEXT = "Text:\n\n"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def prefix_de(text: str) -> str:
    return "DE: " + text


def default_article(body: dict[str, Any]) -> dict[str, str]:
    """A valid German article, whatever the source said."""
    return {
        "title": "Neues Sprachmodell sorgt für Aufsehen",
        "teaser": (
            "Ein Forschungslabor hat ein kostenloses Sprachmodell vorgestellt. "
            "Es soll mit deutlich teureren Systemen mithalten."
        ),
        "body_html": (
            "<h2>Was das Modell auszeichnet</h2>"
            "<p>Nach Angaben der Entwickler ist das Modell deutlich günstiger als vergleichbare "
            "Systeme und lässt sich frei verwenden und anpassen.</p>"
            "<ul><li>Kosten: ein Bruchteil der Konkurrenz</li>"
            "<li>Lizenz: quelloffen</li></ul>"
            "<h2>Wie es weitergeht</h2>"
            "<p>Die Entwickler wollen das Modell in den kommenden Monaten weiter verbessern.</p>"
        ),
    }


def default_notes(text: str, target: int) -> list[str]:
    """Sentences of `text` spread evenly over it, at most about `target` characters in all.

    A sentence is kept while the notes stay within the share of `target` that the text
    read so far earns, so the notes cover the whole part, its end included.
    """
    sentences = [s for s in _SENTENCE_END.split(text.replace("\n", " ")) if s.strip()]
    total = sum(len(s) for s in sentences) or 1
    notes: list[str] = []
    seen = kept = 0
    for sentence in sentences:
        seen += len(sentence)
        if kept + len(sentence) <= target * seen / total:
            notes.append(sentence.strip())
            kept += len(sentence) + 3
    return notes


def _system_says(body: dict[str, Any], marker: str) -> bool:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return False
    first = messages[0]
    return first.get("role") == "system" and marker in str(first.get("content", ""))


def is_article_request(body: dict[str, Any]) -> bool:
    return _system_says(body, ARTICLE_MARKER)


def is_notes_request(body: dict[str, Any]) -> bool:
    return _system_says(body, NOTES_MARKER)


def notes_request_text(body: dict[str, Any]) -> tuple[str, int]:
    """The part of the source a notes request carries, and the length of notes it asks for."""
    user = str(body["messages"][1]["content"])
    target = _NOTES_TARGET.search(user)
    return user.split(_NOTES_TEXT, 1)[1], int(target.group(1)) if target else len(user)


@dataclass
class Fault:
    """One scripted misbehaviour, applied to the next request."""

    kind: FaultKind
    status: int = 200
    message: str = ""
    code: str | None = None
    error_type: str = "invalid_request_error"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def http(
        cls,
        status: int,
        message: str = "scripted failure",
        *,
        code: str | None = None,
        error_type: str = "invalid_request_error",
        retry_after: str | None = None,
    ) -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls("http", status, message, code, error_type, headers)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "0") -> Fault:
        return cls.http(
            429,
            "Rate limit reached for requests",
            code="rate_limit_exceeded",
            error_type="requests",
            retry_after=retry_after,
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls.http(status, "The server had an error", error_type="server_error")

    @classmethod
    def truncated(cls) -> Fault:
        return cls("length")

    @classmethod
    def wrong_length(cls) -> Fault:
        return cls("wrong_length")

    @classmethod
    def fenced(cls) -> Fault:
        return cls("fenced")

    @classmethod
    def not_json(cls) -> Fault:
        return cls("not_json")

    @classmethod
    def drop_placeholders(cls) -> Fault:
        return cls("drop_placeholders")


def error_body(message: str, error_type: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


class FakeOpenAI:
    """Routes `{prefix}/chat/completions` on `server` to a scripted chat completions API."""

    def __init__(
        self,
        server: LocalServer,
        *,
        api_key: str | None = "sk-test-0123456789",
        prefix: str = "/v1",
        translate: Callable[[str], str] = prefix_de,
        write_article: Callable[[dict[str, Any]], dict[str, str]] = default_article,
        write_notes: Callable[[str, int], list[str]] = default_notes,
    ):
        self.server = server
        self.api_key = api_key
        self.prefix = prefix
        self.translate = translate
        self.write_article = write_article
        self.write_notes = write_notes
        self.articles: deque[dict[str, Any] | str] = deque()
        self.faults: deque[Fault] = deque()
        self.max_segments: int | None = None
        self.content: Callable[[list[str]], str | None] = lambda _segments: None
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.usage_total = {"prompt_tokens": 0, "completion_tokens": 0}
        self._ids = itertools.count(1)
        server.routes[f"{prefix}/chat/completions"] = self.handle

    @property
    def base_url(self) -> str:
        return self.server.url(self.prefix)

    @property
    def requests(self) -> int:
        return len(self.bodies)

    @property
    def last_body(self) -> dict[str, Any]:
        return self.bodies[-1]

    def segments(self, index: int = -1) -> list[str]:
        """The segments sent in request `index`."""
        return list(json.loads(self.bodies[index]["messages"][-1]["content"])["segments"])

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def answer_articles(self, *answers: dict[str, Any] | str) -> None:
        """Script the next article answers: a dict goes out as JSON, a string verbatim."""
        self.articles.extend(answers)

    def notes_parts(self) -> list[str]:
        """The parts of long sources sent for notes, in the order they came."""
        return [notes_request_text(body)[0] for body in self.bodies if is_notes_request(body)]

    def messages(self, index: int = -1) -> list[dict[str, Any]]:
        """The chat messages of request `index`."""
        return list(self.bodies[index]["messages"])

    # -- the endpoint ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = {"unparseable": request.body.decode("utf-8", "replace")}
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        if request.method != "POST":
            return Response.json(error_body("Use POST", "invalid_request_error", None), 405)
        if self.api_key is not None:
            given = request.headers.get("authorization", "")
            if given != f"Bearer {self.api_key}":
                # Stricter than the real API, which masks the key: echo it whole, so a
                # client that passes error messages on unredacted is caught.
                shown = given.removeprefix("Bearer ") or "none"
                message = f"Incorrect API key provided: {shown}. Find your API key in settings."
                return Response.json(
                    error_body(message, "invalid_request_error", "invalid_api_key"), 401
                )
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.kind == "http":
            return Response.json(
                error_body(fault.message, fault.error_type, fault.code),
                fault.status,
                fault.headers,
            )
        problem = self._invalid(body)
        if problem:
            return Response.json(error_body(problem, "invalid_request_error", None), 400)
        kind = fault.kind if fault is not None else None
        if is_article_request(body):
            return self._complete(body, *self._article(body, kind), kind)
        if is_notes_request(body):
            notes = self.write_notes(*notes_request_text(body))
            content = json.dumps({"notes": notes}, ensure_ascii=False)
            if kind == "length":
                return self._complete(body, content[: len(content) // 2], "length", kind)
            if kind == "not_json":
                content = "Notes: " + " ".join(notes)
            return self._complete(body, content, "stop", kind)
        segments = json.loads(body["messages"][-1]["content"])["segments"]
        translations = [self.translate(s) for s in segments]
        finish = "stop"
        if kind == "length" or (
            self.max_segments is not None and len(segments) > self.max_segments
        ):
            finish = "length"
            content = json.dumps({"translations": translations}, ensure_ascii=False)
            content = content[: max(1, len(content) // 2)]
        else:
            if kind == "wrong_length":
                translations = translations[:-1] if len(translations) > 1 else [*translations] * 2
            elif kind == "drop_placeholders":
                translations = [_PLACEHOLDER.sub("", t) for t in translations]
            content = self.content(segments) or json.dumps(
                {"translations": translations}, ensure_ascii=False
            )
            if kind == "fenced":
                content = f"```json\n{content}\n```"
            elif kind == "not_json":
                content = "Here are the translations: " + " | ".join(translations)
        return self._complete(body, content, finish, kind)

    def _article(self, body: dict[str, Any], kind: str | None) -> tuple[str, str]:
        """Content and finish reason of an article answer."""
        scripted = self.articles.popleft() if self.articles else self.write_article(body)
        if isinstance(scripted, str):
            content = scripted
        else:
            content = json.dumps(scripted, ensure_ascii=False)
        if kind == "length":
            return content[: max(1, len(content) // 2)], "length"
        if kind == "fenced":
            content = f"```json\n{content}\n```"
        elif kind == "not_json":
            content = "Hier ist der Artikel: " + content.replace("{", "(").replace("}", ")")
        return content, "stop"

    def _complete(
        self, body: dict[str, Any], content: str, finish: str, kind: str | None
    ) -> Response:
        prompt = "".join(str(m.get("content", "")) for m in body["messages"])
        usage = {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(content) // 4 + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        answer: dict[str, Any] = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "system_fingerprint": "fp_fake",
        }
        if kind != "no_usage":
            answer["usage"] = usage
            self.usage_total["prompt_tokens"] += usage["prompt_tokens"]
            self.usage_total["completion_tokens"] += usage["completion_tokens"]
        return Response.json(answer)

    @staticmethod
    def _invalid(body: dict[str, Any]) -> str | None:
        """What the real API would reject with a 400, or None."""
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "you must provide a model parameter"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        roles = ("system", "user", "assistant")
        if any(not isinstance(m, dict) or m.get("role") not in roles for m in messages):
            return "invalid message role"
        if body.get("response_format", {}).get("type") == "json_object" and not any(
            "json" in str(m.get("content", "")).lower() for m in messages
        ):
            return "'messages' must contain the word 'json' in some form, to use 'response_format'"
        if is_article_request(body) or is_notes_request(body):
            return None
        try:
            segments = json.loads(messages[-1]["content"])["segments"]
        except (ValueError, KeyError, TypeError):
            return 'the last message must be a JSON object {"segments": [...]}'
        if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
            return "segments must be a list of strings"
        return None
