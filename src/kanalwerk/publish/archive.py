"""Which entries live in which feed document (RFC 5005 archived feeds).

`feed.atom` holds the newest `size` entries. Everything older lives in `archiv/<n>.atom`,
chunks of `size` counted from the OLDEST entry, so archive 1 is always the same oldest
entries: a chunk, once full, keeps its entries whatever arrives later, and only the
newest archive may be partial. Following `prev-archive` from the current document visits
every entry exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

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


def split_feed(entries: Sequence[T], size: int) -> FeedSplit[T]:
    """Split `entries` (newest first) into the current document and the archives."""
    if size < 1:
        raise ValueError(f"a feed document holds at least one entry, not {size}")
    current = tuple(entries[:size])
    oldest_first = list(reversed(entries[size:]))
    archives = []
    for start in range(0, len(oldest_first), size):
        chunk = oldest_first[start : start + size]
        archives.append(Archive(start // size + 1, tuple(reversed(chunk)), full=len(chunk) == size))
    return FeedSplit(current, tuple(archives))


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
