"""One error model: what a `TranslationError` carries decides what happens next.

Whatever raised it, an error with `until` suspends its engine until then, and `blame`
says whether the engine is asked again. These tests go over every subclass, so a new
error class cannot slip past the chain the way `RetryLater` once did. Error bodies
that echo an API key never leak a part of it.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import kanalwerk.errors
from kanalwerk.config import DeepLConfig, LibreTranslateConfig, OpenAIConfig
from kanalwerk.errors import (
    ArticleInvalid,
    Blame,
    BudgetExhausted,
    ModelDownloadFailed,
    QuotaExceeded,
    RetryLater,
    TranslationDeferred,
    TranslationError,
)
from kanalwerk.store import Store
from kanalwerk.translate.base import Translation, TranslationRequest, Translator
from kanalwerk.translate.chain import ChainTranslator, Suspensions
from kanalwerk.translate.deepl import DeepLTranslator
from kanalwerk.translate.keys import MAX_DETAIL_CHARS
from kanalwerk.translate.libretranslate import LibreTranslateTranslator
from kanalwerk.translate.openai import OpenAITranslator
from tests.servers import LocalServer, Request, Response

NOW = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)

#: Every error class that can name a time, built with `until` (the base class with
#: each blame).
WITH_UNTIL: list[Callable[[datetime], TranslationError]] = [
    *(
        (lambda until, blame=blame: TranslationError("x", blame=blame, until=until))
        for blame in Blame
    ),
    lambda until: RetryLater("HTTP 429, wait", until=until, status=429),
    lambda until: QuotaExceeded("quota spent", until=until, status=456),
    lambda until: BudgetExhausted("budget spent", until=until),
]
#: Error classes that never name a time, and why.
WITHOUT_UNTIL = {
    TranslationDeferred: "waits for the user (a model to install), not for a time",
    ArticleInvalid: "the article writer's verdict on one answer; never reaches the chain",
    ModelDownloadFailed: "one link of a model package; the next link is tried",
}


def subclasses(cls: type[TranslationError]) -> set[type[TranslationError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= subclasses(sub)
    return found


class Raising:
    """An engine that fails every request with `error`, counting the calls."""

    def __init__(self, name: str, error: TranslationError) -> None:
        self.engine, self.model, self.error, self.calls = name, None, error, 0

    def translate(self, request: TranslationRequest) -> Translation:
        self.calls += 1
        raise self.error

    def close(self) -> None:
        pass


class Answering:
    engine, model = "second", None

    def translate(self, request: TranslationRequest) -> Translation:
        return Translation(tuple("DE: " + t for t in request.texts), self.engine, self.model)

    def close(self) -> None:
        pass


def chain_over(first: Translator, store: Store) -> ChainTranslator:
    second = Answering()
    return ChainTranslator(
        [("first", lambda: first), ("second", lambda: second)], clock=lambda: NOW, store=store
    )


def test_errors_import_nothing_of_kanalwerk() -> None:
    """Every module may import errors.py, so it must import none of them (not even lazily)."""
    tree = ast.parse(Path(kanalwerk.errors.__file__).read_text(encoding="utf-8"))
    imported = [
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert imported and not [name for name in imported if name.split(".")[0] == "kanalwerk"]


def test_every_exception_class_lives_in_errors_py() -> None:
    """Found by walking the source, so a private one inside a module is found too."""
    package = Path(kanalwerk.errors.__file__).parent
    exceptions = {
        name
        for name, value in [*vars(builtins).items(), *vars(kanalwerk.errors).items()]
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    elsewhere = [
        f"{path.relative_to(package)}: {node.name}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "errors.py" or path.parent != package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base).split(".")[-1] in exceptions for base in node.bases)
    ]
    assert elsewhere == []


def test_every_error_class_is_classified() -> None:
    with_until = {type(make(LATER)) for make in WITH_UNTIL}
    assert subclasses(TranslationError) == with_until | set(WITHOUT_UNTIL)


@pytest.mark.parametrize("make", WITH_UNTIL)
def test_any_error_with_until_suspends_the_engine(
    make: Callable[[datetime], TranslationError], store: Store
) -> None:
    error = make(LATER)
    first = Raising("first", error)
    chain = chain_over(first, store)

    for n in range(3):
        assert chain.translate(TranslationRequest((f"text {n}",), "en", "de")).engine == "second"

    assert first.calls == 1
    assert {
        name: s.until for name, s in Suspensions(store, clock=lambda: NOW).active().items()
    } == {"first": LATER}


def test_a_suspect_engine_rests_longer_each_trip_until_the_settings_change(
    store: Store,
) -> None:
    """1 h, 2 h, 4 h … at most a day; a success forgets the trips, a settings edit lifts it."""
    clock = [NOW]
    book = Suspensions(store, clock=lambda: clock[0], settings="a")
    pauses = []
    for _ in range(7):
        pauses.append(book.suspect("first", "3 items in a row").until - clock[0])
        clock[0] += pauses[-1]  # the pause ends; the engine fails again
    hours = [p / timedelta(hours=1) for p in pauses]
    assert hours == [1, 2, 4, 8, 16, 24, 24]

    book.recovered("first")
    assert book.suspect("first", "again").until == clock[0] + timedelta(hours=1)
    first = Raising("first", TranslationError("broken", blame=Blame.ITEM))
    chain = ChainTranslator(
        [("first", lambda: first), ("second", lambda: Answering())],
        clock=lambda: clock[0],
        store=store,
        settings="a",
    )
    assert chain.translate(TranslationRequest(("text",), "en", "de")).engine == "second"
    assert first.calls == 0  # the chain reads the same record
    assert "translator settings change" in book.active()["first"].reason

    edited = Suspensions(store, clock=lambda: clock[0], settings="b")
    assert edited.active() == {}
    edited.forget_stale()
    assert book.active() == {}  # gone from the record: `status` no longer shows it


def test_a_pause_the_engine_named_outlives_a_settings_edit(store: Store) -> None:
    Suspensions(store, clock=lambda: NOW, settings="a").suspend("first", LATER, "HTTP 429")
    assert Suspensions(store, clock=lambda: NOW, settings="b").get("first") is not None


@pytest.mark.parametrize(
    ("blame", "calls"), [(Blame.ENGINE, 1), (Blame.TRANSIENT, 3), (Blame.ITEM, 3)]
)
def test_without_until_only_engine_blame_stops_asking(
    blame: Blame, calls: int, store: Store
) -> None:
    first = Raising("first", TranslationError("x", blame=blame))
    chain = chain_over(first, store)
    for n in range(3):
        chain.translate(TranslationRequest((f"text {n}",), "en", "de"))
    assert first.calls == calls
    assert Suspensions(store, clock=lambda: NOW).active() == {}


@pytest.mark.parametrize(
    ("blames", "overall"),
    [
        ((Blame.ITEM, Blame.ITEM), Blame.ITEM),
        ((Blame.ITEM, Blame.TRANSIENT), Blame.TRANSIENT),
        ((Blame.ITEM, Blame.ENGINE), Blame.ENGINE),
        ((Blame.ENGINE, Blame.TRANSIENT), Blame.TRANSIENT),
    ],
)
def test_the_chain_blames_the_item_only_when_every_engine_did(
    blames: tuple[Blame, Blame], overall: Blame
) -> None:
    a, b = (
        Raising(name, TranslationError(name, blame=x)) for name, x in zip("ab", blames, strict=True)
    )
    chain = ChainTranslator([("a", lambda: a), ("b", lambda: b)], clock=lambda: NOW)
    with pytest.raises(TranslationError) as caught:
        chain.translate(TranslationRequest(("text",), "en", "de"))
    assert caught.value.blame is overall and caught.value.until is None
    assert caught.value.engine == "a, b"  # whose verdicts they were


def test_the_chain_names_only_the_engines_it_asked() -> None:
    item = Raising("b", TranslationError("no good", blame=Blame.ITEM))
    chain = ChainTranslator(
        [
            ("a", lambda: Raising("a", TranslationError("x", blame=Blame.ENGINE))),
            ("b", lambda: item),
        ],
        clock=lambda: NOW,
    )
    with pytest.raises(TranslationError):
        chain.translate(TranslationRequest(("text",), "en", "de"))
    with pytest.raises(TranslationError) as caught:  # "a" is broken now, not asked again
        chain.translate(TranslationRequest(("text",), "en", "de"))
    assert caught.value.blame is Blame.ENGINE and caught.value.engine == "b"


# --- keys in error bodies ------------------------------------------------------------

KEY = "Zq9-kanalwerk-secret-7d1e5c"


def echo_key_at_the_cut(request: Request) -> Response:
    """A plain-text 400 that quotes the key so that a cut at the limit splits it.

    It starts with an escape sequence that would clear a terminal.
    """
    said = "\x1b[2J" + "x" * (MAX_DETAIL_CHARS - 14 - len(" bad key ")) + " bad key "
    assert len(said) + 10 == MAX_DETAIL_CHARS  # the cut falls after the key's 10th character
    return Response(400, f"{said}{KEY} rejected".encode(), {"Content-Type": "text/plain"})


def engines(server: LocalServer) -> dict[str, Callable[[], Translator]]:
    return {
        "openai": lambda: OpenAITranslator(
            OpenAIConfig(base_url=server.url("/v1"), model="m", max_retries=0), api_key=KEY
        ),
        "deepl": lambda: DeepLTranslator(
            DeepLConfig(base_url=server.base_url, max_retries=0), api_key=KEY
        ),
        "libretranslate": lambda: LibreTranslateTranslator(
            LibreTranslateConfig(url=server.base_url, max_retries=0), api_key=KEY
        ),
    }


@pytest.mark.parametrize("name", ["openai", "deepl", "libretranslate"])
def test_no_part_of_an_echoed_key_reaches_the_message(server: LocalServer, name: str) -> None:
    for path in ("/v1/chat/completions", "/v2/translate", "/translate"):
        server.routes[path] = echo_key_at_the_cut
    engine = engines(server)[name]()
    try:
        with pytest.raises(TranslationError) as caught:
            engine.translate(TranslationRequest(("Hello there",), "en", "de"))
    finally:
        engine.close()
    message = str(caught.value)
    assert "400" in message and "bad key" in message
    assert KEY[:4] not in message  # once the first 10 characters leaked
    assert "\x1b" not in message
