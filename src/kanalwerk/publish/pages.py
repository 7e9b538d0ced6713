"""What the publisher writes, as data: one `Page` per output file, with a key and a renderer.

A page's `key` changes whenever its bytes would, so the publisher renders only pages whose
key differs from the one it wrote last time. Feeds and site contribute pages through
`feeds.feed_pages` and `sitepages.site_pages`; both read published articles through a
`Library`, which hands out light `Entry`s for lists and links and loads full bodies only
for the pages that are rendered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Protocol

from kanalwerk import __version__, sanitize
from kanalwerk.dates import iso_utc, utc_seconds
from kanalwerk.models import Article, SiteInfo, SourceRef


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
        return _digest((self.version,))  # as `page_key(self.version)`, not kept twice

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


class Library(Protocol):
    """The published articles, as the page builders see them."""

    @property
    def site(self) -> SiteInfo: ...

    @property
    def entries(self) -> Sequence[Entry]:
        """Every published article, the last to go out first (see `newest_first_key`)."""
        ...

    @property
    def channels(self) -> Sequence[ChannelInfo]: ...

    def articles(self, item_ids: Sequence[int]) -> list[Article]:
        """Full articles for `item_ids`, in that order; unknown ids are left out.

        Bodies are written out as they are: sanitized under the current policy.
        """
        ...

    @property
    def removed(self) -> Sequence[str]:
        """Slugs of unpublished articles (`Store.removed_slugs`): their pages become a notice."""
        ...


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


@dataclass
class ArticleLibrary:
    """A `Library` over articles held in memory, for tests and small callers.

    `seqs` gives publication numbers by item id; articles without one are numbered after
    the highest, oldest original first (so without `seqs`: 1…n by date). Channel numbers
    count the articles held, so leaving one out shifts its channel's pages here.
    """

    site: SiteInfo
    source_articles: Sequence[Article]
    channels: Sequence[ChannelInfo] = ()
    removed: Sequence[str] = ()
    seqs: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_date = sorted(
            self.source_articles, key=lambda a: newest_first_key(a.published, a.entry_id)
        )
        known = [a for a in by_date if a.item_id in self.seqs]
        known.sort(key=lambda a: self.seqs[a.item_id])
        oldest_first = known + [a for a in by_date if a.item_id not in self.seqs]
        numbers = number_new(
            [self.seqs.get(a.item_id) for a in oldest_first], max(self.seqs.values(), default=0)
        )
        ranks = channel_numbers(
            [(a.channel_id, n) for a, n in zip(oldest_first, numbers, strict=True)]
        )
        self._by_id = {a.item_id: a for a in oldest_first}
        self.entries: Sequence[Entry] = [
            entry_of(a, n, ranks[n])
            for a, n in reversed(list(zip(oldest_first, numbers, strict=True)))
        ]

    def articles(self, item_ids: Sequence[int]) -> list[Article]:
        return [self._by_id[i] for i in item_ids if i in self._by_id]


@dataclass(frozen=True)
class ArticleJob:
    """An article page as another process can render it: `render` is a closure, this is
    data (see `publish.workers`)."""

    item_id: int
    older: Entry | None
    newer: Entry | None


@dataclass(frozen=True)
class Page:
    """One output file: `path` relative to the output folder, '/'-separated.

    `needs` names the articles `render` loads with `Library.articles`, so the publisher can
    load the bodies of many pages in one query before rendering them. An article page
    also says what it is as `job`, so a full publish can share such pages out.
    """

    path: str
    key: str
    render: Callable[[], bytes]
    needs: tuple[int, ...] = ()
    job: ArticleJob | None = None


def page_key(*parts: object) -> str:
    """A stable digest of what a page depends on (strings, numbers, None, tuples, lists).

    `repr` of such values is the same in every run and half the cost of JSON, which
    counts at one key per page on a site of thousands of pages. No sets: their order
    changes from run to run. Keys of hashable parts (no lists) are remembered from this
    plan and the one before (`new_plan`): a plan asks again for every page of the site,
    and most are what they were. Remembered by equality, digested by `repr`: parts that
    are equal must print alike (no `True` where `1` may come, no datetimes in several
    zones; dates go in as digests, numbers or UTC strings).
    """
    try:
        key = _keys_now.get(parts)
        if key is None:
            key = _keys_before.get(parts) or _digest(parts)
            _keys_now[parts] = key
        return key
    except TypeError:  # a list among the parts
        return _digest(parts)


def _digest(parts: tuple[object, ...]) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


_keys_now: dict[tuple[object, ...], str] = {}
_keys_before: dict[tuple[object, ...], str] = {}


def new_plan() -> None:
    """Forget the keys no plan since the one before last asked for: memory stays at the
    keys of two plans however long a daemon runs (a key is a pure function of its parts,
    so forgetting one only costs its digest again)."""
    global _keys_now, _keys_before
    _keys_before, _keys_now = _keys_now, {}


def versions(entries: Iterable[Entry]) -> tuple[str, ...]:
    """The entries' `digest`s, for the key of a page that shows them."""
    return tuple(entry.digest for entry in entries)


@lru_cache(maxsize=1)
def _templates_digest() -> str:
    """The templates' bytes: an edited template re-renders every page once."""
    digest = hashlib.sha256()
    folder = importlib.resources.files("kanalwerk").joinpath("templates")
    for resource in sorted(folder.iterdir(), key=lambda r: r.name):
        if resource.is_file():
            digest.update(resource.name.encode() + b"\0" + resource.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=8)
def layout_key(site: SiteInfo) -> str:
    """What every page depends on besides its entries: the site settings and the layout,
    and the sanitizer policy the store cleans the bodies under (see `Store.refresh_sanitized`).

    Cached: every feed, archive and notice page asks for it, the answer is per site.
    """
    return page_key(__version__, _templates_digest(), sanitize.POLICY, dataclasses.astuple(site))
