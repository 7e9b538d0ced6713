"""The change feed behind `Store.published_entries`: a store that read the entries before
reads only what changed since, and must answer exactly as a store reading them all."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from kanalwerk.entries import Entry
from kanalwerk.models import Article, Item
from kanalwerk.store import Store, entry_rows
from kanalwerk.store import schema as db
from tests.test_incremental import add_article
from tests.test_review_migration import sql

CHANNELS = [
    ("kanal-a", "Kanal A", "https://a.example/feed.xml"),
    ("kanal-b", "Kanal B", "https://b.example/feed.xml"),
]


def _as_read_afresh(url: str) -> tuple[list[Entry], frozenset[int]]:
    with Store.open(url) as fresh:
        found = fresh.published_entries()
        return found.entries, found.unpublished


def _check(store: Store, url: str) -> None:
    found = store.published_entries()
    assert (found.entries, found.unpublished) == _as_read_afresh(url)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_entries_read_from_the_changes_are_those_read_afresh(tmp_path: Path, seed: int) -> None:
    """Every kind of write, through the store and by hand: after each, the kept rows agree."""
    rng = random.Random(seed)
    path = tmp_path / "k.db"
    url = f"sqlite:///{path}"
    articles: dict[int, Article] = {}
    with Store.open(url) as store:
        store.sync_channels(CHANNELS)
        for n in range(1, 6):
            article = add_article(store, n, channel="kanal-a" if n % 2 else "kanal-b")
            articles[article.item_id] = article
        _check(store, url)
        for step in range(40):
            ids = sorted(articles)
            some = rng.choice(ids) if ids else None
            action = rng.choice(
                ["add", "retitle", "publish", "remove", "back", "hand", "rename", "delete"]
            )
            if action == "add" or some is None:
                n = 100 + step
                article = add_article(store, n, channel=rng.choice(["kanal-a", "kanal-b"]))
                articles[article.item_id] = article
            elif action == "retitle":
                store.save_article(replace(articles[some], title=f"Neu {step}"))
            elif action == "publish":
                store.mark_published(rng.sample(ids, k=min(3, len(ids))))
            elif action == "remove":
                store.change_article_states([some], "removed", lambda _states: None)
            elif action == "back":
                store.change_article_states([some], "translated", lambda _states: None)
            elif action == "hand":  # another tool's write: the triggers see it too
                sql(path, "UPDATE items SET title = ?, author = ? WHERE id = ?", ("x", "y", some))
            elif action == "rename":
                renamed = ("kanal-a", f"Kanal A {step}", "https://a.example/feed.xml")
                store.sync_channels([renamed, CHANNELS[1]])
            else:  # the item goes, and its article with it (ON DELETE CASCADE)
                sql(path, "DELETE FROM items WHERE id = ?", (some,))
                del articles[some]
            _check(store, url)


def test_the_same_answer_while_nothing_changed(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    url = f"sqlite:///{path}"
    with Store.open(url) as store:
        store.sync_channels(CHANNELS)
        one = add_article(store, 1)
        first = store.published_entries()
        assert store.published_entries() is first
        store.mark_published([one.item_id])  # the row changes, the entry does not
        again = store.published_entries()
        assert again.entries[0] is first.entries[0]
        assert again.unpublished == frozenset()
        assert store.published_entries() is again

        # Writes the triggers see that leave every value shown as it was: an item without
        # an article decided again, a state set to what it is.
        (bare,) = store.add_items("kanal-a", [Item(guid="ohne-artikel", link=None, title="T")])
        assert store.published_entries() is again
        sql(
            path,
            "UPDATE items SET state = state, title = title WHERE id IN (?, ?)",
            (one.item_id, bare),
        )
        assert store.published_entries() is again


def test_a_reader_behind_the_trimmed_changes_reads_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry_rows, "KEEP_CHANGES", 2)
    path = tmp_path / "k.db"
    url = f"sqlite:///{path}"
    with Store.open(url) as behind, Store.open(url) as publisher:
        publisher.sync_channels(CHANNELS)
        add_article(publisher, 1)
        _check(behind, url)
        for n in range(2, 6):
            add_article(publisher, n)
        publisher.record_published_pages({"index.html": "k"}, [])  # trims the feed
        assert len(sql(path, "SELECT seq FROM entry_changes")) == 2
        _check(behind, url)
        assert len(behind.published_entries().entries) == 5


def test_rows_kept_are_the_same_dict_and_tuples_while_no_value_changed(tmp_path: Path) -> None:
    """`EntryRows` itself: a write that changes nothing shown costs no rebuild."""
    path = tmp_path / "k.db"
    url = f"sqlite:///{path}"
    with Store.open(url) as store:
        store.sync_channels(CHANNELS)
        one, two = (add_article(store, n) for n in (1, 2))
    engine = sa.create_engine(url)
    rows = entry_rows.EntryRows(
        sa.select(db.articles.c.item_id, db.articles.c.title), db.articles.c.item_id
    )
    try:
        with engine.connect() as conn:
            first = rows.read(conn)
        sql(path, "UPDATE articles SET title = title WHERE item_id = ?", (one.item_id,))
        with engine.connect() as conn:
            assert rows.read(conn) is first
        sql(path, "UPDATE articles SET title = 'Neu' WHERE item_id = ?", (two.item_id,))
        with engine.connect() as conn:
            changed = rows.read(conn)
        assert changed is not first
        assert changed[two.item_id] == (two.item_id, "Neu")
        assert changed[one.item_id] is first[one.item_id]
    finally:
        engine.dispose()
