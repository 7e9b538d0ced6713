"""Stable pages of a list: which entries each page of the index (or of a channel) shows.

Pages hold ranges of publication numbers (`Entry.seq`, or `Entry.channel_seq` for a
channel's pages): chunk n holds the numbers (n−1)·size+1 … n·size forever, so its file
(`seite/<n>.html`) is written once, and an unpublished article leaves a hole in its own
page instead of shifting the later ones. The front page shows the numbers that fill no
chunk yet plus the newest full chunk (size … 2·size−1 numbers, all of them when there
are fewer), so it is never nearly empty. Every entry is on exactly one page.
Unpublishing the newest article lowers the highest number: if that drops below a chunk's
end, the newest page folds back into the front page.
"""

from __future__ import annotations

import operator
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from typing import TypeVar

from kanalwerk.publish.pages import Entry

T = TypeVar("T")


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


def by_number(
    entries: Sequence[T], size: int, seq: Callable[[T], int], *, above: int, count: int
) -> tuple[list[T], list[list[T]]]:
    """The entries numbered above `above`, and `count` ranges of the rest: range k holds
    the numbers (k−1)·size+1 … k·size. Order is kept; a missing number is a gap."""
    numbers = list(map(seq, entries))
    if all(map(operator.gt, numbers, islice(numbers, 1, None))):
        return _by_number_sorted(entries, numbers, size, above=above, count=count)
    chunks: list[list[T]] = [[] for _ in range(count)]
    newest = []
    for entry, number in zip(entries, numbers, strict=True):
        if number > above:
            newest.append(entry)
        else:
            chunks[(number - 1) // size].append(entry)
    return newest, chunks


def _by_number_sorted(
    entries: Sequence[T], numbers: list[int], size: int, *, above: int, count: int
) -> tuple[list[T], list[list[T]]]:
    """`by_number` for entries numbered in falling order, as libraries hand them out:
    each range is a slice, found by bisection, not by looking at every entry."""
    rising = [-number for number in numbers]

    def start(number: int) -> int:  # the first index whose number is `number` or lower
        return bisect_left(rising, -number)

    newest = list(entries[: start(above)])
    chunks = [
        list(entries[start(min(k * size, above)) : start((k - 1) * size)])
        for k in range(1, count + 1)
    ]
    return newest, chunks


# Item getters, not functions: called for every entry of the site, several times a plan.
global_seq: Callable[[Entry], int] = attrgetter("seq")
channel_seq: Callable[[Entry], int] = attrgetter("channel_seq")


def paginate(
    entries: Sequence[Entry], size: int, seq: Callable[[Entry], int] = global_seq
) -> list[ListPage]:
    """`entries` (newest first) as pages, the front page first, then chunk k−1 down to 1."""
    if size < 1:
        raise ValueError(f"page size must be at least 1, not {size}")
    full = max(map(seq, entries), default=0) // size
    if full <= 1:
        return [ListPage(None, entries, None, None)]
    front, chunks = by_number(entries, size, seq, above=(full - 1) * size, count=full - 1)
    pages = [ListPage(None, front, full - 1, None)]
    for number in range(full - 1, 0, -1):
        pages.append(
            ListPage(
                number,
                chunks[number - 1],
                older=number - 1 if number > 1 else None,
                newer=number + 1 if number + 1 < full else None,
            )
        )
    return pages
