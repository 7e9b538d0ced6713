"""Article bodies are sanitized once, by the store, under the current policy.

The store cleans a body when it saves it and records `sanitize.POLICY` with it; a body
recorded under another policy (or none: rows of older versions) is cleaned again when it
is read and rewritten by `Store.refresh_sanitized`, which every publish calls. The site
and the feeds write the bodies they get as they are, so these tests check what reaches
the written files when hostile markup is stored in each of those ways.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kanalwerk import sanitize
from kanalwerk.models import Article, Item, SourceRef
from kanalwerk.publish.pages import layout_key
from kanalwerk.store import Store, migrations
from tests.old_stores import opened_at
from tests.test_incremental import Site, opened
from tests.test_review_migration import sql

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
BOX = '<div class="quelle" role="note"><p>Hinweis zur Quelle</p></div>'
MARK = "xss-mark"
# What no written file may hold once a hostile body went through the store.
FORBIDDEN = (
    "<script",
    MARK,
    "onclick",
    "onerror",
    "javascript:",
    "style=",
    "<style",
    "color:red",
    "<iframe",
)
HOSTILE = (
    BOX
    + f'<p onclick="{MARK}()" style="color:red">Sichtbarer Text</p>'
    + f"<script>{MARK}()</script><style>p {{ color:red }}</style>"
    + f'<p><a href="javascript:{MARK}()">Link</a> <img src="x.png" onerror="{MARK}()"></p>'
    + f'<iframe src="https://evil.example/{MARK}"></iframe>'
    + "<div>" * 500
    + "tief"
    + "</div>" * 500
)


def assert_clean(html: str) -> None:
    for needle in FORBIDDEN:
        assert needle not in html
    assert "Sichtbarer Text" in html and "tief" in html
    assert 'class="quelle"' in html  # our own box survives
    assert html.count("<div") <= sanitize.MAX_DEPTH + 1  # the nesting is bounded


class Blog(Site):
    """The incremental tests' site, with a look at the rows behind it."""

    @property
    def db(self) -> Path:
        return self.output.parent / "kanalwerk.db"  # as `write_config` places it

    def files(self) -> dict[str, str]:
        return {str(p.relative_to(self.output)): b.decode() for p, b in self.snapshot().items()}

    def marker(self, item_id: int) -> object:
        (row,) = sql(self.db, "SELECT sanitized_by FROM articles WHERE item_id = ?", (item_id,))
        return row[0]

    def body(self, item_id: int) -> str:
        (row,) = sql(self.db, "SELECT content_html FROM articles WHERE item_id = ?", (item_id,))
        return str(row[0])


@pytest.fixture
def blog(tmp_path: Path) -> Iterator[Blog]:
    with opened(tmp_path, Blog) as blog:
        yield blog


def add_item(store: Store, n: int) -> int:
    link = f"https://a.example/posts/{n}"
    published = START + timedelta(hours=n)
    (item_id,) = store.add_items(
        "kanal-a", [Item(guid=link, link=link, title=f"Original {n}", published=published)]
    )
    return item_id


def article(item_id: int, n: int, body: str) -> Article:
    published = START + timedelta(hours=n)
    link = f"https://a.example/posts/{n}"
    return Article(
        item_id=item_id,
        entry_id=f"tag:blog.example.org,2025:kanal-a-{n}",
        slug=f"beitrag-{n}",
        title=f"Beitrag {n}",
        summary=f"Anriss {n}",
        content_html=body,
        published=published,
        updated=published,
        source=SourceRef(f"Original {n}", link, "Kanal A", None, link, None, None),
        engine="local",
        model=None,
        channel_id="kanal-a",
    )


def insert_as_old_version(blog: Blog, n: int, body: str, marker: str | None = None) -> int:
    """An article row as an older kanalwerk wrote it: the body as it was, no current marker."""
    item_id = add_item(blog.store, n)
    when = (START + timedelta(hours=n)).strftime("%Y-%m-%d %H:%M:%S.%f")
    sql(
        blog.db,
        "INSERT INTO articles (item_id, entry_id, slug, title, summary, content_html, "
        "published, updated, engine, created_at, sanitized_by) "
        "VALUES (?, ?, ?, ?, 'Anriss', ?, ?, ?, 'local', ?, ?)",
        (item_id, f"urn:alt:{n}", f"alt-{n}", f"Alter Beitrag {n}", body, when, when, when, marker),
    )
    sql(blog.db, "UPDATE items SET state = 'translated' WHERE id = ?", (item_id,))
    return item_id


