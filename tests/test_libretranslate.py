from __future__ import annotations

from collections.abc import Iterator

import pytest

from kanalwerk.config import LibreTranslateConfig
from kanalwerk.errors import Blame, TranslationDeferred, TranslationError
from kanalwerk.translate.base import TranslationRequest, Translator
from kanalwerk.translate.libretranslate import LibreTranslateTranslator
from tests.fake_libretranslate import FakeLibreTranslate
from tests.servers import LocalServer, Response


@pytest.fixture
def server(shared_server: LocalServer) -> LocalServer:
    """One server per module (stopping one takes half a second), reset for each test."""
    return shared_server.reset()


@pytest.fixture
def fake(server: LocalServer) -> FakeLibreTranslate:
    return FakeLibreTranslate(server)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def libre(fake: FakeLibreTranslate, sleeps: list[float]) -> Iterator[LibreTranslateTranslator]:
    with LibreTranslateTranslator(LibreTranslateConfig(url=fake.url), sleep=sleeps.append) as t:
        yield t


def req(*texts: str, **kw: object) -> TranslationRequest:
    kw.setdefault("source_lang", "en")
    kw.setdefault("target_lang", "de")
    return TranslationRequest(texts=texts, **kw)  # type: ignore[arg-type]


def test_sends_q_as_a_list_without_a_key(
    libre: LibreTranslateTranslator, fake: FakeLibreTranslate
) -> None:
    assert isinstance(libre, Translator)
    result = libre.translate(req("Hello.", "", "Bye.", source_lang="en-US"))
    assert result.texts == ("DE:HELLO.", "", "DE:BYE.")
    assert (result.engine, result.model) == ("libretranslate", "libretranslate")
    assert (result.usage.requests, result.usage.characters) == (1, 10)
    assert fake.calls == [
        {"q": ["Hello.", "Bye."], "source": "en", "target": "de", "format": "text"}
    ]


def test_html_format_keeps_placeholders(
    libre: LibreTranslateTranslator, fake: FakeLibreTranslate
) -> None:
    result = libre.translate(req("Read <x1>this</x1><x2/> now", fmt="html", source_lang="auto"))
    assert result.texts == ("DE:READ <x1>THIS</x1><x2/> NOW",)
    assert (fake.calls[0]["format"], fake.calls[0]["source"]) == ("html", "auto")


def test_api_key_is_sent_when_set(server: LocalServer) -> None:
    fake = FakeLibreTranslate(server, api_keys={"lt-key"})
    with LibreTranslateTranslator(
        LibreTranslateConfig(url=fake.url), api_key="lt-key", user_agent="kanalwerk-test/1"
    ) as t:
        assert t.translate(req("Hi")).texts == ("DE:HI",)
    assert fake.calls[0]["api_key"] == "lt-key"
    assert server.requests_to("/translate")[0].headers["user-agent"] == "kanalwerk-test/1"


def test_invalid_key_is_a_final_403_without_the_key(
    server: LocalServer, sleeps: list[float]
) -> None:
    fake = FakeLibreTranslate(server, api_keys={"good"})
    with (
        LibreTranslateTranslator(
            LibreTranslateConfig(url=fake.url), api_key="bad-secret", sleep=sleeps.append
        ) as t,
        pytest.raises(TranslationError, match="Invalid API key") as info,
    ):
        t.translate(req("Hi"))
    assert (info.value.blame, info.value.status) == (Blame.ENGINE, 403)
    assert "bad-secret" not in str(info.value)
    assert sleeps == [] and len(fake.calls) == 1


def test_missing_key_is_the_engines_400_with_the_servers_message(server: LocalServer) -> None:
    fake = FakeLibreTranslate(server, api_keys={"good"})
    with (
        LibreTranslateTranslator(LibreTranslateConfig(url=fake.url)) as t,
        pytest.raises(TranslationError, match="server operator") as info,
    ):
        t.translate(req("Hi"))
    assert (info.value.blame, info.value.status) == (Blame.ENGINE, 400)
    assert "api_key_env" in str(info.value)  # says where the key goes


def test_an_unsupported_target_language_is_the_engines_400(
    libre: LibreTranslateTranslator, fake: FakeLibreTranslate
) -> None:
    with pytest.raises(TranslationError, match="xx is not supported") as info:
        libre.translate(req("Hi", target_lang="xx"))
    assert (info.value.blame, info.value.status) == (Blame.ENGINE, 400)
    assert len(fake.calls) == 1


def test_an_items_unsupported_language_defers_the_item(
    libre: LibreTranslateTranslator, fake: FakeLibreTranslate
) -> None:
    """No model for the item's language: the item waits, the queue goes on, no attempt."""
    with pytest.raises(TranslationDeferred, match="xx is not supported") as info:
        libre.translate(req("Hi", source_lang="xx"))
    assert "'xx'" in str(info.value) and "install" in str(info.value)
    assert len(fake.calls) == 1


