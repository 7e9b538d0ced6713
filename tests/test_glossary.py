from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kanalwerk.config import (
    ChannelConfig,
    Config,
    DeepLConfig,
    LibreTranslateConfig,
    OpenAIConfig,
    SiteConfig,
    TranslatorConfig,
)
from kanalwerk.errors import Blame, TranslationError
from kanalwerk.models import Usage
from kanalwerk.store import Store
from kanalwerk.translate.base import Translation, TranslationRequest, Translator
from kanalwerk.translate.deepl import DeepLTranslator
from kanalwerk.translate.factory import build_translator
from kanalwerk.translate.glossary import GlossaryTranslator, with_glossary
from kanalwerk.translate.libretranslate import LibreTranslateTranslator
from kanalwerk.translate.local import LocalTranslator
from kanalwerk.translate.openai import OpenAITranslator
from kanalwerk.translate.packages import InstalledPackage, install_from_file
from kanalwerk.translate.segment import segment_html
from tests.fake_deepl import FakeDeepL, pseudo_translate
from tests.fake_libretranslate import FakeLibreTranslate
from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer
from tests.tiny_model import TinyModels, session_models

Glossary = tuple[tuple[str, str], ...]


class Scripted:
    """An engine that answers each text with `answer(text)` and records every request."""

    def __init__(self, answer: Callable[[str], str] | None = None) -> None:
        self.answer = answer or (lambda text: pseudo_translate(text, markup=True))
        self.requests: list[TranslationRequest] = []

    @property
    def engine(self) -> str:
        return "scripted"

    @property
    def model(self) -> str | None:
        return "v1"

    def translate(self, request: TranslationRequest) -> Translation:
        self.requests.append(request)
        texts = tuple(self.answer(text) for text in request.texts)
        return Translation(texts, self.engine, self.model, Usage(requests=1))

    def close(self) -> None:
        pass

    @property
    def sent(self) -> list[str]:
        return [text for request in self.requests for text in request.texts]


def req(
    *texts: str, glossary: Glossary, fmt: str = "html", source: str = "en"
) -> TranslationRequest:
    return TranslationRequest(texts, source, "de", fmt, glossary)  # type: ignore[arg-type]


# --- the wrapper ----------------------------------------------------------------------

ML: Glossary = (("machine learning", "maschinelles Lernen"), ("DeepSeek", "DeepSeek"))


def test_terms_go_out_as_placeholders_and_come_back_exactly() -> None:
    inner = Scripted()
    wrapped = GlossaryTranslator(inner)
    assert isinstance(wrapped, Translator)
    text = "DeepSeek ships machine learning for <x1>everyone</x1>, says DeepSeek."
    result = wrapped.translate(req(text, glossary=ML))
    assert inner.sent == ["<x901/> ships <x902/> for <x1>everyone</x1>, says <x901/>."]
    assert inner.requests[0].glossary == ML  # engines with their own support still see it
    # the engine upper-cases all text; the terms are untouched by it
    assert result.texts == (
        "DE:DeepSeek SHIPS maschinelles Lernen FOR <x1>EVERYONE</x1>, SAYS DeepSeek.",
    )
    assert (result.engine, result.model, result.usage) == ("scripted", "v1", Usage(requests=1))


