"""LibreTranslate engine: `POST /translate` with a list of texts, `GET /languages`.

LibreTranslate is usually self-hosted, so its limits are the server's settings
(`--batch-limit`, `--char-limit`), not the service's: they are user settings like the
timeout and retries, `translator.libretranslate` (`LibreTranslateConfig`, where their
defaults live), and `max_batch_texts`/`max_batch_chars` keep each request under them.
With `format: "html"` the server translates text nodes and keeps tags, which is what
the segmenter's `<x1>…</x1>` placeholders need.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from kanalwerk.config import LibreTranslateConfig
from kanalwerk.errors import Blame, TranslationDeferred, TranslationError
from kanalwerk.models import Usage
from kanalwerk.translate.base import Translation, TranslationRequest, batched
from kanalwerk.translate.keys import error_detail, require_key
from kanalwerk.translate.rejection import DEPENDS_ON_MESSAGE, TOO_LARGE, rejection_blame
from kanalwerk.translate.retry import RETRY_STATUSES, RetryPolicy, response_json

#: What the server's 400 says when a setting is wrong: no key ("Please contact the server
#: operator to get an API key"), a parameter missing or refused, the target language.
_NAMES_SETTINGS = re.compile(
    r"api key|missing (?:source|target) parameter|format is not supported|alternatives"
    r"|is not supported",
    re.IGNORECASE,
)
#: "<lang> is not supported": the server has no model for that language.
_UNSUPPORTED = re.compile(r"^\s*(\S+) is not supported", re.IGNORECASE)
#: "request (N) exceeds text limit (L)": N texts over `--batch-limit`, or N characters.
_OVER_LIMIT = re.compile(r"request \((\d+)\) exceeds text limit", re.IGNORECASE)


def _lang(code: str) -> str:
    """LibreTranslate speaks bare ISO 639-1 codes ("en", not "en-US")."""
    return code if code == "auto" else code.split("-")[0].lower()


class LibreTranslateTranslator:
    """Translates batches through a LibreTranslate server."""

    def __init__(
        self,
        settings: LibreTranslateConfig,
        *,
        api_key: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        user_agent: str | None = None,
    ):
        self.url = settings.url.rstrip("/")
        self._api_key = api_key or None
        self._retry = RetryPolicy(settings.max_retries, sleep=sleep)
        self._max_batch_chars = settings.max_batch_chars
        self._max_batch_items = settings.max_batch_texts
        headers = {"User-Agent": user_agent} if user_agent else None
        self._client = httpx.Client(
            base_url=self.url, headers=headers, timeout=settings.timeout, transport=transport
        )

    @classmethod
    def from_config(cls, settings: LibreTranslateConfig, **kwargs: Any) -> LibreTranslateTranslator:
        """Read the optional key from the environment; a named but unset variable is an error."""
        env = settings.api_key_env
        key = require_key(env, "LibreTranslate") if env else None
        return cls(settings, api_key=key, **kwargs)

    @property
    def engine(self) -> str:
        return "libretranslate"

    @property
    def model(self) -> str | None:
        return "libretranslate"

    @property
    def max_batch_texts(self) -> int:
        """Most texts per request; the cache sends no more at once (`RequestLimits`)."""
        return self._max_batch_items

    @property
    def max_batch_chars(self) -> int:
        return self._max_batch_chars

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LibreTranslateTranslator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_languages(self, source_lang: str, target_lang: str) -> None:
        """Fail early, with a fix, when the server lacks the language pair."""
        response = self._send("GET", "/languages", None, "LibreTranslate /languages")
        self._raise_for_status(response)
        data = response_json(response, "LibreTranslate /languages")
        if not isinstance(data, list):
            raise TranslationError(
                f"LibreTranslate at {self.url} answered /languages without a language list",
                blame=Blame.ENGINE,
            )
        targets: dict[str, set[str]] = {}
        for entry in data:
            if isinstance(entry, dict) and isinstance(entry.get("code"), str):
                listed = entry.get("targets")
                targets[entry["code"]] = set(listed) if isinstance(listed, list) else set()
        source, target = _lang(source_lang), _lang(target_lang)
        hint = "install the language models on the server (e.g. --load-only en,de)"
        if source == "auto":
            if not any(target in t for t in targets.values()):
                raise TranslationError(
                    f"LibreTranslate at {self.url} cannot translate into {target!r}: no "
                    f"language lists it as a target; {hint}",
                    blame=Blame.ENGINE,
                )
            return
        if source not in targets:
            raise TranslationError(
                f"LibreTranslate at {self.url} does not know source language {source!r} "
                f"(it has {', '.join(sorted(targets)) or 'none'}); {hint}",
                blame=Blame.ENGINE,
            )
        if target not in targets[source]:
            raise TranslationError(
                f"LibreTranslate at {self.url} cannot translate {source!r} into {target!r} "
                f"(targets: {', '.join(sorted(targets[source])) or 'none'}); {hint}",
                blame=Blame.ENGINE,
            )

    def translate(self, request: TranslationRequest) -> Translation:
        out = list(request.texts)
        todo = [i for i, text in enumerate(request.texts) if text.strip()]
        texts = [request.texts[i] for i in todo]
        usage = Usage()
        for batch in batched(texts, self._max_batch_items, self._max_batch_chars):
            chunk = [texts[j] for j in batch]
            for j, text in zip(batch, self._send_batch(chunk, request), strict=True):
                out[todo[j]] = text
            usage += Usage(requests=1, characters=sum(len(t) for t in chunk))
        return Translation(tuple(out), self.engine, self.model, usage)

    def _send_batch(self, texts: list[str], request: TranslationRequest) -> list[str]:
        payload: dict[str, Any] = {
            "q": texts,
            "source": _lang(request.source_lang),
            "target": _lang(request.target_lang),
            "format": request.fmt,
        }
        if self._api_key:
            payload["api_key"] = self._api_key
        response = self._send("POST", "/translate", payload, "LibreTranslate /translate")
        self._raise_for_status(response, request, len(texts))
        data = response_json(response, "LibreTranslate /translate")
        result = data.get("translatedText") if isinstance(data, dict) else None
        if isinstance(result, str):  # the server answers a lone `q` string in kind
            result = [result]
        if not isinstance(result, list) or not all(isinstance(t, str) for t in result):
            raise TranslationError(
                "LibreTranslate answered without translatedText", blame=Blame.ITEM
            )
        if len(result) != len(texts):
            raise TranslationError(
                f"LibreTranslate returned {len(result)} translations for {len(texts)} texts",
                blame=Blame.ITEM,
            )
        return result

    def _send(
        self, method: str, path: str, payload: dict[str, Any] | None, describe: str
    ) -> httpx.Response:
        def build() -> httpx.Request:
            return self._client.build_request(method, path, json=payload)

        return self._retry.send(self._client, build, describe=describe)

    def _raise_for_status(
        self,
        response: httpx.Response,
        request: TranslationRequest | None = None,
        sent: int = 0,
    ) -> None:
        """Raise for a failed answer; a refusal's blame follows what the server names.

        A key, a parameter or the target language the server refuses fails every item
        (`ENGINE`); a language only this item is in waits for a model on the server
        (`TranslationDeferred`); a text over the server's limit is the item's.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = _error_message(response, self._api_key)
        suffix = f": {detail}" if detail else ""
        if status == 403:
            raise TranslationError(
                f"LibreTranslate at {self.url} refused access (HTTP 403{suffix}); check the "
                "API key, or ask the server operator for one",
                blame=Blame.ENGINE,
                status=status,
            )
        if status in RETRY_STATUSES:
            raise TranslationError(
                f"LibreTranslate at {self.url} is unavailable (HTTP {status}{suffix}); "
                "will try again later",
                blame=Blame.TRANSIENT,
                status=status,
            )
        if status not in DEPENDS_ON_MESSAGE | TOO_LARGE:
            raise TranslationError(
                f"LibreTranslate at {self.url} answered HTTP {status}{suffix}; check "
                "translator.libretranslate.url",
                blame=Blame.ENGINE,
                status=status,
            )
        if request is not None:
            self._defer_for_language(detail, request)
        over = _OVER_LIMIT.search(detail)
        if over is not None and sent > 1 and int(over.group(1)) == sent:
            raise TranslationError(
                f"LibreTranslate at {self.url} takes fewer texts per request (HTTP "
                f"{status}{suffix}); lower translator.libretranslate.max_batch_texts to its "
                "--batch-limit",
                blame=Blame.ENGINE,
                status=status,
            )
        if rejection_blame(status, detail, _NAMES_SETTINGS) is Blame.ITEM:
            raise TranslationError(
                f"LibreTranslate rejected the item's text (HTTP {status}{suffix})",
                blame=Blame.ITEM,
                status=status,
            )
        raise TranslationError(
            f"LibreTranslate at {self.url} refused the request (HTTP {status}{suffix}); check "
            "translator.libretranslate (api_key_env for a server that wants a key) and "
            "translator.target_language",
            blame=Blame.ENGINE,
            status=status,
        )

    def _defer_for_language(self, detail: str, request: TranslationRequest) -> None:
        """Raise `TranslationDeferred` when the server lacks a model for the item's language.

        Items in other languages go on; the server's operator can add the model.
        """
        unsupported = _UNSUPPORTED.search(detail)
        if unsupported is not None and unsupported.group(1) != _lang(request.target_lang):
            language = unsupported.group(1)
        elif "not available as a target language" in detail.lower():
            language = _lang(request.source_lang)
        else:
            return
        raise TranslationDeferred(
            f"LibreTranslate at {self.url} cannot translate from {language!r} ({detail}); "
            f"install that language's models on the server (e.g. --load-only {language},"
            f"{_lang(request.target_lang)})"
        )


def _error_message(response: httpx.Response, secret: str | None) -> str:
    try:
        data = response.json()
        message = str(data.get("error", "")) if isinstance(data, dict) else ""
    except ValueError:
        message = response.text
    return error_detail(message, secret)
