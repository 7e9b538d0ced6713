"""Feed discovery: feeds, pages that announce one, and YouTube addresses."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.errors import DiscoveryError, FetchError
from kanalwerk.fetch import FetchSettings
from kanalwerk.pipeline import fetch_settings
from kanalwerk.sources.discover import discover, feed_links
from kanalwerk.sources.youtube import video_id_from_url
from tests.servers import LocalServer, Resource, Response

CNBC_ID = "UCvJJ_dzjViJCoLf5uKUTwoA"
VIDEO = "dQw4w9WgXcQ"


@pytest.fixture
def settings(tmp_path: Path) -> FetchSettings:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "site: {title: T, base_url: 'https://e.org/', author: A}\n"
        "fetch: {max_bytes: 200KB}\n"
        "channels: [{name: x, url: 'https://example.org/feed'}]\n",
        encoding="utf-8",
    )
    return fetch_settings(load_config(config))


@pytest.fixture
def site(server: LocalServer, data_dir: Path) -> LocalServer:
    server.routes["/blog.atom"] = Resource(
        (data_dir / "blog.atom").read_bytes(), "application/atom+xml"
    )
    server.routes["/feeds/videos.xml"] = Resource((data_dir / "youtube_cnbc.xml").read_bytes())
    return server


def test_feed_links_in_page_order_resolved_against_base() -> None:
    page = """<html><head>
    <base href="https://cdn.example.org/site/">
    <link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">
    <link rel="alternate" type="application/json+oembed" href="/oembed">
    <link rel="stylesheet" type="text/css" href="style.css">
    <link REL="Alternate home" TYPE="application/RSS+xml; charset=utf-8" href="feed/">
    <link rel="alternate" type="application/atom+xml" href="https://other.example.net/atom">
    <link rel="alternate" type="application/feed+json" href="feed.json">
    <link rel="alternate" type="application/rss+xml" href="feed/">
    <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    <link rel="alternate" type="application/rss+xml">
    </head><body></body></html>"""
    assert feed_links(page, "https://example.org/blog/") == [
        "https://cdn.example.org/site/feed/",
        "https://other.example.net/atom",
        "https://cdn.example.org/site/feed.json",
    ]


def test_feed_links_without_base(data_dir: Path) -> None:
    page = (data_dir / "not_a_feed.html").read_text(encoding="utf-8")
    assert feed_links(page, "https://technotes.example.com/") == [
        "https://technotes.example.com/feed/",
        "https://technotes.example.com/comments/feed/",
    ]
    relative = '<link rel="alternate" type="application/rss+xml" href="f">'
    assert feed_links(relative, "http://a.example/b/c") == ["http://a.example/b/f"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://www.youtube.com/watch?v={VIDEO}&t=42s", VIDEO),
        (f"https://m.youtube.com/watch?feature=share&v={VIDEO}", VIDEO),
        (f"https://youtu.be/{VIDEO}?si=abc", VIDEO),
        (f"youtu.be/{VIDEO}", VIDEO),
        (f"https://www.youtube.com/shorts/{VIDEO}", VIDEO),
        (f"https://www.youtube.com/live/{VIDEO}", VIDEO),
        (f"https://www.youtube.com/embed/{VIDEO}", VIDEO),
        ("https://www.youtube.com/watch?v=short", None),
        (f"https://www.youtube.com/channel/{CNBC_ID}", None),
        (f"https://example.org/watch?v={VIDEO}", None),
        ("https://www.youtube.com/@CNBC", None),
    ],
)
def test_video_id_from_url(url: str, expected: str | None) -> None:
    assert video_id_from_url(url) == expected


def test_a_moved_feed_is_configured_at_its_new_address(
    site: LocalServer, settings: FetchSettings
) -> None:
    site.routes["/old.atom"] = lambda request: Response(301, b"", {"Location": "/blog.atom"})
    site.routes["/temporary.atom"] = lambda request: Response(302, b"", {"Location": "/blog.atom"})
    moved = discover(site.url("/old.atom"), settings)
    assert (moved.url, moved.feed_url) == (site.url("/blog.atom"), site.url("/blog.atom"))
    assert moved.latest[0] == "DeepSeek-R1 and the price of reasoning"
    assert len(moved.latest) == 3
    assert discover(site.url("/temporary.atom"), settings).url == site.url("/temporary.atom")


def test_the_first_announced_feed_that_reads_is_taken(
    site: LocalServer, settings: FetchSettings
) -> None:
    site.routes["/page"] = Resource(
        b'<link rel="alternate" type="application/rss+xml" href="/gone.rss">'
        b'<link rel="alternate" type="application/atom+xml" href="/blog.atom">',
        "text/html",
    )
    found = discover(site.url("/page"), settings)
    assert (found.url, found.page) == (site.url("/blog.atom"), site.url("/page"))

    site.routes["/only-broken"] = Resource(
        b'<link rel="alternate" type="application/rss+xml" href="/page">', "text/html"
    )
    with pytest.raises(DiscoveryError, match="announces a feed, but none could be read"):
        discover(site.url("/only-broken"), settings)


def test_a_page_linking_a_youtube_feed_becomes_a_youtube_channel(
    site: LocalServer, settings: FetchSettings
) -> None:
    feed = f"https://www.youtube.com/feeds/videos.xml?channel_id={CNBC_ID}"
    site.routes["/page"] = Resource(
        f'<link rel="alternate" type="application/rss+xml" href="{site.url("/yt.xml")}">'.encode(),
        "text/html",
    )
    site.routes["/yt.xml"] = site.routes["/feeds/videos.xml"]
    found = discover(site.url("/page"), settings)
    assert (found.youtube, found.url, found.title) == (None, site.url("/yt.xml"), "CNBC")
    direct = discover(feed, settings, youtube_base=site.base_url)
    assert (direct.youtube, direct.url, direct.feed_url) == (CNBC_ID, None, feed)


def test_the_fetchers_size_cap_applies(site: LocalServer, settings: FetchSettings) -> None:
    site.routes["/huge"] = Resource(b"<html>" + b"x" * 300_000, "text/html")
    with pytest.raises(DiscoveryError, match=r"larger than the 0\.2 MB limit"):
        discover(site.url("/huge"), settings)


def test_youtube_lookups_that_fail_say_why(site: LocalServer, settings: FetchSettings) -> None:
    site.routes["/watch"] = Resource(b"<html><head></head></html>", "text/html")
    with pytest.raises(FetchError, match=r"found no channel id on .*/watch"):
        discover(f"https://youtu.be/{VIDEO}", settings, youtube_base=site.base_url)
    with pytest.raises(FetchError, match="YouTube has no channel @nobody"):
        discover("@nobody", settings, youtube_base=site.base_url)
    site.routes["/feeds/videos.xml"] = Resource(b"<html>not a feed</html>", "text/html")
    with pytest.raises(DiscoveryError, match=r"/feeds/videos\.xml"):
        discover(CNBC_ID, settings, youtube_base=site.base_url)