def test_longest_term_wins_and_matching_is_case_sensitive() -> None:
    inner = Scripted()
    glossary = (
        ("GPT", "GPT"),
        ("GPT-4 Turbo", "GPT-4 Turbo"),
        ("Open", "Offen"),
        ("OpenAI", "OpenAI"),
    )
    text = "GPT-4 Turbo beats GPT and OpenAI is open. Open!"
    result = GlossaryTranslator(inner).translate(req(text, glossary=glossary))
    assert inner.sent == ["<x901/> beats <x902/> and <x903/> is open. <x904/>!"]
    assert result.texts == ("DE:GPT-4 Turbo BEATS GPT AND OpenAI IS OPEN. Offen!",)


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("AIDA, RAID and AIs; ai or Ai", None),  # only inside words or in another case
        ("AI, (AI) and AI's AI-chip", "<x901/>, (<x901/>) and <x901/>'s <x901/>-chip"),
        ("Open<x1>AI</x1> and <x1>AI</x1>", "Open<x1>AI</x1> and <x1><x901/></x1>"),
        ("<x1>Open</x1>AI", None),  # a word split by an inline element is still one word
        ("Deep<x2/>AI", "Deep<x2/><x901/>"),  # an image or code between: two words
    ],
)
def test_only_whole_words_are_replaced(text: str, sent: str | None) -> None:
    inner = Scripted(answer=lambda t: t)
    result = GlossaryTranslator(inner).translate(
        req(text, "filler words", glossary=(("AI", "KI"),))
    )
    assert inner.sent[0] == (sent or text)
    assert result.texts[0] == (text if sent is None else sent.replace("<x901/>", "KI"))


def test_tags_entities_and_existing_numbers_are_left_alone() -> None:
    inner = Scripted(answer=lambda t: t)
    glossary = (("x1", "X-Eins"), ("amp", "Ampere"), ("AT&T", "AT&T"), ("lt", "LT"))
    text = "<x1>x1</x1> &amp; amp by AT&amp;T &lt;lt&gt; <x950/>"
    result = GlossaryTranslator(inner).translate(req(text, glossary=glossary))
    # numbering starts above the highest placeholder already in the text
    assert inner.sent == ["<x1><x951/></x1> &amp; <x952/> by <x953/> &lt;<x954/>&gt; <x950/>"]
    assert result.texts == ("<x1>X-Eins</x1> &amp; Ampere by AT&amp;T &lt;LT&gt; <x950/>",)


@pytest.mark.parametrize(
    "answer",
    [
        lambda t: t.replace("<x901/>", ""),  # lost
        lambda t: t.replace("<x901/>", "<x901/> <x901/>"),  # doubled
        lambda t: t.replace("<x901/>", "<x902/>"),  # swapped with the other term
    ],
    ids=["lost", "doubled", "swapped"],
)
def test_a_lost_or_repeated_term_never_yields_text(answer: Callable[[str], str]) -> None:
    inner = Scripted(answer=answer)
    wrapped = GlossaryTranslator(inner)
    with pytest.raises(TranslationError, match="glossary term 'DeepSeek'") as caught:
        wrapped.translate(req("DeepSeek does machine learning.", "Fine.", glossary=ML))
    assert caught.value.blame is Blame.ITEM  # item-specific: the rest of the queue goes on
    assert "translator.glossary" in str(caught.value)


def test_forms_html_parsers_write_back_are_accepted() -> None:
    # HTML parsers (LibreTranslate's) write <x901/> as <x901></x901>; engines may space it
    inner = Scripted(
        answer=lambda t: (
            t.replace("<x901/>", "<x901></x901>").replace("<x902/>", "< x902 / >") + "<x977/>"
        )
    )
    result = GlossaryTranslator(inner).translate(req("DeepSeek and machine learning", glossary=ML))
    assert result.texts == ("DeepSeek and maschinelles Lernen",)  # invented <x977/> dropped


def test_plain_text_requests_are_sent_as_html_and_unescaped() -> None:
    inner = Scripted()
    wrapped = GlossaryTranslator(inner)
    result = wrapped.translate(req("DeepSeek < 3 & co", "Tom & Jerry", glossary=ML, fmt="text"))
    assert [r.fmt for r in inner.requests] == ["html"]
    assert inner.sent == ["<x901/> &lt; 3 &amp; co", "Tom &amp; Jerry"]
    assert result.texts == ("DE:DeepSeek < 3 & CO", "DE:TOM & JERRY")
    # without a term the request goes out untouched, as text
    untouched = req("a <b> & c", glossary=ML, fmt="text")
    wrapped.translate(untouched)
    assert inner.requests[-1] is untouched


