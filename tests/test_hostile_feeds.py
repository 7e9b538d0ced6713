"""Feeds that move, lie or attack, run through `kanalwerk run --once` next to a healthy one.

Loopback servers serve the feeds (fixtures in tests/data/hostile; the bodies nested
100,000 deep are built here) and speak the OpenAI contract for the translations.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree

from kanalwerk.config import load_config
from kanalwerk.pipeline import Pipeline
from kanalwerk.sanitize import MAX_DEPTH
from kanalwerk.store import Store
from tests.cli import run_cli
from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer, Request, Resource, Response

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "hostile"
ATOM = "{http://www.w3.org/2005/Atom}"
API_KEY = "sk-hostile-feeds-4711"
RSS = "application/rss+xml; charset=utf-8"


@dataclass
class Blog:
    folder: Path
    feeds: LocalServer
    api: FakeOpenAI

    def configure(self, channels: dict[str, str]) -> Path:
        """feeds.yaml with one channel per name → path on the feed server."""
        lines = [
            "site: {title: Testblog, base_url: 'https://blog.example.de/', author: Redaktion}",
            "output: site/",
            "store: sqlite:///data/kanalwerk.db",
            "translator:",
            "  engine: openai",
            "  openai:",
            f"    base_url: {self.api.base_url}",
            "    model: test-model",
            "    api_key_env: KW_TEST_KEY",
            "channels:",
        ]
        for name, path in channels.items():
            lines.append(f"  - {{name: '{name}', url: '{self.feeds.url(path)}'}}")
        config = self.folder / "feeds.yaml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return config

    def run(self, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(config, *(args or ("run", "--once")), env={"KW_TEST_KEY": API_KEY})

    def entries(self) -> list[etree._Element]:
        root = etree.parse(str(self.folder / "site" / "feed.atom")).getroot()
        return root.findall(f"{ATOM}entry")

    def entry(self, title_part: str) -> etree._Element:
        (found,) = [e for e in self.entries() if title_part in (e.findtext(f"{ATOM}title") or "")]
        return found


@pytest.fixture
def blog(tmp_path: Path) -> Iterator[Blog]:
    feeds = LocalServer().start()
    api_server = LocalServer().start()
    try:
        yield Blog(tmp_path, feeds, FakeOpenAI(api_server, api_key=API_KEY))
    finally:
        feeds.stop()
        api_server.stop()


def serve(blog: Blog, path: str, fixture: Path | bytes, content_type: str = RSS) -> None:
    body = fixture if isinstance(fixture, bytes) else fixture.read_bytes()
    blog.feeds.routes[path] = Resource(body, content_type)


def status_of(output: str, name: str) -> list[str]:
    """The lines `kanalwerk status` prints for channel `name`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


# --- bug 1: a permanent redirect must not duplicate articles ----------------------


@pytest.mark.parametrize(
    ("fixture", "content_type", "count"),
    [
        ("relative_guids.rss", RSS, 3),
        # Without guids the link as written is the identity; resolved, it is only shown.
        ("relative_links.rss", RSS, 2),
        ("relative_links.atom", "application/atom+xml", 2),
        ("relative_links.json", "application/feed+json", 2),
    ],
)
def test_a_permanent_redirect_does_not_duplicate_articles(
    blog: Blog, fixture: str, content_type: str, count: int
) -> None:
    body = (HOSTILE / fixture).read_bytes()
    serve(blog, "/a/feed.xml", body, content_type)
    config = blog.configure({"Relative": "/a/feed.xml"})
    first = blog.run(config)
    assert first.returncode == 0, first.stderr
    ids = sorted(e.findtext(f"{ATOM}id", "") for e in blog.entries())
    assert len(ids) == count
    translations = blog.api.requests

    def moved(_request: Request) -> Response:
        return Response(301, b"", {"Location": blog.feeds.url("/b/c/feed.xml")})

    blog.feeds.routes["/a/feed.xml"] = moved
    # A changed body, so neither validators nor the content hash can skip the parse.
    serve(blog, "/b/c/feed.xml", body.replace(b"Relative", b"Moved Relative"), content_type)
    second = blog.run(config)
    assert second.returncode == 0, second.stderr
    assert len(blog.feeds.requests_to("/b/c/feed.xml")) == 1
    assert sorted(e.findtext(f"{ATOM}id", "") for e in blog.entries()) == ids
    assert blog.api.requests == translations
    # The article keeps the link it was first published with.
    second_post = blog.entry("Second post")
    via = [el.get("href") for el in second_post.findall(f"{ATOM}link") if el.get("rel") == "via"]
    assert via == [blog.feeds.url("/a/posts/12346")]


