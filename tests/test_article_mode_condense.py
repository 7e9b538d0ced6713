"""A 40,000-character transcript in article mode, end to end, against a loopback chat API.

The feed serves one episode whose text is a long transcript; the fake API makes each
part's notes from the marker words of the part it was sent, and the article from the
notes it was sent. So the article's last section can only name the transcript's last
marker if the end of the transcript went out for notes and its notes reached the writer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest

from kanalwerk.config import Config, load_config
from kanalwerk.store import Store
from kanalwerk.translate.article.condense import split_parts
from kanalwerk.translate.article.prompt import source_text
from kanalwerk.translate.chain import Suspensions
from kanalwerk.translate.factory import translator_settings
from tests.cli import run_cli, run_cycle
from tests.fake_openai import FakeOpenAI, is_notes_request
from tests.servers import LocalServer, Resource
from tests.test_condense import article_from_notes, echo_markers, markers, paragraph

KEY = "sk-condense-4711"
KEY_ENV = "KW_CONDENSE_KEY"
LINK = "https://podcast.example.com/episodes/42"


def transcript() -> str:
    """Paragraphs with a marker each, just over 40,000 characters of text."""
    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < 40_000:
        paragraphs.append(paragraph(len(paragraphs)))
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def feed(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Open Models Podcast</title><link>https://podcast.example.com/</link>"
        "<description>Talk</description><item><title>Episode 42: open models</title>"
        f"<link>{LINK}</link><guid>{LINK}</guid>"
        "<pubDate>Mon, 27 Jan 2025 10:00:00 +0000</pubDate>"
        f"<description>{escape(body)}</description></item></channel></rss>"
    ).encode()


@dataclass
class Env:
    folder: Path
    api: FakeOpenAI
    feed_url: str

    def config(self, translator: str = "") -> Config:
        path = self.folder / "feeds.yaml"
        path.write_text(
            f"""
site: {{title: Offene Modelle, base_url: "https://blog.example.org/", author: Redaktion}}
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
    price_per_million_input: 0.27
    price_per_million_output: 1.10
channels:
  - name: Podcast
    url: {self.feed_url}
    language: en
""",
            encoding="utf-8",
        )
        return load_config(path)

    def kinds(self) -> list[str]:
        return ["notes" if is_notes_request(b) else "article" for b in self.api.bodies]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv(KEY_ENV, KEY)
    feeds, api_server = LocalServer().start(), LocalServer().start()
    try:
        feeds.routes["/podcast.rss"] = Resource(feed(transcript()))
        api = FakeOpenAI(
            api_server, api_key=KEY, write_notes=echo_markers, write_article=article_from_notes
        )
        yield Env(tmp_path, api, feeds.url("/podcast.rss"))
    finally:
        feeds.stop()
        api_server.stop()


def published_body(config: Config) -> str:
    with Store.open(config.store) as store:
        [article] = store.articles()
    return article.content_html


def test_the_end_of_a_long_transcript_reaches_the_article(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    config = env.config()
    text = source_text(transcript())
    assert len(text) >= 40_000 > config.translator.openai.article_max_source_chars

    with caplog.at_level(logging.INFO, logger="kanalwerk.pipeline"):
        report = run_cycle(config)

    assert report.translate.translated == 1
    parts = env.api.notes_parts()
    assert len(parts) >= 2 and env.kinds() == ["notes"] * len(parts) + ["article"]
    assert parts[-1].endswith(text[-300:])  # the end of the transcript went out for notes
    reduce = env.api.messages(-1)[1]["content"]
    last_notes = reduce.split(f"Teil {len(parts)} von {len(parts)}:\n", 1)[1]
    assert markers(last_notes) == markers(parts[-1])  # …and its notes reached the writer
    final_section = published_body(config).rsplit("<h2>", 1)[1]
    assert markers(text)[-1] in final_section
    page = next((env.folder / "site" / "artikel").glob("*.html")).read_text(encoding="utf-8")
    assert markers(text)[-1] in page

    [line] = [r.getMessage() for r in caplog.records if "written (" in r.getMessage()]
    assert f"written (notes on {len(parts)} part(s): {len(parts)} request(s), " in line
    assert "; article: 1 request(s), " in line and "; total $" in line

    # A re-run costs nothing: the article is saved, and a writer asked again gets it cached.
    run_cycle(config)
    assert env.api.requests == len(parts) + 1

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
    text = source_text(transcript())
    limit = 24_000  # article_max_source_chars by default
    parts = split_parts(text, limit)
    assert len(parts) == 2
    room = len(parts[0]) + 100
    config = env.config(f"  budget: {{openai: {{daily_characters: {room}}}}}")

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

    later = env.config(f"  budget: {{openai: {{daily_characters: {room + len(text)}}}}}")
    assert run_cycle(later).translate.translated == 1
    assert env.api.notes_parts() == parts  # the first part was not paid for again
    assert env.kinds()[-1] == "article"
    assert markers(text)[-1] in published_body(later).rsplit("<h2>", 1)[1]
