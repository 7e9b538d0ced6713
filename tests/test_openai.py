from __future__ import annotations

import email.utils
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from kanalwerk.config import OpenAIConfig
from kanalwerk.errors import Blame, RetryLater, TranslationError
from kanalwerk.models import Usage
from kanalwerk.retry_after import parse_retry_after
from kanalwerk.translate.base import TranslationRequest, Translator
from kanalwerk.translate.openai import OpenAITranslator, parse_translations
from kanalwerk.translate.retry import send_with_retries
from tests.fake_openai import FakeOpenAI, Fault
from tests.servers import LocalServer, Request, Response

KEY = "sk-test-0123456789"


@pytest.fixture
def fake(server: LocalServer) -> FakeOpenAI:
    return FakeOpenAI(server, api_key=KEY)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def engine(fake: FakeOpenAI, sleeps: Sleeps) -> Iterator[OpenAITranslator]:
    translator = OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url, model="deepseek-chat"), api_key=KEY, sleep=sleeps
    )
    yield translator
    translator.close()


def req(
    *texts: str, fmt: str = "text", glossary: tuple[tuple[str, str], ...] = ()
) -> TranslationRequest:
    return TranslationRequest(texts, "en", "de", fmt, glossary)  # type: ignore[arg-type]


def test_happy_path_translates_in_order_and_reports_usage(
    fake: FakeOpenAI, engine: OpenAITranslator
) -> None:
    texts = ("Hello world", "Read <x1>this post</x1> now", "Second <x2/> line")
    result = engine.translate(req(*texts, fmt="html", glossary=(("DeepSeek", "DeepSeek"),)))

    assert isinstance(engine, Translator)
    assert result.texts == tuple(f"DE: {t}" for t in texts)
    assert (result.engine, result.model) == ("openai", "deepseek-chat")
    assert result.usage == Usage(
        requests=1,
        characters=sum(len(t) for t in texts),
        prompt_tokens=fake.usage_total["prompt_tokens"],
        completion_tokens=fake.usage_total["completion_tokens"],
    )
    assert result.usage.prompt_tokens > 0
    body = fake.last_body
    assert body["model"] == "deepseek-chat"
    assert body["temperature"] == 0.2
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert json.loads(user["content"]) == {"segments": list(texts)}
    assert "English into German" in system["content"]
    assert "- DeepSeek → DeepSeek" in system["content"]
    assert '{"translations"' in system["content"]
    headers = fake.headers[-1]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "kanalwerk"


@pytest.mark.parametrize("suffix", ["", "/"])
def test_base_url_with_or_without_trailing_slash(
    fake: FakeOpenAI, sleeps: Sleeps, suffix: str
) -> None:
    with_slash = OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url + suffix, model="m"), api_key=KEY, sleep=sleeps
    )
    try:
        assert with_slash.translate(req("Hi there")).texts == ("DE: Hi there",)
    finally:
        with_slash.close()
    assert fake.server.requests[-1].path == "/v1/chat/completions"


def test_empty_request_sends_nothing(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    result = engine.translate(req())
    assert result.texts == ()
    assert fake.requests == 0


def test_batches_by_characters_and_items(fake: FakeOpenAI, sleeps: Sleeps) -> None:
    small = OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url, model="m", max_batch_chars=50),
        api_key=KEY,
        sleep=sleeps,
    )
    try:
        texts = tuple(f"sentence number {i:03d}!" for i in range(6))  # 21 chars each
        result = small.translate(req(*texts))
        assert result.texts == tuple(f"DE: {t}" for t in texts)
        assert fake.requests == 3
        for index in range(3):
            sent = fake.segments(index)
            assert len(sent) == 2
            assert sum(len(s) for s in sent) <= 50
        assert result.usage.requests == 3
        assert result.usage.characters == sum(len(t) for t in texts)

        many = tuple(f"t{i}" for i in range(90))
        before = fake.requests
        assert small.translate(req(*many)).texts == tuple(f"DE: {t}" for t in many)
        assert fake.requests - before == 6  # 50 characters → at most 16 short texts each
    finally:
        small.close()