def test_texts_that_are_only_terms_are_not_sent() -> None:
    inner = Scripted()
    wrapped = GlossaryTranslator(inner)
    result = wrapped.translate(req("DeepSeek", "Use DeepSeek", " <x1>DeepSeek</x1>: ", glossary=ML))
    assert inner.sent == ["Use <x901/>"]
    assert result.texts == ("DeepSeek", "DE:USE DeepSeek", " <x1>DeepSeek</x1>: ")
    inner.requests.clear()
    alone = wrapped.translate(req("machine learning", glossary=ML))
    assert inner.requests == [] and alone.texts == ("maschinelles Lernen",)
    assert (alone.engine, alone.usage) == ("scripted", Usage())


def test_pair_style_shows_the_target_term_and_overrides_what_comes_back() -> None:
    inner = Scripted()
    wrapped = GlossaryTranslator(inner, pair=True)
    result = wrapped.translate(req("DeepSeek does machine learning &amp; more.", glossary=ML))
    assert inner.sent == ["<x901>DeepSeek</x901> does <x902>maschinelles Lernen</x902> &amp; more."]
    # the engine upper-cased the terms inside the pairs too; the glossary wins
    assert result.texts == ("DE:DeepSeek DOES maschinelles Lernen &amp; MORE.",)


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        (lambda t: t.replace("</x901>", ""), False),  # an open pair never closed
        (lambda t: t.replace("<x901>DeepSeek</x901>", "<x901/>"), True),  # written as void
        (lambda t: t.replace("<x901>DeepSeek</x901>", "<x901>Tiefsuche</x901>"), True),
    ],
)
def test_pair_style_checks_structure(answer: Callable[[str], str], ok: bool) -> None:
    wrapped = GlossaryTranslator(Scripted(answer=answer), pair=True)
    request = req("DeepSeek does it", glossary=ML)
    if ok:
        assert wrapped.translate(request).texts == ("DeepSeek does it",)
    else:
        with pytest.raises(TranslationError, match="'DeepSeek'"):
            wrapped.translate(request)


def test_no_glossary_or_only_native_terms_pass_through() -> None:
    inner = Scripted()
    plain = req("DeepSeek does machine learning", glossary=())
    GlossaryTranslator(inner).translate(plain)
    native = GlossaryTranslator(inner, native=lambda _r, _s, _t: True)
    everything = req("DeepSeek does machine learning", glossary=ML)
    native.translate(everything)
    assert inner.requests[0] is plain and inner.requests[1] is everything


def test_native_terms_stay_in_place_and_shield_shorter_terms() -> None:
    inner = Scripted(answer=lambda t: t)
    glossary = (("Foundation", "Stiftung"), ("OpenAI Foundation", "OpenAI Foundation"))
    wrapped = GlossaryTranslator(inner, native=lambda _r, source, target: source == target)
    result = wrapped.translate(req("The OpenAI Foundation is a Foundation.", glossary=glossary))
    assert inner.sent == ["The OpenAI Foundation is a <x901/>."]
    assert result.texts == ("The OpenAI Foundation is a Stiftung.",)


def test_engine_policies() -> None:
    inner = Scripted(answer=lambda t: t)
    glossary = (("DeepSeek", "DeepSeek"), ("AI", "KI"))
    text = "DeepSeek builds AI"
    with_glossary("deepl", inner).translate(req(text, glossary=glossary))
    with_glossary("deepl", inner, deepl_glossary_id="g-1").translate(req(text, glossary=glossary))
    with_glossary("deepl", inner, deepl_glossary_id="g-1").translate(
        req(text, glossary=glossary, source="auto")
    )
    with_glossary("libretranslate", inner).translate(req(text, glossary=glossary))
    with_glossary("openai", inner).translate(req(text, glossary=glossary))
    assert inner.sent == [
        "DeepSeek builds <x901/>",  # DeepL keeps DeepSeek itself (ignore tags)
        text,  # DeepL's glossary does it all when the source language is known
        "DeepSeek builds <x901/>",  # … and cannot without one
        "<x901/> builds <x902/>",
        "<x901>DeepSeek</x901> builds <x902>KI</x902>",
    ]


# --- real engines ---------------------------------------------------------------------


