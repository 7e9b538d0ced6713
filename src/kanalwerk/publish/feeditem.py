"""What every feed format says about an article and about itself, decided once.

Atom, RSS and JSON Feed must carry the same entries with the same ids, titles and links,
so the text and IRI rules live here and the three renderers only lay the values out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kanalwerk.dates import utc_seconds
from kanalwerk.models import Article, Enclosure, SiteInfo, SourceRef, source_name
from kanalwerk.sanitize import feed_id_iri, http_url, strip_control_chars

# An empty feed still needs a date; a fixed value keeps the file byte-identical between runs.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)

# What no IRI may contain (RFC 3987): space, controls, `<>"{}|\^` and the backtick. Feeds
# carry such URLs (a space in a path, say); readers that check ids and hrefs refuse them.
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f-\x9f]')


def text(value: str) -> str:
    """`value` fit for XML 1.0 (and so for every format)."""
    return strip_control_chars(value)


def iri(value: str) -> str:
    """`value` with the characters no IRI allows percent-encoded, for ids and hrefs."""
    return _NOT_IN_IRI.sub(
        lambda m: "".join(f"%{byte:02X}" for byte in m.group().encode()), text(value)
    )


@dataclass(frozen=True)
class FeedSource:
    """The original feed an entry came from (`atom:source`, RSS `<source>`)."""

    id: str
    title: str
    feed_url: str
    home_url: str | None


@dataclass(frozen=True)
class FeedItem:
    """One entry as every feed format writes it; dates are UTC to the second."""

    id: str
    title: str
    url: str  # the article page on this site
    original_url: str | None  # the original item (Atom rel="via", JSON external_url)
    original_title: str
    summary: str  # plain-text teaser
    content_html: str  # the body as the store keeps it (sanitized), starting with the box
    published: datetime
    updated: datetime
    author: str
    image: str | None
    source: FeedSource
    enclosures: tuple[Enclosure, ...] = ()  # the original's audio and video files


@dataclass(frozen=True)
class FeedInfo:
    """A feed document's own fields."""

    title: str
    subtitle: str | None
    author: str
    home_url: str
    self_url: str
    hub: str | None
    updated: datetime  # the newest entry's `updated`: unchanged entries, unchanged bytes


def _source(ref: SourceRef) -> FeedSource:
    return FeedSource(
        id=iri(feed_id_iri(ref.feed_id) or ref.feed_url),
        title=text(ref.feed_title or source_name(ref) or ref.feed_url),
        feed_url=iri(ref.feed_url),
        home_url=_optional_iri(http_url(ref.feed_link)),
    )


def _optional_iri(url: str | None) -> str | None:
    return iri(url) if url else None


def feed_item(article: Article, site: SiteInfo) -> FeedItem:
    return FeedItem(
        id=article.entry_id,
        title=text(article.title),
        url=iri(site.article_url(article.slug)),
        original_url=_optional_iri(http_url(article.source.link)),
        original_title=text(article.source.title),
        summary=text(article.summary),
        content_html=text(article.content_html),
        published=utc_seconds(article.published),
        updated=utc_seconds(article.updated),
        author=text(site.author),
        image=_optional_iri(http_url(article.thumbnail)),
        source=_source(article.source),
        enclosures=tuple(
            Enclosure(iri(url), text(e.type) if e.type else None, e.length)
            for e in article.enclosures
            if (url := http_url(e.url))
        ),
    )


def newest_first_items(items: Sequence[FeedItem]) -> list[FeedItem]:
    """Newest published first; the id breaks ties so the order is stable."""
    return sorted(items, key=lambda i: (i.published, i.id), reverse=True)


def feed_items(articles: Sequence[Article], site: SiteInfo) -> list[FeedItem]:
    return newest_first_items([feed_item(a, site) for a in articles])


def feed_info(
    site: SiteInfo, items: Sequence[FeedItem], *, self_url: str, hub: str | None = None
) -> FeedInfo:
    return FeedInfo(
        title=text(site.title),
        subtitle=text(site.subtitle) if site.subtitle else None,
        author=text(site.author),
        home_url=iri(site.base_url),
        self_url=iri(self_url),
        hub=_optional_iri(hub),
        updated=max((i.updated for i in items), default=EMPTY_FEED_UPDATED),
    )
