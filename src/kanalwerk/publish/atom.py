"""Atom documents (RFC 4287) with feedgen: `feed.atom` and its RFC 5005 archives.

feedgen 1.0.0 has gaps we work around with extensions: `FeedEntry.atom_entry` drops the
`rel` (and `type`) of entry links, it cannot write a full `atom:source`, and it knows no
`fh:archive`. feedgen objects never leave this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from kanalwerk import __version__
from kanalwerk.dates import iso_utc, utc_seconds
from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.archive import FH_NAMESPACE, ArchiveLinks
from kanalwerk.publish.feeditem import FeedItem, FeedSource, feed_info, feed_items

ATOM_TYPE = "application/atom+xml"
_EXTENSION = "kanalwerk"


@dataclass(frozen=True)
class _Link:
    href: str
    rel: str
    type: str | None = None
    title: str | None = None
    length: int | None = None


class _EntryExtras(BaseEntryExtension):  # type: ignore[misc]  # feedgen is untyped
    """Writes entry links with their `rel`, and `atom:source` (RFC 4287 §4.2.11)."""

    def __init__(self) -> None:
        self.links: list[_Link] = []
        self.source: FeedSource | None = None
        self.source_updated = ""

    def extend_atom(self, entry: Any) -> Any:
        # feedgen builds un-namespaced elements under a root that declares the Atom default
        # namespace, so plain names here serialize as Atom elements too.
        for link in self.links:
            _link_elem(entry, link)
        if self.source is not None:
            source = xml_elem("source", entry)
            xml_elem("id", source).text = self.source.id
            xml_elem("title", source).text = self.source.title
            # The original feed's own <updated> is not kept; the entry's date is the
            # closest known value.
            xml_elem("updated", source).text = self.source_updated
            _link_elem(source, _Link(self.source.feed_url, "self", ATOM_TYPE))
            if self.source.home_url:
                _link_elem(source, _Link(self.source.home_url, "alternate", "text/html"))
        return entry


class _Archived(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """Marks an archive document with `<fh:archive/>` (RFC 5005 §4)."""

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NAMESPACE}

    def extend_atom(self, feed: Any) -> Any:
        xml_elem(f"{{{FH_NAMESPACE}}}archive", feed)
        return feed


def _link_elem(parent: Any, link: _Link) -> None:
    elem = xml_elem("link", parent, href=link.href, rel=link.rel)
    if link.type:
        elem.set("type", link.type)
    if link.title:
        elem.set("title", link.title)
    if link.length is not None:
        elem.set("length", str(link.length))


def newest_first(articles: Sequence[Article]) -> list[Article]:
    """Newest published first; entry id breaks ties so the order is stable."""
    return sorted(articles, key=lambda a: (utc_seconds(a.published), a.entry_id), reverse=True)


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

    fg = FeedGenerator()
    fg.id(info.home_url)
    fg.title(info.title)
    if info.subtitle:
        fg.subtitle(info.subtitle)
    fg.author({"name": info.author})
    fg.link(href=info.home_url, rel="alternate", type="text/html")
    fg.link(href=info.self_url, rel="self", type=ATOM_TYPE)
    if info.hub:
        fg.link(href=info.hub, rel="hub")
    if links.current:
        fg.link(href=links.current, rel="current", type=ATOM_TYPE)
    if links.prev_archive:
        fg.link(href=links.prev_archive, rel="prev-archive", type=ATOM_TYPE)
    if links.next_archive:
        fg.link(href=links.next_archive, rel="next-archive", type=ATOM_TYPE)
    fg.language("de")  # sets xml:lang on <feed>
    fg.generator("kanalwerk", version=__version__)
    fg.updated(info.updated)

    for item in items:
        _add_entry(fg, item)
    if links.is_archive:
        # After the entries: feedgen gives every existing entry the extension's entry class.
        fg.register_extension("fh", _Archived, BaseEntryExtension, atom=True, rss=False)

    data: bytes = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return data


def _add_entry(fg: Any, item: FeedItem) -> None:
    fe = fg.add_entry(order="append")
    fe.id(item.id)
    fe.title(item.title)
    fe.published(item.published)
    fe.updated(item.updated)
    fe.author({"name": item.author})
    fe.summary(item.summary, type="text")
    fe.content(item.content_html, type="html")
    fe.register_extension(_EXTENSION, _EntryExtras, atom=True, rss=False)
    extras: _EntryExtras = getattr(fe, _EXTENSION)
    extras.links.append(_Link(item.url, "alternate", "text/html"))
    if item.original_url:
        extras.links.append(_Link(item.original_url, "via", "text/html", item.original_title))
    for enclosure in item.enclosures:
        extras.links.append(
            _Link(enclosure.url, "enclosure", enclosure.type, None, enclosure.length)
        )
    extras.source = item.source
    extras.source_updated = iso_utc(item.updated)
