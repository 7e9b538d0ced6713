"""`feed.rss` (RSS 2.0) with lxml: the entries of `feed.atom`, for readers that want RSS.

Not feedgen: its RSS writer formats every date through `locale.setlocale(LC_ALL, "C")`,
which changes the locale of the whole process (and of the serving threads) on each call,
it stamps `lastBuildDate` with the current time unless told otherwise, and it writes no
`atom:link` but `rel="self"`. Here dates go through `email.utils`, which never consults
the locale, so a German locale cannot turn "Tue" into "Di".

An item is built by `_item`; an enclosure (once articles carry media) is one more child
written there, `<enclosure url= length= type=>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime

from lxml import etree

from kanalwerk import __version__
from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.atom import ATOM_NS
from kanalwerk.publish.feeditem import FeedItem, feed_info, feed_items

RSS_TYPE = "application/rss+xml"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
_NSMAP = {"atom": ATOM_NS, "content": CONTENT_NS, "dc": DC_NS}
RSS_DOCS = "https://www.rssboard.org/rss-specification"


def rfc822(dt: datetime) -> str:
    """`Tue, 27 Jan 2025 13:05:00 GMT`: English names whatever the locale (RFC 822 §5)."""
    return format_datetime(dt, usegmt=True)


def _child(parent: etree._Element, tag: str, value: str | None = None) -> etree._Element:
    elem = etree.SubElement(parent, tag)
    if value is not None:
        elem.text = value
    return elem


def _item(channel: etree._Element, item: FeedItem) -> None:
    elem = _child(channel, "item")
    _child(elem, "title", item.title)
    _child(elem, "link", item.url)
    _child(elem, "description", item.summary)
    _child(elem, f"{{{CONTENT_NS}}}encoded", item.content_html)
    _child(elem, f"{{{DC_NS}}}creator", item.author)
    _child(elem, "guid", item.id).set("isPermaLink", "false")
    _child(elem, "pubDate", rfc822(item.published))
    _child(elem, "source", item.source.title).set("url", item.source.feed_url)
    if item.enclosures:  # RSS 2.0 allows one; the first is the episode itself
        first = item.enclosures[0]
        # url, length and type are all required; 0 is the usual "length unknown".
        enclosure = _child(elem, "enclosure")
        enclosure.set("url", first.url)
        enclosure.set("length", str(first.length or 0))
        enclosure.set("type", first.type or "application/octet-stream")


def render_rss(
    articles: Sequence[Article], site: SiteInfo, *, feed_url: str, hub: str | None = None
) -> bytes:
    """The RSS 2.0 document for `articles`, newest first; bytes depend only on the input."""
    items = feed_items(articles, site)
    info = feed_info(site, items, self_url=feed_url, hub=hub)

    rss = etree.Element("rss", version="2.0", nsmap=_NSMAP)
    channel = _child(rss, "channel")
    _child(channel, "title", info.title)
    _child(channel, "link", info.home_url)
    _child(channel, "description", info.subtitle or info.title)
    etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=info.self_url, rel="self", type=RSS_TYPE)
    if info.hub:
        etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=info.hub, rel="hub")
    _child(channel, "language", "de")
    _child(channel, "generator", f"kanalwerk {__version__}")
    _child(channel, "docs", RSS_DOCS)
    _child(channel, "lastBuildDate", rfc822(info.updated))
    for item in items:
        _item(channel, item)
    data: bytes = etree.tostring(rss, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    return data
