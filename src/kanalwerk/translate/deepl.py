"""DeepL API v2 engine: `POST /v2/translate` and `GET /v2/usage` over httpx.

Markup: html segments carry the segmenter's placeholders (`<x1>…</x1>`, `<x2/>`) and
are sent with `tag_handling: "xml"`, not `"html"`. DeepL's HTML mode parses the text as
HTML, where `<x2/>` is not an empty element but an unclosed start tag (HTML ignores
the slash on unknown elements), so the placeholder can swallow the rest of the
sentence. The XML mode treats every tag as inline markup attached to the words around
it and keeps self-closing tags self-closing, and `ignore_tags` is documented for it.
XML mode needs well-formed input (strictly so under tag handling v2), so text between
tags is re-escaped as XML (`&nbsp;` becomes the character itself) and HTML void
elements are closed (`<br>` → `<br/>`); the result is still valid HTML. Well-formed
input works under both tag handling versions, so `tag_handling_version` is left to the
account's default.

Glossary: with a configured `glossary_id` (and a known source language, which DeepL
requires for glossaries) DeepL applies its own glossary. Otherwise glossary terms that
must stay unchanged (source term == target term) are wrapped as `<keep>term</keep>`
and sent with `ignore_tags: ["keep"]`, then unwrapped; plain text is sent in XML mode
for this, escaped on the way out and unescaped on the way back.

Settings: what a user may tune (timeout, retries, formality, model type) comes from
`translator.deepl` (`DeepLConfig`, where their defaults live); what DeepL itself fixes
(hosts, 50 texts and 128 KiB per request, the quota status) are this module's constants.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import httpx

from kanalwerk.config import DeepLConfig
from kanalwerk.dates import next_utc_midnight
from kanalwerk.errors import Blame, QuotaExceeded, TranslationError
from kanalwerk.models import Usage
from kanalwerk.translate.base import Translation, TranslationRequest, batched
from kanalwerk.translate.keys import error_detail, require_key
from kanalwerk.translate.rejection import rejection_blame
from kanalwerk.translate.retry import RETRY_STATUSES, RetryPolicy, response_json

FREE_URL = "https://api-free.deepl.com"
PRO_URL = "https://api.deepl.com"
#: Documented limits of `/v2/translate`: texts per request and request body size.
MAX_TEXTS = 50
MAX_BODY_BYTES = 128 * 1024
QUOTA_STATUS = 456
KEEP_TAG = "keep"

_TAG = re.compile(r"<(/?)([A-Za-z][\w.:-]*)((?:\s[^<>]*?)?)\s*(/?)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
#: What DeepL's 400 message names when a setting is wrong, e.g. "Value for 'target_lang'
#: not supported." ('source_lang' comes from the item: its language).
_NAMES_SETTINGS = re.compile(
    r"'(?:target_lang|formality|glossary_id|model_type|tag_handling|preserve_formatting"
    r"|ignore_tags)'|glossary|auth",
    re.IGNORECASE,
)
_SPACED_EMPTY_PLACEHOLDER = re.compile(r"<(x\d+)\s+/>")
_KEEP_MARKS = re.compile(rf"</?{KEEP_TAG}\s*>")


def default_base_url(api_key: str) -> str:
    """DeepL API Free keys end in ":fx" and only work on the free host."""
    return FREE_URL if api_key.endswith(":fx") else PRO_URL


@dataclass(frozen=True)
class DeepLUsage:
    """Characters translated in the current billing period and the account's limit."""

    character_count: int
    character_limit: int

    @property
    def remaining(self) -> int:
        return max(self.character_limit - self.character_count, 0)


@dataclass(frozen=True)
class _Plan:
    """How one request's texts are encoded for DeepL and decoded afterwards."""

    tag_handling: str | None
    keep_terms: tuple[str, ...]
    use_glossary: bool

    def encode(self, text: str, fmt: str) -> str:
        if self.tag_handling is None:
            return text
        if fmt == "html":
            return _wrap_terms(_html_to_xml(text), self.keep_terms)
        return _wrap_terms(xml_escape(text), self.keep_terms)

    def decode(self, text: str, fmt: str) -> str:
        if self.tag_handling is None:
            return text
        text = _KEEP_MARKS.sub("", text)
        if fmt == "html":
            return _SPACED_EMPTY_PLACEHOLDER.sub(r"<\1/>", text)
        return html.unescape(text)


