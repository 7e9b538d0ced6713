from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kanalwerk.config import LocalConfig
from kanalwerk.errors import Blame, TranslationDeferred, TranslationError
from kanalwerk.translate import local
from kanalwerk.translate.base import TranslationRequest, Translator
from kanalwerk.translate.local import LocalTranslator, local_translator
from kanalwerk.translate.packages import InstalledPackage, install_from_file, read_package
from tests.servers import LocalServer, Resource
from tests.tiny_model import PREFIX_TOKEN, TinyModels, session_models

PLACEHOLDER = re.compile(r"</?x\d+/?>")


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return session_models(tmp_path_factory)


@pytest.fixture(scope="session")
def installed(
    models: TinyModels, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, InstalledPackage]:
    data = tmp_path_factory.mktemp("engine-data")
    prefixed = tmp_path_factory.mktemp("engine-prefixed")
    return {
        "en_de": install_from_file(models.en_de, data),
        "fr_en": install_from_file(models.fr_en, data),
        "en_de_prefixed": install_from_file(models.en_de_prefixed, prefixed),
    }


@pytest.fixture
def engine(installed: dict[str, InstalledPackage]) -> LocalTranslator:
    return LocalTranslator([installed["en_de"]], threads=1, beam_size=2)


def _request(*texts: str, fmt: str = "text", source: str = "en") -> TranslationRequest:
    return TranslationRequest(tuple(texts), source, "de", fmt=fmt)  # type: ignore[arg-type]


def test_is_a_translator(engine: LocalTranslator) -> None:
    assert isinstance(engine, Translator)
    assert engine.engine == "local"
    assert engine.model == "argos-en_de-1.0"


def test_one_output_per_input_and_empty_stays_empty(engine: LocalTranslator) -> None:
    texts = ("The new model is big.", "", "   ", "Today we read the report. They write news!", "?")
    result = engine.translate(_request(*texts))
    assert len(result.texts) == len(texts)
    assert result.texts[1] == "" and result.texts[2] == "   " and result.texts[4] == "?"
    assert result.texts[0].strip() and result.texts[3].strip()
    assert result.texts[0] != texts[0]
    assert (result.engine, result.model) == ("local", "argos-en_de-1.0")


def test_usage_counts_one_batch_call_and_source_characters(engine: LocalTranslator) -> None:
    texts = ("The new model is big. It is open!", "Today they release an update.", "")
    result = engine.translate(_request(*texts))
    assert result.usage.requests == 1  # every sentence of the request in one translate_batch
    assert result.usage.characters == len(
        "The new model is big.It is open!Today they release an update."
    )
    assert engine.translate(_request("", " ", "…")).usage.requests == 0


def test_lines_and_sentences_keep_their_layout(engine: LocalTranslator) -> None:
    text = "  First line. Second sentence.\n\nThird line  "
    out = engine.translate(_request(text)).texts[0]
    assert out.startswith("  ") and out.endswith("  ")
    lines = out.split("\n")
    assert len(lines) == 3 and lines[1] == ""
    # sentences are translated one by one: the same sentence gives the same output alone
    alone = engine.translate(_request("Third line")).texts[0]
    assert lines[2].strip() == alone


def test_same_input_same_output(
    engine: LocalTranslator, installed: dict[str, InstalledPackage]
) -> None:
    request = _request("The market is open today. We read the paper.", "A small robot, big news!")
    first = engine.translate(request)
    assert engine.translate(request) == first
    fresh = LocalTranslator([installed["en_de"]], threads=2, beam_size=2)
    assert fresh.translate(request).texts == first.texts


@pytest.mark.parametrize(
    "text",
    [
        "Read <x1>the new report</x1> today.",
        "<x1>Start</x1> and <x2>middle</x2> then <x3/> end",
        "Nested <x1>outer <x2>inner</x2> text</x1>.",
        "<x1></x1><x2/>Only tags around this.<x3/>",
        "Line one <x1>link</x1>.\nLine two <x2/> here.",
        "<x1>Tom</x1> &amp; <x2>Jerry</x2> &lt;3",
    ],
)
def test_html_placeholders_stay_in_place(engine: LocalTranslator, text: str) -> None:
    out = engine.translate(_request(text, fmt="html")).texts[0]
    assert PLACEHOLDER.findall(out) == PLACEHOLDER.findall(text)
    # the literal text around the placeholders is where it was
    assert [bool(p.strip()) for p in PLACEHOLDER.split(out)] == [
        bool(p.strip()) for p in PLACEHOLDER.split(text)
    ]
    assert out.count("\n") == text.count("\n")
    # nothing left unescaped: every & starts an entity
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)


