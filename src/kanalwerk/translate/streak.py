"""Item failures in a row from one engine: past a few, the engine is suspect, not the items.

A failure blamed on the item (an unusable answer for its text) counts an attempt against
that item. But a broken model that answers garbage for everything would blame every item
in turn and burn all their attempts; so the attempts of failures in a row are held back
until the row is broken. When `limit` of them come in a row from the same engine, the
engine is suspect: they are given back (never charged) and the caller pauses the engine.
"""

from __future__ import annotations

from typing import Generic, TypeVar

#: Item failures in a row from one engine that make it suspect.
ITEM_FAILURES_IN_A_ROW = 3

_Failure = TypeVar("_Failure")


class ItemFailureStreak(Generic[_Failure]):
    """Holds item failures in a row per engine; anything else in between releases them."""

    def __init__(self, limit: int = ITEM_FAILURES_IN_A_ROW) -> None:
        self.limit = limit
        self.engine: str | None = None
        self._held: list[_Failure] = []

    def failed(self, engine: str, failure: _Failure) -> tuple[list[_Failure], bool]:
        """Note `failure`, blamed on its item by `engine`.

        Returns the failures to charge now (an earlier row, from another engine, is
        broken) and whether this one makes `limit` in a row; then the row is given
        back: none of it is ever charged.
        """
        released = self.release() if engine != self.engine else []
        self.engine = engine
        self._held.append(failure)
        if len(self._held) < self.limit:
            return released, False
        self._held, self.engine = [], None
        return released, True

    def release(self) -> list[_Failure]:
        """Something else happened (a translation, another error): charge the row held."""
        held, self._held, self.engine = self._held, [], None
        return held
