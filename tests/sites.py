"""Composed articles from a few channels and the published site they make, for site tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from lxml import html

from kanalwerk.compose import compose_article
from kanalwerk.config import SiteConfig
from kanalwerk.models import Article, Item, SiteInfo, SourceRef, StoredItem
from kanalwerk.publish.pages import ArticleLibrary, ChannelInfo

START = datetime(2025, 1, 3, 9, 0, tzinfo=UTC)


def site_info(page_size: int = 5) -> SiteInfo:
    return SiteConfig(
        title="KI-Nachrichten auf Deutsch",
        subtitle="Ausgewählte Beiträge aus aller Welt",
        base_url="https://example.org/blog/",
        author="Redaktion",
        page_size=page_size,
        feed_size=10,
    ).info()


CHANNELS = (
    ChannelInfo(
        id="alpha",
        name="Alpha Labs",
        feed_url="https://alpha.example/feed.xml",
        feed_title="Alpha Labs Blog",
        feed_link="https://alpha.example/",
    ),
    ChannelInfo(
        id="beta-news",
        name="Beta News",
        feed_url="https://www.youtube.com/feeds/videos.xml?channel_id=UCbeta",
        feed_title="Beta News",
        feed_link="https://www.youtube.com/channel/UCbeta",
    ),
    ChannelInfo(id="gamma", name="Gamma", feed_url="https://gamma.example/rss"),
    # Followed, nothing published yet.
    ChannelInfo(id="still", name="Stiller Kanal", feed_url="https://still.example/feed"),
)


def make_article(
    n: int,
    site: SiteInfo,
    *,
    channel: ChannelInfo = CHANNELS[0],
    title: str | None = None,
    teaser: str | None = None,
    thumbnail: str | None = None,
    published: datetime | None = None,
) -> Article:
    """A real composed article for item `n`, published `n` hours after START."""
    when = published or START + timedelta(hours=n)
    source = SourceRef(
        title=f"Original title {n}",
        link=f"https://{channel.id}.example/posts/{n}",
        channel_name=channel.name,
        feed_title=channel.feed_title,
        feed_url=channel.feed_url,
        feed_link=channel.feed_link,
        feed_id=None,
    )
    item = Item(
        guid=f"https://{channel.id}.example/?p={n}",
        link=source.link,
        title=source.title,
        published=when,
        thumbnail=thumbnail,
    )
    stored = StoredItem(
        id=n,
        channel_id=channel.id,
        guid=item.guid,
        item=item,
        state="translated",
        attempts=0,
        last_error=None,
        first_seen=when,
        source=source,
    )
    return compose_article(
        stored,
        title_de=title if title is not None else f"Deutscher Titel {n}",
        body_html_de=f"<p>Deutscher Text Nummer {n}.</p>",
        teaser_de=teaser if teaser is not None else f"Anriss {n}: worum es geht.",
        engine="local",
        model=None,
        site=site,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )


def spread(count: int, site: SiteInfo) -> list[Article]:
    """`count` articles spread over the first three channels (alpha gets every other one)."""
    return [
        make_article(n, site, channel=CHANNELS[0 if n % 2 else 1 + n % 4 // 2])
        for n in range(1, count + 1)
    ]


def library(articles: Sequence[Article], site: SiteInfo) -> ArticleLibrary:
    return ArticleLibrary(site, articles, CHANNELS)


def parse_page(path: Path) -> html.HtmlElement:
    return html.fromstring(path.read_bytes())


def internal_targets(page: Path, output: Path, base_url: str) -> list[tuple[str, Path]]:
    """Every link and source of `page` into the site, as (URL as written, file it names)."""
    doc = parse_page(page)
    page_url = base_url + page.relative_to(output).as_posix()
    found = []
    for _element, _attribute, url, _pos in doc.iterlinks():
        absolute = urljoin(page_url, url)
        if not absolute.startswith(base_url):
            continue
        relative = urlsplit(absolute).path.removeprefix(urlsplit(base_url).path)
        found.append((url, output / (relative or "index.html")))
    return found
