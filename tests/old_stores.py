"""Stores as an older kanalwerk left them, for the tests of what a migration keeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from kanalwerk.store import Store, migrations


@contextmanager
def opened_at(url: str, version: int) -> Iterator[Store]:
    """The store at `url`, set up by the first `version` migrations only, and open at that
    schema (to fill it as that version would have)."""
    with (
        mock.patch.object(migrations, "MIGRATIONS", migrations.MIGRATIONS[:version]),
        Store.open(url) as store,
    ):
        yield store


def store_at(url: str, version: int) -> None:
    """The store at `url`, set up by the first `version` migrations only."""
    with opened_at(url, version):
        pass


def before(migration: Callable[..., Any]) -> int:
    """The schema version a store had before `migration` ran."""
    return migrations.MIGRATIONS.index(migration)
