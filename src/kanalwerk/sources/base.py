"""What a source of richer text (transcripts, full text) is given and answers.

Kept below `enrich`, which asks the sources in turn, so the sources need not import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kanalwerk.config import ChannelConfig
from kanalwerk.models import SourceText, StoredItem


@dataclass(frozen=True)
class Candidate:
    """An item waiting for its source text, with what sources need to know about it."""

    stored: StoredItem
    channel: ChannelConfig
    language: str  # the item's language (channel setting, feed, or detected)


@dataclass(frozen=True)
class Missing:
    """A source applies to the item but has no text for it; `reason` says why."""

    reason: str


class Source(Protocol):
    """One kind of richer text (transcripts, full text), asked for a batch of items.

    A batch lets a source fetch concurrently under the shared per-host limits, and stop
    early for all items when its service refuses the client.
    """

    def find(self, candidates: Sequence[Candidate]) -> Mapping[int, SourceText | Missing]:
        """Text or the reason for none, by item id; items the source does not apply to
        (a blog post for transcripts, a channel without `full_text`) are left out."""
        ...
