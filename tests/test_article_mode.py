"""Article mode end to end: `translator.mode: article` against a real loopback chat API.

A feed server serves small RSS feeds (English posts, and a German channel); the fake
OpenAI-compatible server writes articles or answers faults as scripted. Cycles run in
process through `Pipeline.run_cycle`, and once through the `kanalwerk` command.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest
from lxml import etree

from kanalwerk.config import Config, load_config
from kanalwerk.errors import ConfigError
from kanalwerk.models import Usage
from kanalwerk.store import Store
from kanalwerk.translate.article.base import ArticleRequest, cost_usd
from kanalwerk.translate.article.condense import split_parts
from kanalwerk.translate.article.prompt import RESPONSE_CONTRACT, source_text
from kanalwerk.translate.chain import Suspensions
from kanalwerk.translate.factory import build_article_writer, translator_settings
from tests.cli import run_cli, run_cycle
from tests.fake_openai import (
    FakeOpenAI,
    Fault,
    default_article,
    is_article_request,
    is_notes_request,
)
from tests.servers import LocalServer, Resource
from tests.test_condense import article_from_notes, echo_markers, markers, paragraph

ATOM = "{http://www.w3.org/2005/Atom}"
KEY = "sk-article-mode-0815"
KEY_ENV = "KW_ARTICLE_MODE_KEY"
WRITTEN = default_article({})

POSTS = [
    (
        "Open model beats the giants",
        "https://notes.example.com/2025/01/open-model/",
        "<p>A small lab released a free open-source model that rivals far more expensive "
        "systems. It costs a fraction to run.</p><p>The developers plan to improve it.</p>",
    ),
    (
        "Why inference got cheap",
        "https://notes.example.com/2025/01/cheap-inference/",
        "<p>Inference prices fell by an order of magnitude within a single year, and "
        "the trend goes on.</p>",
    ),
]
GERMAN_POST = (
    "Neues aus dem Labor",
    "https://labor.example.de/neues/",
    "<p>Heute berichten wir über die neuesten Ergebnisse aus unserem Forschungslabor.</p>",
)


def rss(title: str, posts: list[tuple[str, str, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Mon, 27 Jan 2025 1{n}:00:00 +0000</pubDate>"
        f"<description>{escape(body)}</description></item>"
        for n, (t, link, body) in enumerate(posts)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.com/</link>"
        f"<description>{escape(title)}</description>{entries}</channel></rss>"
    ).encode()


@dataclass
class Env:
    folder: Path
    feeds: LocalServer
    api: FakeOpenAI

    def write_config(self, *, openai: str = "", translator: str = "", german: bool = True) -> Path:
        path = self.folder / "feeds.yaml"
        channels = f"""
  - name: Notes
    url: {self.feeds.url("/notes.rss")}
    language: en"""
        if german:
            channels += f"""
  - name: Labor
    url: {self.feeds.url("/labor.rss")}
    language: de"""
        path.write_text(
            f"""
site:
  title: KI-Nachrichten auf Deutsch
  base_url: https://blog.example.org/
  author: Redaktion