def test_html_entity_between_placeholders_is_kept(engine: LocalTranslator) -> None:
    out = engine.translate(_request("<x1>Tom</x1> &amp; <x2>Jerry</x2>", fmt="html")).texts[0]
    assert "</x1> &amp; <x2>" in out


def test_html_without_placeholders_is_translated_whole(engine: LocalTranslator) -> None:
    plain = engine.translate(_request("The model is open. They read it.")).texts[0]
    as_html = engine.translate(_request("The model is open. They read it.", fmt="html")).texts[0]
    assert as_html == plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_placeholder_pieces_are_translated_separately(engine: LocalTranslator) -> None:
    out = engine.translate(_request("We read <x1>the report</x1> today", fmt="html")).texts[0]
    pieces = [engine.translate(_request(t)).texts[0] for t in ("We read", "the report", "today")]
    assert out == f"{pieces[0]} <x1>{pieces[1]}</x1> {pieces[2]}"


def test_target_prefix_is_applied_and_removed(installed: dict[str, InstalledPackage]) -> None:
    package = installed["en_de_prefixed"]
    engine = LocalTranslator([package], threads=1, beam_size=2)
    texts = ("The new model is big.", "Today they read the news!")
    out = engine.translate(_request(*texts)).texts
    raw = engine._model(package)
    tokens = [raw.tokenizer.encode(t, out_type=str) for t in texts]
    forced = raw.translator.translate_batch(tokens, target_prefix=[[PREFIX_TOKEN]] * 2)
    assert all(r.hypotheses[0][0] == PREFIX_TOKEN for r in forced)
    assert not any(PREFIX_TOKEN in text for text in out)
    expected = [raw.tokenizer.decode(r.hypotheses[0][1:]).strip() for r in forced]
    assert list(out) == expected


def test_pivot_through_english(installed: dict[str, InstalledPackage]) -> None:
    fr_en, en_de = installed["fr_en"], installed["en_de"]
    pivot = LocalTranslator([fr_en, en_de], threads=1, beam_size=2)
    assert pivot.model == "argos-fr_en-1.0+en_de-1.0"
    texts = ("Le nouveau modèle est grand.", "", "Bonjour")
    result = pivot.translate(_request(*texts, source="fr"))
    assert len(result.texts) == 3 and result.texts[1] == ""
    assert result.usage.requests == 2  # one batch per leg
    # the pivot is the composition of the two legs, sentence by sentence
    first = LocalTranslator([fr_en], threads=1, beam_size=2)
    second = LocalTranslator([en_de], threads=1, beam_size=2)
    for text, out in zip(texts, result.texts, strict=True):
        if not text:
            continue
        english = first.translate(TranslationRequest((text,), "fr", "en")).texts[0]
        assert second.translate(_request(english)).texts[0] == out


def test_route_must_connect(installed: dict[str, InstalledPackage]) -> None:
    with pytest.raises(ValueError, match="route"):
        LocalTranslator([installed["en_de"], installed["fr_en"]], threads=1, beam_size=2)
    with pytest.raises(ValueError, match="route"):
        LocalTranslator([], threads=1, beam_size=2)


def test_other_source_language(installed: dict[str, InstalledPackage]) -> None:
    fixed = LocalTranslator([installed["en_de"]], threads=1, beam_size=2)
    assert fixed.translate(_request("The model.", source="auto")).model == "argos-en_de-1.0"
    with pytest.raises(TranslationError, match="en→de, not fr→de") as caught:
        fixed.translate(_request("Le modèle.", source="fr"))
    assert isinstance(caught.value, TranslationDeferred)
    same = fixed.translate(_request("Schon  deutsch.", "", source="de"))
    assert same.texts == ("Schon  deutsch.", "") and same.usage.requests == 0

    asked: list[tuple[str, str]] = []

    def resolve(from_code: str, to_code: str) -> list[InstalledPackage]:
        asked.append((from_code, to_code))
        return [installed["fr_en"], installed["en_de"]]

    flexible = LocalTranslator([installed["en_de"]], threads=1, beam_size=2, resolve=resolve)
    result = flexible.translate(_request("Le modèle.", source="fr"))
    flexible.translate(_request("Le chat.", source="fr"))
    assert result.model == "argos-fr_en-1.0+en_de-1.0" and result.usage.requests == 2
    assert asked == [("fr", "de")]  # resolved once, then remembered
    assert flexible.model == "argos-en_de-1.0"