@pytest.fixture
def api(shared_server: LocalServer) -> LocalServer:
    """One loopback server per module, reset for each test."""
    return shared_server.reset()


@pytest.fixture
def libre_fake(api: LocalServer) -> FakeLibreTranslate:
    return FakeLibreTranslate(api)


@pytest.fixture
def libre(libre_fake: FakeLibreTranslate) -> Iterator[LibreTranslateTranslator]:
    with LibreTranslateTranslator(
        LibreTranslateConfig(url=libre_fake.url), sleep=lambda _s: None
    ) as engine:
        yield engine


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> LocalTranslator:
    models: TinyModels = session_models(tmp_path_factory)
    package: InstalledPackage = install_from_file(
        models.en_de, tmp_path_factory.mktemp("glossary-models")
    )
    return LocalTranslator([package], threads=1, beam_size=2)


#: Terms the tiny model's vocabulary cannot produce by chance (ß, ü, digits after a dash).
TERMS: Glossary = (
    ("large language model", "großes Sprachmodell"),
    ("artificial intelligence", "Künstliche Intelligenz"),
    ("Qwen3-Max", "Qwen3-Max"),
)
ARTICLE = (
    "<p>Qwen3-Max is a large language model. The new "
    '<a href="https://example.org/llm">large language model</a> is <em>open</em> today, '
    "and artificial intelligence is everywhere.</p>"
    "<p>We read <strong>the report</strong> about Qwen3-Max.</p>"
)


def _translate_article(engine: Translator, name: str) -> str:
    body = segment_html(ARTICLE)
    result = with_glossary(name, engine).translate(req(*body.texts, glossary=TERMS))
    return body.render(result.texts)


def test_local_engine_keeps_terms_exactly(local: LocalTranslator) -> None:
    out = _translate_article(local, "local")
    assert out.count("Qwen3-Max") == 2
    assert out.count("großes Sprachmodell") == 2
    assert out.count("Künstliche Intelligenz") == 1
    assert '<a href="https://example.org/llm">großes Sprachmodell</a>' in out
    assert re.search(r"<em>[^<]+</em>", out) and re.search(r"<strong>[^<]+</strong>", out)
    assert out.startswith("<p>Qwen3-Max ") and out.count("<p>") == 2
    # the rest was translated (into the tiny model's gibberish), not passed through
    assert "language model" not in out and "artificial" not in out and "report" not in out


def test_libretranslate_gets_placeholders_not_terms(
    libre: LibreTranslateTranslator, libre_fake: FakeLibreTranslate
) -> None:
    out = _translate_article(libre, "libretranslate")
    sent = [text for call in libre_fake.calls for text in call["q"]]
    assert all(call["format"] == "html" for call in libre_fake.calls)
    assert (
        sent[0] == "<x901/> is a <x902/>. The new <x1><x902/></x1> is <x2>open</x2> today, "
        "and <x903/> is everywhere."
    )
    assert not any(source in text for text in sent for source, _ in TERMS)
    assert out == (
        "<p>DE:Qwen3-Max IS A großes Sprachmodell. THE NEW "
        '<a href="https://example.org/llm">großes Sprachmodell</a> IS <em>OPEN</em> TODAY, '
        "AND Künstliche Intelligenz IS EVERYWHERE.</p>"
        "<p>DE:WE READ <strong>THE REPORT</strong> ABOUT Qwen3-Max.</p>"
    )


def test_deepl_maps_terms_and_keeps_its_own_ignore_tags(api: LocalServer) -> None:
    fake = FakeDeepL(api, key="k:fx")
    glossary = (("DeepSeek", "DeepSeek"), ("AI", "KI"))
    with DeepLTranslator(
        DeepLConfig(base_url=fake.url), api_key="k:fx", sleep=lambda _s: None
    ) as deepl:
        result = with_glossary("deepl", deepl).translate(
            req("DeepSeek builds <x1>AI</x1> &amp; more.", glossary=glossary)
        )
    assert fake.calls[0]["text"] == ["<keep>DeepSeek</keep> builds <x1><x901/></x1> &amp; more."]
    assert fake.calls[0]["ignore_tags"] == ["keep"]
    assert result.texts == ("DE:DeepSeek BUILDS <x1>KI</x1> &amp; MORE.",)