output: site/
store: sqlite:///data/kanalwerk.db
translator:
  engine: openai
  mode: article
{translator}
  openai:
    base_url: {self.api.base_url}
    model: test-model
    api_key_env: {KEY_ENV}
{openai}
channels:{channels}
""",
            encoding="utf-8",
        )
        return path

    def config(self, *, openai: str = "", translator: str = "", german: bool = True) -> Config:
        return load_config(self.write_config(openai=openai, translator=translator, german=german))

    def serve(self, posts: list[tuple[str, str, str]]) -> None:
        self.feeds.routes["/notes.rss"] = Resource(rss("Notes", posts))

    @property
    def output(self) -> Path:
        return self.folder / "site"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv(KEY_ENV, KEY)
    feeds = LocalServer().start()
    api_server = LocalServer().start()
    try:
        e = Env(tmp_path, feeds, FakeOpenAI(api_server, api_key=KEY))
        e.serve(POSTS)
        feeds.routes["/labor.rss"] = Resource(rss("Labor", [GERMAN_POST]))
        yield e
    finally:
        feeds.stop()
        api_server.stop()


def entries(feed_file: Path) -> dict[str, etree._Element]:
    """Feed entries by the link to their original."""
    root = etree.parse(str(feed_file)).getroot()
    found = {}
    for entry in root.findall(f"{ATOM}entry"):
        via = next(e.get("href", "") for e in entry.findall(f"{ATOM}link") if e.get("rel") == "via")
        found[via] = entry
    return found


def article_requests(api: FakeOpenAI) -> list[bool]:
    return [is_article_request(body) for body in api.bodies]


def today_usage(config: Config, engine: str = "openai") -> Usage:
    with Store.open(config.store) as store:
        return store.usage_for(datetime.now(UTC).date(), engine)


def pending(config: Config) -> list[tuple[str, int]]:
    with Store.open(config.store) as store:
        return [(s.item.title, s.attempts) for s in store.pending_items(5)]


def test_written_articles_are_published_with_sections_and_the_box_first(env: Env) -> None:
    config = env.config()
    report = run_cycle(config)

    assert report.translate.translated == 3 and report.translate.pending == 0
    assert article_requests(env.api) == [True, True]  # one per English post, none for German
    published = entries(env.output / "feed.atom")
    assert len(published) == 3
    for _title, link, _body in POSTS:
        entry = published[link]
        assert entry.findtext(f"{ATOM}title") == WRITTEN["title"]
        assert entry.findtext(f"{ATOM}summary") == WRITTEN["teaser"]
        content = entry.findtext(f"{ATOM}content") or ""
        box, rest = content.split("</div>", 1)
        assert box.startswith('<div class="quelle"') and "Hinweis zur Quelle" in box
        assert f'href="{link}"' in box
        assert rest.startswith(f"<p>{WRITTEN['teaser']}</p><h2>Was das Modell auszeichnet</h2>")
        assert "<ul><li>Kosten: ein Bruchteil der Konkurrenz</li>" in rest
        assert rest.count("<h2>") == 2

    german = published[GERMAN_POST[1]]
    assert german.findtext(f"{ATOM}title") == GERMAN_POST[0]  # published as it is
    assert "Forschungslabor" in (german.findtext(f"{ATOM}content") or "")

    pages = {p.read_text(encoding="utf-8") for p in (env.output / "artikel").glob("*.html")}
    written_pages = [p for p in pages if f"<h1>{WRITTEN['title']}</h1>" in p]
    assert len(written_pages) == 2
    for page in written_pages:
        assert page.index('class="quelle"') < page.index("<h2>Was das Modell auszeichnet</h2>")

    with Store.open(config.store) as store:
        made_by = {(a.source.link, a.engine, a.model) for a in store.articles()}
    assert made_by == {
        (POSTS[0][1], "openai-article", "test-model"),
        (POSTS[1][1], "openai-article", "test-model"),
        (GERMAN_POST[1], "none", None),
    }

    # What the model got: the post as text, the channel and the glossary-free prompt.
    system, user = env.api.messages(0)
    assert "ein Beitrag des Kanals „Notes“" in system["content"]
    assert source_text(POSTS[0][2]) in user["content"]


def test_second_cycle_makes_no_requests_and_the_store_caches_articles(env: Env) -> None:
    config = env.config()
    run_cycle(config)
    assert env.api.requests == 2
    feed = (env.output / "feed.atom").read_bytes()

    run_cycle(config)
    assert env.api.requests == 2
    assert (env.output / "feed.atom").read_bytes() == feed

    # An article already paid for (say, written just before a crash) is never asked again.
    request = ArticleRequest(
        title="Some post",
        source_html="<p>Some text about models that is long enough to write about.</p>",
        source_lang="en",
        channel_name="Notes",
        link="https://notes.example.com/some-post/",
        is_video=False,
    )
    with Store.open(config.store) as store:
        for _ in range(2):
            writer = build_article_writer(config, store)
            try:
                assert writer.write(request).title == WRITTEN["title"]
            finally:
                writer.close()
    assert env.api.requests == 3


def test_unusable_article_twice_falls_back_to_translation(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.serve(POSTS[:1])
    config = env.config(german=False)
    env.api.answer_articles("Das ist kein JSON.", {"title": "Nur ein Titel"})

    with caplog.at_level(logging.WARNING, logger="kanalwerk.pipeline"):
        report = run_cycle(config)

    assert report.translate.translated == 1 and report.translate.failed == 0
    assert article_requests(env.api) == [True, True, False]
    assert "the answer is not JSON" in env.api.messages(1)[-1]["content"]  # the retry
    assert env.api.segments(2)[0] == POSTS[0][0]  # the title goes to plain translation
    entry = entries(env.output / "feed.atom")[POSTS[0][1]]
    assert entry.findtext(f"{ATOM}title") == f"DE: {POSTS[0][0]}"
    with Store.open(config.store) as store:
        [article] = store.articles()
    assert (article.engine, article.model) == ("openai", "test-model")

    [warning] = [r for r in caplog.records if "no usable article" in r.getMessage()]
    assert POSTS[0][0] in warning.getMessage()
    assert "translating it instead" in warning.getMessage()
    assert 'after 2 attempts: the answer has no "teaser" field' in warning.getMessage()
    assert "spent 2 request(s), " in warning.getMessage()
    # Failed attempts are paid for too: all three requests are counted.
    usage = today_usage(config)
    assert usage.requests == 3
    assert usage.prompt_tokens == env.api.usage_total["prompt_tokens"]
    assert usage.completion_tokens == env.api.usage_total["completion_tokens"]


def test_a_rate_limit_leaves_items_pending_without_burning_an_attempt(env: Env) -> None:
    config = env.config(openai="    max_retries: 0", german=False)
    env.api.fail_next(Fault.rate_limited())

    report = run_cycle(config)

    assert report.translate.translated == 0
    assert report.translate.pending == 2
    assert report.translate.stopped_reason and "unavailable" in report.translate.stopped_reason
    assert env.api.requests == 1  # no fallback to translation, no second item
    assert sorted(pending(config)) == sorted((title, 0) for title, _, _ in POSTS)
    assert entries(env.output / "feed.atom") == {}

    report = run_cycle(config)
    assert report.translate.translated == 2
    assert pending(config) == []
    assert article_requests(env.api) == [True, True, True]


def test_a_server_error_on_one_article_costs_that_item_an_attempt(env: Env) -> None:
    """The other item is written: the 500 was the first item's, not an outage."""
    config = env.config(openai="    max_retries: 0", german=False)
    env.api.fail_next(Fault.server_error(500))

    report = run_cycle(config)

    assert (report.translate.translated, report.translate.failed) == (1, 1)
    assert report.translate.stopped_reason is None
    assert env.api.requests == 2
    assert sorted(pending(config)) == [(POSTS[0][0], 1)]

    assert run_cycle(config).translate.translated == 1
    assert pending(config) == []


