"""End to end: the `kanalwerk` command against real loopback feed and translation servers.

One server serves three feed fixtures (YouTube, WordPress RSS 2.0, Atom blog) with
ETag/Last-Modified; another speaks the OpenAI chat-completions contract. The CLI runs
with a user's arguments, in process, and the published files are checked; one test
starts the installed console script itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from tests.cli import environment, run_cli
from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer, Resource

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
API_KEY = "sk-e2e-secret-4711"

GERMAN_TITLES = {
    "How China’s New AI Model DeepSeek Is Threatening U.S. Dominance": (
        "Chinas KI-Durchbruch: DeepSeek fordert OpenAI heraus"
    ),
}


def german(text: str) -> str:
    """The fake engine's "translation": known titles in real German, the rest marked."""
    for english, german_title in GERMAN_TITLES.items():
        if text.strip() == english:
            return german_title
    return "DE: " + text


@dataclass
class Setup:
    folder: Path
    config: Path
    feeds: LocalServer
    api: FakeOpenAI

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.config, *args, env={"KW_TEST_KEY": API_KEY})

    @property
    def output(self) -> Path:
        return self.folder / "site"


def write_config(folder: Path, feeds: LocalServer, api: FakeOpenAI, extra: str = "") -> Path:
    config = folder / "feeds.yaml"
    config.write_text(
        f"""
site:
  title: KI-Nachrichten auf Deutsch
  base_url: https://blog.example.org/
  author: Redaktion
output: site/
store: sqlite:///data/kanalwerk.db
translator:
  engine: openai
  openai:
    base_url: {api.base_url}
    model: test-model
    api_key_env: KW_TEST_KEY
selection:
  backfill: all
channels:
  - name: CNBC
    url: {feeds.url("/cnbc.xml")}
  - name: Tech Notes
    url: {feeds.url("/wordpress.rss")}
  - name: Ada Lindqvist
    url: {feeds.url("/blog.atom")}
{extra}""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def setup(tmp_path: Path, data_dir: Path) -> Iterator[Setup]:
    feeds = LocalServer().start()
    api_server = LocalServer().start()
    try:
        feeds.routes["/cnbc.xml"] = Resource((data_dir / "youtube_cnbc.xml").read_bytes())
        feeds.routes["/wordpress.rss"] = Resource(
            (data_dir / "wordpress.rss").read_bytes(), "application/rss+xml; charset=utf-8"
        )
        feeds.routes["/blog.atom"] = Resource(
            (data_dir / "blog.atom").read_bytes(), "application/atom+xml"
        )
        api = FakeOpenAI(api_server, api_key=API_KEY, translate=german)
        config = write_config(tmp_path, feeds, api)
        yield Setup(tmp_path, config, feeds, api)
    finally:
        feeds.stop()
        api_server.stop()


def entries(feed_file: Path) -> list[etree._Element]:
    root = etree.parse(str(feed_file)).getroot()
    return root.findall(f"{ATOM}entry")


def link(entry: etree._Element, rel: str) -> str | None:
    for element in entry.findall(f"{ATOM}link"):
        if element.get("rel", "alternate") == rel:
            return element.get("href")
    return None


def test_first_run_publishes_german_articles_with_attribution(setup: Setup) -> None:
    result = setup.run("run", "--once")
    assert result.returncode == 0, result.stderr

    feed_file = setup.output / "feed.atom"
    root = etree.parse(str(feed_file)).getroot()
    assert root.get(XML_LANG) == "de"
    assert link(root, "self") == "https://blog.example.org/feed.atom"
    published = entries(feed_file)
    assert len(published) == 8  # every item but CNBC's Short

    for entry in published:
        title = entry.findtext(f"{ATOM}title") or ""
        assert title.startswith("DE: ") or title in GERMAN_TITLES.values(), title
        content = entry.findtext(f"{ATOM}content") or ""
        assert content.lstrip().startswith('<div class="quelle"'), content[:80]
        assert "Hinweis zur Quelle" in content.split("</div>")[0]
        via = link(entry, "via")
        assert via and via.startswith("https://"), via
        assert f'href="{via}"' in content  # the box links the original
        source = entry.find(f"{ATOM}source")
        assert source is not None and source.findtext(f"{ATOM}title")
        assert entry.findtext(f"{ATOM}published") and entry.findtext(f"{ATOM}updated")
        assert (entry.findtext(f"{ATOM}id") or "").startswith("tag:blog.example.org,")

    titles = [e.findtext(f"{ATOM}title") for e in published]
    assert "Chinas KI-Durchbruch: DeepSeek fordert OpenAI heraus" in titles

    index = (setup.output / "index.html").read_text(encoding="utf-8")
    assert '<html lang="de">' in index
    assert 'type="application/atom+xml"' in index
    assert "Chinas KI-Durchbruch" in index
    assert len(list((setup.output / "artikel").glob("*.html"))) == 8
    assert "Nvidia" not in index  # the Short (youtube.com/shorts/…) is no article

    # The secret key never reaches logs or output files.
    assert API_KEY not in result.stderr + result.stdout
    for path in setup.output.rglob("*"):
        if path.is_file():
            assert API_KEY not in path.read_text(encoding="utf-8", errors="replace")


def test_second_run_sends_nothing_and_keeps_the_feed(setup: Setup) -> None:
    assert setup.run("run", "--once").returncode == 0
    feed_file = setup.output / "feed.atom"
    before = feed_file.read_bytes()
    ids_before = [e.findtext(f"{ATOM}id") for e in entries(feed_file)]
    translation_requests = setup.api.requests
    assert translation_requests > 0

    result = setup.run("run", "--once")
    assert result.returncode == 0, result.stderr
    assert setup.api.requests == translation_requests  # zero translation requests
    assert feed_file.read_bytes() == before
    assert [e.findtext(f"{ATOM}id") for e in entries(feed_file)] == ids_before
    # Every feed was asked conditionally and answered 304 the second time.
    for path in ("/cnbc.xml", "/wordpress.rss", "/blog.atom"):
        second = setup.feeds.requests_to(path)[-1]
        assert "if-none-match" in second.headers


def test_a_new_item_adds_exactly_one_entry(setup: Setup, data_dir: Path) -> None:
    assert setup.run("run", "--once").returncode == 0
    feed_file = setup.output / "feed.atom"
    ids_before = {e.findtext(f"{ATOM}id") for e in entries(feed_file)}
    requests_before = setup.api.requests

    rss = (data_dir / "wordpress.rss").read_text(encoding="utf-8")
    new_item = """<item>
        <title>A Brand New Post About Local Models</title>
        <link>https://technotes.example.com/2025/02/01/local-models/</link>
        <guid isPermaLink="false">https://technotes.example.com/?p=999</guid>
        <pubDate>Sat, 01 Feb 2025 09:00:00 +0000</pubDate>
        <description><![CDATA[Running models locally got a lot easier.]]></description>
        <content:encoded><![CDATA[<p>Running models <em>locally</em> got easier.</p>]]>
        </content:encoded>
    </item>"""
    rss = rss.replace("<item>", new_item + "\n<item>", 1)
    setup.feeds.routes["/wordpress.rss"] = Resource(rss.encode(), "application/rss+xml")

    result = setup.run("run", "--once")
    assert result.returncode == 0, result.stderr
    after = entries(feed_file)
    ids_after = {e.findtext(f"{ATOM}id") for e in after}
    assert ids_before < ids_after and len(ids_after - ids_before) == 1
    new = next(e for e in after if e.findtext(f"{ATOM}id") not in ids_before)
    assert new.findtext(f"{ATOM}title") == "DE: A Brand New Post About Local Models"
    assert setup.api.requests == requests_before + 1  # one request for the one new item


def test_a_run_restores_deleted_pages(setup: Setup) -> None:
    assert setup.run("run", "--once").returncode == 0
    requests = setup.api.requests
    page = next((setup.output / "artikel").glob("*.html"))
    lost = [page, setup.output / "index.html", setup.output / "style.css"]
    kept = {path: path.read_bytes() for path in lost}
    for path in lost:
        path.unlink()

    result = setup.run("run", "--once")
    assert result.returncode == 0, result.stderr
    assert {path: path.read_bytes() for path in lost} == kept
    assert setup.api.requests == requests  # restored from the store, nothing translated


def test_untrusted_html_never_reaches_the_output(setup: Setup, data_dir: Path) -> None:
    # Links outside the HTML bodies too: the item's own link, its thumbnail, the feed's site.
    rss = (data_dir / "wordpress.rss").read_text(encoding="utf-8")
    rss = rss.replace(
        "<link>https://technotes.example.com</link>", "<link>javascript:alert(1)</link>", 1
    )
    evil_item = """<item><title>Linked Badly</title><guid>evil-link</guid>
        <link>javascript:alert(document.cookie)</link>
        <pubDate>Wed, 15 Jan 2025 10:00:00 +0000</pubDate>
        <description><![CDATA[<p>An item whose own link is a script.</p>]]></description>
    </item>"""
    rss = rss.replace("<item>", evil_item + "\n<item>", 1)
    setup.feeds.routes["/wordpress.rss"] = Resource(rss.encode(), "application/rss+xml")

    assert setup.run("run", "--once").returncode == 0
    assert "DE: Linked Badly" in (setup.output / "feed.atom").read_text(encoding="utf-8")
    for path in [setup.output / "feed.atom", *setup.output.rglob("*.html")]:
        text = path.read_text(encoding="utf-8")
        # In the feed, content is escaped XML text: check both spellings.
        for needle in ("<script", "&lt;script", "onerror", "onclick", "javascript:"):
            assert needle not in text, (path.name, needle)
        assert "evil.example.net" not in text


def test_broken_feed_beside_good_ones(setup: Setup) -> None:
    write_config(
        setup.folder,
        setup.feeds,
        setup.api,
        extra=f"  - name: Kaputt\n    url: {setup.feeds.url('/missing.xml')}\n",
    )
    result = setup.run("run", "--once")
    assert result.returncode == 3, result.stderr  # some channels failed; the rest published
    assert re.search(r"Kaputt: .*404", result.stderr)
    assert len(entries(setup.output / "feed.atom")) == 8

    status = setup.run("status")
    assert status.returncode == 0, status.stderr
    assert "Kaputt" in status.stdout and "404" in status.stdout


def test_nothing_fetchable_exits_non_zero(setup: Setup) -> None:
    for path in ("/cnbc.xml", "/wordpress.rss", "/blog.atom"):
        del setup.feeds.routes[path]
    result = setup.run("run", "--once")
    assert result.returncode == 1
    assert "no channel could be fetched" in result.stderr


def test_translator_outage_loses_nothing(setup: Setup) -> None:
    """A 401 stops translating; items wait and are published once the key is right."""
    env_key = setup.api.api_key
    setup.api.api_key = "sk-some-other-key"
    result = setup.run("run", "--once")
    assert result.returncode == 4, result.stderr  # items wait: no engine could translate them
    assert "KW_TEST_KEY" in result.stderr  # the hint names the variable
    assert API_KEY not in result.stderr
    assert entries(setup.output / "feed.atom") == []

    setup.api.api_key = env_key
    result = setup.run("run", "--once")
    assert result.returncode == 0, result.stderr
    assert len(entries(setup.output / "feed.atom")) == 8


def test_check_reports_config_errors_with_line(setup: Setup) -> None:
    setup.config.write_text(
        setup.config.read_text(encoding="utf-8").replace("engine: openai", "engien: openai"),
        encoding="utf-8",
    )
    result = setup.run("check")
    assert result.returncode != 0
    expected = r"feeds\.yaml:\d+: translator\.engien: unknown key; did you mean 'engine'"
    assert re.search(expected, result.stderr)


def test_the_installed_command_starts(setup: Setup) -> None:
    """The console script itself, in a process of its own (the others run in process)."""
    script = Path(sys.executable).with_name("kanalwerk")
    result = subprocess.run(
        [str(script), "check", "--config", str(setup.config)],
        cwd=setup.folder,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "OK — 3 channel(s)" in result.stdout


def test_help_imports_no_stage_of_the_pipeline() -> None:
    """`kanalwerk --help` answers at once: the commands import their stages when they run."""
    shown = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kanalwerk", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "run" in shown.stdout
    imported = {line.split("|")[-1].strip() for line in shown.stderr.splitlines()}
    assert "kanalwerk.cli" in imported
    heavy = {"kanalwerk.pipeline", "kanalwerk.config", "kanalwerk.store", "sqlalchemy", "httpx"}
    heavy |= {"uvicorn", "starlette", "kanalwerk.publish.serve"}
    assert not heavy & imported