def test_batches_at_most_40_texts(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    texts = tuple(f"t{i}" for i in range(90))
    assert engine.translate(req(*texts)).texts == tuple(f"DE: {t}" for t in texts)
    assert [len(fake.segments(i)) for i in range(fake.requests)] == [40, 40, 10]


def test_429_honours_retry_after(
    fake: FakeOpenAI, engine: OpenAITranslator, sleeps: Sleeps
) -> None:
    fake.fail_next(Fault.rate_limited(retry_after="0"), Fault.rate_limited(retry_after="2"))
    result = engine.translate(req("Hello"))
    assert result.texts == ("DE: Hello",)
    assert sleeps == [0.0, 2.0]
    assert fake.requests == 3
    assert result.usage.requests == 1  # the rejected attempts produced nothing


def test_retry_after_too_long_gives_up_with_a_time(
    fake: FakeOpenAI, engine: OpenAITranslator, sleeps: Sleeps
) -> None:
    fake.fail_next(Fault.rate_limited(retry_after="3600"))
    with pytest.raises(RetryLater) as caught:
        engine.translate(req("Hello"))
    assert caught.value.blame is Blame.TRANSIENT
    assert caught.value.status == 429
    assert "try again after" in str(caught.value)
    assert caught.value.until is not None
    assert caught.value.until.timestamp() == pytest.approx(time.time() + 3600, abs=30)
    assert sleeps == []
    assert fake.requests == 1


def test_500_twice_then_success_backs_off(
    fake: FakeOpenAI, engine: OpenAITranslator, sleeps: Sleeps
) -> None:
    fake.fail_next(Fault.server_error(), Fault.server_error(503))
    assert engine.translate(req("Hello")).texts == ("DE: Hello",)
    assert fake.requests == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0  # base 1 s with jitter
    assert 1.0 <= sleeps[1] <= 2.0  # doubled


def test_500_asking_for_an_hour_backs_off_instead_of_resting_the_engine(
    fake: FakeOpenAI, engine: OpenAITranslator, sleeps: Sleeps
) -> None:
    """Retry-After means something on 429 and 503 only (RFC 9110)."""
    fake.fail_next(Fault.http(500, "The server had an error", retry_after="3600"))
    assert engine.translate(req("Hello")).texts == ("DE: Hello",)
    assert fake.requests == 2
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0


def test_persistent_5xx_becomes_transient_error(fake: FakeOpenAI, sleeps: Sleeps) -> None:
    translator = OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url, model="m", max_retries=2), api_key=KEY, sleep=sleeps
    )
    fake.fail_next(*[Fault.server_error(502)] * 5)
    try:
        with pytest.raises(TranslationError) as caught:
            translator.translate(req("Hello"))
    finally:
        translator.close()
    assert caught.value.blame is Blame.TRANSIENT
    assert caught.value.status == 502
    assert "The server had an error" in str(caught.value)
    assert fake.requests == 3
    assert len(sleeps) == 2


