"""Published articles and the feed documents written from them, for the feed tests."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.feeds import feed_pages
from kanalwerk.publish.files import write_atomic
from kanalwerk.publish.pages import ArticleLibrary, Page
from tests.test_publish import SITE, make_article

ATOM = "http://www.w3.org/2005/Atom"
FH = "http://purl.org/syndication/history/1.0"
NS = {"a": ATOM, "fh": FH}
SITE50 = dataclasses.replace(SITE, feed_size=50)
HUB = "https://hub.example/websub"


@functools.cache
def _article(n: int) -> Article:
    when = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=n)
    return dataclasses.replace(make_article(n), published=when, updated=when)


def articles(count: int, *, first: int = 1) -> list[Article]:
    """`count` composed articles, one hour apart: article n is published at hour n."""
    return [_article(n) for n in range(first, first + count)]


def write_feeds(
    site: SiteInfo, published: list[Article], out: Path, seqs: Mapping[int, int] | None = None
) -> dict[str, Page]:
    """Render and write every feed page of `published` (numbered by `seqs`); pages by path."""
    library = ArticleLibrary(site, published, seqs=seqs or {})
    pages = {page.path: page for page in feed_pages(library)}
    for page in pages.values():
        (out / page.path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out / page.path, page.render(library))
    return pages


def xml(path: Path) -> etree._Element:
    return etree.fromstring(path.read_bytes(), parser=etree.XMLParser(resolve_entities=False))


def links(root: etree._Element, rel: str) -> list[str]:
    return [str(href) for href in root.xpath(f"a:link[@rel='{rel}']/@href", namespaces=NS)]


def local_path(out: Path, site: SiteInfo, url: str) -> Path:
    assert url.startswith(site.base_url), url
    return out / url.removeprefix(site.base_url)


def atom_chain(out: Path, site: SiteInfo) -> Iterator[etree._Element]:
    """The documents a client reads following `prev-archive` from feed.atom (RFC 5005 §4.2)."""
    url: str | None = site.base_url + "feed.atom"
    visited: set[str] = set()
    while url is not None:
        assert url not in visited, f"prev-archive loops back to {url}"
        visited.add(url)
        root = xml(local_path(out, site, url))
        yield root
        previous = links(root, "prev-archive")
        assert len(previous) <= 1
        url = previous[0] if previous else None


@dataclass(frozen=True)
class Shown:
    """What a reader sees of an entry, in any format."""

    id: str
    title: str
    link: str


def atom_entries(root: etree._Element) -> list[Shown]:
    return [
        Shown(
            str(entry.findtext("a:id", namespaces=NS)),
            str(entry.findtext("a:title", namespaces=NS)),
            links(entry, "alternate")[0],
        )
        for entry in root.findall("a:entry", namespaces=NS)
    ]


def rss_entries(root: etree._Element) -> list[Shown]:
    return [
        Shown(str(item.findtext("guid")), str(item.findtext("title")), str(item.findtext("link")))
        for item in root.iter("item")
    ]


def json_entries(feed: dict[str, Any]) -> list[Shown]:
    return [Shown(item["id"], item["title"], item["url"]) for item in feed["items"]]


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data