def test_a_missing_language_pair_defers_the_item(server: LocalServer) -> None:
    languages = {"en": ("English", ("de",)), "fr": ("French", ("en",)), "de": ("German", ())}
    fake = FakeLibreTranslate(server, languages=languages)
    with (
        LibreTranslateTranslator(LibreTranslateConfig(url=fake.url)) as t,
        pytest.raises(TranslationDeferred, match="not available as a target language"),
    ):
        t.translate(req("Bonjour", source_lang="fr"))


def test_a_text_over_the_servers_limit_is_the_items(server: LocalServer) -> None:
    fake = FakeLibreTranslate(server, char_limit=10)
    with (
        LibreTranslateTranslator(LibreTranslateConfig(url=fake.url)) as t,
        pytest.raises(TranslationError, match="exceeds text limit") as info,
    ):
        t.translate(req("a text longer than ten characters"))
    assert (info.value.blame, info.value.status) == (Blame.ITEM, 400)


def test_429_then_200(
    libre: LibreTranslateTranslator, fake: FakeLibreTranslate, sleeps: list[float]
) -> None:
    fake.fail_next(429, retry_after=3)
    assert libre.translate(req("Hi")).texts == ("DE:HI",)
    assert sleeps == [3.0] and len(fake.calls) == 2


def test_500_is_retried_then_gives_up_retryably(fake: FakeLibreTranslate) -> None:
    sleeps: list[float] = []
    fake.fail_next(500)
    with LibreTranslateTranslator(
        LibreTranslateConfig(url=fake.url, max_retries=1), sleep=sleeps.append
    ) as t:
        assert t.translate(req("Hi")).texts == ("DE:HI",)
        fake.fail_next(500, times=2, message="Cannot translate text: model crashed")
        with pytest.raises(TranslationError) as info:
            t.translate(req("Hi"))
    assert info.value.blame is Blame.TRANSIENT
    assert len(fake.calls) == 4 and len(sleeps) == 2


def test_batches_stay_within_items_and_characters(server: LocalServer) -> None:
    fake = FakeLibreTranslate(server, batch_limit=4, char_limit=25)
    texts = [f"text {i:02d}" for i in range(10)]  # 7 characters each
    with LibreTranslateTranslator(
        LibreTranslateConfig(url=fake.url, max_batch_texts=4, max_batch_chars=25)
    ) as t:
        result = t.translate(req(*texts))
    assert result.texts == tuple(f"DE:TEXT {i:02d}" for i in range(10))
    assert [len(c["q"]) for c in fake.calls] == [3, 3, 3, 1]
    assert result.usage.requests == 4
    with (
        LibreTranslateTranslator(
            LibreTranslateConfig(url=fake.url, max_batch_texts=5, max_batch_chars=100)
        ) as t,
        pytest.raises(TranslationError, match="exceeds text limit") as info,
    ):
        t.translate(req(*texts))
    assert info.value.blame is Blame.ENGINE  # more texts than the server takes: a setting
    assert "max_batch_texts" in str(info.value)


def test_single_string_answer_is_accepted(server: LocalServer) -> None:
    server.routes["/translate"] = lambda r: Response.json({"translatedText": "Hallo"})
    with LibreTranslateTranslator(LibreTranslateConfig(url=server.base_url)) as t:
        assert t.translate(req("Hello")).texts == ("Hallo",)
        with pytest.raises(TranslationError, match="1 translations for 2 texts"):
            t.translate(req("Hello", "World"))


def test_check_languages_passes(libre: LibreTranslateTranslator) -> None:
    libre.check_languages("auto", "de")
    libre.check_languages("en", "de")
    libre.check_languages("en-GB", "de")


def test_check_languages_without_german(server: LocalServer) -> None:
    fake = FakeLibreTranslate(server, languages={"en": ("English", ("fr",)), "fr": ("French", ())})
    with LibreTranslateTranslator(LibreTranslateConfig(url=fake.url)) as t:
        with pytest.raises(TranslationError, match="cannot translate into 'de'") as info:
            t.check_languages("auto", "de")
        assert info.value.blame is Blame.ENGINE
        with pytest.raises(TranslationError, match=r"'en' into 'de' \(targets: fr\)"):
            t.check_languages("en", "de")
        with pytest.raises(TranslationError, match="source language 'ja'"):
            t.check_languages("ja", "de")


def test_from_env(monkeypatch: pytest.MonkeyPatch, fake: FakeLibreTranslate) -> None:
    monkeypatch.delenv("KANALWERK_TEST_LT", raising=False)
    with pytest.raises(TranslationError, match="KANALWERK_TEST_LT"):
        LibreTranslateTranslator.from_config(
            LibreTranslateConfig(url=fake.url, api_key_env="KANALWERK_TEST_LT")
        )
    monkeypatch.setenv("KANALWERK_TEST_LT", "k1")
    with LibreTranslateTranslator.from_config(
        LibreTranslateConfig(url=fake.url, api_key_env="KANALWERK_TEST_LT")
    ) as t:
        t.translate(req("Hi"))
    assert fake.calls[0]["api_key"] == "k1"
