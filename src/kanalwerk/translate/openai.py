"""Engine for OpenAI-compatible chat completion APIs (OpenAI, DeepSeek, Ollama, vLLM…).

Texts go out as one JSON object per batch, `{"segments": [...]}`, and must come back as
`{"translations": [...]}` of the same length (JSON mode, `response_format: json_object`).
Models are not always obedient, so every answer is checked: a batch with a wrong-sized
or unparseable answer is asked again once and then split in halves down to single
texts; a truncated answer (`finish_reason: "length"`) is split at once. Segments whose
placeholders came back mangled get one more chance in a small follow-up request.
The HTTP side (auth, retries, error messages) is `ChatClient`, shared with article mode.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import httpx

from kanalwerk.config import OpenAIConfig
from kanalwerk.errors import Blame, TranslationError
from kanalwerk.models import Usage
from kanalwerk.translate.base import Translation, TranslationRequest, batched
from kanalwerk.translate.keys import error_detail, require_key
from kanalwerk.translate.rejection import rejection_blame
from kanalwerk.translate.retry import RETRY_STATUSES, RetryPolicy
from kanalwerk.translate.segment import placeholder_ok

log = logging.getLogger(__name__)

#: Most texts per request: long JSON arrays make models skip or merge entries.
MAX_ITEMS = 40

DEFAULT_SYSTEM_PROMPT = """\
You are a professional translator for a German-language news blog. Translate each string \
in the "segments" array of the user's JSON object from {source_lang} into {target_lang}.

Rules:
- Write natural, fluent German as a German tech journalist would. Keep meaning, facts, \
numbers and tone exactly; add, drop or explain nothing.
- Follow German conventions: „Anführungszeichen“, decimal comma (3,5 Prozent), dates \
like 27. Januar 2025, 24-hour times. Use the neutral register of a news site.
- Segments may contain placeholder tags such as <x1>…</x1> and <x2/>. Keep each one \
exactly once and unchanged, with the same number, around the words it belongs to.
- Keep URLs, e-mail addresses, code, commands, file names and HTML entities such as \
&amp; unchanged. Keep names of products, companies, people and models as they are.
- Translate every segment on its own, even a fragment; never merge, split or skip segments.
{glossary}"""

RESPONSE_CONTRACT = """
Answer ONLY with a JSON object {"translations": ["…", …]} holding exactly one translated \
string per input segment, in the same order. No comments, no Markdown, no code fences."""

LANGUAGE_NAMES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian",
    "zh": "Chinese",
}  # fmt: skip

#: What the API's message says when a setting, not the text, is wrong: DeepSeek's 400
#: "Model Not Exist", OpenAI's `unsupported_parameter` or "Invalid value for
#: 'temperature'", a `param` naming anything but the messages.
_NAMES_SETTINGS = re.compile(
    r"\bmodel\b|model_not_found|unsupported_(?:parameter|value)|invalid_value|unrecognized"
    r"|response_format|temperature|max_tokens|api[ _-]?key|param=(?!messages)\w",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^\s*```[A-Za-z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


def language_name(code: str) -> str:
    if code in ("", "auto"):
        return "the language it is written in"
    return LANGUAGE_NAMES.get(code.lower(), code)


def render_system_prompt(
    template: str, source_lang: str, target_lang: str, glossary: Sequence[tuple[str, str]]
) -> str:
    """Fill `{source_lang}`, `{target_lang}` and `{glossary}`; other braces stay literal."""
    if glossary:
        lines = "\n".join(f"- {source} → {target}" for source, target in glossary)
        terms = f"\nGlossary: translate these terms exactly as given (source → target):\n{lines}\n"
    else:
        terms = ""
    prompt = (
        template.replace("{source_lang}", language_name(source_lang))
        .replace("{target_lang}", language_name(target_lang))
        .replace("{glossary}", terms)
    )
    return prompt.rstrip() + "\n" + RESPONSE_CONTRACT


def decode_json_answer(content: str) -> Any:
    """The JSON value in a model's answer, tolerating reasoning blocks, fences and chatter.

    Raises `ValueError` when there is no JSON in it.
    """
    text = _THINK.sub("", content).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            return json.loads(text[start : end + 1])
        raise


def parse_translations(content: str | None, expected: int) -> list[str] | str:
    """The translations in a model's answer, or a short description of what is wrong."""
    if content is None:
        return "the answer has no content"
    try:
        data = decode_json_answer(content)
    except ValueError:
        return "the answer is not JSON"
    items = data.get("translations") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return 'the answer has no "translations" list'
    if len(items) != expected:
        return f"the answer has {len(items)} translations for {expected} segments"
    if not all(isinstance(item, str) for item in items):
        return "the answer has translations that are not strings"
    return items