def test_threads_setting(installed: dict[str, InstalledPackage]) -> None:
    assert LocalTranslator([installed["en_de"]], threads=0, beam_size=2).threads == (
        os.cpu_count() or 1
    )
    assert LocalTranslator([installed["en_de"]], threads=3, beam_size=2).threads == 3
    with pytest.raises(ValueError):
        LocalTranslator([installed["en_de"]], threads=-1, beam_size=2)


_COUNT_THREADS = """
import os, sys
from pathlib import Path
from kanalwerk.translate.base import TranslationRequest
from kanalwerk.translate.local import LocalTranslator
from kanalwerk.translate.packages import read_package
engine = LocalTranslator([read_package(Path(sys.argv[1]))], threads=int(sys.argv[2]), beam_size=2)
engine.translate(TranslationRequest(("The new model is big and open today.",) * 32, "en", "de"))
print(len(os.listdir("/proc/self/task")))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_threads_reach_ctranslate2(installed: dict[str, InstalledPackage]) -> None:
    """CTranslate2 starts one compute thread per intra thread: count them in a fresh process."""

    def count(threads: int) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _COUNT_THREADS, str(installed["en_de"].path), str(threads)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return int(done.stdout.strip())

    assert count(1) < count(3)


def test_close_releases_and_reloads(engine: LocalTranslator) -> None:
    request = _request("The model is open.")
    first = engine.translate(request)
    assert engine._models
    engine.close()
    assert not engine._models
    assert engine.translate(request) == first


def test_broken_model_fails_clearly(models: TinyModels, tmp_path: Path) -> None:
    package = install_from_file(models.en_de, tmp_path)
    (package.model_dir / "model.bin").write_bytes(b"garbage")
    engine = LocalTranslator([read_package(package.path)], threads=1, beam_size=2)
    with pytest.raises(TranslationError, match="could not load the en→de model") as caught:
        engine.translate(_request("The model."))
    assert caught.value.blame is Blame.ENGINE
    assert "kanalwerk models install" in str(caught.value)


def test_long_unpunctuated_text_is_cut_at_spaces() -> None:
    words = " ".join(f"word{i}" for i in range(300))
    pieces = local._cut_long(words)
    assert len(pieces) > 1 and all(len(p) <= local.MAX_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces) == words
    clause = "a" * 300 + ", " + "b " * 100
    assert local._cut_long(clause)[0] == "a" * 300 + ","


def test_factory_installs_on_first_use(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    entries = []
    for pair, path in (("en_de", models.en_de), ("fr_en", models.fr_en)):
        server.routes[f"/{pair}.argosmodel"] = Resource(path.read_bytes(), "application/zip")
        from_code, to_code = pair.split("_")
        entries.append(
            {
                "package_version": "1.0",
                "from_code": from_code,
                "to_code": to_code,
                "links": [server.url(f"/{pair}.argosmodel")],
            }
        )
    server.routes["/index.json"] = Resource(json.dumps(entries).encode(), "application/json")
    seen: list[int] = []
    settings = LocalConfig(
        package_index_url=server.url("/index.json"), data_dir=tmp_path, threads=1, beam_size=1
    )
    engine = local_translator(
        settings, "auto", "de", progress=lambda done, total: seen.append(done)
    )
    assert engine.model == "argos-en_de-1.0" and engine.beam_size == 1
    assert seen and seen[-1] == models.en_de.stat().st_size
    assert engine.translate(_request("The news.")).texts[0]
    assert not server.requests_to("/fr_en.argosmodel")
    # a French item later brings the fr→en leg on its own
    result = engine.translate(_request("Les nouvelles.", source="fr"))
    assert result.model == "argos-fr_en-1.0+en_de-1.0"
    assert len(server.requests_to("/fr_en.argosmodel")) == 1
    engine.close()


def test_factory_error_names_the_fix(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/index.json"] = Resource(b"[]", "application/json")
    with pytest.raises(TranslationError, match="kanalwerk models install FILE") as caught:
        local_translator(
            LocalConfig(package_index_url=server.url("/index.json"), data_dir=tmp_path), "en", "de"
        )
    assert caught.value.blame is Blame.ENGINE
