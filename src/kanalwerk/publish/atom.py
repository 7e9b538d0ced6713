"""`feed.atom` (RFC 4287) with feedgen.

feedgen 1.0.0 has two gaps we work around with an entry extension: `FeedEntry.atom_entry`
drops the `rel` (and `type`) of entry links, and it cannot write a full `atom:source`.
feedgen objects never leave this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedgen.ext.base import BaseEntryExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from kanalwerk import __version__
from kanalwerk.dates import iso_utc, utc_seconds
from kanalwerk.models import Article, SiteInfo, SourceRef, source_name
from kanalwerk.sanitize import feed_id_iri, http_url, strip_control_chars

FEED_LIMIT = 50
ATOM_TYPE = "application/atom+xml"
# An empty feed still needs <updated>; a fixed value keeps the file byte-identical between runs.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
_EXTENSION = "kanalwerk"


@dataclass(frozen=True)
class _Link:
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class _Source:
    id: str
    title: str
    self_href: str
    alternate_href: str | None
    updated: datetime


class _EntryExtras(BaseEntryExtension):  # type: ignore[misc]  # feedgen is untyped
    """Writes entry links with their `rel`, and `atom:source` (RFC 4287 §4.2.11)."""

    def __init__(self) -> None:
        self.links: list[_Link] = []
        self.source: _Source | None = None

    def extend_atom(self, entry: Any) -> Any:
        # feedgen builds un-namespaced elements under a root that declares the Atom default
        # namespace, so plain names here serialize as Atom elements too.
        for link in self.links:
            _link_elem(entry, link)
        if self.source is not None:
            source = xml_elem("source", entry)
            xml_elem("id", source).text = _iri(self.source.id)
            xml_elem("title", source).text = _text(self.source.title)
            xml_elem("updated", source).text = iso_utc(self.source.updated)
            _link_elem(source, _Link(self.source.self_href, "self", ATOM_TYPE))
            if self.source.alternate_href:
                _link_elem(source, _Link(self.source.alternate_href, "alternate", "text/html"))
        return entry


def _link_elem(parent: Any, link: _Link) -> None:
    elem = xml_elem("link", parent, href=_iri(link.href), rel=link.rel)
    if link.type:
        elem.set("type", link.type)
    if link.title:
        elem.set("title", _text(link.title))


def _text(value: str) -> str:
    return strip_control_chars(value)


# What no IRI may contain (RFC 3987): space, controls, `<>"{}|\^` and the backtick. Feeds
# carry such URLs (a space in a path, say); readers that check ids and hrefs refuse them.
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f-\x9f]')


def _iri(value: str) -> str:
    """`value` with the characters no IRI allows percent-encoded, for ids and hrefs."""
    return _NOT_IN_IRI.sub(
        lambda m: "".join(f"%{byte:02X}" for byte in m.group().encode()), _text(value)
    )


def newest_first(articles: Sequence[Article]) -> list[Article]:
    """Newest published first; entry id breaks ties so the order is stable."""
    return sorted(articles, key=lambda a: (utc_seconds(a.published), a.entry_id), reverse=True)


def _source(ref: SourceRef, updated: datetime) -> _Source:
    # The original feed's own <updated> is not kept; the original entry's date is the
    # closest known value.
    return _Source(
        id=feed_id_iri(ref.feed_id) or ref.feed_url,
        title=ref.feed_title or source_name(ref) or ref.feed_url,
        self_href=ref.feed_url,
        alternate_href=http_url(ref.feed_link),
        updated=updated,
    )


def render_atom(
    articles: Sequence[Article],
    site: SiteInfo,
    *,
    feed_url: str,
    updated: datetime | None = None,
    limit: int = FEED_LIMIT,
) -> bytes:
    """The Atom document for the newest `limit` articles, newest first.

    Feed `updated` is the newest entry's `updated` unless given, so unchanged input renders
    to identical bytes and the file is not rewritten.
    """
    chosen = newest_first(articles)[: max(limit, 0)]

    fg = FeedGenerator()
    fg.id(site.base_url)
    fg.title(_text(site.title))
    if site.subtitle:
        fg.subtitle(_text(site.subtitle))
    fg.author({"name": _text(site.author)})
    fg.link(href=site.base_url, rel="alternate", type="text/html")
    fg.link(href=feed_url, rel="self", type=ATOM_TYPE)
    fg.language("de")  # sets xml:lang on <feed>
    fg.generator("kanalwerk", version=__version__)
    newest = max((utc_seconds(a.updated) for a in chosen), default=EMPTY_FEED_UPDATED)
    fg.updated(utc_seconds(updated) if updated is not None else newest)

    for article in chosen:
        fe = fg.add_entry(order="append")
        fe.id(article.entry_id)
        fe.title(_text(article.title))
        fe.published(utc_seconds(article.published))
        fe.updated(utc_seconds(article.updated))
        fe.author({"name": _text(site.author)})
        fe.summary(_text(article.summary), type="text")
        fe.content(_text(article.content_html), type="html")
        fe.register_extension(_EXTENSION, _EntryExtras, atom=True, rss=False)
        extras: _EntryExtras = getattr(fe, _EXTENSION)
        extras.links.append(_Link(site.article_url(article.slug), "alternate", "text/html"))
        via = http_url(article.source.link)
        if via:
            extras.links.append(_Link(via, "via", "text/html", title=article.source.title))
        extras.source = _source(article.source, article.updated)

    data: bytes = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return data