class ChatSettings(TypedDict, total=False):
    """How `ChatClient` talks HTTP, beyond `feeds.yaml`: passed on by translator and writer."""

    user_agent: str
    sleep: Callable[[float], None]
    transport: httpx.BaseTransport | None


def api_key(settings: OpenAIConfig) -> str | None:
    """The key for an OpenAI-compatible API; no variable named means a server without keys."""
    if not settings.api_key_env:
        return None
    hint = (
        f" (the key for {settings.base_url}), or set translator.openai.api_key_env to null "
        "for a server without keys"
    )
    return require_key(settings.api_key_env, "openai", hint)


@dataclass(frozen=True)
class ChatReply:
    """One chat completion: its text, why it stopped and what it cost."""

    content: str | None
    finish_reason: str | None
    usage: Usage
    #: The API refused the request as too long for the model's context.
    context_exceeded: bool = False


class ChatClient:
    """`POST {base_url}/chat/completions` with Bearer auth, retries and actionable errors.

    Shared by translate and article mode. HTTP problems raise `TranslationError`
    (401/402/403/404 final; 408/409/429/5xx retried, honouring `Retry-After`); judging
    what the model wrote is the caller's job.
    """

    def __init__(
        self,
        settings: OpenAIConfig,
        *,
        api_key: str | None,
        timeout: float,
        user_agent: str = "kanalwerk",
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        url = httpx.URL(str(settings.base_url).rstrip("/") + "/")
        self._base_url = str(url.copy_with(username=None, password=None)).rstrip("/")
        self._model = settings.model
        self._key = api_key or None
        self._key_env = settings.api_key_env
        self._retry = RetryPolicy(settings.max_retries, sleep=sleep)
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        self._client = httpx.Client(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            transport=transport,
        )

    @property
    def model(self) -> str:
        return self._model

    @property
    def label(self) -> str:
        """Names the endpoint in messages; never holds a secret."""
        return f"openai ({self._model} at {self._base_url})"

    def close(self) -> None:
        self._client.close()

    def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        characters: int,
        temperature: float,
        max_tokens: int | None = None,
    ) -> ChatReply:
        """One completion in JSON mode; `characters` is how much source text it carries."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [dict(m) for m in messages],
            "response_format": {"type": "json_object"},
            "temperature": temperature,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")

        def build() -> httpx.Request:
            return self._client.build_request(
                "POST",
                "chat/completions",
                content=payload,
                headers={"Content-Type": "application/json"},
            )

        response = self._retry.send(
            self._client, build, describe=self.label, give_up=_is_out_of_credit
        )
        sent = Usage(requests=1, characters=characters)
        if response.status_code == 400 and _error_field(response, "code") in (
            "context_length_exceeded",
            "string_above_max_length",
        ):
            return ChatReply(None, None, sent, context_exceeded=True)
        self._raise_for_status(response)
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice.get("message") or {}
            content = message.get("content")
            finish = choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise TranslationError(
                f"{self.label} answered without a chat completion; check base_url",
                blame=Blame.TRANSIENT,
            ) from exc
        return ChatReply(
            content if isinstance(content, str) else None,
            finish if isinstance(finish, str) else None,
            sent + _token_usage(data),
        )

    # -- errors ------------------------------------------------------------------

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = error_detail(
            _error_field(response, "message") or response.reason_phrase, self._key
        )
        said = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        if status == 401:
            where = (
                f"check the API key in ${self._key_env}"
                if self._key_env
                else "check the API key"
                if self._key
                else "no API key is configured; set translator.openai.api_key_env"
            )
            raise TranslationError(
                f"{self.label} rejected the API key ({said}); {where}",
                blame=Blame.ENGINE,
                status=status,
            )
        if status == 402 or _is_out_of_credit(response):
            raise TranslationError(
                f"{self.label}: insufficient balance or quota ({said}); top up the account "
                "or configure a fallback engine",
                blame=Blame.ENGINE,
                status=402,
            )
        if status == 403:
            raise TranslationError(
                f"{self.label} refused access ({said}); check that the key may use this model",
                blame=Blame.ENGINE,
                status=status,
            )
        if status == 404:
            raise TranslationError(
                f"{self.label} answered {said}; check base_url (it must be the part before "
                "/chat/completions, e.g. https://api.openai.com/v1) and model",
                blame=Blame.ENGINE,
                status=status,
            )
        if status in RETRY_STATUSES:
            raise TranslationError(
                f"{self.label} is unavailable ({said}) after {self._retry.max_retries + 1} "
                "attempt(s); will try again later",
                blame=Blame.TRANSIENT,
                status=status,
            )
        message, code = _error_field(response, "message"), _error_field(response, "code")
        said_all = f"{message} {code} param={_error_field(response, 'param')}"
        blame = rejection_blame(status, said_all, _NAMES_SETTINGS)
        hint = (
            "check the translator.openai settings"
            if blame is Blame.ENGINE
            else "the item's text was refused"
        )
        raise TranslationError(
            f"{self.label} rejected the request ({said}); {hint}", blame=blame, status=status
        )


@dataclass(frozen=True)
class _Answer:
    translations: list[str] | None
    usage: Usage
    problem: str = ""
    too_long: bool = False


class ChatEngine:
    """The "openai" engine as translator and article writer both are: one `ChatClient`."""

    def __init__(
        self,
        settings: OpenAIConfig,
        *,
        api_key: str | None,
        timeout: float,
        **chat: Unpack[ChatSettings],
    ):
        self._chat = ChatClient(settings, api_key=api_key, timeout=timeout, **chat)
        self._model = settings.model

    @property
    def engine(self) -> str:
        return "openai"

    @property
    def model(self) -> str | None:
        return self._model

    def close(self) -> None:
        self._chat.close()


class OpenAITranslator(ChatEngine):
    """`Translator` over `POST {base_url}/chat/completions`."""

    def __init__(
        self, settings: OpenAIConfig, *, api_key: str | None, **chat: Unpack[ChatSettings]
    ):
        super().__init__(settings, api_key=api_key, timeout=settings.timeout, **chat)
        self._temperature = settings.temperature
        self._max_batch_chars = settings.max_batch_chars
        self._template = settings.prompt or DEFAULT_SYSTEM_PROMPT

    @classmethod
    def from_config(cls, settings: OpenAIConfig, **chat: Unpack[ChatSettings]) -> OpenAITranslator:
        """Built with the key from the environment variable `settings` names."""
        return cls(settings, api_key=api_key(settings), **chat)

    @property
    def max_batch_texts(self) -> int:
        """Most texts per request; the cache sends no more at once (`RequestLimits`)."""
        return MAX_ITEMS

    @property
    def max_batch_chars(self) -> int:
        """Most characters per request (`max_batch_chars` in `feeds.yaml`)."""
        return self._max_batch_chars

    # -- translating -------------------------------------------------------------

    def translate(self, request: TranslationRequest) -> Translation:
        system = render_system_prompt(
            self._template, request.source_lang, request.target_lang, request.glossary
        )
        out: list[str] = []
        usage = Usage()
        for batch in batched(request.texts, max_items=MAX_ITEMS, max_chars=self._max_batch_chars):
            texts = [request.texts[i] for i in batch]
            translated, used = self._solve(texts, system)
            if request.fmt == "html":
                translated, more = self._repair(texts, translated, system)
                used = used + more
            out.extend(translated)
            usage = usage + used
        return Translation(tuple(out), self.engine, self._model, usage)

    def _solve(self, texts: list[str], system: str) -> tuple[list[str], Usage]:
        """Translate a batch: ask, ask again once, then split in halves."""
        usage = Usage()
        answer = _Answer(None, Usage())
        for attempt in range(2):
            answer = self._ask(texts, system)
            usage = usage + answer.usage
            if answer.translations is not None:
                return answer.translations, usage
            if answer.too_long:
                break
            log.warning(
                "%s: unusable answer for %d segment(s) (%s)%s",
                self._label,
                len(texts),
                answer.problem,
                "; asking again" if attempt == 0 else "",
            )
        if len(texts) == 1:
            if answer.too_long:
                raise TranslationError(
                    f"{self._label}: a segment of {len(texts[0]):,} characters exceeds the "
                    f"model's output limit ({answer.problem}); use a model with a larger "
                    "output limit or shorten the article",
                    blame=Blame.ITEM,
                )
            raise TranslationError(
                f"{self._label} gave no usable translation: {answer.problem}", blame=Blame.ITEM
            )
        middle = len(texts) // 2
        log.info("%s: splitting a batch of %d segments", self._label, len(texts))
        left, left_usage = self._solve(texts[:middle], system)
        right, right_usage = self._solve(texts[middle:], system)
        return left + right, usage + left_usage + right_usage

    def _repair(
        self, texts: list[str], translated: list[str], system: str
    ) -> tuple[list[str], Usage]:
        """Ask once more for segments whose placeholders were lost or invented."""
        pairs = zip(texts, translated, strict=True)
        bad = [i for i, (source, target) in enumerate(pairs) if not placeholder_ok(source, target)]
        if not bad:
            return translated, Usage()
        log.info("%s: %d segment(s) lost placeholders; asking again", self._label, len(bad))
        try:
            answer = self._ask([texts[i] for i in bad], system)
        except TranslationError as exc:
            log.warning("%s: placeholder repair failed: %s", self._label, exc)
            return translated, Usage()
        fixed = list(translated)
        for i, again in zip(bad, answer.translations or [], strict=False):
            if placeholder_ok(texts[i], again):
                fixed[i] = again
        return fixed, answer.usage

    def _ask(self, texts: list[str], system: str) -> _Answer:
        """One request; HTTP problems raise, content problems come back as `problem`."""
        user = json.dumps({"segments": texts}, ensure_ascii=False)
        reply = self._chat.complete(
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            characters=sum(len(t) for t in texts),
            temperature=self._temperature,
        )
        if reply.context_exceeded:
            return _Answer(
                None, reply.usage, "the request exceeds the model's context", too_long=True
            )
        finish = reply.finish_reason
        if finish == "length":
            return _Answer(None, reply.usage, "the answer was cut off", too_long=True)
        parsed = parse_translations(reply.content, len(texts))
        if isinstance(parsed, str):
            if finish not in (None, "stop"):
                parsed += f" (finish_reason {finish})"
            return _Answer(None, reply.usage, parsed)
        return _Answer(parsed, reply.usage)

    @property
    def _label(self) -> str:
        return self._chat.label


def _error_field(response: httpx.Response, name: str) -> str:
    """A field of the OpenAI error shape `{"error": {"message", "type", "code"}}`."""
    try:
        data = response.json()
    except ValueError:
        return response.text if name == "message" else ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        value = error.get(name)
        return str(value) if value is not None else ""
    if isinstance(error, str) and name == "message":
        return error
    if isinstance(data, dict) and name == "message" and isinstance(data.get("message"), str):
        return str(data["message"])
    return ""


def _is_out_of_credit(response: httpx.Response) -> bool:
    """OpenAI says "no credit" as a 429 with code `insufficient_quota`; waiting won't help."""
    return response.status_code == 429 and "insufficient_quota" in (
        _error_field(response, "code"),
        _error_field(response, "type"),
    )


def _token_usage(data: Any) -> Usage:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return Usage()

    def number(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and value >= 0 else 0

    return Usage(
        prompt_tokens=number("prompt_tokens"), completion_tokens=number("completion_tokens")
    )
