from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kanalwerk.config import DeepLConfig
from kanalwerk.dates import next_utc_midnight
from kanalwerk.errors import Blame, QuotaExceeded, TranslationError
from kanalwerk.translate.base import TranslationRequest, Translator
from kanalwerk.translate.deepl import (
    FREE_URL,
    PRO_URL,
    DeepLTranslator,
    DeepLUsage,
    default_base_url,
)
from tests.fake_deepl import MAX_BODY_BYTES, MAX_TEXTS, FakeDeepL
from tests.servers import LocalServer, Response

KEY = "0f6c2a1e-test-key:fx"
NOW = datetime(2025, 1, 27, 15, 30, tzinfo=UTC)


@pytest.fixture
def server(shared_server: LocalServer) -> LocalServer:
    """One server per module (stopping one takes half a second), reset for each test."""
    return shared_server.reset()


@pytest.fixture
def fake(server: LocalServer) -> FakeDeepL:
    return FakeDeepL(server, key=KEY)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def deepl(fake: FakeDeepL, sleeps: list[float]) -> Iterator[DeepLTranslator]:
    with DeepLTranslator(
        DeepLConfig(base_url=fake.url), api_key=KEY, sleep=sleeps.append, clock=lambda: NOW
    ) as t:
        yield t


def req(*texts: str, **kw: object) -> TranslationRequest:
    kw.setdefault("source_lang", "en")
    kw.setdefault("target_lang", "de")
    return TranslationRequest(texts=texts, **kw)  # type: ignore[arg-type]


def test_host_follows_key_suffix() -> None:
    assert default_base_url("abc:fx") == FREE_URL
    assert default_base_url("abc") == PRO_URL
    assert default_base_url("fx") == PRO_URL
    with (
        DeepLTranslator(DeepLConfig(), api_key="abc:fx") as free,
        DeepLTranslator(DeepLConfig(), api_key="abc") as pro,
    ):
        assert (free.base_url, pro.base_url) == (FREE_URL, PRO_URL)
    with DeepLTranslator(DeepLConfig(base_url="http://127.0.0.1:9/"), api_key="abc:fx") as custom:
        assert custom.base_url == "http://127.0.0.1:9"


def test_translates_with_auth_header_and_upper_case_languages(
    deepl: DeepLTranslator, fake: FakeDeepL
) -> None:
    assert isinstance(deepl, Translator)
    result = deepl.translate(req("Hello world.", "Second one.", source_lang="en-US"))
    assert result.texts == ("DE:HELLO WORLD.", "DE:SECOND ONE.")
    assert (result.engine, result.model) == ("deepl", "deepl-v2")
    assert (result.usage.requests, result.usage.characters) == (1, 23)
    (sent,) = fake.server.requests_to("/v2/translate")
    assert sent.headers["authorization"] == f"DeepL-Auth-Key {KEY}"
    assert sent.headers["content-type"] == "application/json"
    body = sent.json()
    assert body["text"] == ["Hello world.", "Second one."]
    assert (body["target_lang"], body["source_lang"]) == ("DE", "EN")
    assert "tag_handling" not in body and "ignore_tags" not in body


def test_auto_source_is_omitted_and_options_are_sent(fake: FakeDeepL) -> None:
    with DeepLTranslator(
        DeepLConfig(
            base_url=fake.url,
            formality="prefer_less",
            model_type="quality_optimized",
            preserve_formatting=True,
        ),
        api_key=KEY,
        user_agent="kanalwerk-test/1",
    ) as t:
        result = t.translate(req("Hi", source_lang="auto"))
    assert result.model == "quality_optimized"
    (body,) = fake.calls
    assert "source_lang" not in body
    assert (body["formality"], body["model_type"]) == ("prefer_less", "quality_optimized")
    assert body["preserve_formatting"] is True
    assert fake.server.requests_to("/v2/translate")[0].headers["user-agent"] == "kanalwerk-test/1"


