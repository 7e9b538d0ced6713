"""Migration 3 on a store with published articles: nothing is lost, new states fit in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kanalwerk.store import Store, migrations
from tests.old_stores import store_at


def sql(path: Path, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def version_2(tmp_path: Path) -> Path:
    """A store at schema version 2 holding a published and a new item."""
    path = tmp_path / "old.db"
    store_at(f"sqlite:///{path}", 2)
    now = "2025-03-01 09:00:00.000000"
    sql(
        path,
        "INSERT INTO channels (id, name, error_count, created_at) VALUES ('c', 'C', 0, ?)",
        (now,),
    )
    for n, state in ((1, "published"), (2, "new")):
        sql(
            path,
            "INSERT INTO items (id, channel_id, guid, title, state, attempts, first_seen, "
            "updated_at) VALUES (?, 'c', ?, ?, ?, 0, ?, ?)",
            (n, f"g{n}", f"Title {n}", state, now, now),
        )
    sql(
        path,
        "INSERT INTO articles (item_id, entry_id, slug, title, summary, content_html, "
        "published, updated, engine, created_at) VALUES (1, 'urn:1', 'titel-1', 'Titel 1', "
        "'Kurz', '<p>Text</p>', ?, ?, 'deepl', ?)",
        (now, now, now),
    )
    return path


def test_migration_keeps_items_and_articles_and_allows_the_new_states(version_2: Path) -> None:
    with Store.open(f"sqlite:///{version_2}") as store:
        assert [a.slug for a in store.articles()] == ["titel-1"]
        assert [s.item.title for s in store.pending_items(5)] == ["Title 2"]
    assert sql(version_2, "SELECT max(version) FROM schema_version") == [
        (migrations.latest_version(),)
    ]
    assert sql(version_2, "SELECT id, state, content_hash FROM items ORDER BY id") == [
        (1, "published", None),
        (2, "new", None),
    ]
    assert sql(version_2, "PRAGMA foreign_key_check") == []
    sql(version_2, "UPDATE items SET state = 'removed' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError):
        sql(version_2, "UPDATE items SET state = 'bogus' WHERE id = 1")
    # The articles still belong to their items: deleting an item takes its article along.
    sql(version_2, "DELETE FROM items WHERE id = 1")
    assert sql(version_2, "SELECT count(*) FROM articles") == [(0,)]
    indexes = {
        name for (name,) in sql(version_2, "SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert {"ix_items_state", "ix_items_hashed", "ix_articles_published"} <= indexes
