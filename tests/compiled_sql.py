"""One cache of compiled SQL for all SQLite connections of a test process.

SQLAlchemy keeps a statement's compiled form per engine, and each store opened makes an
engine of its own: the daemon compiles each statement once, while a test process that
opens a thousand stores compiled the same statements a thousand times, a quarter of the
processor time of the pipeline and command tests. That cache is keyed by the engine's
dialect object; this one by what the compiled SQL depends on instead, so engines of the
same SQLite with the same settings share it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.util import LRUCache

#: Statements kept: SQLAlchemy's default is 500 per engine; all engines share this one,
#: and the whole suite compiles a few hundred distinct statements.
SIZE = 2000


class SharedCompiledCache(LRUCache[Any, Any]):
    """SQLAlchemy's LRU cache, with the dialect object in each key replaced by its settings."""

    @staticmethod
    def _shared(key: tuple[Any, ...]) -> tuple[Any, ...]:
        dialect, *rest = key
        settings = (
            dialect.server_version_info,
            dialect.paramstyle,
            dialect.label_length,
            getattr(dialect, "native_datetime", None),
        )
        return (type(dialect), settings, *rest)

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._shared(key), default)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._shared(key), value)


@contextmanager
def compiled_once() -> Iterator[SharedCompiledCache]:
    """Every SQLite connection made meanwhile caches its compiled SQL in one cache."""
    cache = SharedCompiledCache(SIZE)

    def share(conn: sa.Connection) -> None:
        if conn.dialect.name == "sqlite":
            conn.execution_options(compiled_cache=cache)

    sa.event.listen(sa.Engine, "engine_connect", share)
    try:
        yield cache
    finally:
        sa.event.remove(sa.Engine, "engine_connect", share)