class DeepLTranslator:
    """Translates batches through the DeepL API; see the module docstring for markup."""

    def __init__(
        self,
        settings: DeepLConfig,
        *,
        api_key: str,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
        user_agent: str | None = None,
    ):
        if not api_key:
            raise TranslationError("DeepL needs an API key", blame=Blame.ENGINE)
        self._key = api_key
        self._key_env = settings.api_key_env
        self.base_url = (settings.base_url or default_base_url(api_key)).rstrip("/")
        self._formality = settings.formality
        self._glossary_id = settings.glossary_id
        self._model_type = settings.model_type
        self._preserve_formatting = settings.preserve_formatting
        self._retry = RetryPolicy(settings.max_retries, sleep=sleep)
        self._clock = clock
        headers = {"Authorization": f"DeepL-Auth-Key {api_key}"}
        if user_agent:
            headers["User-Agent"] = user_agent
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=settings.timeout, transport=transport
        )

    @classmethod
    def from_config(cls, settings: DeepLConfig, **kwargs: Any) -> DeepLTranslator:
        """Read the key from the environment; the error names the variable, never a value."""
        return cls(settings, api_key=require_key(settings.api_key_env, "DeepL"), **kwargs)

    @property
    def engine(self) -> str:
        return "deepl"

    @property
    def model(self) -> str | None:
        return self._model_type or "deepl-v2"

    @property
    def max_batch_texts(self) -> int:
        """Most texts per request; the cache sends no more at once (`RequestLimits`)."""
        return MAX_TEXTS

    @property
    def max_batch_chars(self) -> int:
        """Characters that surely fit the 128 KiB body (4 UTF-8 bytes each, room for escapes)."""
        return MAX_BODY_BYTES // 8

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DeepLTranslator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- translation -------------------------------------------------------------

    def translate(self, request: TranslationRequest) -> Translation:
        out = list(request.texts)
        todo = [i for i, text in enumerate(request.texts) if text.strip()]
        if not todo:
            return Translation(tuple(out), self.engine, self.model)
        plan = self._plan(request, [request.texts[i] for i in todo])
        payloads = [plan.encode(request.texts[i], request.fmt) for i in todo]
        params = self._params(request, plan)
        usage = Usage()
        for batch in self._fit(payloads, params):
            texts, cost = self._send_batch([payloads[j] for j in batch], params)
            usage += cost
            for j, text in zip(batch, texts, strict=True):
                out[todo[j]] = plan.decode(text, request.fmt)
        return Translation(tuple(out), self.engine, self.model, usage)

    def _plan(self, request: TranslationRequest, texts: Sequence[str]) -> _Plan:
        use_glossary = self._glossary_id is not None and request.source_lang != "auto"
        keep: tuple[str, ...] = ()
        if not use_glossary:
            same = {src for src, dst in request.glossary if src == dst and src.strip()}
            found = (t for t in same if any(_term_in(t, x, request.fmt) for x in texts))
            keep = tuple(sorted(found, key=lambda t: (-len(t), t)))
        if request.fmt == "html" or keep:
            return _Plan("xml", keep, use_glossary)
        return _Plan(None, (), use_glossary)

    def _params(self, request: TranslationRequest, plan: _Plan) -> dict[str, Any]:
        params: dict[str, Any] = {"target_lang": request.target_lang.upper()}
        if request.source_lang != "auto":
            params["source_lang"] = request.source_lang.split("-")[0].upper()
        if plan.tag_handling:
            params["tag_handling"] = plan.tag_handling
        if plan.keep_terms:
            params["ignore_tags"] = [KEEP_TAG]
        if self._formality:
            params["formality"] = self._formality
        if plan.use_glossary:
            params["glossary_id"] = self._glossary_id
        if self._model_type:
            params["model_type"] = self._model_type
        if self._preserve_formatting is not None:
            params["preserve_formatting"] = self._preserve_formatting
        return params

    def _fit(self, payloads: Sequence[str], params: dict[str, Any]) -> list[list[int]]:
        """Batches within both limits; `batched` counts characters, bodies count bytes."""
        fitted: list[list[int]] = []
        pending = batched(payloads, MAX_TEXTS, MAX_BODY_BYTES)
        while pending:
            batch = pending.pop(0)
            if len(_body([payloads[i] for i in batch], params)) <= MAX_BODY_BYTES:
                fitted.append(batch)
            elif len(batch) == 1:
                raise TranslationError(
                    f"a text of {len(payloads[batch[0]])} characters exceeds DeepL's request "
                    f"limit of {MAX_BODY_BYTES // 1024} KiB; segment it into smaller parts",
                    blame=Blame.ITEM,
                )
            else:
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
        return fitted

    def _send_batch(self, texts: list[str], params: dict[str, Any]) -> tuple[list[str], Usage]:
        body = _body(texts, params)
        response = self._send("POST", "/v2/translate", body, "DeepL /v2/translate")
        if response.status_code == 413:
            if len(texts) == 1:
                raise TranslationError(
                    f"DeepL refused a single text of {len(texts[0])} characters as too large "
                    "(HTTP 413); segment it into smaller parts",
                    blame=Blame.ITEM,
                    status=413,
                )
            half = len(texts) // 2
            first, cost_a = self._send_batch(texts[:half], params)
            second, cost_b = self._send_batch(texts[half:], params)
            return first + second, cost_a + cost_b
        self._raise_for_status(response)
        data = response_json(response, "DeepL /v2/translate")
        items = data.get("translations") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != len(texts):
            got = len(items) if isinstance(items, list) else "no"
            raise TranslationError(
                f"DeepL returned {got} translations for {len(texts)} texts", blame=Blame.ITEM
            )
        result: list[str] = []
        for item in items:
            text = item.get("text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise TranslationError(
                    "DeepL returned a translation without text", blame=Blame.ITEM
                )
            result.append(text)
        return result, Usage(requests=1, characters=sum(len(t) for t in texts))

    # -- account -----------------------------------------------------------------

    def usage(self) -> DeepLUsage:
        """Characters used and allowed in the current billing period (`GET /v2/usage`)."""
        response = self._send("GET", "/v2/usage", None, "DeepL /v2/usage")
        self._raise_for_status(response)
        data = response_json(response, "DeepL /v2/usage")
        try:
            return DeepLUsage(int(data["character_count"]), int(data["character_limit"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise TranslationError(
                "DeepL /v2/usage answered without character counts", blame=Blame.TRANSIENT
            ) from exc

    # -- HTTP --------------------------------------------------------------------

    def _send(self, method: str, path: str, body: bytes | None, describe: str) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if body is not None else None

        def build() -> httpx.Request:
            return self._client.build_request(method, path, content=body, headers=headers)

        return self._retry.send(self._client, build, describe=describe)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = error_detail(_error_message(response), self._key)
        suffix = f": {detail}" if detail else ""
        if status == 403:
            raise TranslationError(
                f"DeepL rejected the key in ${self._key_env} (HTTP 403{suffix}); check the "
                "key, and that keys ending in ':fx' (API Free) use api-free.deepl.com",
                blame=Blame.ENGINE,
                status=status,
            )
        if status == QUOTA_STATUS:
            until = next_utc_midnight(self._clock())
            raise QuotaExceeded(
                f"DeepL character quota exceeded (HTTP 456{suffix}); pausing DeepL until "
                f"{until:%Y-%m-%d %H:%M} UTC",
                until=until,
                status=status,
            )
        if status in RETRY_STATUSES:
            raise TranslationError(
                f"DeepL is unavailable (HTTP {status}{suffix}); will try again later",
                blame=Blame.TRANSIENT,
                status=status,
            )
        if status == 404:
            raise TranslationError(
                f"DeepL answered 404 at {self.base_url}; check translator.deepl.base_url{suffix}",
                blame=Blame.ENGINE,
                status=status,
            )
        blame = rejection_blame(status, _error_message(response), _NAMES_SETTINGS)
        hint = (
            f"check the key in ${self._key_env} and the translator.deepl settings"
            if blame is Blame.ENGINE
            else "the item's text was refused"
        )
        raise TranslationError(
            f"DeepL rejected the request (HTTP {status}{suffix}); {hint}",
            blame=blame,
            status=status,
        )


def _body(texts: Sequence[str], params: dict[str, Any]) -> bytes:
    """The exact bytes sent, so the 128 KiB limit is checked on what goes on the wire."""
    data = {"text": list(texts), **params}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text
    if not isinstance(data, dict):
        return ""
    parts = [str(data[k]) for k in ("message", "detail") if data.get(k)]
    return ", ".join(parts)


def _term_pattern(term: str) -> str:
    return r"(?<!\w)" + re.escape(term) + r"(?!\w)"


def _term_in(term: str, text: str, fmt: str) -> bool:
    plain = html.unescape(text) if fmt == "html" else text
    return re.search(_term_pattern(term), plain) is not None


def _wrap_terms(xml_text: str, terms: Sequence[str]) -> str:
    """Wrap each term in `<keep>` inside text nodes only, never inside a tag."""
    if not terms:
        return xml_text
    pattern = re.compile("|".join(_term_pattern(xml_escape(t)) for t in terms))
    parts: list[str] = []
    last = 0
    for tag in _TAG.finditer(xml_text):
        parts.append(pattern.sub(rf"<{KEEP_TAG}>\g<0></{KEEP_TAG}>", xml_text[last : tag.start()]))
        parts.append(tag.group(0))
        last = tag.end()
    parts.append(pattern.sub(rf"<{KEEP_TAG}>\g<0></{KEEP_TAG}>", xml_text[last:]))
    return "".join(parts)


def _html_to_xml(text: str) -> str:
    """Make an html segment well-formed XML: re-escape text, close void elements."""
    parts: list[str] = []
    last = 0
    for tag in _TAG.finditer(text):
        parts.append(xml_escape(html.unescape(text[last : tag.start()])))
        closing, name, attrs, slash = tag.groups()
        if not closing and not slash and name.lower() in _VOID:
            parts.append(f"<{name}{attrs}/>")
        else:
            parts.append(tag.group(0))
        last = tag.end()
    parts.append(xml_escape(html.unescape(text[last:])))
    return "".join(parts)
