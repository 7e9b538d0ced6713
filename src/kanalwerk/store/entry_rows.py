"""The rows behind the published entries, kept between reads and brought up to date from
the change feed (`entry_changes`, filled by triggers: see migration 12).

The publisher asks for every article's row each cycle; at 10,000 articles reading them
all is most of a cycle that publishes one new article. Kept here, a read fetches only
the rows whose ids the feed names since the last one, and a quiet cycle fetches none.
On PostgreSQL (no triggers: see migration 12) every read fetches every row.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kanalwerk.store import schema as db
from kanalwerk.store.chunks import chunks

#: Changes kept in the feed: a reader further behind than this reads every row again.
KEEP_CHANGES = 10_000

Row = tuple[Any, ...]


class EntryRows:
    """Item id → row of `query`, as of the last `read`.

    The rows are plain tuples, and a row that did not change is the very tuple read
    before, so a caller can tell unchanged rows apart by identity; while no row changed
    (a write the triggers saw may leave every value as it was) `read` answers the very
    same dict.
    """

    def __init__(self, query: sa.Select[Any], item_id: sa.ColumnElement[int]) -> None:
        self._query = query
        self._item_id = item_id
        self._rows: dict[int, Row] | None = None
        self._seen = 0  # the last change applied

    def read(self, conn: Connection) -> dict[int, Row]:
        """The rows now; the same dict as last time if none changed (the caller's to
        read, not to change).

        The feed is read before the rows, so a change committed in between is read
        twice at worst, never missed.
        """
        if conn.dialect.name != "sqlite":  # no triggers there: see migration 12
            return self._read_all(conn, 0)
        c = db.entry_changes.c
        first, last = conn.execute(sa.select(sa.func.min(c.seq), sa.func.max(c.seq))).one()
        if self._rows is None or (first is not None and first > self._seen + 1):
            return self._read_all(conn, last or 0)  # first read, or trimmed past us
        if last is None or last <= self._seen:
            return self._rows
        changed = list(
            conn.execute(sa.select(c.item_id).where(c.seq > self._seen).distinct()).scalars()
        )
        found: dict[int, Row] = {}
        for chunk in chunks(changed):
            rows_read = conn.execute(self._query.where(self._item_id.in_(chunk))).all()
            found.update((row[0], tuple(row)) for row in rows_read)
        self._seen = last
        previous = self._rows
        if all(found.get(i) == previous.get(i) for i in changed):
            return previous  # written, but nothing it shows changed (a held item decided again)
        rows = dict(previous)
        for item_id in changed:
            row = found.get(item_id)
            if row is None:
                rows.pop(item_id, None)
            elif row != previous.get(item_id):
                rows[item_id] = row
        self._rows = rows
        return rows

    def _read_all(self, conn: Connection, seen: int) -> dict[int, Row]:
        rows = {row[0]: tuple(row) for row in conn.execute(self._query).all()}
        previous = self._rows
        if previous is not None:
            if rows == previous:
                rows = previous
            else:  # unchanged rows stay the tuples read before (see the class)
                rows = {i: previous[i] if previous.get(i) == r else r for i, r in rows.items()}
        self._rows, self._seen = rows, seen
        return rows


def trim_changes(conn: Connection) -> None:
    """Forget all but the newest `KEEP_CHANGES` changes (a reader behind reads all)."""
    c = db.entry_changes.c
    newest = conn.execute(sa.select(sa.func.max(c.seq))).scalar()
    if newest is not None and newest > KEEP_CHANGES:
        conn.execute(sa.delete(db.entry_changes).where(c.seq <= newest - KEEP_CHANGES))
