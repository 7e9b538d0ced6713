"""The offline engine: Argos Translate model packages run with CTranslate2 and SentencePiece.

Each text is split into lines and sentences (`translate.sentences`), every sentence of
the request is SentencePiece-encoded and sent in one `translate_batch` call per model,
and the decoded sentences are joined again with single spaces. A route of two packages
pivots through English (fr→en, then en→de), as Argos Translate does.

Markup: the small NMT models of Argos packages were not trained on tags and drop or
mangle them. So in `fmt="html"` texts that hold placeholders (`<x1>…</x1>`, `<x2/>`) the
text between placeholders is translated as separate pieces and the placeholders stay
exactly where and in the order they were; LibreTranslate's HTML mode does the same. The
price: a linked phrase is translated without the words around it, and German word order
cannot move words across a tag. Texts without placeholders are translated whole.
HTML entities are decoded before and re-encoded after translation.

These models cannot be told to keep a term, so the engine ignores the request's
glossary; `translate.glossary` applies it around the engine with placeholders, which
the tag handling above keeps in place.
"""

from __future__ import annotations

import html
import itertools
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kanalwerk.config import LocalConfig
from kanalwerk.errors import Blame, TranslationDeferred, TranslationError
from kanalwerk.models import Usage
from kanalwerk.translate.base import Translation, TranslationRequest
from kanalwerk.translate.packages import InstalledPackage, Progress, ensure_package
from kanalwerk.translate.sentences import split_sentences

#: Tags kept in place in html texts: the segmenter's placeholders and any other tag.
_MARKUP = re.compile(r"(</?[A-Za-z][^<>]*>)")
_EDGES = re.compile(r"(\s*)(.*?)(\s*)", re.DOTALL)
#: Longer sentences (often unpunctuated video descriptions) are cut at spaces so the model
#: never truncates them (CTranslate2 drops input past `max_input_length` tokens).
MAX_SENTENCE_CHARS = 400
#: Output length cap per batch, relative to the longest input, against runaway repetition.
MAX_DECODING_LENGTH = 512
#: Argos Translate's own setting; slightly favours longer hypotheses.
LENGTH_PENALTY = 0.2

Resolver = Callable[[str, str], Sequence[InstalledPackage]]


@dataclass(frozen=True)
class _Unit:
    """A slot in a text's template, filled with the translation of one sentence."""

    index: int
    escape: bool


def _cut_long(sentence: str) -> list[str]:
    pieces: list[str] = []
    while len(sentence) > MAX_SENTENCE_CHARS:
        window = sentence[:MAX_SENTENCE_CHARS]
        cut = max(window.rfind(mark) for mark in (", ", "; ", ": ", " – ", " - "))
        cut = cut + 1 if cut > MAX_SENTENCE_CHARS // 2 else window.rfind(" ")
        if cut <= 0:
            cut = MAX_SENTENCE_CHARS
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        pieces.append(sentence)
    return pieces


def _plan_text(text: str, escape: bool, parts: list[str | _Unit], sentences: list[str]) -> None:
    for number, line in enumerate(text.split("\n")):
        if number:
            parts.append("\n")
        match = _EDGES.fullmatch(line)
        assert match is not None
        lead, core, trail = match.groups()
        parts.append(lead)
        if any(char.isalnum() for char in core):
            units = [piece for s in split_sentences(core) for piece in _cut_long(s)]
            for position, sentence in enumerate(units):
                if position:
                    parts.append(" ")
                parts.append(_Unit(len(sentences), escape))
                sentences.append(sentence)
        else:  # punctuation or symbols only: nothing a model could improve
            parts.append(html.escape(core, quote=False) if escape else core)
        parts.append(trail)


def plan(text: str, fmt: str, sentences: list[str]) -> list[str | _Unit]:
    """A template of `text`: literal parts and slots for sentences appended to `sentences`."""
    parts: list[str | _Unit] = []
    if fmt != "html":
        _plan_text(text, False, parts, sentences)
        return parts
    for position, chunk in enumerate(_MARKUP.split(text)):
        if position % 2:
            parts.append(chunk)  # a tag, kept verbatim
        elif chunk:
            _plan_text(html.unescape(chunk), True, parts, sentences)
    return parts


