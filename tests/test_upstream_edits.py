"""Upstream edits: an original whose title or text changed is re-made through the cache;
markup and whitespace noise, and re-deliveries of unchanged items, cost nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kanalwerk.fingerprint import content_hash
from kanalwerk.models import Article, Item, SourceRef
from kanalwerk.store import Store
from tests.editorial import Blog, Post, open_blog, text

ONE = Post(
    "one",
    "Open weights for everyone",
    "<p>First paragraph stays.</p><p>Second paragraph changes.</p>",
    day=1,
)
TWO = Post("two", "A quiet second post", "<p>Nothing happens here.</p>", day=2)


@pytest.fixture
def blog(tmp_path: Path) -> Iterator[Blog]:
    with open_blog(tmp_path) as made:
        made.serve([ONE, TWO])
        yield made


def test_an_edited_original_updates_its_article_through_the_cache(blog: Blog) -> None:
    blog.cycle()
    before = blog.entries()[ONE.link]
    other = blog.entries()[TWO.link]
    requests = blog.api.requests

    edited = Post(ONE.guid, ONE.title, ONE.body.replace("changes", "was edited"), day=1)
    blog.serve([edited, TWO])
    blog.cycle()

    assert blog.api.requests == requests + 1
    assert blog.api.segments() == ["Second paragraph was edited."]  # only what changed
    after = blog.entries()[ONE.link]
    for name in ("id", "published", "title"):
        assert text(after, name) == text(before, name), name
    assert text(after, "updated") > text(before, "updated")
    assert "DE: Second paragraph was edited." in text(after, "content")
    assert "DE: First paragraph stays." in text(after, "content")
    assert [e.get("href") for e in after.findall("{*}link")] == [
        e.get("href") for e in before.findall("{*}link")
    ]  # same page, same slug
    assert text(blog.entries()[TWO.link], "updated") == text(other, "updated")

    retitled = Post(ONE.guid, "Open weights for all", edited.body, day=1)
    blog.serve([retitled, TWO])
    blog.cycle()
    entry = blog.entries()[ONE.link]
    assert text(entry, "title") == "DE: Open weights for all"
    assert text(entry, "id") == text(before, "id")


def test_noise_and_unchanged_redeliveries_cost_no_request(blog: Blog) -> None:
    blog.cycle()
    requests = blog.api.requests
    feed = (blog.output / "feed.atom").read_bytes()

    noisy = Post(
        ONE.guid,
        "  Open   weights for\neveryone ",
        "<div>First paragraph  stays.</div>\n<p>Second&#32;paragraph <b>changes</b>.</p>",
        day=1,
    )
    blog.serve([noisy, TWO])
    blog.cycle()
    assert len(blog.feeds.requests_to("/lab.rss")) == 2  # fetched and parsed again
    assert blog.api.requests == requests
    assert (blog.output / "feed.atom").read_bytes() == feed

    third = Post("three", "A new post", "<p>Fresh.</p>", day=3)
    blog.serve([noisy, TWO, third])
    blog.cycle()
    assert blog.api.requests == requests + 1
    assert blog.api.segments() == ["A new post", "Fresh."]  # the new item only


def test_update_ignore_keeps_the_article_as_it_was(blog: Blog) -> None:
    blog.configure(channel="    update: ignore")
    blog.cycle()
    before = blog.entries()[ONE.link]
    requests = blog.api.requests

    blog.serve([Post(ONE.guid, "Completely new title", "<p>All new.</p>", day=1), TWO])
    blog.cycle()
    assert blog.api.requests == requests
    after = blog.entries()[ONE.link]
    assert text(after, "title") == text(before, "title")
    assert text(after, "updated") == text(before, "updated")


# --- the store's side ----------------------------------------------------------------


def item(title: str = "Title", body: str = "<p>Body</p>") -> Item:
    return Item(guid="g", link="https://example.org/g", title=title, content_html=body)


def article(item_id: int) -> Article:
    when = datetime(2025, 3, 1, tzinfo=UTC)
    source = SourceRef("Title", None, "Kanal", None, "https://example.org/feed", None, None)
    return Article(
        item_id, "urn:a", "titel", "Titel", "Kurz", "<p>Text</p>", when, when, source, "x", None
    )


def test_content_hash_ignores_markup_and_whitespace_but_not_words() -> None:
    base = content_hash(item())
    assert content_hash(item(" Title ", "<div>Body\n</div>")) == base
    assert content_hash(item(body="<p>B&#111;dy</p>")) == base
    assert content_hash(item(body="<p>Body!</p>")) != base
    assert content_hash(item(title="Title 2")) != base
    summary_only = Item(guid="g", link=None, title="Title", summary_html="<p>Body</p>")
    assert content_hash(summary_only) == base  # the body translation uses


def remakes(store: Store) -> list[tuple[str, bool]]:
    return [(s.item.title, s.remake) for s in store.pending_items(5)]


def test_drafts_stay_drafts_and_removed_items_stay_removed(store: Store) -> None:
    store.sync_channels([("chan", "Kanal", "https://example.org/feed")])
    (item_id,) = store.add_items("chan", [item()])
    (stored,) = store.pending_items(5)
    store.save_article(article(item_id), source_hash=stored.content_hash, draft=True)
    assert remakes(store) == [] and [a.item_id for a in store.drafts()] == [item_id]

    store.add_items("chan", [item(body="<p>Body, edited</p>")])
    assert remakes(store) == [("Title", True)]
    (stored,) = store.pending_items(5)
    store.save_article(article(item_id), source_hash=stored.content_hash, draft=False)
    assert [a.item_id for a in store.drafts()] == [item_id]  # still waits for review

    store.add_items("chan", [item(body="<p>Body, edited twice</p>")])
    assert remakes(store) == [("Title", True)]
    store.change_article_states([item_id], "removed", lambda states: None)
    assert remakes(store) == []  # a removed article is not made again
    store.add_items("chan", [item(body="<p>Body, edited again</p>")])
    assert remakes(store) == []
    assert store.pending_items(5) == [] and store.articles() == []
    assert store.removed_slugs() == ["titel"]


def test_items_stored_before_hashes_count_as_made_from_their_content(
    store: Store, tmp_path: Path
) -> None:
    store.sync_channels([("chan", "Kanal", "https://example.org/feed")])
    (item_id,) = store.add_items("chan", [item()])
    store.save_article(article(item_id))
    store.mark_published([item_id])
    conn = sqlite3.connect(tmp_path / "k.db")
    with conn:
        conn.execute("UPDATE items SET content_hash = NULL")
        conn.execute("UPDATE articles SET source_hash = NULL")
    conn.close()

    store.add_items("chan", [item(" Title", "<div>Body</div>")])  # noise only
    assert remakes(store) == []
    store.add_items("chan", [item(body="<p>Body, edited</p>")])
    assert remakes(store) == [("Title", True)]


def test_an_edit_while_the_item_is_translated_is_made_again(store: Store) -> None:
    store.sync_channels([("chan", "Kanal", "https://example.org/feed")])
    (item_id,) = store.add_items("chan", [item()])
    (stored,) = store.pending_items(5)  # the translate step reads the item …
    store.add_items("chan", [item(body="<p>Body, edited</p>")])  # … a poll brings an edit …
    store.save_article(article(item_id), source_hash=stored.content_hash)  # … the old is saved
    assert remakes(store) == [("Title", True)]
    (again,) = store.pending_items(5)
    assert again.item.content_html == "<p>Body, edited</p>"
    store.save_article(article(item_id), source_hash=again.content_hash)
    assert remakes(store) == []
