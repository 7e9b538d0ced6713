from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kanalwerk.cli import main
from kanalwerk.errors import NotInStore, StoreError
from kanalwerk.models import Article, FetchResult, FetchState, Item, ParsedFeed, SourceRef, Usage
from kanalwerk.store import ChannelStatus, FetchRecord, Store, migrations, schema
from tests.migrated_template import MigratedTemplate

FEED = "http://127.0.0.1:9/feed.xml"
CEST = timezone(timedelta(hours=2))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "kanalwerk.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(sqlite_url(db_path)) as opened:
        opened.sync_channels([("chan", "Kanal", FEED)])
        yield opened


def make_item(n: int, **changes: object) -> Item:
    fields: dict[str, object] = {
        "guid": f"guid-{n}",
        "link": f"https://example.org/{n}",
        "title": f"Title {n}",
        "author": "Ann Author",
        "published": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=n),
        "content_html": f"<p>Body {n}</p>",
        "summary_html": f"Summary {n}",
        "language": "en",
    }
    fields.update(changes)
    return Item(**fields)  # type: ignore[arg-type]


def make_article(item_id: int, slug: str, **changes: object) -> Article:
    fields: dict[str, object] = {
        "item_id": item_id,
        "entry_id": f"urn:kanalwerk:{item_id}",
        "slug": slug,
        "title": f"Titel {item_id}",
        "summary": "Kurzfassung",
        "content_html": "<aside>Hinweis zur Quelle</aside><p>Text</p>",
        "published": datetime(2025, 2, 1, tzinfo=UTC),
        "updated": datetime(2025, 2, 1, tzinfo=UTC),
        "source": SourceRef("t", None, "Kanal", None, FEED, None, None),
        "engine": "openai",
        "model": "deepseek-chat",
    }
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