def fill(parts: Sequence[str | _Unit], translated: Sequence[str]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            text = translated[part.index]
            out.append(html.escape(text, quote=False) if part.escape else text)
    return "".join(out)


def _route_name(route: Sequence[InstalledPackage]) -> str:
    return "argos-" + "+".join(package.name for package in route)


class _PackageModel:
    """One loaded package: a CTranslate2 translator and its SentencePiece processor."""

    def __init__(self, package: InstalledPackage, *, threads: int, compute_type: str):
        try:
            import ctranslate2
            import sentencepiece
        except ImportError as exc:
            raise TranslationError(
                "the local engine needs the ctranslate2 and sentencepiece packages; "
                "install them with `pip install ctranslate2 sentencepiece`",
                blame=Blame.ENGINE,
            ) from exc
        try:
            self.translator: Any = ctranslate2.Translator(
                str(package.model_dir),
                device="cpu",
                compute_type=compute_type,
                intra_threads=threads,
                inter_threads=1,
            )
            self.tokenizer = sentencepiece.SentencePieceProcessor(
                model_file=str(package.sentencepiece_model)
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise TranslationError(
                f"could not load the {package.pair} model in {package.path} ({exc}); "
                "reinstall it with `kanalwerk models install FILE`",
                blame=Blame.ENGINE,
            ) from exc
        self.package = package

    def translate(self, sentences: list[str], *, beam_size: int, max_batch_size: int) -> list[str]:
        prefix = self.package.target_prefix
        tokens: list[list[str]] = [
            self.tokenizer.encode(sentence, out_type=str) for sentence in sentences
        ]
        longest = max(len(t) for t in tokens)
        try:
            results = self.translator.translate_batch(
                tokens,
                target_prefix=[[prefix]] * len(tokens) if prefix else None,
                beam_size=beam_size,
                num_hypotheses=1,
                max_batch_size=max_batch_size,
                length_penalty=LENGTH_PENALTY,
                replace_unknowns=True,
                max_input_length=0,
                max_decoding_length=min(MAX_DECODING_LENGTH, 2 * longest + 16),
            )
        except (RuntimeError, ValueError) as exc:
            raise TranslationError(
                f"the local {self.package.pair} model failed on this text: {exc}",
                blame=Blame.ITEM,
            ) from exc
        out: list[str] = []
        for result in results:
            pieces = list(result.hypotheses[0])
            if prefix and pieces and pieces[0] == prefix:
                pieces = pieces[1:]
            out.append(self.tokenizer.decode(pieces).strip())
        return out


class LocalTranslator:
    """The `local` engine over an installed route of one or two packages.

    Models load on first use. Requests in another source language than the route's go
    through `resolve` (which may download a package); without a route for them the
    request raises `TranslationDeferred`, so such items wait instead of failing.
    """

    def __init__(
        self,
        route: Sequence[InstalledPackage],
        *,
        threads: int,
        beam_size: int,
        max_batch_size: int = 32,
        compute_type: str = "default",
        resolve: Resolver | None = None,
    ):
        if not route or any(a.to_code != b.from_code for a, b in itertools.pairwise(route)):
            raise ValueError("a route is one package or packages chained through a language")
        if threads < 0 or beam_size < 1 or max_batch_size < 1:
            raise ValueError("threads must be >= 0, beam_size and max_batch_size >= 1")
        self._route = list(route)
        self.threads = threads or os.cpu_count() or 1
        self.beam_size = beam_size
        self.max_batch_size = max_batch_size
        self.compute_type = compute_type
        self._resolve = resolve
        self._routes: dict[tuple[str, str], list[InstalledPackage]] = {
            (route[0].from_code, route[-1].to_code): self._route
        }
        self._models: dict[Path, _PackageModel] = {}
        self._lock = threading.Lock()
        self._resolve_lock = threading.Lock()

    @property
    def engine(self) -> str:
        return "local"

    @property
    def model(self) -> str:
        """E.g. `argos-en_de-1.9`, or `argos-fr_en-1.9+en_de-1.9` when pivoting."""
        return _route_name(self._route)

    def _route_for(self, source_lang: str, target_lang: str) -> list[InstalledPackage]:
        source = self._route[0].from_code if source_lang in ("", "auto") else source_lang.lower()
        key = (source, target_lang.lower())
        if key[0] == key[1]:
            return []
        with self._lock:
            known = self._routes.get(key)
        if known is not None:
            return known
        if self._resolve is None:
            raise TranslationDeferred(
                f"the local engine has a model for {self._route[0].from_code}→"
                f"{self._route[-1].to_code}, not {key[0]}→{key[1]}; install one with "
                "`kanalwerk models install FILE`"
            )
        with self._resolve_lock:  # one download per language, however many threads ask
            with self._lock:
                known = self._routes.get(key)
            if known is not None:
                return known
            try:
                found = list(self._resolve(*key))
            except TranslationDeferred:
                raise
            except TranslationError as exc:  # not offered, index or download unreachable
                raise TranslationDeferred(
                    f"the local engine cannot translate {key[0]} into {key[1]} yet: {exc}"
                ) from exc
            if not found:
                raise TranslationDeferred(
                    f"no local model translates {key[0]} into {key[1]}; install one with "
                    "`kanalwerk models install FILE`"
                )
            with self._lock:
                return self._routes.setdefault(key, found)

    def model_for(self, source_lang: str, target_lang: str) -> str:
        """The model a request in these languages is translated with, e.g. a pivot's.

        Raises `TranslationDeferred` when no route is installed or can be installed.
        """
        route = self._route_for(source_lang, target_lang)
        return _route_name(route) if route else self.model

    def _model(self, package: InstalledPackage) -> _PackageModel:
        with self._lock:
            loaded = self._models.get(package.path)
            if loaded is None:
                loaded = _PackageModel(
                    package, threads=self.threads, compute_type=self.compute_type
                )
                self._models[package.path] = loaded
            return loaded

    def translate(self, request: TranslationRequest) -> Translation:
        route = self._route_for(request.source_lang, request.target_lang)
        if not route:  # already in the target language
            return Translation(request.texts, self.engine, self.model)
        sentences: list[str] = []
        plans = [plan(text, request.fmt, sentences) for text in request.texts]
        translated = sentences
        calls = 0
        if sentences:
            for package in route:
                translated = self._model(package).translate(
                    translated, beam_size=self.beam_size, max_batch_size=self.max_batch_size
                )
                calls += 1
        return Translation(
            texts=tuple(fill(parts, translated) for parts in plans),
            engine=self.engine,
            model=_route_name(route),
            usage=Usage(requests=calls, characters=sum(len(s) for s in sentences) if calls else 0),
        )

    def close(self) -> None:
        """Drop the loaded models; a later request loads them again."""
        with self._lock:
            self._models = {}


def local_translator(
    settings: LocalConfig, source_lang: str, target_lang: str, *, progress: Progress | None = None
) -> LocalTranslator:
    """The engine for `feeds.yaml`: installs the route's packages on first use.

    `source_lang` "auto" means English, the pivot language with the most models. Other
    source languages met later are installed when their first item arrives.
    """
    source = "en" if source_lang in ("", "auto") else source_lang.lower()
    index_url, data_dir = str(settings.package_index_url), settings.data_dir

    def resolve(from_code: str, to_code: str) -> list[InstalledPackage]:
        return ensure_package(from_code, to_code, index_url=index_url, data_dir=data_dir)

    route = ensure_package(
        source, target_lang, index_url=index_url, data_dir=data_dir, progress=progress
    )
    return LocalTranslator(
        route, threads=settings.threads, beam_size=settings.beam_size, resolve=resolve
    )
