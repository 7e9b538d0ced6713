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
from functools import lru_cache
from typing import Protocol

from kanalwerk import __version__, sanitize
from kanalwerk.entries import (
    ChannelInfo,
    Entry,
    channel_numbers,
    digest,
    entry_of,
    newest_first_key,
    number_new,
    same_objects,
)
from kanalwerk.models import Article, SiteInfo

__all__ = [
    "ArticleJob",
    "ArticleLibrary",
    "Bodies",
    "ChannelInfo",
    "Entry",
    "Library",
    "Page",
    "channel_numbers",
    "entry_of",
    "layout_key",
    "new_plan",
    "newest_first_key",
    "number_new",
    "page_key",
    "same_objects",
    "versions",
]


class Bodies(Protocol):
    """Where a page being rendered gets the full articles it shows (`Page.needs`)."""

    def articles(self, item_ids: Sequence[int]) -> list[Article]:
        """Full articles for `item_ids`, in that order; unknown ids are left out.

        Bodies are written out as they are: sanitized under the current policy.
        """
        ...


class Library(Bodies, Protocol):
    """The published articles, as the page builders see them."""

    @property
    def site(self) -> SiteInfo: ...

    @property
    def entries(self) -> Sequence[Entry]:
        """Every published article, the last to go out first (see `newest_first_key`)."""
        ...

    @property
    def channels(self) -> Sequence[ChannelInfo]: ...

    @property
    def removed(self) -> Sequence[str]:
        """Slugs of unpublished articles (`Store.removed_slugs`): their pages become a notice."""
        ...


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

    `render` gets the bodies it needs (`needs`) from the `Bodies` it is given, so the
    publisher can load the bodies of many pages in one query before rendering them, and
    a page holds no store: a daemon's next plan takes the pages that did not change as
    they are. An article page also says what it is as `job`, so a full publish can share
    such pages out.
    """

    path: str
    key: str
    render: Callable[[Bodies], bytes]
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
            key = _keys_before.get(parts) or digest(parts)
            _keys_now[parts] = key
        return key
    except TypeError:  # a list among the parts
        return digest(parts)


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
def _templatesdigest() -> str:
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
    return page_key(__version__, _templatesdigest(), sanitize.POLICY, dataclasses.astuple(site))
