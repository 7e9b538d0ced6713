"""Source language per item: channel config, the feed's word, detection, the default.

Unit tests drive `choose_source_language` directly; pipeline tests poll real loopback
feeds and translate through a loopback LibreTranslate (whose requests name the source
language) or the offline engine with tiny models, and check what was sent and published.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from kanalwerk.config import Config, load_config
from kanalwerk.models import Article, StoredItem
from kanalwerk.store import Store
from kanalwerk.translate.language import (
    LanguageChoice,
    choose_source_language,
    normalise_language,
)
from tests.cli import run_cycle
from tests.fake_libretranslate import FakeLibreTranslate
from tests.servers import LocalServer, Resource
from tests.tiny_model import TinyModels, session_models

GERMAN = (
    "Warum die Bahn ständig zu spät ist – eine Analyse",
    "<p>In diesem Video schauen wir uns an, warum so viele Züge in Deutschland verspätet "
    "sind. Wir sprechen mit Fahrgästen, Lokführern und Fachleuten über Baustellen, alte "
    "Stellwerke und fehlendes Personal.</p><p>Abonniert den Kanal, wenn euch das Video "
    "gefällt!</p>",
)
ENGLISH = (
    "Why trains in Germany are always late",
    "<p>In this video we look at why so many trains in Germany run late. We talk to "
    "passengers, drivers and experts about construction sites, old signal boxes and "
    "missing staff.</p>",
)
FRENCH = (
    "Le nouveau modèle chinois inquiète la Silicon Valley",
    "<p>Les chercheurs expliquent pourquoi ce modèle coûte beaucoup moins cher que ses "
    "concurrents américains, et ce que cela change pour les entreprises européennes.</p>",
)
FRENCH_TOO = (
    "Pourquoi les trains sont toujours en retard",
    "<p>Dans cette vidéo, nous expliquons pourquoi tant de trains arrivent en retard et ce "
    "que les voyageurs peuvent faire quand leur correspondance est annulée.</p>",
)
#: Names and product words only: no detector can tell, so the fallback decides.
AMBIGUOUS = ("GPT-4o Review", "")
#: German, but too short to overrule a feed that says otherwise.
SHORT_GERMAN = ("Live aus Berlin: Pressekonferenz zur Wahl", "")
UNTRANSLATED_BOX = "Dieser Beitrag wurde automatisch erstellt. Er basiert"
TRANSLATED_BOX = "automatisch erstellt und übersetzt"


# --- the decision ----------------------------------------------------------------


def choose(
    text: tuple[str, str],
    *,
    channel: str | None = None,
    declared: str | None = None,
    default: str | None = None,
) -> LanguageChoice:
    return choose_source_language(
        channel=channel, declared=declared, title=text[0], body_html=text[1], default=default
    )


def test_channel_config_wins_over_feed_and_text() -> None:
    assert choose(GERMAN, channel="en-US", declared="fr") == LanguageChoice("en", "channel")
    assert choose(ENGLISH, channel="de") == LanguageChoice("de", "channel")


def test_feed_language_is_used_when_text_agrees_or_is_unclear() -> None:
    assert choose(ENGLISH, declared="en-GB") == LanguageChoice("en", "feed")
    assert choose(AMBIGUOUS, declared="en") == LanguageChoice("en", "feed")
    # Short text reads as German, but not surely enough to overrule the feed.
    assert choose(SHORT_GERMAN, declared="en") == LanguageChoice("en", "feed")
    assert choose(SHORT_GERMAN, declared="de") == LanguageChoice("de", "feed")


def test_clear_text_overrules_a_wrong_feed_language() -> None:
    german = choose(GERMAN, declared="en")
    assert german == LanguageChoice("de", "detected", declared="en")
    assert german.overrules_feed
    # A German blog's English post is translated, not published as if it were German.
    assert choose(ENGLISH, declared="de-DE") == LanguageChoice("en", "detected", declared="de")
    assert choose(FRENCH, declared="en").code == "fr"


def test_detection_fills_in_for_undeclared_feeds() -> None:
    assert choose(GERMAN) == LanguageChoice("de", "detected")
    assert choose(ENGLISH, default="fr") == LanguageChoice("en", "detected")
    # Short but unmistakable text is enough when the feed says nothing.
    assert choose(("Ich habe 30 Tage nur Brot gegessen", "")).code == "de"


def test_short_ambiguous_text_falls_back_to_the_default() -> None:
    assert choose(AMBIGUOUS) == LanguageChoice("auto", "default")
    assert choose(AMBIGUOUS, default="en-GB") == LanguageChoice("en", "default")
    assert choose(("", "<p>  </p>"), default="auto") == LanguageChoice("auto", "default")


def test_declared_values_that_are_not_language_codes_are_ignored() -> None:
    assert normalise_language("en_US") == "en"
    assert normalise_language(" DE-de ") == "de"
    assert normalise_language("English") is None
    assert normalise_language("") is None
    assert choose(AMBIGUOUS, declared="English", default="en") == LanguageChoice("en", "default")


# --- through the pipeline ----------------------------------------------------------


def rss(items: Sequence[tuple[str, str]], language: str | None = None) -> bytes:
    entries = "".join(
        f"""<item><title>{html.escape(title)}</title>
        <link>https://example.com/{n}</link><guid>item-{n}</guid>
        <pubDate>Mon, 0{n + 1} Jan 2025 10:00:00 +0000</pubDate>
        <description>{html.escape(body)}</description></item>"""
        for n, (title, body) in enumerate(items)
    )
    lang = f"<language>{language}</language>" if language else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Kanal</title><link>https://example.com/</link>{lang}{entries}"
        "</channel></rss>"
    ).encode()


def atom_with_entry_language(feed_lang: str, entry_lang: str, text: tuple[str, str]) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{feed_lang}">
  <title>Blog</title><id>urn:blog</id><updated>2025-01-01T00:00:00Z</updated>
  <entry xml:lang="{entry_lang}"><id>urn:blog:1</id><title>{html.escape(text[0])}</title>
    <link href="https://blog.example.com/1"/><updated>2025-01-01T00:00:00Z</updated>
    <summary>{html.escape(text[0])}</summary></entry>
</feed>""".encode()


