"""A one-channel blog for the review, unpublish and upstream-edit tests.

A loopback server serves an RSS feed built from `Post`s (replace them to edit the
original), a fake OpenAI translates and counts requests, and the CLI runs in process.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

from tests.cli import run_cli
from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer, Resource

ATOM = "{http://www.w3.org/2005/Atom}"
API_KEY = "sk-editorial-0815"
FEED_PATH = "/lab.rss"


@dataclass(frozen=True)
class Post:
    """One item of the served feed; `body` is its HTML."""

    guid: str
    title: str
    body: str
    day: int = 1

    @property
    def link(self) -> str:
        return f"https://lab.example.org/{self.guid}"


def rss(posts: Sequence[Post]) -> bytes:
    items = "".join(
        f"<item><title>{escape(p.title)}</title><link>{p.link}</link>"
        f'<guid isPermaLink="false">{p.guid}</guid>'
        f"<pubDate>{p.day:02d} Mar 2025 09:00:00 +0000</pubDate>"
        f"<description>{escape(p.body)}</description></item>"
        for p in posts
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Lab Notes</title><link>https://lab.example.org/</link>"
        f"<language>en</language>{items}</channel></rss>"
    ).encode()


@dataclass
class Blog:
    folder: Path
    config: Path
    feeds: LocalServer
    api: FakeOpenAI

    def serve(self, posts: Sequence[Post]) -> None:
        self.feeds.routes[FEED_PATH] = Resource(rss(posts), "application/rss+xml")

    def configure(self, *, channel: str = "", selection: str = "") -> None:
        """Rewrite the config: `channel` lines go under the channel, `selection` at the top."""
        self.config.write_text(
            f"""site:
  title: Labor auf Deutsch
  base_url: https://blog.example.org/
  author: Redaktion
output: site/
store: sqlite:///data/kanalwerk.db
translator:
  engine: openai
  openai:
    base_url: {self.api.base_url}
    model: test-model
    api_key_env: KW_TEST_KEY
{selection}
channels:
  - name: Lab Notes
    url: {self.feeds.url(FEED_PATH)}
{channel}""",
            encoding="utf-8",
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.config, *args, env={"KW_TEST_KEY": API_KEY})

    def cycle(self) -> None:
        result = self.run("run", "--once")
        assert result.returncode == 0, result.stderr

    @property
    def output(self) -> Path:
        return self.folder / "site"

    def entries(self) -> dict[str, etree._Element]:
        """feed.atom's entries by the original's link (`rel="via"`)."""
        root = etree.parse(str(self.output / "feed.atom")).getroot()
        found = {}
        for entry in root.findall(f"{ATOM}entry"):
            via = [e.get("href") for e in entry.findall(f"{ATOM}link") if e.get("rel") == "via"]
            found[str(via[0])] = entry
        return found

    def states(self) -> dict[str, str]:
        """Every item's state by guid, read straight from the database."""
        conn = sqlite3.connect(self.folder / "data" / "kanalwerk.db")
        try:
            return dict(conn.execute("SELECT guid, state FROM items").fetchall())
        finally:
            conn.close()

    def item_id(self, guid: str) -> int:
        conn = sqlite3.connect(self.folder / "data" / "kanalwerk.db")
        try:
            (found,) = conn.execute("SELECT id FROM items WHERE guid = ?", (guid,)).fetchone()
            return int(found)
        finally:
            conn.close()


@contextlib.contextmanager
def open_blog(folder: Path) -> Iterator[Blog]:
    """A blog in `folder` with its feed and translation servers; the servers stop after."""
    feeds = LocalServer().start()
    api_server = LocalServer().start()
    try:
        made = Blog(folder, folder / "feeds.yaml", feeds, FakeOpenAI(api_server, api_key=API_KEY))
        made.configure()
        yield made
    finally:
        feeds.stop()
        api_server.stop()


def text(entry: etree._Element, name: str) -> str:
    return entry.findtext(f"{ATOM}{name}") or ""
