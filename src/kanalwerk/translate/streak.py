"""Item failures in a row from one engine: past a few, the engine is suspect, not the items.

A failure blamed on the item (an unusable answer for its text) counts an attempt against
that item. But a broken model that answers garbage for everything would blame every item
in turn and burn all their attempts in one cycle; so after `limit` such failures in a row
from the same engine, the caller stops for this cycle and the rest of the queue waits.
"""

from __future__ import annotations

#: Item failures in a row from one engine that make it suspect.
ITEM_FAILURES_IN_A_ROW = 3


class ItemFailureStreak:
    """Counts item failures in a row per engine; anything else in between resets it."""

    def __init__(self, limit: int = ITEM_FAILURES_IN_A_ROW) -> None:
        self.limit = limit
        self.engine: str | None = None
        self.count = 0

    def failed(self, engine: str) -> bool:
        """Note an item failure blamed by `engine`; True when it makes `limit` in a row."""
        self.count = self.count + 1 if engine == self.engine else 1
        self.engine = engine
        return self.count >= self.limit

    def reset(self) -> None:
        """Something else happened (a translation, an unexpected error): the row is broken."""
        self.engine, self.count = None, 0