@dataclass
class World:
    folder: Path
    feeds: LocalServer
    engine: LocalServer

    def config(self, translator: str, feeds: dict[str, bytes], channel_extra: str = "") -> Config:
        channels = ""
        for path, body in feeds.items():
            self.feeds.routes[path] = Resource(body)
            channels += f"  - name: {path.strip('/')}\n    url: {self.feeds.url(path)}\n"
            channels += channel_extra
        (self.folder / "feeds.yaml").write_text(
            f"""
site: {{title: Test, base_url: "https://example.org/", author: Test}}
store: sqlite:///kanalwerk.db
output: site/
translator:
{translator}
channels:
{channels}""",
            encoding="utf-8",
        )
        return load_config(self.folder / "feeds.yaml")

    def articles(self, config: Config) -> dict[str, Article]:
        with Store.open(config.store) as store:
            return {a.source.title: a for a in store.articles()}

    def pending(self, config: Config) -> dict[str, StoredItem]:
        with Store.open(config.store) as store:
            found = store.pending_items(config.translator.max_attempts)
        return {s.item.title: s for s in found}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    feeds, engine = LocalServer().start(), LocalServer().start()
    try:
        yield World(tmp_path, feeds, engine)
    finally:
        feeds.stop()
        engine.stop()


def libre(world: World, extra: str = "") -> tuple[FakeLibreTranslate, str]:
    fake = FakeLibreTranslate(world.engine)
    return fake, f"  engine: libretranslate\n  libretranslate: {{url: {fake.url}}}\n{extra}"


def sent_texts(fake: FakeLibreTranslate) -> list[str]:
    return [text for call in fake.calls for text in call["q"]]


