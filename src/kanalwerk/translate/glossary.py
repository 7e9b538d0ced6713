"""Glossary terms kept or mapped exactly, whatever the engine.

`GlossaryTranslator` wraps an engine. Before sending, each glossary source term found in
a text (whole word, case-sensitive, longest term first, never inside a tag or an HTML
entity) is swapped for a placeholder tag numbered from 901 up, above any placeholder
the segmenter put in the same text, so the two never clash. Every engine already keeps
placeholders in `fmt="html"` texts (the local engine and LibreTranslate translate the
text between tags and leave the tags alone; DeepL uses XML tag handling; the OpenAI
prompt demands them), so afterwards the target term goes where its placeholder came
back, byte for byte. The price is context: the engine translates the words around a
placeholder without knowing what it stands for, so German word order and inflection
around the term may be less natural than with an engine's own glossary.

Two styles: `<x901/>` (void) for machine translation engines, and `<x901>term</x901>`
(pair, with the *target* term inside) for language models, which write better German
when they can see the term; whatever the model writes inside the pair is replaced.

Terms an engine applies itself (`native`: DeepL's glossary, or its ignore tags for terms
that stay unchanged) are matched too, so a shorter term inside them is left alone, but
they are sent as they are.

`fmt="text"` requests whose texts hold a term are sent as HTML (escaped), because only
HTML mode guarantees that an engine leaves tags alone; the answers are unescaped.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.models import Usage
from kanalwerk.translate.base import (
    Translation,
    TranslationRequest,
    Translator,
    TranslatorWrapper,
)
from kanalwerk.translate.segment import VOID_TAGS

#: First placeholder number used for terms; the segmenter numbers from 1 per segment.
FIRST_NUMBER = 901

#: Any tag in an html text (as the local engine splits them).
_TAG = re.compile(r"(</?[A-Za-z][^<>]*>)")
#: A placeholder as engines may write it back: `<x1>`, `</x1>`, `<x2/>`, `< x2 / >`.
_PLACEHOLDER = re.compile(r"<\s*(/?)\s*x(\d+)\s*(/?)\s*>", re.IGNORECASE)
#: A pair placeholder with plain text inside: `<x901>…</x901>`.
_PAIR = re.compile(r"<\s*x(\d+)\s*>([^<>]*)<\s*/\s*x\1\s*>", re.IGNORECASE)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][\w-]*)")

#: Does the engine apply this (source, target) term itself for this request?
NativeTerm = Callable[[TranslationRequest, str, str], bool]


def _never(request: TranslationRequest, source: str, target: str) -> bool:
    return False


def _escape(text: str) -> str:
    """Text → HTML the way the segmenter writes it."""
    return html.escape(text, quote=False).replace("\xa0", "&nbsp;")


def _transparent(tag: str) -> bool:
    """Tags that do not end a word: `<b>Deep</b>Seek` is one word, `Deep<x2/>Seek` two."""
    name = _TAG_NAME.match(tag)
    return not tag.rstrip(">").rstrip().endswith("/") and not (
        name and name.group(1).lower() in VOID_TAGS
    )


@dataclass(frozen=True)
class _Term:
    source: str
    target: str
    native: bool


class _Matcher:
    """Finds glossary terms: whole words, case-sensitive, the longest at a position."""

    def __init__(self, terms: Sequence[_Term]):
        ordered = sorted(terms, key=lambda t: (-len(t.source), t.source))
        self.terms = {t.source: t for t in ordered}
        alternatives = "|".join(re.escape(t.source) for t in ordered)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")

    def find(self, text: str, before: str = "", after: str = "") -> list[tuple[int, int, _Term]]:
        """(start, end, term) in `text`; `before`/`after` are the neighbouring characters."""
        context = before + text + after
        shift, end = len(before), len(before) + len(text)
        return [
            (m.start() - shift, m.end() - shift, self.terms[m.group()])
            for m in self._pattern.finditer(context, shift)
            if m.end() <= end
        ]


@dataclass
class _Encoded:
    """One text as sent, and what its placeholders stand for."""

    text: str
    first: int  # numbers from here on are ours
    terms: dict[int, _Term] = field(default_factory=dict)
    counts: Counter[int] = field(default_factory=Counter)
    words: bool = True  # anything left for the engine to translate

    @property
    def send(self) -> bool:
        return self.words or not self.terms


class GlossaryTranslator(TranslatorWrapper):
    """A `Translator` that keeps or maps glossary terms exactly through placeholders.

    If the engine drops or repeats a term's placeholder, the request fails with a
    `TranslationError` blamed on the item instead of returning text: a term missing or
    doubled changes what the article says, and nothing here can know where a lost term
    belonged. The item stays queued (a later attempt or a fallback engine may do
    better) and nothing broken is published. A placeholder the engine wrote as an empty
    pair (`<x901></x901>`, as HTML parsers do) counts as kept.
    """

    def __init__(
        self, inner: Translator, *, pair: bool = False, native: NativeTerm = _never
    ) -> None:
        super().__init__(inner)
        self._pair = pair
        self._native = native

    def translate(self, request: TranslationRequest) -> Translation:
        terms = self._terms(request)
        if not any(not t.native for t in terms):
            return self._inner.translate(request)
        matcher = _Matcher(terms)
        is_html = request.fmt == "html"
        encoded = [self._encode(text, is_html, matcher) for text in request.texts]
        if not any(e.terms for e in encoded):
            return self._inner.translate(request)
        out = [e.text for e in encoded]
        todo = [i for i, e in enumerate(encoded) if e.send]
        engine, model, usage = self._inner.engine, self._inner.model, Usage()
        if todo:
            sent = tuple(encoded[i].text for i in todo)
            result = self._inner.translate(replace(request, texts=sent, fmt="html"))
            if len(result.texts) != len(sent):
                raise TranslationError(
                    f"{result.engine} returned {len(result.texts)} translations for "
                    f"{len(sent)} texts",
                    blame=Blame.ITEM,
                )
            for i, text in zip(todo, result.texts, strict=True):
                out[i] = text
            engine, model, usage = result.engine, result.model, result.usage
        restored = [self._restore(text, e, engine) for text, e in zip(out, encoded, strict=True)]
        if not is_html:
            restored = [html.unescape(text) for text in restored]
        return Translation(tuple(restored), engine, model, usage)

    def _terms(self, request: TranslationRequest) -> list[_Term]:
        terms: dict[str, _Term] = {}
        for source, target in request.glossary:
            if source.strip() and source not in terms:
                native = self._native(request, source, target)
                terms[source] = _Term(source, target, native)
        return list(terms.values())

    # -- encoding ----------------------------------------------------------------

    def _encode(self, text: str, is_html: bool, matcher: _Matcher) -> _Encoded:
        pieces = _TAG.split(text) if is_html else [text]
        chunks = [html.unescape(p) if is_html else p for p in pieces[::2]]
        tags = pieces[1::2]
        existing = [int(m.group(2)) for tag in tags for m in _PLACEHOLDER.finditer(tag)]
        encoded = _Encoded("", max([FIRST_NUMBER - 1, *existing]) + 1)
        numbers: dict[str, int] = {}
        rest: list[str] = []
        out: list[str] = []
        for k, chunk in enumerate(chunks):
            if k:
                out.append(tags[k - 1])
            matches = matcher.find(chunk, _before(chunks, tags, k), _after(chunks, tags, k))
            replaced = [(start, end, term) for start, end, term in matches if not term.native]
            if not replaced:
                out.append(pieces[2 * k] if is_html else _escape(chunk))
                rest.append(chunk)
                continue
            last = 0
            for start, end, term in replaced:
                number = numbers.setdefault(term.source, encoded.first + len(numbers))
                encoded.terms[number] = term
                encoded.counts[number] += 1
                rest.append(chunk[last:start])
                out.append(_escape(chunk[last:start]) + self._placeholder(number, term))
                last = end
            rest.append(chunk[last:])
            out.append(_escape(chunk[last:]))
        encoded.text = "".join(out)
        encoded.words = any(char.isalpha() for part in rest for char in part)
        return encoded

    def _placeholder(self, number: int, term: _Term) -> str:
        if self._pair and term.target:
            return f"<x{number}>{_escape(term.target)}</x{number}>"
        return f"<x{number}/>"

    # -- restoring ---------------------------------------------------------------

    def _restore(self, text: str, encoded: _Encoded, engine: str) -> str:
        if not encoded.terms:
            return text
        ours = encoded.terms

        def collapse(match: re.Match[str]) -> str:
            return f"<x{match.group(1)}/>" if int(match.group(1)) in ours else match.group(0)

        if self._pair:
            text = _PAIR.sub(collapse, text)
        got: Counter[int] = Counter()
        broken: set[int] = set()

        def put(match: re.Match[str]) -> str:
            closing, digits, slash = match.groups()
            number = int(digits)
            if number < encoded.first:
                return match.group(0)  # the segmenter's
            if number not in ours:
                return ""  # invented by the engine
            if closing:
                if self._pair:
                    broken.add(number)
                return ""
            if self._pair and not slash:
                broken.add(number)
            got[number] += 1
            return _escape(ours[number].target)

        restored = _PLACEHOLDER.sub(put, text)
        for number, term in ours.items():
            if number in broken or got[number] != encoded.counts[number]:
                raise TranslationError(
                    f"{engine} lost or repeated the glossary term {term.source!r} (sent "
                    f"{encoded.counts[number]} time(s), got {got[number]} back); the text "
                    "is not used and the item is tried again later. If this keeps "
                    "happening, use another engine or remove the term from "
                    "translator.glossary",
                    blame=Blame.ITEM,
                )
        return restored


def _before(chunks: Sequence[str], tags: Sequence[str], k: int) -> str:
    """The character before chunk `k` in the rendered text, across word-internal tags."""
    for j in range(k - 1, -1, -1):
        if not _transparent(tags[j]):
            return ""
        if chunks[j]:
            return chunks[j][-1]
    return ""


def _after(chunks: Sequence[str], tags: Sequence[str], k: int) -> str:
    for j in range(k, len(tags)):
        if not _transparent(tags[j]):
            return ""
        if chunks[j + 1]:
            return chunks[j + 1][0]
    return ""


def with_glossary(
    name: str, inner: Translator, *, deepl_glossary_id: str | None = None
) -> Translator:
    """Wrap engine `name` so the configured glossary is applied exactly.

    - `deepl`: terms that stay unchanged use DeepL's own ignore tags (DeepL still sees
      the word, which helps the grammar around it); with a `glossary_id` and a known
      source language, DeepL's glossary applies every term (DeepL cannot use a glossary
      without `source_lang`, so for "auto" the placeholders stand in).
    - `openai`: pair placeholders holding the target term, so the model sees it; the
      glossary also stays in the prompt.
    - `local`, `libretranslate` and anything else: void placeholders, since these
      engines cannot be told about terms at all.
    """
    if name == "openai":
        return GlossaryTranslator(inner, pair=True)
    if name == "deepl":
        if deepl_glossary_id:

            def deepl_native(request: TranslationRequest, source: str, target: str) -> bool:
                return request.source_lang != "auto" or source == target

            return GlossaryTranslator(inner, native=deepl_native)
        return GlossaryTranslator(inner, native=lambda _r, source, target: source == target)
    return GlossaryTranslator(inner)
