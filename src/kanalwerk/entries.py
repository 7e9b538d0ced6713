"""A published article as lists, links and page keys see it, without its body.

The store hands these out (`Store.published_entries`) and the publisher builds its pages
from them; they live outside `publish` so that opening the store does not load the
renderers.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from kanalwerk.dates import iso_utc, utc_seconds
from kanalwerk.models import Article, SourceRef


def digest(parts: tuple[object, ...]) -> str:
    """`repr` of `parts`, digested: the same in every run for strings, numbers, None, tuples."""
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Entry:
    """A published article without its body: enough for lists, links and keys."""

    item_id: int
    entry_id: str
    slug: str
    channel_id: str
    title: str
    summary: str
    published: datetime
    updated: datetime
    source: SourceRef
    thumbnail: str | None = None
    #: Publication number: given once, in the order articles go out, never reused. Archives
    #: and list pages hold ranges of numbers, so an unpublished article leaves a hole in
    #: its own page instead of shifting every later one. Not part of `version`: the pages
    #: show no number.
    seq: int = 0
    #: The same within the article's channel, for the channel's pages.
    channel_seq: int = 0

    @cached_property
    def version(self) -> tuple[object, ...]:
        """Everything of the entry a page shows; part of the key of every page listing it.

        The body is not here: a re-made body always moves `updated`. Computed once: an
        entry is in the key of its page, of a list page, a feed and the sitemap.
        """
        return (
            self.entry_id,
            self.slug,
            self.channel_id,
            self.title,
            self.summary,
            int(self.published.timestamp()),  # to the second, as pages show them
            int(self.updated.timestamp()),
            self.thumbnail,
            self.source.title,
            self.source.link,
            self.source.channel_name,
            self.source.feed_title,
            self.source.feed_url,
            self.source.feed_link,
            self.source.feed_id,
            self.source.author,
        )

    @cached_property
    def digest(self) -> str:
        """`version` as a `page_key`, worked out once per entry.

        Page keys take digests rather than the tuples: every entry is in the key of its
        own page, its neighbours', a list page, a feed or archive and the sitemap, and
        at 10,000 entries hashing each tuple's `repr` over and over is most of a plan.
        A digest changes exactly when the tuple does, so no key loses what it covered.
        """
        return digest((self.version,))  # as `page_key(self.version)`

    @cached_property
    def updated_iso(self) -> str:
        """`updated` as the sitemap and lists compare it: RFC 3339 in UTC, all of one form,
        so the newest is the greatest string."""
        return iso_utc(self.updated)


def entry_of(article: Article, seq: int = 0, channel_seq: int = 0) -> Entry:
    return Entry(
        seq=seq,
        channel_seq=channel_seq,
        item_id=article.item_id,
        entry_id=article.entry_id,
        slug=article.slug,
        channel_id=article.channel_id,
        title=article.title,
        summary=article.summary,
        published=article.published,
        updated=article.updated,
        source=article.source,
        thumbnail=article.thumbnail,
    )


@dataclass(frozen=True)
class ChannelInfo:
    """A followed channel, for the channel pages and `quellen.opml`."""

    id: str
    name: str
    feed_url: str
    feed_title: str | None = None
    feed_link: str | None = None


def same_objects(one: Sequence[object], other: Sequence[object]) -> bool:
    """Whether both hold the very same objects in the same order.

    The store hands out an unchanged entry again (`Store.published_entries`), so this
    tells an unchanged list at the cost of a pointer comparison per entry.
    """
    return len(one) == len(other) and all(map(operator.is_, one, other))


def newest_first_key(published: datetime, entry_id: str) -> tuple[datetime, str]:
    """Newest original first, entry id breaking ties: among articles that went out together.

    The store orders by when articles went out first (`Store.published_entries`).
    """
    return (utc_seconds(published), entry_id)


def number_new(oldest_first: Sequence[int | None], after: int) -> list[int]:
    """Publication numbers: the given ones kept, the missing ones (not out yet) given
    provisionally after `after` (the highest ever given), in the order of the list."""
    numbers = []
    for seq in oldest_first:
        if seq is None:
            after += 1
            seq = after
        numbers.append(seq)
    return numbers


def channel_numbers(oldest_first: Sequence[tuple[str, int]]) -> dict[int, int]:
    """Each publication number's rank within its channel, from (channel, number) pairs
    of every article that ever went out, unpublished ones included, oldest first."""
    counts: dict[str, int] = {}
    ranks = {}
    for channel_id, seq in oldest_first:
        counts[channel_id] = counts.get(channel_id, 0) + 1
        ranks[seq] = counts[channel_id]
    return ranks