# --- bug 3: escaped markup in a plain-text title ------------------------------------


def test_escaped_markup_in_a_title_is_published_escaped(blog: Blog) -> None:
    serve(blog, "/web.rss", HOSTILE / "escaped_title.rss")
    config = blog.configure({"Web Platform": "/web.rss"})
    result = blog.run(config)
    assert result.returncode == 0, result.stderr
    (entry,) = blog.entries()
    assert entry.findtext(f"{ATOM}title") == "DE: The <dialog> element"
    feed_text = (blog.folder / "site" / "feed.atom").read_text(encoding="utf-8")
    assert "DE: The &lt;dialog&gt; element" in feed_text
    (page,) = (blog.folder / "site" / "artikel").glob("*.html")
    html = page.read_text(encoding="utf-8")
    assert "DE: The &lt;dialog&gt; element" in html
    assert "<dialog" not in html


# --- bug 5: bodies that crashed the whole run ---------------------------------------


def deep_json(levels: int = 100_000) -> bytes:
    return (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Deep", "items": '
        + b"[" * levels
        + b"]" * levels
        + b"}"
    )


def test_broken_feeds_stay_with_their_channel(blog: Blog) -> None:
    serve(blog, "/healthy.rss", DATA / "wordpress.rss")
    serve(blog, "/surrogate.rss", HOSTILE / "surrogate.rss")
    serve(blog, "/year-one.json", HOSTILE / "year_one.json", "application/feed+json")
    serve(blog, "/number.json", HOSTILE / "huge_number.json", "application/feed+json")
    serve(blog, "/deep.json", deep_json(), "application/feed+json")
    config = blog.configure(
        {
            "Gesund": "/healthy.rss",
            "Surrogat": "/surrogate.rss",
            "Jahr eins": "/year-one.json",
            "Riesenzahl": "/number.json",
            "Tief verschachtelt": "/deep.json",
        }
    )
    result = blog.run(config)
    assert result.returncode == 3, result.stderr  # some channels failed, the rest published
    assert "Traceback" not in result.stderr
    titles = [e.findtext(f"{ATOM}title") or "" for e in blog.entries()]
    assert len(titles) == 6, titles  # 3 healthy + one from each repairable feed
    assert "DE: Kaputt \ufffd im Titel" in titles  # the surrogate replaced
    assert "DE: Published before the calendar began" in titles  # the date dropped
    assert "DE: A very long id" in titles  # the number kept as digits

    shown = blog.run(config, "status")
    assert shown.returncode == 0, shown.stderr
    deep = status_of(shown.stdout, "Tief verschachtelt")
    assert "HTTP 200" in deep[0]
    assert deep[1].startswith("  error: not a feed: the JSON is nested too deeply")
    for name in ("Gesund", "Surrogat", "Jahr eins", "Riesenzahl"):
        assert not any("error:" in line for line in status_of(shown.stdout, name)), name


# --- bug 6: a deeply nested item does not hold up the others -------------------------


def depth(html: str) -> int:
    deepest = level = 0
    for match in re.finditer(r"<(/?)([a-z0-9]+)[^>]*?(/?)>", html):
        if match.group(2) in ("br", "img", "hr", "wbr"):
            continue
        level += -1 if match.group(1) else 1
        deepest = max(deepest, level)
    return deepest


