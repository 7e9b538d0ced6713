"""Atom documents (RFC 4287) with lxml: `feed.atom` and its RFC 5005 archives.

Not feedgen: it drops the `rel` of entry links and writes neither a full `atom:source` nor
`fh:archive` without extensions, and its objects, checks and hooks per entry cost more
than the document itself (a full publish renders every archive). The layout is the one
feedgen wrote, so documents written before keep their bytes and are not rewritten
(`tests/test_atom.py` holds its output): its element order, no `<author>` when the site
names none, an empty summary or content as an empty element.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from lxml import etree

from kanalwerk import __version__
from kanalwerk.dates import iso_utc
from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.archive import FH_NAMESPACE, ArchiveLinks
from kanalwerk.publish.feeditem import FeedInfo, FeedItem, FeedSource, feed_info, feed_items

ATOM_TYPE = "application/atom+xml"
ATOM_NS = "http://www.w3.org/2005/Atom"
_A = f"{{{ATOM_NS}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# The order of the declarations is the order feedgen wrote them in.
_NSMAP: dict[str | None, str] = {None: ATOM_NS}
_ARCHIVE_NSMAP: dict[str | None, str] = {"fh": FH_NAMESPACE, None: ATOM_NS}


def _child(parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
    """An Atom element; no text for a `value` that is None or empty (`<summary/>`)."""
    elem = etree.SubElement(parent, _A + name)
    if value:
        elem.text = value
    return elem


def _link(
    parent: etree._Element,
    href: str,
    rel: str,
    type: str | None = None,
    title: str | None = None,
    length: int | None = None,
) -> None:
    elem = etree.SubElement(parent, _A + "link", href=href, rel=rel)
    if type:
        elem.set("type", type)
    if title:
        elem.set("title", title)
    if length is not None:
        elem.set("length", str(length))


def _author(parent: etree._Element, name: str) -> None:
    if name:  # Atom's author needs a name; a site without one has none (as feedgen had it)
        _child(_child(parent, "author"), "name", name)


def render_atom(
    articles: Sequence[Article],
    site: SiteInfo,
    *,
    feed_url: str,
    links: ArchiveLinks | None = None,
    hub: str | None = None,
) -> bytes:
    """The Atom document for `articles`, newest first, with its RFC 5005 `links`.

    Feed `updated` is the newest entry's `updated`, so unchanged input renders to
    identical bytes and the file is not rewritten.
    """
    links = links or ArchiveLinks()
    items = feed_items(articles, site)
    info = feed_info(site, items, self_url=feed_url, hub=hub)
    feed = _feed(info, links)
    prototype = _Prototype()
    for item in items:
        _entry(feed, item, prototype)
    data: bytes = etree.tostring(feed, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    return data


def _feed(info: FeedInfo, links: ArchiveLinks) -> etree._Element:
    nsmap = _ARCHIVE_NSMAP if links.is_archive else _NSMAP
    feed = etree.Element(_A + "feed", nsmap=nsmap)
    feed.set(_XML_LANG, "de")
    _child(feed, "id").text = info.home_url
    _child(feed, "title").text = info.title
    _child(feed, "updated", iso_utc(info.updated))
    _author(feed, info.author)
    _link(feed, info.home_url, "alternate", "text/html")
    _link(feed, info.self_url, "self", ATOM_TYPE)
    if info.hub:
        _link(feed, info.hub, "hub")
    for href, rel in (
        (links.current, "current"),
        (links.prev_archive, "prev-archive"),
        (links.next_archive, "next-archive"),
    ):
        if href:
            _link(feed, href, rel, ATOM_TYPE)
    _child(feed, "generator", "kanalwerk").set("version", __version__)
    if info.subtitle:
        _child(feed, "subtitle", info.subtitle)
    if links.is_archive:
        etree.SubElement(feed, f"{{{FH_NAMESPACE}}}archive")  # RFC 5005 §4
    return feed


class _Prototype:
    """The elements every entry and its `atom:source` have, empty, in their order.

    Each entry is a copy, made in one call instead of one per element: building the
    elements one by one was most of the time a document took. Built per document, so no
    element is shared between threads.
    """

    def __init__(self) -> None:
        self.entry = etree.Element(_A + "entry", nsmap=_NSMAP)
        for name in ("id", "title", "updated"):
            _child(self.entry, name)
        _child(_child(self.entry, "author"), "name")
        _child(self.entry, "content").set("type", "html")
        _child(self.entry, "summary").set("type", "text")
        _child(self.entry, "published")
        _link(self.entry, "", "alternate", "text/html")
        self.source = etree.Element(_A + "source", nsmap=_NSMAP)
        for name in ("id", "title", "updated"):
            _child(self.source, name)
        _link(self.source, "", "self", ATOM_TYPE)


def _entry(feed: etree._Element, item: FeedItem, prototype: _Prototype) -> None:
    entry = copy.deepcopy(prototype.entry)
    feed.append(entry)
    id_, title, updated, author, content, summary, published, alternate = entry
    id_.text = item.id
    title.text = item.title
    updated.text = iso_utc(item.updated)
    if item.author:  # Atom's author needs a name; a site without one has none
        author[0].text = item.author
    else:
        entry.remove(author)
    if item.content_html:
        content.text = item.content_html
    if item.summary:
        summary.text = item.summary
    published.text = iso_utc(item.published)
    alternate.set("href", item.url)
    if item.original_url:
        _link(entry, item.original_url, "via", "text/html", item.original_title)
    for enclosure in item.enclosures:
        _link(entry, enclosure.url, "enclosure", enclosure.type, length=enclosure.length)
    _source(entry, item.source, updated.text, prototype)


def _source(entry: etree._Element, source: FeedSource, updated: str, prototype: _Prototype) -> None:
    """`atom:source` (RFC 4287 §4.2.11): the feed the original came from."""
    elem = copy.deepcopy(prototype.source)
    entry.append(elem)
    id_, title, updated_elem, self_link = elem
    id_.text = source.id
    title.text = source.title
    # The original feed's own <updated> is not kept; the entry's date is the closest known.
    updated_elem.text = updated
    self_link.set("href", source.feed_url)
    if source.home_url:
        _link(elem, source.home_url, "alternate", "text/html")
