"""Stable pages of a list: which entries each page of the index (or of a channel) shows.

Chunks of `size` are counted from the OLDEST entry, so chunk n holds the same entries
forever and its file (`seite/<n>.html`) is written once. The front page shows the entries
that fill no chunk yet plus the newest full chunk (size … 2·size−1 entries, all of them
when there are fewer), so it is never nearly empty. Every entry is on exactly one page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kanalwerk.publish.pages import Entry


@dataclass(frozen=True)
class ListPage:
    """One page of a list; `number` None is the front page.

    `older` is the number of the page with the next older entries (None: there is none);
    `newer` is the number of the page with the next newer ones, None meaning the front page
    (and nothing at all on the front page itself).
    """

    number: int | None
    entries: Sequence[Entry]  # newest first
    older: int | None
    newer: int | None

    @property
    def is_front(self) -> bool:
        return self.number is None


def paginate(entries: Sequence[Entry], size: int) -> list[ListPage]:
    """`entries` (newest first) as pages, the front page first, then chunk k−1 down to 1."""
    if size < 1:
        raise ValueError(f"page size must be at least 1, not {size}")
    total = len(entries)
    full = total // size
    if full <= 1:
        return [ListPage(None, entries, None, None)]
    front_count = total - (full - 1) * size
    pages = [ListPage(None, entries[:front_count], full - 1, None)]
    for number in range(full - 1, 0, -1):
        start = total - number * size
        pages.append(
            ListPage(
                number,
                entries[start : start + size],
                older=number - 1 if number > 1 else None,
                newer=number + 1 if number + 1 < full else None,
            )
        )
    return pages