def test_openai_sees_the_target_term_and_cannot_change_it(api: LocalServer) -> None:
    fake = FakeOpenAI(api, translate=lambda t: pseudo_translate(t, markup=True))
    engine = OpenAITranslator(OpenAIConfig(base_url=fake.base_url, model="m"), api_key=fake.api_key)
    try:
        result = with_glossary("openai", engine).translate(
            req("DeepSeek does <x1>machine learning</x1>.", glossary=ML)
        )
    finally:
        engine.close()
    assert fake.segments() == [
        "<x901>DeepSeek</x901> does <x1><x902>maschinelles Lernen</x902></x1>."
    ]
    assert "machine learning → maschinelles Lernen" in fake.messages()[0]["content"]
    assert result.texts == ("DE:DeepSeek DOES <x1>maschinelles Lernen</x1>.",)


def test_factory_puts_the_glossary_between_cache_and_engine(
    libre_fake: FakeLibreTranslate, tmp_path: Path
) -> None:
    config = Config(
        path=tmp_path / "feeds.yaml",
        site=SiteConfig(title="T", base_url="https://example.org", author="A"),
        channels=[ChannelConfig(name="Blog", url="https://example.org/feed")],
        translator=TranslatorConfig(
            engine="libretranslate",
            glossary=dict(TERMS),
            libretranslate={"url": libre_fake.url},  # type: ignore[arg-type]
        ),
    )
    store = Store.open(f"sqlite:///{tmp_path / 'k.db'}")
    translator = build_translator(config, store)
    try:
        request = req("Qwen3-Max is a large language model.", glossary=TERMS)
        first = translator.translate(request)
        assert libre_fake.calls[-1]["q"] == ["<x901/> is a <x902/>."]
        again = translator.translate(request)
    finally:
        translator.close()
        store.close()
    assert first.texts == again.texts == ("DE:Qwen3-Max IS A großes Sprachmodell.",)
    assert len(libre_fake.calls) == 1  # the second answer came from the cache


# --- translate="no" -------------------------------------------------------------------

PROTECTED = [
    '<span translate="no"><code>pip install kanalwerk==1.0</code> from '
    '<a href="https://pkg.example/kanalwerk?x=1&amp;y=2">https://pkg.example/kanalwerk</a>'
    "</span>",
    '<span translate="no">Qwen3-Max™ <b>v2</b> &amp; large language model</span>',
    '<div translate="no"><p>Keep <strong>this block</strong>: artificial intelligence '
    "&lt;3</p><ul><li>Qwen3-Max</li></ul></div>",
    '<pre><code class="language-python">print("large language model")\n</code></pre>',
    '<span class="notranslate">Kanalwerk <i>Cloud</i></span>',
]
NESTED = (
    f"<p>Install it with {PROTECTED[0]} and read the <em>guide about {PROTECTED[1]} "
    "now</em>.</p>"
    f"{PROTECTED[2]}"
    f"<blockquote><p>The artificial intelligence team said:</p>{PROTECTED[3]}</blockquote>"
    f"<ul><li>Try <strong>{PROTECTED[4]} with a large language model</strong>.</li></ul>"
)


@pytest.mark.parametrize("name", ["local", "libretranslate"])
def test_translate_no_spans_come_back_byte_identical(
    name: str, request: pytest.FixtureRequest
) -> None:
    engine: Translator = request.getfixturevalue("local" if name == "local" else "libre")
    body = segment_html(NESTED)
    assert not any("Kanalwerk" in text or "pip install" in text for text in body.texts)
    result = with_glossary(name, engine).translate(req(*body.texts, glossary=TERMS))
    out = body.render(result.texts)
    for fragment in PROTECTED:
        assert out.count(fragment) == 1, fragment
    assert out.count("Künstliche Intelligenz") == 1  # only the unprotected one
    assert out.count("großes Sprachmodell") == 1
    assert "Install it with" not in out and "The artificial" not in out
