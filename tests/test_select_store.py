"""The store's side of selection: migration 3, decided items, held items, the item list."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from kanalwerk.errors import StoreError
from kanalwerk.models import FetchResult, Item, ParsedFeed
from kanalwerk.select import Decision, origin_key
from kanalwerk.store import FetchRecord, Store, migrations
from tests.old_stores import store_at
from tests.test_store import raw


def old_store(tmp_path: Path, version: int) -> Path:
    """An SQLite store at schema `version` with one channel 'a'."""
    path = tmp_path / "k.db"
    store_at(f"sqlite:///{path}", version)
    raw(
        path,
        "INSERT INTO channels (id, name, error_count, created_at) VALUES ('a', 'A', 0, ?)",
        ("2025-01-01 00:00:00",),
    )
    return path


def test_migration_keeps_articles_marks_known_channels_and_fills_origins(tmp_path: Path) -> None:
    path = old_store(tmp_path, 2)
    now = "2025-01-01 00:00:00"
    raw(
        path,
        "INSERT INTO channels (id, name, error_count, created_at) VALUES ('b', 'B', 0, ?)",
        (now,),
    )
    raw(
        path,
        "INSERT INTO items (channel_id, guid, link, title, video_id, state, attempts, "
        "first_seen, updated_at) VALUES ('a', 'g', 'https://youtu.be/abcdefghijk', 'T', NULL, "
        "'published', 0, ?, ?)",
        (now, now),
    )
    raw(
        path,
        "INSERT INTO articles (item_id, entry_id, slug, title, summary, content_html, "
        "published, updated, engine, created_at) VALUES (1, 'tag:x', 's', 'T', '', '', ?, ?, "
        "'none', ?)",
        (now, now, now),
    )

    with Store.open(f"sqlite:///{path}") as store:
        assert len(store.articles()) == 1
        facts_a = store.selection_facts("a", [])
        facts_b = store.selection_facts("b", [])
        video = Item("yt:video:abcdefghijk", None, "T", video_id="abcdefghijk")
        claimed = store.selection_facts("b", [video]).claimed
    assert not facts_a.first_time and facts_b.first_time
    assert claimed == {"youtube:abcdefghijk": ("A", "a", "g")}
    assert raw(path, "SELECT origin FROM items") == [("youtube:abcdefghijk",)]
    raw(path, "UPDATE items SET state = 'skipped' WHERE id = 1")  # the new state is allowed
    with pytest.raises(sqlite3.IntegrityError):
        raw(path, "UPDATE items SET state = 'bogus' WHERE id = 1")
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]


def test_a_state_constraint_not_where_expected_stops_the_migration(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, state TEXT)")
            with pytest.raises(StoreError, match="state constraint"):
                migrations.allow_item_states(conn, ("new",))
    finally:
        engine.dispose()


def decision(guid: str, state: str, reason: str | None = None) -> Decision:
    item = Item(guid, f"https://example.org/{guid}", f"Titel {guid}")
    return Decision(item, state, reason, origin_key(item))  # type: ignore[arg-type]


def test_held_items_are_decided_again_and_everything_else_once(store: Store) -> None:
    store.sync_channels([("a", "A", "https://a.example/feed")])
    assert store.selection_facts("a", []).first_time
    first = store.store_decisions(
        "a", [decision("1", "new"), decision("2", "skipped", "backfill"), decision("3", "held")]
    )
    assert (len(first.new_ids), first.skipped, first.held) == (1, 1, 1)
    assert not store.selection_facts("a", []).first_time

    again = store.store_decisions(
        "a", [decision("1", "skipped", "x"), decision("2", "new"), decision("3", "new")]
    )
    assert (len(again.new_ids), again.skipped, again.held) == (1, 0, 0)
    rows = {row.title: (row.state, row.skip_reason) for row in store.list_items()}
    assert rows == {
        "Titel 1": ("new", None),
        "Titel 2": ("skipped", "backfill"),
        "Titel 3": ("new", None),
    }
    assert [row.title for row in store.list_items(state="skipped")] == ["Titel 2"]
    assert store.list_items(channel_id="other") == []


def test_another_feed_url_starts_backfill_again_until_a_poll_brings_items(store: Store) -> None:
    store.sync_channels([("a", "A", "https://a.example/feed")])
    store.store_decisions("a", [decision("1", "new")])
    assert not store.selection_facts("a", []).first_time
    store.sync_channels([("a", "A", "https://a.example/new-feed")])
    assert store.selection_facts("a", []).first_time

    url = "https://a.example/new-feed"
    result = FetchResult("a", url, url, 200, content=b"<rss/>")
    empty = ParsedFeed("A", None, url, None, None, ())
    store.store_decisions("a", [], fetched=FetchRecord(result, empty))
    assert store.selection_facts("a", []).first_time  # a poll without items says nothing
    known = ParsedFeed("A", None, url, None, None, (decision("1", "new").item,))
    store.store_decisions("a", [], fetched=FetchRecord(result, known))
    assert not store.selection_facts("a", []).first_time


def test_migration_10_gives_links_with_parameters_without_value_their_own_origin(
    tmp_path: Path,
) -> None:
    path = old_store(tmp_path, 9)
    now = "2025-01-01 00:00:00"
    for n, link in enumerate(
        ("https://cms.example/index.php?artikel1", "https://youtu.be/abcdefghijk")
    ):
        raw(
            path,
            "INSERT INTO items (channel_id, guid, link, title, state, attempts, first_seen, "
            "updated_at, origin) VALUES ('a', ?, ?, 'T', 'published', 0, ?, ?, 'old')",
            (f"g{n}", link, now, now),
        )
    Store.open(f"sqlite:///{path}").close()
    assert raw(path, "SELECT origin FROM items ORDER BY id") == [
        ("link:cms.example/index.php?artikel1=",),
        ("youtube:abcdefghijk",),
    ]
    item = Item("g", "https://cms.example/index.php?artikel1", "T")
    assert origin_key(item) == "link:cms.example/index.php?artikel1="