def test_blank_texts_are_kept_without_a_request(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    assert deepl.translate(req()).texts == ()
    assert deepl.translate(req("", "  ")).texts == ("", "  ")
    assert fake.calls == []
    assert deepl.translate(req("", "Hi", " ")).texts == ("", "DE:HI", " ")
    assert [c["text"] for c in fake.calls] == [["Hi"]]


def test_html_segments_go_as_well_formed_xml_and_keep_placeholders(
    deepl: DeepLTranslator, fake: FakeDeepL
) -> None:
    segment = "Read <x1>the post</x1> by Simon<x2/> &amp; friends&nbsp;now<br> &lt;3"
    result = deepl.translate(req(segment, fmt="html"))
    (body,) = fake.calls
    assert body["tag_handling"] == "xml"
    assert body["text"] == ["Read <x1>the post</x1> by Simon<x2/> &amp; friends\xa0now<br/> &lt;3"]
    assert result.texts == (
        "DE:READ <x1>THE POST</x1> BY SIMON<x2/> &amp; FRIENDS\xa0NOW<br/> &lt;3",
    )


def test_batches_hold_at_most_50_texts_in_order(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    texts = [f"text {i}" for i in range(120)]
    result = deepl.translate(req(*texts))
    assert [len(c["text"]) for c in fake.calls] == [50, 50, 20]
    assert all(len(c["text"]) <= MAX_TEXTS for c in fake.calls)
    assert result.texts == tuple(f"DE:TEXT {i}" for i in range(120))
    assert result.usage.requests == 3


@pytest.mark.parametrize("char", ["a", "ä"], ids=["ascii", "two-byte"])
def test_bodies_stay_under_128_kib(deepl: DeepLTranslator, fake: FakeDeepL, char: str) -> None:
    # 3 × 40,000 characters fit the character count but not the byte limit when
    # every character takes two bytes in UTF-8.
    texts = [char * 40_000 + str(i) for i in range(3)]
    result = deepl.translate(req(*texts))
    sizes = [len(r.body) for r in fake.server.requests_to("/v2/translate")]
    assert all(size <= MAX_BODY_BYTES for size in sizes)
    assert len(sizes) == (1 if char == "a" else 3)  # 80 KB each: one per request
    assert result.texts == tuple("DE:" + t.upper() for t in texts)


def test_single_text_over_the_limit_is_refused_before_sending(
    deepl: DeepLTranslator, fake: FakeDeepL
) -> None:
    with pytest.raises(TranslationError, match="128 KiB") as info:
        deepl.translate(req("x" * (MAX_BODY_BYTES + 1)))
    assert info.value.blame is Blame.ITEM
    assert fake.calls == []


def test_413_splits_the_batch_in_half(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    fake.fail_next(413)
    result = deepl.translate(req("a", "b", "c", "d", "e"))
    assert [c["text"] for c in fake.calls] == [
        ["a", "b", "c", "d", "e"],
        ["a", "b"],
        ["c", "d", "e"],
    ]
    assert result.texts == ("DE:A", "DE:B", "DE:C", "DE:D", "DE:E")
    assert result.usage.requests == 2


def test_413_for_a_single_text_is_final(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    fake.fail_next(413, times=5)
    with pytest.raises(TranslationError) as info:
        deepl.translate(req("one"))
    assert (info.value.blame, info.value.status) == (Blame.ITEM, 413)
    assert len(fake.calls) == 1


def test_429_is_retried_after_retry_after(
    deepl: DeepLTranslator, fake: FakeDeepL, sleeps: list[float]
) -> None:
    fake.fail_next(429, retry_after=7)
    assert deepl.translate(req("Hi")).texts == ("DE:HI",)
    assert sleeps == [7.0]
    assert len(fake.calls) == 2


def test_5xx_and_529_are_retried(
    deepl: DeepLTranslator, fake: FakeDeepL, sleeps: list[float]
) -> None:
    fake.fail_next(500)
    fake.fail_next(529)
    assert deepl.translate(req("Hi")).texts == ("DE:HI",)
    assert len(sleeps) == 2 and len(fake.calls) == 3


def test_lasting_5xx_ends_in_a_transient_error(fake: FakeDeepL, sleeps: list[float]) -> None:
    fake.fail_next(503, times=10)
    with (
        DeepLTranslator(
            DeepLConfig(base_url=fake.url, max_retries=2), api_key=KEY, sleep=sleeps.append
        ) as t,
        pytest.raises(TranslationError) as info,
    ):
        t.translate(req("Hi"))
    assert info.value.blame is Blame.TRANSIENT
    assert len(fake.calls) == 3


def test_456_raises_quota_exceeded_until_next_utc_midnight(
    deepl: DeepLTranslator, fake: FakeDeepL, sleeps: list[float]
) -> None:
    fake.fail_next(456, message="Quota Exceeded")
    with pytest.raises(QuotaExceeded) as info:
        deepl.translate(req("Hi"))
    assert isinstance(info.value, TranslationError)
    assert (info.value.blame, info.value.status) == (Blame.ENGINE, 456)
    assert info.value.until == datetime(2025, 1, 28, tzinfo=UTC)
    assert sleeps == [] and len(fake.calls) == 1


def test_spent_character_limit_gives_456(fake: FakeDeepL, sleeps: list[float]) -> None:
    fake.character_limit = 10
    with DeepLTranslator(DeepLConfig(base_url=fake.url), api_key=KEY, sleep=sleeps.append) as t:
        t.translate(req("12345"))
        with pytest.raises(QuotaExceeded) as info:
            t.translate(req("123456"))
    now, until = datetime.now(UTC), info.value.until
    assert until is not None and until > now
    assert until - now <= timedelta(days=1)
    assert until.time().isoformat() == "00:00:00"


def test_next_utc_midnight_converts_to_utc_first() -> None:
    local = datetime(2025, 1, 27, 23, 30, tzinfo=timezone(timedelta(hours=2)))
    assert next_utc_midnight(local) == datetime(2025, 1, 28, tzinfo=UTC)
    assert next_utc_midnight(datetime(2025, 12, 31, 0, 0, tzinfo=UTC)) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


def test_403_names_the_variable_never_the_key(
    fake: FakeDeepL, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "ffffffff-wrong-key:fx"
    monkeypatch.setenv("DEEPL_API_KEY", wrong)
    with (
        DeepLTranslator.from_config(
            DeepLConfig(api_key_env="DEEPL_API_KEY", base_url=fake.url), sleep=sleeps.append
        ) as t,
        pytest.raises(TranslationError) as info,
    ):
        t.translate(req("Hi"))
    message = str(info.value)
    assert (info.value.blame, info.value.status) == (Blame.ENGINE, 403)
    assert "$DEEPL_API_KEY" in message and "Authorization failed" in message
    assert wrong not in message
    assert sleeps == [] and len(fake.server.requests_to("/v2/translate")) == 1


def test_403_for_a_pro_key_on_the_free_host(fake: FakeDeepL) -> None:
    with (
        DeepLTranslator(DeepLConfig(base_url=fake.url), api_key="pro-key") as t,
        pytest.raises(TranslationError, match="Wrong endpoint") as info,
    ):
        t.translate(req("Hi"))
    assert "pro-key" not in str(info.value)


def test_a_key_echoed_by_the_server_is_redacted(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    fake.fail_next(403, message=f"key {KEY} is disabled")
    with pytest.raises(TranslationError) as info:
        deepl.translate(req("Hi"))
    assert KEY not in str(info.value) and "***" in str(info.value)


def test_from_env_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANALWERK_TEST_DEEPL", raising=False)
    with pytest.raises(TranslationError, match="KANALWERK_TEST_DEEPL") as info:
        DeepLTranslator.from_config(DeepLConfig(api_key_env="KANALWERK_TEST_DEEPL"))
    assert info.value.blame is Blame.ENGINE


def test_400_shows_deepls_message(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    with pytest.raises(TranslationError, match="'target_lang' not supported") as info:
        deepl.translate(req("Hi", target_lang="xx"))
    assert (info.value.blame, info.value.status) == (Blame.ENGINE, 400)  # a setting
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    ("status", "message", "blame"),
    [
        (401, "Unauthorized", Blame.ENGINE),
        (400, "Value for 'formality' not supported.", Blame.ENGINE),
        (400, "Invalid glossary id.", Blame.ENGINE),
        (400, "Tag handling parsing failed, please check input.", Blame.ITEM),
        (400, "Unsupported language pair: 'ks' => 'de'.", Blame.ITEM),
        (414, "URI too long", Blame.ITEM),
    ],
)
def test_a_refusal_is_the_engines_unless_it_is_about_the_text(
    deepl: DeepLTranslator, fake: FakeDeepL, status: int, message: str, blame: Blame
) -> None:
    """A key or setting refused fails every item alike: never counted against one."""
    fake.fail_next(status, message=message)
    with pytest.raises(TranslationError, match=message[:12]) as info:
        deepl.translate(req("Hi"))
    assert (info.value.blame, info.value.status) == (blame, status)


def test_wrong_number_of_translations_is_an_error(
    deepl: DeepLTranslator, server: LocalServer
) -> None:
    server.routes["/v2/translate"] = lambda r: Response.json(
        {"translations": [{"detected_source_language": "EN", "text": "nur eins"}]}
    )
    with pytest.raises(TranslationError, match="1 translations for 2 texts"):
        deepl.translate(req("one", "two"))


def test_glossary_terms_that_stay_are_protected(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    glossary = (("DeepSeek", "DeepSeek"), ("AI", "KI"))
    result = deepl.translate(req("DeepSeek & co < DeepSeekR1", "no term here", glossary=glossary))
    assert result.texts == ("DE:DeepSeek & CO < DEEPSEEKR1", "DE:NO TERM HERE")
    (body,) = fake.calls
    assert (body["tag_handling"], body["ignore_tags"]) == ("xml", ["keep"])
    assert body["text"][0] == "<keep>DeepSeek</keep> &amp; co &lt; DeepSeekR1"


def test_glossary_terms_in_html_are_wrapped_in_text_only(
    deepl: DeepLTranslator, fake: FakeDeepL
) -> None:
    glossary = (("DeepSeek", "DeepSeek"), ("x1", "x1"))
    result = deepl.translate(req("<x1>DeepSeek</x1> wins", fmt="html", glossary=glossary))
    assert result.texts == ("DE:<x1>DeepSeek</x1> WINS",)
    assert fake.calls[0]["text"] == ["<x1><keep>DeepSeek</keep></x1> wins"]


def test_plain_text_without_glossary_terms_stays_plain(
    deepl: DeepLTranslator, fake: FakeDeepL
) -> None:
    deepl.translate(req("a < b", glossary=(("DeepSeek", "DeepSeek"),)))
    assert "tag_handling" not in fake.calls[0]
    assert fake.calls[0]["text"] == ["a < b"]


def test_configured_glossary_id_is_used_when_the_source_is_known(fake: FakeDeepL) -> None:
    glossary = (("DeepSeek", "DeepSeek"),)
    with DeepLTranslator(DeepLConfig(base_url=fake.url, glossary_id="g-123"), api_key=KEY) as t:
        t.translate(req("DeepSeek rocks", glossary=glossary))
        t.translate(req("DeepSeek rocks", glossary=glossary, source_lang="auto"))
    known, auto = fake.calls
    assert known["glossary_id"] == "g-123" and "ignore_tags" not in known
    assert known["text"] == ["DeepSeek rocks"]
    # DeepL refuses a glossary without source_lang, so the keep tags stand in.
    assert "glossary_id" not in auto and auto["ignore_tags"] == ["keep"]


def test_usage_reports_characters(deepl: DeepLTranslator, fake: FakeDeepL) -> None:
    fake.character_limit = 1000
    deepl.translate(req("Hello", "World!"))
    assert deepl.usage() == DeepLUsage(character_count=11, character_limit=1000)
    assert deepl.usage().remaining == 989
    sent = fake.server.requests_to("/v2/usage")[0]
    assert sent.method == "GET" and sent.headers["authorization"] == f"DeepL-Auth-Key {KEY}"