def test_401_is_final_names_the_variable_and_hides_the_key(
    fake: FakeOpenAI, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sk-wrong-key-abcdef123456"
    monkeypatch.setenv("KANALWERK_TEST_KEY", wrong)
    translator = OpenAITranslator.from_config(
        OpenAIConfig(api_key_env="KANALWERK_TEST_KEY", base_url=fake.base_url, model="m"),
        sleep=sleeps,
    )
    try:
        with pytest.raises(TranslationError) as caught:
            translator.translate(req("Hello"))
    finally:
        translator.close()
    message = str(caught.value)
    assert caught.value.blame is Blame.ENGINE
    assert caught.value.status == 401
    assert "$KANALWERK_TEST_KEY" in message
    assert "Incorrect API key provided" in message
    assert wrong not in message
    assert "abcdef123456" not in message
    assert fake.requests == 1
    assert sleeps == []


def test_400_is_final_with_the_api_message(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    fake.fail_next(Fault.http(400, "Invalid value for 'temperature'", code="invalid_value"))
    with pytest.raises(TranslationError) as caught:
        engine.translate(req("Hello"))
    assert caught.value.blame is Blame.ENGINE  # a setting: no item's fault
    assert caught.value.status == 400
    assert "Invalid value for 'temperature'" in str(caught.value)
    assert fake.requests == 1


@pytest.mark.parametrize(
    ("fault", "blame"),
    [
        (Fault.http(400, "Model Not Exist", code="invalid_request_error"), Blame.ENGINE),
        (Fault.http(400, "Unrecognized request argument supplied: seed"), Blame.ENGINE),
        (Fault.http(400, "Unsupported value", code="unsupported_value"), Blame.ENGINE),
        (Fault.http(422, "Field required: model"), Blame.ENGINE),
        (Fault.http(405, "Method Not Allowed"), Blame.ENGINE),
        (
            Fault.http(400, "This model's maximum context length is 4096 tokens."),
            Blame.ITEM,
        ),
        (Fault.http(400, "The response was filtered", code="content_filter"), Blame.ITEM),
        (Fault.http(413, "Request Entity Too Large"), Blame.ITEM),
        (Fault.http(400, "scripted failure"), Blame.ITEM),  # unknown: the streak's to catch
    ],
)
def test_a_refusal_is_the_engines_unless_it_is_about_the_text(
    fake: FakeOpenAI, engine: OpenAITranslator, fault: Fault, blame: Blame
) -> None:
    """Real shapes: DeepSeek's 400 "Model Not Exist", OpenAI's unsupported parameters."""
    fake.fail_next(fault)
    with pytest.raises(TranslationError) as caught:
        engine.translate(req("Hello"))
    assert (caught.value.blame, caught.value.status) == (blame, fault.status)
    assert fault.message in str(caught.value)


def test_402_and_insufficient_quota_are_final(
    fake: FakeOpenAI, engine: OpenAITranslator, sleeps: Sleeps
) -> None:
    fake.fail_next(Fault.http(402, "Insufficient Balance", error_type="unknown_error"))
    with pytest.raises(TranslationError) as caught:
        engine.translate(req("Hello"))
    assert caught.value.blame is Blame.ENGINE
    assert "insufficient balance" in str(caught.value)

    fake.fail_next(
        Fault.http(
            429, "You exceeded your current quota", code="insufficient_quota", retry_after="0"
        )
    )
    with pytest.raises(TranslationError) as caught:
        engine.translate(req("Hello"))
    assert caught.value.blame is Blame.ENGINE
    assert caught.value.status == 402
    assert "You exceeded your current quota" in str(caught.value)
    assert fake.requests == 2  # no retries for a spent quota
    assert sleeps == []


def test_404_hints_at_base_url_and_model(fake: FakeOpenAI, sleeps: Sleeps) -> None:
    translator = OpenAITranslator(
        OpenAIConfig(base_url=fake.server.url("/wrong"), model="m"), api_key=KEY, sleep=sleeps
    )
    try:
        with pytest.raises(TranslationError) as caught:
            translator.translate(req("Hello"))
    finally:
        translator.close()
    assert caught.value.blame is Blame.ENGINE
    assert caught.value.status == 404
    assert "check base_url" in str(caught.value)
    assert "model" in str(caught.value)


def test_truncated_answer_splits_the_batch(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    texts = tuple(f"Sentence {c}" for c in "abcd")
    fake.fail_next(Fault.truncated())
    result = engine.translate(req(*texts))
    assert result.texts == tuple(f"DE: {t}" for t in texts)
    assert [len(fake.segments(i)) for i in range(fake.requests)] == [4, 2, 2]
    assert result.usage.requests == 3
    assert result.usage.completion_tokens == fake.usage_total["completion_tokens"]


def test_small_output_limit_splits_down_to_what_fits(
    fake: FakeOpenAI, engine: OpenAITranslator
) -> None:
    fake.max_segments = 2
    texts = tuple(f"Sentence {i}" for i in range(7))
    assert engine.translate(req(*texts)).texts == tuple(f"DE: {t}" for t in texts)
    # 7 → 3 + 4 → (1 + 2) + (2 + 2): each part is sent once it fits
    assert [len(fake.segments(i)) for i in range(fake.requests)] == [7, 3, 1, 2, 4, 2, 2]


def test_single_truncated_text_is_a_final_error(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    fake.fail_next(Fault.truncated())
    with pytest.raises(TranslationError) as caught:
        engine.translate(req("A very long segment"))
    assert caught.value.blame is Blame.ITEM
    assert "exceeds the model's output limit" in str(caught.value)
    assert fake.requests == 1


def test_wrong_length_is_asked_again_once(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    texts = ("One", "Two", "Three")
    fake.fail_next(Fault.wrong_length())
    assert engine.translate(req(*texts)).texts == tuple(f"DE: {t}" for t in texts)
    assert [len(fake.segments(i)) for i in range(fake.requests)] == [3, 3]


def test_wrong_length_twice_splits_in_halves(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    texts = ("One", "Two", "Three", "Four")
    fake.fail_next(Fault.wrong_length(), Fault.not_json())
    result = engine.translate(req(*texts))
    assert result.texts == tuple(f"DE: {t}" for t in texts)
    assert [fake.segments(i) for i in range(fake.requests)] == [
        list(texts),
        list(texts),
        ["One", "Two"],
        ["Three", "Four"],
    ]
    assert result.usage.requests == 4


def test_single_text_still_bad_is_the_items_error(
    fake: FakeOpenAI, engine: OpenAITranslator
) -> None:
    fake.fail_next(Fault.wrong_length(), Fault.wrong_length())
    with pytest.raises(TranslationError) as caught:
        engine.translate(req("Only one"))
    assert caught.value.blame is Blame.ITEM
    assert "2 translations for 1 segments" in str(caught.value)
    assert fake.requests == 2


def test_code_fences_are_stripped(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    fake.fail_next(Fault.fenced())
    assert engine.translate(req("Hello", "World")).texts == ("DE: Hello", "DE: World")
    assert fake.requests == 1


def test_lost_placeholders_are_asked_for_again(fake: FakeOpenAI, engine: OpenAITranslator) -> None:
    texts = ("Plain text", "Read <x1>this</x1> and <x2/>")
    fake.fail_next(Fault.drop_placeholders())
    result = engine.translate(req(*texts, fmt="html"))
    assert result.texts == tuple(f"DE: {t}" for t in texts)
    assert fake.segments(1) == ["Read <x1>this</x1> and <x2/>"]
    assert result.usage.requests == 2


def test_no_authorization_header_without_key(server: LocalServer, sleeps: Sleeps) -> None:
    fake = FakeOpenAI(server, api_key=None)
    translator = OpenAITranslator.from_config(
        OpenAIConfig(api_key_env=None, base_url=fake.base_url, model="llama3"), sleep=sleeps
    )
    try:
        assert translator.translate(req("Hi")).texts == ("DE: Hi",)
    finally:
        translator.close()
    assert "authorization" not in fake.headers[-1]


def test_missing_key_without_env_hint_on_401(server: LocalServer, sleeps: Sleeps) -> None:
    fake = FakeOpenAI(server, api_key=KEY)
    translator = OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url, model="m", api_key_env=None),
        api_key=None,
        sleep=sleeps,
    )
    try:
        with pytest.raises(TranslationError, match="no API key is configured"):
            translator.translate(req("Hi"))
    finally:
        translator.close()


def test_from_env_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANALWERK_MISSING_KEY", raising=False)
    with pytest.raises(TranslationError) as caught:
        OpenAITranslator.from_config(
            OpenAIConfig(
                api_key_env="KANALWERK_MISSING_KEY", base_url="http://127.0.0.1:9", model="m"
            )
        )
    assert caught.value.blame is Blame.ENGINE
    assert "KANALWERK_MISSING_KEY" in str(caught.value)


def test_custom_prompt_fields_are_filled(fake: FakeOpenAI, sleeps: Sleeps) -> None:
    prompt = "Übersetze von {source_lang} nach {target_lang}. {glossary} Literal {braces} stay."
    translator = OpenAITranslator(
        OpenAIConfig(base_url=fake.base_url, model="m", prompt=prompt), api_key=KEY, sleep=sleeps
    )
    try:
        translator.translate(req("Hello", glossary=(("agent", "Agent"),)))
    finally:
        translator.close()
    system = fake.last_body["messages"][0]["content"]
    assert system.startswith("Übersetze von English nach German.")
    assert "- agent → Agent" in system
    assert "Literal {braces} stay." in system
    assert '{"translations"' in system  # the answer format is always spelled out


def test_timeouts_are_retried_then_reported(server: LocalServer, sleeps: Sleeps) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.4)
        return Response.json({})

    server.routes["/v1/chat/completions"] = slow
    translator = OpenAITranslator(
        OpenAIConfig(base_url=server.url("/v1"), model="m", timeout=0.1, max_retries=1),
        api_key=KEY,
        sleep=sleeps,
    )
    try:
        with pytest.raises(TranslationError, match="timed out") as caught:
            translator.translate(req("Hello"))
    finally:
        translator.close()
    assert caught.value.blame is Blame.TRANSIENT
    assert len(sleeps) == 1


def test_connection_refused_is_transient(sleeps: Sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    translator = OpenAITranslator(
        OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=2),
        api_key=KEY,
        sleep=sleeps,
    )
    try:
        with pytest.raises(TranslationError) as caught:
            translator.translate(req("Hello"))
    finally:
        translator.close()
    assert caught.value.blame is Blame.TRANSIENT
    assert len(sleeps) == 2
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"translations": ["a", "b"]}', ["a", "b"]),
        ('```json\n{"translations": ["a", "b"]}\n```', ["a", "b"]),
        ('<think>hmm</think>\n{"translations": ["a", "b"]}', ["a", "b"]),
        ('Sure! {"translations": ["a", "b"]} Done.', ["a", "b"]),
        ('["a", "b"]', ["a", "b"]),
    ],
)
def test_parse_translations_accepts_common_wrappings(content: str, expected: list[str]) -> None:
    assert parse_translations(content, 2) == expected


@pytest.mark.parametrize(
    "content",
    [None, "nope", '{"translations": ["a"]}', '{"translations": ["a", 2]}', '{"x": []}'],
)
def test_parse_translations_rejects_bad_answers(content: str | None) -> None:
    assert isinstance(parse_translations(content, 2), str)


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now=now) == 90.0
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_send_with_retries_uses_http_date_and_returns_other_statuses(
    server: LocalServer, sleeps: Sleeps
) -> None:
    answers = iter(
        [
            Response(
                503, b"", {"Retry-After": email.utils.formatdate(time.time() + 5, usegmt=True)}
            ),
            Response(418, b"teapot"),
        ]
    )
    server.routes["/x"] = lambda request: next(answers)
    with httpx.Client() as client:
        response = send_with_retries(
            client,
            lambda: client.build_request("GET", server.url("/x")),
            max_retries=3,
            sleep=sleeps,
            describe="test",
        )
    assert response.status_code == 418
    assert len(sleeps) == 1
    assert 3.0 <= sleeps[0] <= 5.0
