"""A summary-only feed with `full_text: true`, its pages served on 127.0.0.1, through
`kanalwerk run --once` to the published article and `kanalwerk items`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer, Resource
from tests.test_fulltext import ARTICLE, PARAGRAPHS
from tests.test_transcripts import API_KEY, article_page, run_kanalwerk


def post(n: int, link: str, title: str = "") -> str:
    return f"""
  <item>
   <title>{title or f"Post {n}"}</title>
   <guid isPermaLink="false">post-{n}</guid>
   <link>{link}</link>
   <pubDate>Mon, {n:02d} Jun 2025 08:00:00 GMT</pubDate>
   <description>Summary of post {n}.</description>
  </item>"""


@dataclass
class Setup:
    folder: Path
    server: LocalServer
    api: FakeOpenAI

    def run(self, *args: str, allow_private: bool = True) -> str:
        channels = (
            f"  - name: Summaries\n    url: {self.server.url('/feed.rss')}\n"
            "    full_text: true\n    exclude: [Sponsored]\n"
        )
        return run_kanalwerk(self.folder, self.api, channels, *args, allow_private=allow_private)

    def page(self, title: str) -> str:
        return article_page(self.folder / "site", title)

    def listed(self, title: str) -> str:
        """The `kanalwerk items` line of the item called `title`."""
        return next(line for line in self.run("items").splitlines() if f"  {title}" in line)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    server, api_server = LocalServer().start(), LocalServer().start()
    try:
        url = server.url
        items = [
            post(1, url("/posts/1")),
            post(2, url("/posts/2")),
            post(3, url("/members/3")),
            post(4, url("/posts/4"), title="Sponsored: a course"),
        ]
        feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Summaries</title><link>{url("/")}</link>
{"".join(items)}
</channel></rss>"""
        server.routes["/feed.rss"] = Resource(feed.encode(), "application/rss+xml")
        server.routes["/robots.txt"] = Resource(
            b"User-agent: *\nDisallow: /members/\n", "text/plain"
        )
        server.routes["/posts/1"] = Resource(ARTICLE, "text/html; charset=utf-8")
        server.routes["/posts/2"] = Resource(
            b"<html><body><article><p>Please log in to read on.</p></article></body></html>",
            "text/html",
        )
        server.routes["/members/3"] = Resource(ARTICLE, "text/html")
        server.routes["/posts/4"] = Resource(ARTICLE, "text/html")
        yield Setup(tmp_path, server, FakeOpenAI(api_server, api_key=API_KEY))
    finally:
        server.stop()
        api_server.stop()


def test_a_summary_only_feed_publishes_the_pages_full_text(setup: Setup) -> None:
    setup.run("run", "--once")

    page = setup.page("DE: Post 1")
    for paragraph in PARAGRAPHS:
        assert f"DE: {paragraph}" in page
    assert "Summary of post 1." not in page
    assert "Grundlage: Volltext des Artikels" in page
    assert "[from its" not in setup.listed("Post 1")


def test_too_little_text_and_robots_txt_keep_the_feeds_text_and_say_why(setup: Setup) -> None:
    setup.run("run", "--once")

    assert "DE: Summary of post 2." in setup.page("DE: Post 2")
    assert "[from its feed: too little text on the page" in setup.listed("Post 2")
    assert "DE: Summary of post 3." in setup.page("DE: Post 3")
    robots = f"[from its feed: {setup.server.base_url}/robots.txt disallows fetching the page]"
    assert setup.listed("Post 3").endswith(robots)
    assert setup.server.requests_to("/members/3") == []


def test_pages_are_fetched_once_and_only_for_items_that_become_articles(setup: Setup) -> None:
    setup.run("run", "--once")
    setup.run("run", "--once")

    assert len(setup.server.requests_to("/posts/1")) == 1
    assert len(setup.server.requests_to("/robots.txt")) == 1
    assert setup.server.requests_to("/posts/4") == []  # skipped by the exclude rule


def test_without_allow_private_addresses_the_links_are_not_followed(setup: Setup) -> None:
    setup.run("run", "--once", allow_private=False)

    assert "DE: Summary of post 1." in setup.page("DE: Post 1")
    reason = "[from its feed: the link was not followed: 127.0.0.1 is a private or loopback"
    assert reason in setup.listed("Post 1")
    assert [r.path for r in setup.server.requests] == ["/feed.rss"]  # configured: allowed