@pytest.fixture
def narrower_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The article policy without `<em>`, as a later version might have it."""
    monkeypatch.setattr(sanitize, "ALLOWED_TAGS", sanitize.ALLOWED_TAGS - {"em"})
    monkeypatch.setattr(sanitize, "POLICY", sanitize.article_policy())
    for cached in (sanitize._cleaner, layout_key):
        cached.cache_clear()
    yield sanitize.POLICY
    monkeypatch.undo()
    for cached in (sanitize._cleaner, layout_key):
        cached.cache_clear()


# --- what reaches the pages -----------------------------------------------------------


def test_hostile_body_saved_through_the_store_never_reaches_a_page_or_feed(blog: Blog) -> None:
    item_id = add_item(blog.store, 1)
    saved = blog.store.save_article(article(item_id, 1, HOSTILE))

    assert_clean(saved.content_html)
    assert blog.body(item_id) == saved.content_html
    assert blog.marker(item_id) == sanitize.POLICY
    assert blog.pipeline.publish() is not None
    files = blog.files()
    assert "Sichtbarer Text" in files["artikel/beitrag-1.html"]
    assert "Sichtbarer Text" in files["feed.atom"] and "Sichtbarer Text" in files["feed.json"]
    for path, text in files.items():
        for needle in FORBIDDEN:
            assert needle not in text, (path, needle)


def test_a_body_of_an_older_version_is_cleaned_on_read_and_on_the_next_publish(
    blog: Blog,
) -> None:
    item_id = insert_as_old_version(blog, 1, HOSTILE)
    other = insert_as_old_version(blog, 2, BOX + "<p>Harmlos</p>", marker="nh3 0.2.0 0123")
    assert blog.marker(item_id) is None

    # Every way the store hands out an article cleans it, and reading writes nothing.
    (by_id,) = blog.store.articles_by_id([item_id])
    listed = {a.item_id: a for a in blog.store.articles()}[item_id]
    found = blog.store.article(item_id)
    assert found is not None
    for read in (by_id, listed, found[0]):
        assert_clean(read.content_html)
    assert blog.body(item_id) == HOSTILE and blog.marker(item_id) is None

    assert blog.pipeline.publish() is not None
    for path, text in blog.files().items():
        for needle in FORBIDDEN:
            assert needle not in text, (path, needle)
    assert "Sichtbarer Text" in blog.files()["artikel/alt-1.html"]
    assert_clean(blog.body(item_id))
    assert blog.body(item_id) == by_id.content_html
    assert [blog.marker(i) for i in (item_id, other)] == [sanitize.POLICY] * 2
    assert blog.store.refresh_sanitized() == 0


def test_drafts_are_cleaned_on_read_too(blog: Blog) -> None:
    item_id = insert_as_old_version(blog, 1, HOSTILE)
    sql(blog.db, "UPDATE items SET state = 'draft' WHERE id = ?", (item_id,))
    (draft,) = blog.store.drafts()
    assert_clean(draft.content_html)


def test_refresh_works_in_batches_and_counts_what_it_cleaned(blog: Blog) -> None:
    ids = [insert_as_old_version(blog, n, f"{BOX}<p onclick='x()'>Text {n}</p>") for n in range(5)]
    fresh = add_item(blog.store, 9)
    blog.store.save_article(article(fresh, 9, BOX + "<p>Neu</p>"))

    assert blog.store.refresh_sanitized(batch=2) == 5
    assert all(blog.marker(i) == sanitize.POLICY for i in ids)
    assert all("onclick" not in blog.body(i) for i in ids)
    assert blog.store.refresh_sanitized(batch=2) == 0


def test_refresh_with_nothing_stale_costs_one_index_only_query(blog: Blog) -> None:
    item_id = add_item(blog.store, 1)
    blog.store.save_article(article(item_id, 1, BOX + "<p>Text</p>"))
    statements: list[tuple[str, object]] = []

    def seen(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA")):
            statements.append((statement, params))

    engine = blog.store._engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert blog.store.refresh_sanitized() == 0
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    ((statement, params),) = statements
    conn = sqlite3.connect(blog.db)
    try:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()  # type: ignore[arg-type]
    finally:
        conn.close()
    details = " ".join(str(row[-1]) for row in plan)
    assert "COVERING INDEX ix_articles_sanitized_by" in details, details
    assert "SCAN" not in details, details  # searched in the index, not read row by row


def test_a_changed_policy_makes_every_body_stale_and_rewrites_the_pages(
    blog: Blog, request: pytest.FixtureRequest
) -> None:
    item_id = add_item(blog.store, 1)
    blog.store.save_article(article(item_id, 1, BOX + "<p>Ein <em>wichtiges</em> Wort</p>"))
    assert blog.pipeline.publish() is not None
    assert "<em>wichtiges</em>" in blog.files()["artikel/beitrag-1.html"]
    old = blog.marker(item_id)

    narrower = request.getfixturevalue("narrower_policy")
    assert narrower != old
    (read,) = blog.store.articles_by_id([item_id])
    assert "<em>" not in read.content_html and "wichtiges" in read.content_html

    result = blog.pipeline.publish()
    assert result is not None
    assert blog.marker(item_id) == narrower
    assert "<em>" not in blog.body(item_id)
    files = blog.files()
    for path in ("artikel/beitrag-1.html", "feed.atom", "feed.rss", "feed.json"):
        assert "<em>" not in files[path] and "&lt;em&gt;" not in files[path], path
        assert "wichtiges" in files[path], path


# --- the migration --------------------------------------------------------------------


def test_migration_adds_the_marker_and_old_rows_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with opened_at(f"sqlite:///{path}", 10) as old:
        old.sync_channels([("c", "C", "https://c.example/feed.xml")])
        (item_id,) = old.add_items("c", [Item(guid="g1", link=None, title="T")])
    columns = {row[1] for row in sql(path, "PRAGMA table_info(articles)")}
    assert "sanitized_by" not in columns
    now = "2025-03-01 09:00:00.000000"
    sql(
        path,
        "INSERT INTO articles (item_id, entry_id, slug, title, summary, content_html, "
        "published, updated, engine, created_at) VALUES (?, 'urn:1', 'titel-1', 'Titel 1', "
        "'Kurz', ?, ?, ?, 'deepl', ?)",
        (item_id, HOSTILE, now, now, now),
    )

    with Store.open(f"sqlite:///{path}") as store:
        latest = [(migrations.latest_version(),)]
        assert sql(path, "SELECT max(version) FROM schema_version") == latest
        assert sql(path, "SELECT sanitized_by FROM articles") == [(None,)]
        (read,) = store.articles_by_id([item_id])
        assert_clean(read.content_html)
        assert store.refresh_sanitized() == 1
    assert sql(path, "SELECT content_html, sanitized_by FROM articles") == [
        (read.content_html, sanitize.POLICY)
    ]
    indexes = {name for (name,) in sql(path, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert "ix_articles_sanitized_by" in indexes
