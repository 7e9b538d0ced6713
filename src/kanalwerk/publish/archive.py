"""Which entries live in which feed document (RFC 5005 archived feeds).

Documents hold ranges of publication numbers (`Entry.seq`), not positions: archive k
holds the entries numbered (k−1)·size+1 … k·size, and `feed.atom` the newest `size`
numbers (those above the highest number given minus `size`). An unpublished article
leaves a hole in the one document that held it; nothing else moves. Only the newest
archive may be partial. When an archive fills, the next one exists at once (empty at
first), so the full one carries its `next-archive` link from the first time it is
written and never changes again. Following `prev-archive` from the current document
visits every entry exactly once.

Unpublishing the newest article lowers the highest number, so the window of `feed.atom`
moves back by one: the entry it takes back leaves the newest archive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from kanalwerk.publish.paging import by_number

ARCHIVE_DIR = "archiv"
FH_NAMESPACE = "http://purl.org/syndication/history/1.0"

T = TypeVar("T")


@dataclass(frozen=True)
class Archive(Generic[T]):
    """`archiv/<number>.atom`: its entries newest first, and whether its chunk is complete."""

    number: int
    entries: tuple[T, ...]
    full: bool


@dataclass(frozen=True)
class FeedSplit(Generic[T]):
    """The current document's entries and the archives, oldest archive first."""

    current: tuple[T, ...]
    archives: tuple[Archive[T], ...]


@dataclass(frozen=True)
class ArchiveLinks:
    """The RFC 5005 links of one feed document; only archive documents have `current`."""

    prev_archive: str | None = None
    next_archive: str | None = None
    current: str | None = None

    @property
    def is_archive(self) -> bool:
        return self.current is not None


def split_feed(entries: Sequence[T], size: int, *, seq: Callable[[T], int]) -> FeedSplit[T]:
    """Split `entries` (newest first) into the current document and the archives."""
    if size < 1:
        raise ValueError(f"a feed document holds at least one entry, not {size}")
    archived_up_to = max(map(seq, entries), default=0) - size
    if archived_up_to <= 0:
        return FeedSplit(tuple(entries), ())
    # One archive more than the full ones: the partial one, or an empty one after a full.
    count = archived_up_to // size + 1
    current, chunks = by_number(entries, size, seq, above=archived_up_to, count=count)
    archives = tuple(
        Archive(k, tuple(chunk), full=k * size <= archived_up_to)
        for k, chunk in enumerate(chunks, start=1)
    )
    return FeedSplit(tuple(current), archives)


def archive_path(number: int) -> str:
    return f"{ARCHIVE_DIR}/{number}.atom"


def archive_links(number: int, count: int, *, base_url: str, current_url: str) -> ArchiveLinks:
    """Links of archive `number` out of `count`: its neighbours that exist, and the current."""
    return ArchiveLinks(
        prev_archive=base_url + archive_path(number - 1) if number > 1 else None,
        next_archive=base_url + archive_path(number + 1) if number < count else None,
        current=current_url,
    )


def current_links(count: int, *, base_url: str) -> ArchiveLinks:
    """Links of the current document: `prev-archive` to the newest archive, if any."""
    return ArchiveLinks(prev_archive=base_url + archive_path(count) if count else None)
