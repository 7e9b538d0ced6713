"""DeepL's and LibreTranslate's timeouts and retries come from `feeds.yaml`, defaults included.

The engines are built the way the product builds them (`build_engine` from a loaded
config) and talk to the loopback fakes, so what is checked is what goes over the wire.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.errors import Blame, ConfigError, TranslationError
from kanalwerk.translate.base import TranslationRequest, Translator
from kanalwerk.translate.factory import build_engine
from tests.cli import run_cli
from tests.fake_deepl import FakeDeepL
from tests.fake_libretranslate import FakeLibreTranslate
from tests.servers import LocalServer, Request, Response

KEY = "5e1f-settings-test:fx"
CONFIG = """\
site:
  title: Testseite
  base_url: https://blog.example.net/
  author: Redaktion
translator:
  engine: {engine}
  deepl:
    base_url: {url}
{deepl}  libretranslate:
    url: {url}
{libre}channels:
  - name: Beispiel
    url: https://feeds.example.net/atom.xml
"""
PATHS = {"deepl": "/v2/translate", "libretranslate": "/translate"}


@pytest.fixture
def server(shared_server: LocalServer) -> LocalServer:
    return shared_server.reset()


@pytest.fixture(autouse=True)
def deepl_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPL_API_KEY", KEY)


def write(
    tmp_path: Path, server: LocalServer, engine: str, deepl: str = "", libre: str = ""
) -> Path:
    path = tmp_path / "feeds.yaml"
    text = CONFIG.format(engine=engine, url=server.base_url, deepl=deepl, libre=libre)
    path.write_text(text, encoding="utf-8")
    return path


def engine_for(path: Path, name: str, server: LocalServer) -> Translator:
    if name == "deepl":
        fake: FakeDeepL | FakeLibreTranslate = FakeDeepL(server, key=KEY)
    else:
        fake = FakeLibreTranslate(server)
    fake.fail_next(503, times=10, retry_after=0)
    return build_engine(name, load_config(path))


def attempts(engine: Translator, name: str, server: LocalServer) -> int:
    try:
        with pytest.raises(TranslationError) as info:
            engine.translate(
                TranslationRequest(texts=("Hello",), source_lang="en", target_lang="de")
            )
    finally:
        engine.close()
    assert info.value.blame is Blame.TRANSIENT
    return len(server.requests_to(PATHS[name]))


@pytest.mark.parametrize("name", ["deepl", "libretranslate"])
def test_default_retries_are_three(tmp_path: Path, server: LocalServer, name: str) -> None:
    engine = engine_for(write(tmp_path, server, name), name, server)
    assert attempts(engine, name, server) == 4


@pytest.mark.parametrize(("name", "seconds"), [("deepl", 30.0), ("libretranslate", 60.0)])
def test_default_timeouts(tmp_path: Path, server: LocalServer, name: str, seconds: float) -> None:
    engine = engine_for(write(tmp_path, server, name), name, server)
    try:
        assert engine._client.timeout.read == seconds  # type: ignore[attr-defined]
    finally:
        engine.close()


@pytest.mark.parametrize("name", ["deepl", "libretranslate"])
def test_configured_retries_are_used(tmp_path: Path, server: LocalServer, name: str) -> None:
    keys = "    max_retries: 1\n"
    path = write(tmp_path, server, name, **{"deepl" if name == "deepl" else "libre": keys})
    assert attempts(engine_for(path, name, server), name, server) == 2


@pytest.mark.parametrize("name", ["deepl", "libretranslate"])
def test_configured_timeout_is_used(tmp_path: Path, server: LocalServer, name: str) -> None:
    keys = "    timeout: 0.1\n    max_retries: 0\n"
    path = write(tmp_path, server, name, **{"deepl" if name == "deepl" else "libre": keys})
    engine = engine_for(path, name, server)
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(2.0)
        return Response.json({})

    server.routes[PATHS[name]] = slow
    try:
        with pytest.raises(TranslationError, match="timed out") as info:
            engine.translate(
                TranslationRequest(texts=("Hello",), source_lang="en", target_lang="de")
            )
    finally:
        release.set()
        engine.close()
    assert info.value.blame is Blame.TRANSIENT
    assert len(server.requests_to(PATHS[name])) == 1


def test_check_accepts_the_keys(tmp_path: Path, server: LocalServer) -> None:
    deepl = "    timeout: 12.5\n    max_retries: 0\n"
    libre = (
        "    timeout: 90\n    max_retries: 5\n    max_batch_texts: 10\n    max_batch_chars: 800\n"
    )
    path = write(tmp_path, server, "deepl", deepl, libre)
    config = load_config(path)
    assert (config.translator.deepl.timeout, config.translator.deepl.max_retries) == (12.5, 0)
    lt = config.translator.libretranslate
    assert (lt.timeout, lt.max_retries, lt.max_batch_texts, lt.max_batch_chars) == (90, 5, 10, 800)
    result = run_cli(path, "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("deepl", "timeout", "0", "greater than 0"),
        ("deepl", "max_retries", "-1", "greater than or equal to 0"),
        ("libretranslate", "timeout", "soon", "expected a number"),
        ("libretranslate", "max_retries", "-2", "greater than or equal to 0"),
        ("libretranslate", "max_batch_texts", "0", "greater than or equal to 1"),
        ("libretranslate", "max_batch_chars", "0", "greater than or equal to 1"),
    ],
)
def test_check_refuses_bad_values(
    tmp_path: Path, server: LocalServer, section: str, key: str, value: str, expected: str
) -> None:
    keys = f"    {key}: {value}\n"
    path = write(tmp_path, server, "deepl", **{"deepl" if section == "deepl" else "libre": keys})
    line = path.read_text().splitlines().index(keys.rstrip("\n")) + 1
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:{line}: translator.{section}.{key}: " in str(info.value)
    assert expected in str(info.value)
    result = run_cli(path, "check")
    assert result.returncode != 0
    assert f"{line}: translator.{section}.{key}: " in result.stderr