@pytest.mark.parametrize("declared", ["en", None], ids=["declared-en", "undeclared"])
def test_german_item_is_published_untranslated(world: World, declared: str | None) -> None:
    fake, translator = libre(world)
    config = world.config(translator, {"/de.rss": rss([GERMAN, ENGLISH], declared)})
    report = run_cycle(config)
    assert report.translate.translated == 2 and report.translate.failed == 0
    articles = world.articles(config)
    article = articles[GERMAN[0]]
    assert article.engine == "none" and article.title == GERMAN[0]
    assert UNTRANSLATED_BOX in article.content_html
    assert TRANSLATED_BOX not in article.content_html
    assert "Fahrgästen, Lokführern" in article.content_html
    assert articles[ENGLISH[0]].engine == "libretranslate"
    assert TRANSLATED_BOX in articles[ENGLISH[0]].content_html
    sent = sent_texts(fake)
    assert sent and not any("Lokführern" in text or "Bahn" in text for text in sent)


@pytest.mark.parametrize("declared", ["en", None], ids=["declared-en", "undeclared"])
def test_only_german_items_means_zero_translation_requests(
    world: World, declared: str | None
) -> None:
    fake, translator = libre(world)
    second = ("Neues Video ist online", GERMAN[1].replace("Video", "Interview"))
    config = world.config(translator, {"/de.rss": rss([GERMAN, second], declared)})
    report = run_cycle(config)
    assert report.translate.translated == 2
    assert fake.calls == []  # not even one request
    assert {a.engine for a in world.articles(config).values()} == {"none"}


def test_english_item_is_translated_with_the_detected_language(world: World) -> None:
    fake, translator = libre(world)
    config = world.config(translator, {"/mixed.rss": rss([GERMAN, ENGLISH, AMBIGUOUS])})
    run_cycle(config)
    articles = world.articles(config)
    english = articles[ENGLISH[0]]
    assert english.engine == "libretranslate"
    assert english.title == "DE:" + ENGLISH[0].upper()
    assert TRANSLATED_BOX in english.content_html
    assert articles[GERMAN[0]].engine == "none"
    sources = {call["q"][0]: call["source"] for call in fake.calls}
    assert sources[html.escape(ENGLISH[0], quote=False)] == "en"  # detected, not "auto"
    # The ambiguous item falls back to the default and the engine decides.
    assert sources[AMBIGUOUS[0]] == "auto"
    assert articles[AMBIGUOUS[0]].engine == "libretranslate"


def test_short_text_falls_back_to_the_configured_source_language(world: World) -> None:
    fake, translator = libre(world, "  source_language: en\n")
    config = world.config(translator, {"/x.rss": rss([AMBIGUOUS, SHORT_GERMAN])})
    run_cycle(config)
    # Neither title is clear enough to decide on; both go out as the configured language.
    assert [call["source"] for call in fake.calls] == ["en", "en"]
    assert {a.engine for a in world.articles(config).values()} == {"libretranslate"}


def test_channel_language_is_never_second_guessed(world: World) -> None:
    fake, translator = libre(world)
    config = world.config(translator, {"/de.rss": rss([GERMAN], "de")}, "    language: en\n")
    run_cycle(config)
    assert [call["source"] for call in fake.calls] == ["en"]
    assert world.articles(config)[GERMAN[0]].engine == "libretranslate"


def test_entry_xml_lang_is_the_items_language(world: World) -> None:
    """A German entry in an English feed says so itself; its short text cannot tell."""
    fake, translator = libre(world)
    feed = atom_with_entry_language("en", "de", SHORT_GERMAN)
    config = world.config(translator, {"/blog.atom": feed})
    run_cycle(config)
    assert fake.calls == []
    assert world.articles(config)[SHORT_GERMAN[0]].engine == "none"


# --- the offline engine with a detected language ---------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return session_models(tmp_path_factory)