def test_a_deeply_nested_item_is_bounded_and_the_others_are_fetched(blog: Blog) -> None:
    levels = 100_000
    nested = "<div>" * levels + "<p>Kern</p>" + "</div>" * levels
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Deep</title>'
        "<link>https://deep.example.org/</link><description>d</description>"
        "<item><title>Deep item</title><guid>https://deep.example.org/1</guid>"
        f"<description><![CDATA[{nested}]]></description></item></channel></rss>"
    ).encode()
    assert len(body) > 1_000_000
    serve(blog, "/deep.rss", body)
    serve(blog, "/healthy.rss", DATA / "wordpress.rss")
    config = blog.configure({"Tief": "/deep.rss", "Gesund": "/healthy.rss"})
    result = blog.run(config)
    assert result.returncode == 0, result.stderr
    assert "Tief: item 'Deep item' has 1,100,011 characters of HTML" in result.stderr
    entries = blog.entries()
    assert len(entries) == 4  # the healthy channel's three, in the same cycle
    content = blog.entry("Deep item").findtext(f"{ATOM}content") or ""
    assert depth(content) <= MAX_DEPTH + 2  # the attribution box adds its own levels
    assert len(content) < 10_000


# --- bug 7: forged attribution box, script scheme in an id --------------------------


def test_feed_html_cannot_forge_the_box_or_smuggle_a_script_id(blog: Blog) -> None:
    serve(blog, "/forger.atom", HOSTILE / "forged_box.atom", "application/atom+xml")
    config = blog.configure({"Forger": "/forger.atom"})
    result = blog.run(config)
    assert result.returncode == 0, result.stderr
    (entry,) = blog.entries()
    content = entry.findtext(f"{ATOM}content") or ""
    assert content.count('class="quelle"') == 1
    assert content.startswith('<div class="quelle" role="note">')
    assert 'class="meta"' not in content
    source_id = entry.findtext(f"{ATOM}source/{ATOM}id") or ""
    assert "script" not in source_id.replace("\t", "").lower()
    assert source_id == blog.feeds.url("/forger.atom")
    (page,) = (blog.folder / "site" / "artikel").glob("*.html")
    assert page.read_text(encoding="utf-8").count('class="quelle"') == 1


# --- a parse worker that fails is the channel's error, not the run's ---------------


def test_a_parse_executor_that_fails_becomes_each_channels_error(blog: Blog) -> None:
    serve(blog, "/healthy.rss", DATA / "wordpress.rss")
    config = load_config(blog.configure({"Gesund": "/healthy.rss"}))
    # The pool kanalwerk starts (forkserver), whose worker dies: the pool is broken.
    dead = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"))
    try:
        with pytest.raises(BrokenProcessPool):
            dead.submit(os._exit, 1).result()
        with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
            (outcome,) = pipeline.poll(executor=dead).outcomes
            (status,) = store.channel_statuses()
    finally:
        dead.shutdown()
    assert outcome.error is not None
    assert outcome.error.startswith("parsing failed: BrokenProcessPool: ")
    assert status.name == "Gesund" and status.last_error == outcome.error


# --- a channel whose items cannot be stored is that channel's error -----------------


def test_a_channel_whose_items_cannot_be_stored_does_not_stop_the_others(blog: Blog) -> None:
    serve(blog, "/healthy.rss", DATA / "wordpress.rss")
    serve(blog, "/refused.rss", HOSTILE / "relative_guids.rss")
    config = blog.configure({"Gesund": "/healthy.rss", "Abgelehnt": "/refused.rss"})
    with Store.open(load_config(config).store) as store:
        assert store.channel_statuses() == []
    engine = sa.create_engine(f"sqlite:///{blog.folder / 'data' / 'kanalwerk.db'}")
    with engine.begin() as conn:  # the database refuses this channel's rows
        conn.execute(
            sa.text(
                "CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.channel_id = 'abgelehnt' "
                "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"
            )
        )
    engine.dispose()
    result = blog.run(config)
    assert "Traceback" not in result.stderr
    assert len(blog.entries()) == 3
    shown = blog.run(config, "status")
    refused = status_of(shown.stdout, "Abgelehnt")
    assert refused[1].startswith("  error: storing its items failed: "), refused
    assert "disk quota exceeded" in refused[1]
    assert not any("error:" in line for line in status_of(shown.stdout, "Gesund"))
