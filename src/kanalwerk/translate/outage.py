"""A server error or timeout on one item: that item's failure, or an outage? Another item tells.

A `TRANSIENT` failure (a 5xx after retries, a timeout) says nothing alone: the server
may crash on this one text, or be down. So it is held and another item is asked. If
that fails `TRANSIENT` too, the engine is out: the step ends and neither item is
charged. If the engine translates another item in the cycle, the failure was the
item's: an attempt counts against it, so it is given up after `max_attempts` instead of
stopping the queue on every cycle. The items of a step ended that way are remembered, and
the next cycle asks another item after a held failure: a bad oldest and a bad newest
item cannot pass for an outage cycle after cycle and hold back the items between.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Generic, TypeVar

_Failure = TypeVar("_Failure")


class OutageProbe(Generic[_Failure]):
    """Holds one `TRANSIENT` failure until another item shows whose it was."""

    def __init__(self) -> None:
        self._held: _Failure | None = None
        self._answered = False  # the engine translated an item in this cycle

    @property
    def held(self) -> _Failure | None:
        return self._held

    def hold(self, failure: _Failure) -> _Failure | None:
        """Hold `failure`; if one is held already, return that one: two in a row are an outage."""
        if self._held is not None:
            return self._held
        self._held = failure
        return None

    def answered(self) -> list[_Failure]:
        """The engine translated an item: the failure held (if any) is its item's, to charge."""
        self._answered = True
        held, self._held = self._held, None
        return [held] if held is not None else []

    def settle(self, repeated: Callable[[_Failure], bool]) -> list[_Failure]:
        """At the end of the queue: the failure held, to charge, if it is shown to be the item's.

        It is when the engine translated another item in this cycle, or when `repeated`
        says the item failed just so before, when that was proven its own: an item alone
        in the queue is then given up in time instead of being asked forever.
        """
        held = self._held
        if held is None or not (self._answered or repeated(held)):
            return []
        self._held = None
        return [held]

    def drop(self) -> int:
        """Leave the failure held uncharged (its item waits); 1 if there was one."""
        held, self._held = self._held, None
        return int(held is not None)


def probe_position(item_ids: Sequence[int], last_outage: Collection[int]) -> int:
    """Where in the queue the item to ask after a held failure is.

    The newest one: two bad items side by side at the front must not look like an
    outage. But not one of the items that ended the last step as an outage, if any
    other is left: asked again, they would give the same answer every cycle.
    """
    for index in range(len(item_ids) - 1, -1, -1):
        if item_ids[index] not in last_outage:
            return index
    return len(item_ids) - 1