def local_engine(world: World, models: TinyModels, pairs: Sequence[str]) -> str:
    entries = []
    for pair in pairs:
        path = getattr(models, pair)
        world.engine.routes[f"/{pair}.argosmodel"] = Resource(path.read_bytes(), "application/zip")
        from_code, to_code = pair.split("_")
        entries.append(
            {
                "package_version": "1.0",
                "from_code": from_code,
                "to_code": to_code,
                "links": [world.engine.url(f"/{pair}.argosmodel")],
            }
        )
    world.engine.routes["/index.json"] = Resource(json.dumps(entries).encode(), "application/json")
    return (
        "  engine: local\n"
        f"  local: {{package_index_url: {world.engine.url('/index.json')}, "
        f"data_dir: {world.folder / 'models'}, threads: 1, beam_size: 1}}\n"
    )


def test_local_engine_pivots_a_detected_french_item_through_english(
    world: World, models: TinyModels
) -> None:
    translator = local_engine(world, models, ["en_de", "fr_en"])
    config = world.config(translator, {"/x.rss": rss([FRENCH, ENGLISH, GERMAN])})
    report = run_cycle(config)
    assert report.translate.translated == 3, report.translate.errors
    articles = world.articles(config)
    assert articles[FRENCH[0]].engine == articles[ENGLISH[0]].engine == "local"
    assert articles[GERMAN[0]].engine == "none"
    # Each article names the models that really translated it.
    assert articles[FRENCH[0]].model == "argos-fr_en-1.0+en_de-1.0"
    assert articles[ENGLISH[0]].model == "argos-en_de-1.0"
    # The French item brought the fr→en leg; English text never needs it.
    assert len(world.engine.requests_to("/fr_en.argosmodel")) == 1


def test_local_engine_without_a_route_leaves_the_item_pending(
    world: World, models: TinyModels, caplog: pytest.LogCaptureFixture
) -> None:
    translator = local_engine(world, models, ["en_de"]) + "  max_attempts: 2\n"
    config = world.config(translator, {"/x.rss": rss([FRENCH, ENGLISH, FRENCH_TOO])})
    for cycle in range(4):  # more cycles than max_attempts
        caplog.clear()
        report = run_cycle(config).translate
        # The English item between the French ones is not held up.
        assert report.translated == (1 if cycle == 0 else 0)
        assert report.stopped_reason is None and report.failed == 0
        assert report.pending == 2
        # Once per cycle: what is missing and how to fix it.
        waits = [r.getMessage() for r in caplog.records if "wait" in r.getMessage()]
        assert len(waits) == 1, waits
        assert waits[0].startswith("2 item(s) wait: ")
        assert "fr into de" in waits[0] and "kanalwerk models install" in waits[0]
        assert "translator.fallback" in waits[0]
    assert set(world.articles(config)) == {ENGLISH[0]}
    pending = world.pending(config)
    assert set(pending) == {FRENCH[0], FRENCH_TOO[0]}
    assert all(item.state == "new" and item.attempts == 0 for item in pending.values())
    # Once for the en→de download, once to learn that nothing translates French.
    assert len(world.engine.requests_to("/index.json")) == 2


def test_fallback_engine_translates_what_the_local_engine_cannot(
    world: World, models: TinyModels
) -> None:
    fake = FakeLibreTranslate(world.engine)
    translator = (
        local_engine(world, models, ["en_de"])
        + "  fallback: [libretranslate]\n"
        + f"  libretranslate: {{url: {fake.url}}}\n"
    )
    config = world.config(translator, {"/x.rss": rss([FRENCH, ENGLISH])})
    fake.fail_next(403)  # the fallback is broken for this cycle: the French item waits
    first = run_cycle(config).translate
    assert (first.translated, first.pending, first.failed) == (1, 1, 0)
    assert first.stopped_reason is None
    assert world.articles(config)[ENGLISH[0]].engine == "local"
    assert world.pending(config)[FRENCH[0]].attempts == 0

    second = run_cycle(config).translate
    assert (second.translated, second.pending, second.failed) == (1, 0, 0)
    french = world.articles(config)[FRENCH[0]]
    assert (french.engine, french.model) == ("libretranslate", "libretranslate")
    # Only French text ever went to the fallback, and only the local engine saw English.
    assert {call["source"] for call in fake.calls} == {"fr"}