def raw(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def fetch_state(store: Store, channel_id: str) -> FetchState | None:
    return store.fetch_states([channel_id]).get(channel_id)


def record_fetch(store: Store, result: FetchResult, **details: object) -> None:
    store.record_fetches([FetchRecord(result, **details)])  # type: ignore[arg-type]


def channel_source(db_path: Path, channel_id: str) -> tuple[object, ...]:
    sql = "SELECT feed_title, feed_link, feed_id FROM channels WHERE id = ?"
    return raw(db_path, sql, (channel_id,))[0]


def items_total(store: Store, channel_id: str) -> int:
    return next(s.items_total for s in store.channel_statuses() if s.id == channel_id)


def item_column(db_path: Path, item_id: int, column: str) -> object:
    return raw(db_path, f"SELECT {column} FROM items WHERE id = ?", (item_id,))[0][0]


# --- opening and migrations ---------------------------------------------------------


@pytest.mark.migrations
def test_fresh_database_is_created_migrated_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "folder" / "k.db"
    with Store.open(sqlite_url(path)):
        assert migrations.latest_version() == len(migrations.MIGRATIONS)
    assert path.exists()
    versions = raw(path, "SELECT version, applied_at FROM schema_version")
    assert [v for v, _ in versions] == list(range(1, migrations.latest_version() + 1))
    tables = {name for (name,) in raw(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(schema.metadata.tables) <= tables


@pytest.mark.migrations
def test_migrated_database_matches_schema_module(db_path: Path) -> None:
    Store.open(sqlite_url(db_path)).close()
    engine = sa.create_engine(sqlite_url(db_path))
    try:
        inspector = sa.inspect(engine)
        for table in schema.metadata.sorted_tables:
            columns = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert set(columns) == set(table.columns.keys()), table.name
            for column in table.columns:
                assert columns[column.name]["nullable"] == column.nullable, column
            pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert set(pk) == {c.name for c in table.primary_key.columns}, table.name
    finally:
        engine.dispose()


def database_contents(path: Path) -> list[object]:
    """Everything in the database but the times its migrations were applied at."""
    conn = sqlite3.connect(path)
    try:
        contents: list[object] = [
            conn.execute("PRAGMA journal_mode").fetchall(),
            conn.execute("PRAGMA user_version").fetchall(),
            conn.execute("PRAGMA page_size").fetchall(),
            conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
            ).fetchall(),
        ]
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            columns = "version" if table == "schema_version" else "*"
            contents.append((table, conn.execute(f"SELECT {columns} FROM {table}").fetchall()))
        return contents
    finally:
        conn.close()


@pytest.mark.migrations
def test_the_tests_template_store_is_a_migrated_store(
    db_path: Path, migrated_template: MigratedTemplate
) -> None:
    Store.open(sqlite_url(db_path)).close()
    assert database_contents(migrated_template.file) == database_contents(db_path)


def test_reopening_does_not_rerun_migrations(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def second(conn: sa.Connection) -> None:
        calls.append(1)
        conn.execute(sa.text("CREATE TABLE extra (x INTEGER)"))

    extra = len(migrations.MIGRATIONS) + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, second))
    Store.open(sqlite_url(db_path)).close()
    first_rows = raw(db_path, "SELECT version, applied_at FROM schema_version ORDER BY version")
    Store.open(sqlite_url(db_path)).close()
    assert calls == [1]
    assert raw(db_path, "SELECT version, applied_at FROM schema_version ORDER BY version") == (
        first_rows
    )
    assert [v for v, _ in first_rows] == list(range(1, extra + 1))


def test_failed_migration_leaves_nothing_behind(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(sqlite_url(db_path)).close()

    def broken(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE TABLE half_done (x INTEGER)"))
        conn.execute(sa.text("ALTER TABLE no_such_table ADD COLUMN y INTEGER"))

    current = migrations.latest_version()
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    with pytest.raises(StoreError, match=f"schema version {current + 1}"):
        Store.open(sqlite_url(db_path))
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE name = 'half_done'") == []
    assert raw(db_path, "SELECT max(version) FROM schema_version") == [(current,)]


def test_database_from_newer_kanalwerk_is_refused(db_path: Path) -> None:
    Store.open(sqlite_url(db_path)).close()
    newer = migrations.latest_version() + 1
    raw(db_path, "INSERT INTO schema_version VALUES (?, '2030-01-01 00:00:00')", (newer,))
    with pytest.raises(StoreError, match="upgrade kanalwerk") as caught:
        Store.open(sqlite_url(db_path))
    assert f"schema version {newer}" in str(caught.value)
    assert str(db_path) in str(caught.value)


def test_wal_mode_and_foreign_keys(store: Store, db_path: Path) -> None:
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_items("no-such-channel", [make_item(1)])


def test_open_errors_name_the_url(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    url = sqlite_url(blocker / "k.db")
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    assert url in str(caught.value)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not an SQLite database") as caught:
        Store.open(sqlite_url(garbage))
    assert str(garbage) in str(caught.value)


def test_empty_database_file_is_refused_not_recreated(db_path: Path) -> None:
    """A 0-byte file is a lost database: starting afresh would publish everything again."""
    db_path.touch()
    with pytest.raises(StoreError) as caught:
        Store.open(sqlite_url(db_path))
    message = str(caught.value)
    assert str(db_path) in message
    assert "empty" in message and "backup" in message and "delete" in message
    assert db_path.stat().st_size == 0  # nothing was created in it


def test_run_once_on_an_empty_database_file_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "site: {title: T, base_url: 'https://example.org/', author: A}\n"
        "store: sqlite:///kanalwerk.db\n"
        "channels: [{name: Blog, url: 'http://127.0.0.1:9/feed.xml'}]\n",
        encoding="utf-8",
    )
    (tmp_path / "kanalwerk.db").touch()
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'kanalwerk.db'} is empty (0 bytes)" in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "kanalwerk.db").stat().st_size == 0


def test_database_of_another_program_is_refused_and_left_alone(db_path: Path) -> None:
    raw(db_path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    raw(db_path, "INSERT INTO notes (text) VALUES ('mine')")
    with pytest.raises(StoreError) as caught:
        Store.open(sqlite_url(db_path))
    message = str(caught.value)
    assert str(db_path) in message and "not kanalwerk's" in message and "notes" in message
    tables = raw(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert tables == [("notes",)]


def test_file_that_is_not_sqlite_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.write_text("site:\n  title: Oops, this is feeds.yaml\n", encoding="utf-8")
    before = db_path.read_bytes()
    with pytest.raises(StoreError) as caught:
        Store.open(sqlite_url(db_path))
    assert str(db_path) in str(caught.value) and "not an SQLite database" in str(caught.value)
    assert db_path.read_bytes() == before


def test_open_error_hides_postgres_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://editor:s3cret-pw@127.0.0.1:1/kanalwerk")
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "editor:***@127.0.0.1:1/kanalwerk" in message


def test_closed_store_refuses_work(db_path: Path) -> None:
    store = Store.open(sqlite_url(db_path))
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.channel_statuses()


def test_writer_waits_for_a_busy_database(store: Store, db_path: Path) -> None:
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO meta VALUES ('holder', 'other')")
        release = threading.Timer(0.3, other.execute, ("COMMIT",))
        release.start()
        assert store.get_meta("holder") is None  # WAL: readers do not wait for writers
        store.set_meta("after", "store")  # waits on busy_timeout instead of failing
        release.join()
    finally:
        other.close()
    assert store.get_meta("holder") == "other"
    assert store.get_meta("after") == "store"


# --- channels -----------------------------------------------------------------------


def test_fetch_states_and_batched_records(store: Store) -> None:
    other = "http://127.0.0.1:9/other.xml"
    store.sync_channels([("chan", "Kanal", FEED), ("two", "Zwei", other), ("yt", "YT", None)])
    record_fetch(store, FetchResult("chan", FEED, FEED, 200, content=b"x", etag='"1"'))
    states = store.fetch_states(["chan", "two", "yt", "unknown"])
    assert set(states) == {"chan", "two"}  # no URL yet / unknown: left out
    assert states["chan"].etag == '"1"' and states["two"].url == other

    store.record_fetches(
        [
            FetchRecord(FetchResult("chan", FEED, FEED, 304, not_modified=True)),
            FetchRecord(FetchResult("two", other, other, 503, error="HTTP 503")),
        ]
    )
    statuses = {s.id: s for s in store.channel_statuses()}
    assert statuses["chan"].last_status == 304 and statuses["chan"].last_error is None
    assert store.fetch_states(["chan"])["chan"].etag == '"1"'  # a 304 keeps validators
    assert statuses["two"].last_status == 503 and statuses["two"].last_error == "HTTP 503"
    with pytest.raises(NotInStore, match="nope"):
        store.record_fetches([FetchRecord(FetchResult("nope", FEED, FEED, 304))])


def test_sync_channels_keeps_state_and_resets_on_url_change(store: Store) -> None:
    record_fetch(
        store, FetchResult("chan", FEED, FEED, 200, content=b"x", etag='"1"', content_hash="h1")
    )
    store.sync_channels([("chan", "Neuer Name", FEED), ("yt", "YouTube", None)])
    state = fetch_state(store, "chan")
    assert state is not None and state.etag == '"1"' and state.content_hash == "h1"
    assert fetch_state(store, "yt") is None  # no URL yet
    assert {s.id: s.name for s in store.channel_statuses()} == {
        "chan": "Neuer Name",
        "yt": "YouTube",
    }

    moved = "http://127.0.0.1:9/other.xml"
    store.sync_channels([("chan", "Neuer Name", moved)])
    state = fetch_state(store, "chan")
    assert state is not None
    assert (state.url, state.etag, state.last_modified, state.content_hash) == (
        moved,
        None,
        None,
        None,
    )


def test_set_channel_url_for_resolved_handle(store: Store) -> None:
    store.sync_channels([("yt", "YouTube", None)])
    url = "http://127.0.0.1:9/videos.xml?channel_id=UC1"
    store.set_channel_url("yt", url)
    store.sync_channels([("yt", "YouTube", None)])  # still unresolved in config: keep URL
    record_fetch(store, FetchResult("yt", url, url, 200, content=b"x", etag='"v1"'))
    store.set_channel_url("yt", url)  # same URL: validators still valid
    state = fetch_state(store, "yt")
    assert state is not None and (state.url, state.etag) == (url, '"v1"')
    other = "http://127.0.0.1:9/videos.xml?channel_id=UC9"
    store.set_channel_url("yt", other)
    state = fetch_state(store, "yt")
    assert state is not None and (state.url, state.etag) == (other, None)
    with pytest.raises(NotInStore):
        store.set_channel_url("nope", url)


def test_switching_a_channel_from_url_to_handle_drops_the_old_url(store: Store) -> None:
    assert fetch_state(store, "chan") is not None
    store.sync_channels([("chan", "Kanal", None)])
    assert fetch_state(store, "chan") is None  # the handle must be resolved first
    resolved = "http://127.0.0.1:9/videos.xml?channel_id=UC2"
    store.set_channel_url("chan", resolved)
    store.sync_channels([("chan", "Kanal", None)])
    state = fetch_state(store, "chan")
    assert state is not None and state.url == resolved


def test_record_fetch_success_stores_validators_and_feed_meta(store: Store, db_path: Path) -> None:
    feed = ParsedFeed("Feed Title", "https://example.org/", FEED, "urn:feed", "en", ())
    record_fetch(
        store,
        FetchResult(
            "chan",
            FEED,
            FEED,
            200,
            content=b"<rss/>",
            etag='"abc"',
            last_modified="Wed, 01 Jan 2025 00:00:00 GMT",
            content_hash="hash1",
        ),
        feed=feed,
    )
    state = fetch_state(store, "chan")
    assert state is not None
    assert (state.etag, state.last_modified, state.content_hash) == (
        '"abc"',
        "Wed, 01 Jan 2025 00:00:00 GMT",
        "hash1",
    )
    assert channel_source(db_path, "chan") == ("Feed Title", "https://example.org/", "urn:feed")
    (status,) = store.channel_statuses()
    assert status.last_status == 200 and status.error_count == 0 and status.last_error is None
    assert status.last_fetched_at is not None and status.last_fetched_at.tzinfo == UTC
    assert status.last_success_at == status.last_fetched_at


def test_record_fetch_not_modified_keeps_validators_and_meta(store: Store, db_path: Path) -> None:
    feed = ParsedFeed("Feed Title", "https://example.org/", FEED, "urn:feed", "en", ())
    record_fetch(
        store,
        FetchResult("chan", FEED, FEED, 200, content=b"x", etag='"abc"', content_hash="h"),
        feed=feed,
    )
    record_fetch(store, FetchResult("chan", FEED, FEED, 500, error="HTTP 500"))
    record_fetch(store, FetchResult("chan", FEED, FEED, 304, not_modified=True))
    state = fetch_state(store, "chan")
    assert state is not None and (state.etag, state.content_hash) == ('"abc"', "h")
    assert channel_source(db_path, "chan") == ("Feed Title", "https://example.org/", "urn:feed")
    (status,) = store.channel_statuses()
    assert (status.last_status, status.error_count, status.last_error) == (304, 0, None)


def test_record_fetch_error_counts_and_keeps_validators(store: Store) -> None:
    record_fetch(store, FetchResult("chan", FEED, FEED, 200, content=b"x", etag='"abc"'))
    until = datetime(2030, 1, 1, 12, 0, tzinfo=CEST)
    record_fetch(
        store, FetchResult("chan", FEED, FEED, 429, error="HTTP 429"), retry_after_until=until
    )
    record_fetch(
        store, FetchResult("chan", FEED, FEED, 200, content=b"y", etag='"new"'), error="no entries"
    )
    (status,) = store.channel_statuses()
    assert (status.error_count, status.last_error, status.last_status) == (2, "no entries", 200)
    assert status.retry_after_until is None  # the later poll carried no Retry-After
    state = fetch_state(store, "chan")
    assert state is not None and state.etag == '"abc"'

    record_fetch(
        store, FetchResult("chan", FEED, FEED, 503, error="HTTP 503"), retry_after_until=until
    )
    (status,) = store.channel_statuses()
    assert status.retry_after_until == until
    assert status.retry_after_until is not None and status.retry_after_until.tzinfo == UTC


def test_record_fetch_follows_permanent_redirect_and_stores_warning(store: Store) -> None:
    moved = "http://127.0.0.1:9/new-feed.xml"
    feed = ParsedFeed("T", None, moved, None, None, (), warning="undefined entity")
    record_fetch(
        store,
        FetchResult("chan", FEED, moved, 200, content=b"x", permanent_url=moved, etag='"m"'),
        feed=feed,
    )
    state = fetch_state(store, "chan")
    assert state is not None and (state.url, state.etag) == (moved, '"m"')
    (status,) = store.channel_statuses()
    assert status.last_warning == "undefined entity" and status.last_error is None
    store.sync_channels([("chan", "Kanal", FEED)])  # config unchanged: redirect sticks
    state = fetch_state(store, "chan")
    assert state is not None and state.url == moved


def test_channel_statuses_count_items_by_state(store: Store) -> None:
    store.sync_channels([("empty", "Leer", FEED)])
    ids = store.add_items("chan", [make_item(n) for n in range(4)])
    store.mark_attempt_failed(ids[0], "boom", max_attempts=1)
    store.save_article(make_article(ids[1], "a"))
    store.save_article(make_article(ids[2], "b"))
    store.mark_published([ids[1]])
    statuses = store.channel_statuses()
    assert statuses == [
        ChannelStatus(
            "chan",
            "Kanal",
            FEED,
            None,
            None,
            None,
            None,
            None,
            0,
            items_total=4,
            items_pending=1,
            items_published=1,
            items_failed=1,
        ),
        ChannelStatus("empty", "Leer", FEED, None, None, None, None, None, 0, 0, 0, 0, 0),
    ]


# --- items --------------------------------------------------------------------------


def test_add_items_exactly_once_in_input_order(store: Store, db_path: Path) -> None:
    assert items_total(store, "chan") == 0
    batch = [make_item(3), make_item(1), make_item(2), make_item(1, title="duplicate guid")]
    ids = store.add_items("chan", batch)
    assert len(ids) == 3
    assert [item_column(db_path, i, "guid") for i in ids] == ["guid-3", "guid-1", "guid-2"]
    assert item_column(db_path, ids[1], "title") == "Title 1"  # first of the duplicates wins
    assert store.add_items("chan", batch) == []
    assert store.add_items("chan", []) == []
    more = store.add_items("chan", [make_item(2), make_item(4)])
    assert [item_column(db_path, i, "guid") for i in more] == ["guid-4"]
    assert items_total(store, "chan") == 4
    # the same guid in another channel is another item
    store.sync_channels([("other", "Anderer", FEED)])
    assert len(store.add_items("other", [make_item(1)])) == 1


def test_two_stores_adding_concurrently_store_each_item_once(db_path: Path) -> None:
    with Store.open(sqlite_url(db_path)) as first, Store.open(sqlite_url(db_path)) as second:
        first.sync_channels([("chan", "Kanal", FEED)])
        for round_ in range(5):
            batch = [make_item(round_ * 100 + n) for n in range(40)]
            barrier = threading.Barrier(2)

            def add(
                target: Store, batch: list[Item] = batch, barrier: threading.Barrier = barrier
            ) -> list[int]:
                barrier.wait()
                return target.add_items("chan", batch)

            with ThreadPoolExecutor(2) as pool:
                a, b = (f.result() for f in [pool.submit(add, first), pool.submit(add, second)])
            assert not set(a) & set(b)
            assert len(a) + len(b) == len(batch)
        assert first.channel_statuses()[0].items_total == 200
    assert raw(db_path, "SELECT count(*), count(DISTINCT guid) FROM items") == [(200, 200)]


def test_stored_item_round_trip_with_source(store: Store) -> None:
    item = make_item(
        7,
        published=datetime(2025, 3, 30, 3, 30, tzinfo=CEST),
        updated=datetime(2025, 3, 30, 5, 0, tzinfo=CEST),
        video_id="vid",
        yt_channel_id="UC1",
        thumbnail="https://i.example/t.jpg",
        media_description="plain text",
    )
    record_fetch(
        store,
        FetchResult("chan", FEED, FEED, 200, content=b"x"),
        feed=ParsedFeed("Feed T", "https://example.org/", FEED, "urn:f", "en", ()),
    )
    (item_id,) = store.add_items("chan", [item])
    (stored,) = store.pending_items(max_attempts=1)
    assert stored.id == item_id
    assert stored.item == item
    assert stored.item.published is not None
    assert stored.item.published.tzinfo == UTC
    assert stored.item.published == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert stored.first_seen.tzinfo == UTC
    assert (stored.state, stored.attempts, stored.last_error) == ("new", 0, None)
    assert stored.source == SourceRef(
        title="Title 7",
        link="https://example.org/7",
        channel_name="Kanal",
        feed_title="Feed T",
        feed_url=FEED,
        feed_link="https://example.org/",
        feed_id="urn:f",
        author="Ann Author",
    )


def test_pending_items_oldest_first_and_failing_after_max_attempts(
    store: Store, db_path: Path
) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    ids = store.add_items(
        "chan",
        [
            make_item(1, published=datetime(2025, 5, 1, tzinfo=UTC)),
            make_item(2, published=old),
            make_item(3, published=None),  # undated: counts from first_seen (now)
            make_item(4, published=datetime(2025, 5, 1, tzinfo=UTC)),
        ],
    )
    assert [s.id for s in store.pending_items(3)] == [ids[1], ids[0], ids[3], ids[2]]
    assert [s.id for s in store.pending_items(3, limit=2)] == [ids[1], ids[0]]

    assert store.mark_attempt_failed(ids[1], "timeout", max_attempts=3) == "new"
    assert store.mark_attempt_failed(ids[1], "timeout again", max_attempts=3) == "new"
    assert (
        item_column(db_path, ids[1], "attempts"),
        item_column(db_path, ids[1], "last_error"),
    ) == (
        2,
        "timeout again",
    )
    assert ids[1] not in [s.id for s in store.pending_items(2)]  # attempts bound
    assert ids[1] in [s.id for s in store.pending_items(3)]
    assert store.mark_attempt_failed(ids[1], "bad key", max_attempts=3) == "failed"
    assert item_column(db_path, ids[1], "state") == "failed"
    assert ids[1] not in [s.id for s in store.pending_items(10)]
    with pytest.raises(NotInStore):
        store.mark_attempt_failed(99999, "x", max_attempts=3)


# --- articles -----------------------------------------------------------------------


def test_save_article_keeps_stable_ids_on_resave(store: Store, db_path: Path) -> None:
    (item_id,) = store.add_items("chan", [make_item(1)])
    first = store.save_article(make_article(item_id, "erster-titel"))
    assert item_column(db_path, item_id, "state") == "translated"
    assert store.unpublished_count() == 1
    store.mark_published([item_id])
    assert store.unpublished_count() == 0

    again = store.save_article(
        make_article(
            item_id,
            "ganz-anderer-slug",
            entry_id="urn:other",
            title="Neuer Titel",
            published=datetime(2026, 1, 1, tzinfo=UTC),
            updated=datetime(2026, 1, 2, tzinfo=UTC),
            model=None,
        )
    )
    assert (again.entry_id, again.slug, again.published) == (
        first.entry_id,
        "erster-titel",
        first.published,
    )
    assert again.title == "Neuer Titel"
    (stored,) = store.articles()
    assert stored.entry_id == first.entry_id and stored.slug == "erster-titel"
    assert stored.published == datetime(2025, 2, 1, tzinfo=UTC)
    assert stored.updated == datetime(2026, 1, 2, tzinfo=UTC)
    assert (stored.title, stored.model) == ("Neuer Titel", None)
    assert item_column(db_path, item_id, "state") == "translated"  # changed: publish again
    assert store.unpublished_count() == 1


def test_slug_collisions_get_numbered(store: Store) -> None:
    ids = store.add_items("chan", [make_item(n) for n in range(4)])
    slugs = [store.save_article(make_article(i, "nachricht")).slug for i in ids[:3]]
    assert slugs == ["nachricht", "nachricht-2", "nachricht-3"]
    # a slug that merely starts like another one is not a collision
    assert store.save_article(make_article(ids[3], "nachricht-2-extra")).slug == (
        "nachricht-2-extra"
    )
    assert sorted(a.slug for a in store.articles()) == [
        "nachricht",
        "nachricht-2",
        "nachricht-2-extra",
        "nachricht-3",
    ]


def test_articles_newest_first_with_source(store: Store) -> None:
    record_fetch(
        store,
        FetchResult("chan", FEED, FEED, 200, content=b"x"),
        feed=ParsedFeed("Feed T", "https://example.org/", FEED, "urn:f", "en", ()),
    )
    ids = store.add_items("chan", [make_item(n) for n in range(3)])
    same_day = datetime(2025, 4, 1, 8, 0, tzinfo=CEST)
    store.save_article(make_article(ids[0], "a", published=same_day))
    store.save_article(make_article(ids[1], "b", published=datetime(2025, 4, 2, tzinfo=UTC)))
    store.save_article(make_article(ids[2], "c", published=same_day, thumbnail="t.jpg"))
    listed = store.articles()
    assert [a.slug for a in listed] == ["b", "c", "a"]
    assert [a.slug for a in store.articles(limit=2)] == ["b", "c"]
    assert listed[1].published == same_day and listed[1].published.tzinfo == UTC
    assert listed[1].thumbnail == "t.jpg"
    assert listed[2].source == SourceRef(
        title="Title 0",
        link="https://example.org/0",
        channel_name="Kanal",
        feed_title="Feed T",
        feed_url=FEED,
        feed_link="https://example.org/",
        feed_id="urn:f",
        author="Ann Author",
    )


def test_mark_published_only_moves_translated_items(store: Store, db_path: Path) -> None:
    ids = store.add_items("chan", [make_item(n) for n in range(3)])
    store.save_article(make_article(ids[0], "a"))
    store.save_article(make_article(ids[1], "b"))
    assert store.unpublished_count() == 2
    store.mark_published([ids[0], ids[0], ids[2]])
    states = [item_column(db_path, i, "state") for i in ids]
    assert states == ["published", "translated", "new"]
    assert store.unpublished_count() == 1
    store.mark_published([])


# --- cache, usage, meta -------------------------------------------------------------


def test_translation_cache_round_trip(store: Store) -> None:
    store.cache_put("deepl", None, "en", "de", "html", {"h1": "eins", "h2": "zwei"})
    store.cache_put("deepl", None, "en", "de", "html", {"h2": "ZWEI"})
    assert store.cache_get("deepl", None, "en", "de", "html", ["h1", "h2", "h3"]) == {
        "h1": "eins",
        "h2": "ZWEI",
    }
    assert store.cache_get("deepl", "other", "en", "de", "html", ["h1"]) == {}
    assert store.cache_get("deepl", None, "en", "de", "text", ["h1"]) == {}
    assert store.cache_get("deepl", None, "en", "de", "html", []) == {}
    many = {f"k{n}": f"v{n}" for n in range(1200)}  # more than one IN (...) chunk
    store.cache_put("openai", "m", "auto", "de", "text", many)
    assert store.cache_get("openai", "m", "auto", "de", "text", list(many)) == many


def test_usage_is_summed_per_day_and_engine(store: Store) -> None:
    day = date(2025, 6, 1)
    store.add_usage("openai", "deepseek-chat", Usage(1, 100, 10, 20), day=day)
    store.add_usage("openai", "deepseek-chat", Usage(2, 50, 5, 5), day=day)
    store.add_usage("openai", None, Usage(1, 1, 1, 1), day=day)
    store.add_usage("deepl", None, Usage(1, 1000), day=day)
    store.add_usage("deepl", None, Usage(7, 7000), day=day + timedelta(days=1))
    assert store.usage_for(day, "openai") == Usage(4, 151, 16, 26)
    assert store.usage_for(day) == Usage(5, 1151, 16, 26)
    assert store.usage_for(day, "local") == Usage()
    store.add_usage("local", None, Usage(1, 5))
    assert store.usage_for(datetime.now(UTC).date(), "local") == Usage(1, 5)


def test_meta_values(store: Store) -> None:
    assert store.get_meta("publish_fingerprint") is None
    store.set_meta("publish_fingerprint", "abc")
    store.set_meta("publish_fingerprint", "def")
    assert store.get_meta("publish_fingerprint") == "def"


def test_state_survives_reopening(db_path: Path) -> None:
    with Store.open(sqlite_url(db_path)) as store:
        store.sync_channels([("chan", "Kanal", FEED)])
        (item_id,) = store.add_items("chan", [make_item(1)])
        store.save_article(make_article(item_id, "slug"))
    with Store.open(sqlite_url(db_path)) as store:
        assert store.add_items("chan", [make_item(1)]) == []
        assert [a.slug for a in store.articles()] == ["slug"]
        assert store.articles()[0].published.tzinfo == UTC


def test_items_and_their_validators_are_stored_together(store: Store) -> None:
    result = FetchResult("chan", FEED, FEED, 200, content=b"x", etag='"v2"', content_hash="h2")
    ids = store.add_items("chan", [make_item(1), make_item(2)], fetched=FetchRecord(result))
    assert len(ids) == 2
    assert store.fetch_states(["chan"])["chan"].etag == '"v2"'
    # Nothing new: the fetch is still recorded.
    again = FetchResult("chan", FEED, FEED, 200, content=b"x", etag='"v3"', content_hash="h3")
    assert store.add_items("chan", [make_item(1)], fetched=FetchRecord(again)) == []
    assert store.fetch_states(["chan"])["chan"].etag == '"v3"'
    # A failing record rolls the items back with it.
    with pytest.raises(NotInStore):
        store.add_items(
            "chan", [make_item(3)], fetched=FetchRecord(FetchResult("nope", FEED, FEED, 200))
        )
    assert len(store.pending_items(5)) == 2


def test_meta_json_reads_what_was_kept_and_treats_garbage_as_absent(store: Store) -> None:
    assert store.get_meta_json("note") is None
    store.set_meta("note", '{"a": [1, 2]}')
    assert store.get_meta_json("note") == {"a": [1, 2]}
    store.set_meta("note", "{kaputt")
    assert store.get_meta_json("note") is None