def test_usage_and_cost_are_recorded_and_logged(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    prices = "    price_per_million_input: 0.27\n    price_per_million_output: 1.10"
    config = env.config(openai=prices, german=False)

    with caplog.at_level(logging.INFO, logger="kanalwerk.pipeline"):
        run_cycle(config)

    usage = today_usage(config)
    assert usage.requests == 2
    assert usage.characters == sum(len(source_text(body)) for _, _, body in POSTS)
    assert usage.prompt_tokens == env.api.usage_total["prompt_tokens"] > 0
    assert usage.completion_tokens == env.api.usage_total["completion_tokens"] > 0
    logged = [r.getMessage() for r in caplog.records if "written (" in r.getMessage()]
    assert len(logged) == 2
    costs = [float(m) for line in logged for m in re.findall(r"\$(\d+\.\d{4})", line)]
    assert len(costs) == 2
    total = cost_usd(usage, 0.27, 1.10)
    assert total is not None and total > 0
    assert sum(costs) == pytest.approx(total, abs=1e-4)


def test_daily_token_budget_makes_items_wait(env: Env) -> None:
    config = env.config(translator="  budget: {openai: {daily_tokens: 1}}", german=False)

    report = run_cycle(config)

    assert report.translate.translated == 1
    assert report.translate.pending == 1
    assert report.translate.stopped_reason and "daily budget" in report.translate.stopped_reason
    assert env.api.requests == 1
    assert pending(config) == [(POSTS[1][0], 0)]


def test_missing_key_makes_items_wait(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    config = env.config(german=False)

    report = run_cycle(config)

    assert report.translate.pending == 2
    reason = report.translate.stopped_reason or ""
    assert reason.startswith("translation engine unavailable: article mode:")
    assert KEY_ENV in reason
    assert env.api.requests == 0
    assert all(attempts == 0 for _, attempts in pending(config))


def test_prompt_with_translation_placeholders_is_a_config_error(env: Env) -> None:
    path = env.write_config(openai="    article_prompt: 'Übersetze aus {source_lang}. JSON.'")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert re.search(
        r"feeds\.yaml:\d+: translator\.openai\.article_prompt: \{source_lang\} is not filled "
        r"in article mode; use \{channel\}",
        str(caught.value),
    )


def test_cli_run_uses_the_custom_prompt_and_publishes(env: Env) -> None:
    prompt = "Du schreibst für die Leser von {channel} über „{title}“ ({kind}). Regel 42.{glossary}"
    path = env.write_config(
        openai=f"    article_prompt: '{prompt}'",
        translator="  glossary: {open-source: Open Source}",
        german=False,
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(path, *args, env={KEY_ENV: KEY})

    result = run("run", "--once")
    assert result.returncode == 0, result.stderr
    assert "2 translated" in result.stderr
    assert article_requests(env.api) == [True, True]
    systems = [env.api.messages(i)[0]["content"] for i in range(2)]
    expected = {
        f"Du schreibst für die Leser von Notes über „{title}“ (Beitrag). Regel 42.\n"
        "Glossar: gib diese Begriffe genau so wieder (Vorlage → Deutsch):\n"
        "- open-source → Open Source\n"
        f"{RESPONSE_CONTRACT}"
        for title, _, _ in POSTS
    }
    assert set(systems) == expected

    published = entries(env.output / "feed.atom")
    assert len(published) == 2
    for entry in published.values():
        content = entry.findtext(f"{ATOM}content") or ""
        assert content.startswith('<div class="quelle"')
        assert "<h2>" in content.split("</div>", 1)[1]
    assert KEY not in result.stderr

    again = run("run", "--once")
    assert again.returncode == 0, again.stderr
    assert env.api.requests == 2

    status = run("status")
    assert status.returncode == 0, status.stderr
    tokens = env.api.usage_total["prompt_tokens"] + env.api.usage_total["completion_tokens"]
    assert "2 request(s)" in status.stdout and f"{tokens} tokens" in status.stdout


# --- a long transcript, condensed part by part --------------------------------------

EPISODE_LINK = "https://podcast.example.com/episodes/42"


def transcript() -> str:
    """Paragraphs with a marker each, just over 40,000 characters of text."""
    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < 40_000:
        paragraphs.append(paragraph(len(paragraphs)))
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def published_body(config: Config) -> str:
    with Store.open(config.store) as store:
        [article] = store.articles()
    return article.content_html


def serve_transcript(env: Env) -> str:
    """One episode whose text is the transcript; the API's notes and article come from it.

    Each part's notes name the markers of the part sent, the article one section per
    part of notes: what the article says must have travelled through both steps.
    """
    env.serve([("Episode 42: open models", EPISODE_LINK, transcript())])
    env.api.write_notes = echo_markers
    env.api.write_article = article_from_notes
    return source_text(transcript())


def kinds(api: FakeOpenAI) -> list[str]:
    return ["notes" if is_notes_request(b) else "article" for b in api.bodies]


def test_the_end_of_a_long_transcript_reaches_the_article(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    text = serve_transcript(env)
    prices = "    price_per_million_input: 0.27\n    price_per_million_output: 1.10"
    config = env.config(openai=prices, german=False)
    assert len(text) >= 40_000 > config.translator.openai.article_max_source_chars

    with caplog.at_level(logging.INFO, logger="kanalwerk.pipeline"):
        report = run_cycle(config)

    assert report.translate.translated == 1
    parts = env.api.notes_parts()
    assert len(parts) >= 2 and kinds(env.api) == ["notes"] * len(parts) + ["article"]
    assert parts[-1].endswith(text[-300:])  # the end of the transcript went out for notes
    reduce = env.api.messages(-1)[1]["content"]
    last_notes = reduce.split(f"Teil {len(parts)} von {len(parts)}:\n", 1)[1]
    assert markers(last_notes) == markers(parts[-1])  # …and its notes reached the writer
    final_section = published_body(config).rsplit("<h2>", 1)[1]
    assert markers(text)[-1] in final_section
    page = next((env.output / "artikel").glob("*.html")).read_text(encoding="utf-8")
    assert markers(text)[-1] in page

    [line] = [r.getMessage() for r in caplog.records if "written (" in r.getMessage()]
    assert f"written (notes on {len(parts)} part(s): {len(parts)} request(s), " in line
    assert "; article: 1 request(s), " in line and "; total $" in line

    # A re-run costs nothing: the item written anew comes from the cache, not the API.
    run_cycle(config)
    with closing(sqlite3.connect(env.folder / "data" / "kanalwerk.db")) as db, db:
        db.execute("UPDATE items SET state = 'new'")
    assert run_cycle(config).translate.translated == 1
    assert env.api.requests == len(parts) + 1
    assert markers(text)[-1] in published_body(config).rsplit("<h2>", 1)[1]

    # What every step cost is in the usage records, and so in `kanalwerk status`.
    status = run_cli(env.folder / "feeds.yaml", "status")
    assert status.returncode == 0, status.stderr
    tokens = env.api.usage_total["prompt_tokens"] + env.api.usage_total["completion_tokens"]
    sent = len(text) - 2 * (len(parts) - 1) + len(reduce.split("verdichtet.\n\n", 1)[1])
    found = re.search(
        rf"openai: {len(parts) + 1} request\(s\), ([\d,]+) characters, "
        rf"{tokens:,} tokens, \$\d+\.\d{{4}} today",
        status.stdout,
    )
    assert found, status.stdout
    assert len(text) < int(found.group(1).replace(",", "")) < sent


def test_a_budget_spent_half_way_through_the_notes_waits_and_pays_only_the_rest(
    env: Env,
) -> None:
    text = serve_transcript(env)
    limit = 24_000  # article_max_source_chars by default
    parts = split_parts(text, limit)
    assert len(parts) == 2
    room = len(parts[0]) + 100
    config = env.config(
        translator=f"  budget: {{openai: {{daily_characters: {room}}}}}", german=False
    )

    report = run_cycle(config)

    assert report.translate.translated == 0 and report.translate.failed == 0
    assert report.translate.pending == 1
    assert "daily budget" in (report.translate.stopped_reason or "")
    assert env.api.notes_parts() == parts[:1]
    with Store.open(config.store) as store:
        [waiting] = store.pending_items(5)
        assert waiting.attempts == 0
        assert store.usage_for(datetime.now(UTC).date(), "openai").characters == len(parts[0])
        # The next day: the pause is over and there is room again.
        Suspensions(store, settings=translator_settings(config)).suspend(
            "openai", datetime.now(UTC) - timedelta(minutes=1), "over"
        )

    budget = f"  budget: {{openai: {{daily_characters: {room + len(text)}}}}}"
    later = env.config(translator=budget, german=False)
    assert run_cycle(later).translate.translated == 1
    assert env.api.notes_parts() == parts  # the first part was not paid for again
    assert kinds(env.api)[-1] == "article"
    assert markers(text)[-1] in published_body(later).rsplit("<h2>", 1)[1]
