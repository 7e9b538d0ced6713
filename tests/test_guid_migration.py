"""Migration 2: items stored with guids resolved against the feed's URL keep their identity.

The old store is written the way kanalwerk before schema version 2 wrote it: only
migration 1 applied, relative guids stored resolved against the channel's URL.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from kanalwerk.models import Item
from kanalwerk.parse import parse_feed
from kanalwerk.store import Store, migrations
from kanalwerk.store import schema as db
from tests.old_stores import store_at

NOW = datetime(2025, 1, 27, 10, 0, tzinfo=UTC)
OLD_URL = "https://example.org/a/feed.xml"
NEW_URL = "https://example.org/b/c/feed.xml"


def write_old_store(url: str, guids: list[str]) -> None:
    """A version-1 store whose channel "blog" polled OLD_URL, then moved to NEW_URL."""
    store_at(url, 1)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(db.channels),
                [
                    {
                        "id": "blog",
                        "name": "Blog",
                        "configured_url": OLD_URL,
                        "url": OLD_URL,
                        "created_at": NOW,
                    },
                    {
                        "id": "quiet",
                        "name": "Quiet",
                        "configured_url": OLD_URL,
                        "url": OLD_URL,
                        "created_at": NOW,
                    },
                ],
            )
            conn.execute(
                sa.insert(db.items),
                [
                    {
                        "channel_id": "blog",
                        "guid": guid,
                        "title": f"Item {n}",
                        "state": "published",
                        "first_seen": NOW,
                        "updated_at": NOW,
                    }
                    for n, guid in enumerate(guids)
                ],
            )
            assert conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar() == 1
    finally:
        engine.dispose()


def item(guid: str, base_url: str = NEW_URL) -> Item:
    return Item(guid=guid, link=None, title=f"Item {guid}", base_url=base_url)


def schema_version(store_url: str) -> int:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar_one()
            )
    finally:
        engine.dispose()


def guids_by_id(store_url: str) -> dict[int, str]:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(db.items.c.id, db.items.c.guid).order_by(db.items.c.id))
            return {row.id: row.guid for row in rows}
    finally:
        engine.dispose()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'old.db'}"


def test_old_resolved_guids_are_adopted_after_the_feed_moved(store_url: str) -> None:
    write_old_store(
        store_url,
        [
            "https://example.org/a/12345",  # was <guid>12345</guid>
            "https://example.org/a/posts/7",  # was <guid>posts/7</guid>
            "https://example.org/elsewhere/1",  # an absolute guid, kept as it was
            "urn:uuid:1",  # no URL at all
        ],
    )
    with Store.open(store_url) as store:
        store.set_channel_url("blog", NEW_URL)  # the 301 after the upgrade
        incoming = [
            item("12345"),
            item("posts/7"),
            item("https://example.org/elsewhere/1"),
            item("urn:uuid:1"),
        ]
        assert store.add_items("blog", incoming) == []
        assert store.add_items("blog", incoming) == []
    assert schema_version(store_url) == migrations.latest_version()
    assert guids_by_id(store_url) == {
        1: "12345",
        2: "posts/7",
        3: "https://example.org/elsewhere/1",
        4: "urn:uuid:1",
    }


def test_a_duplicate_from_an_earlier_move_leaves_the_oldest_item_in_charge(store_url: str) -> None:
    write_old_store(store_url, ["https://example.org/a/777", "https://example.org/b/c/777"])
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # the old version had followed the 301 already
        conn.execute(sa.update(db.channels).where(db.channels.c.id == "blog").values(url=NEW_URL))
    engine.dispose()
    with Store.open(store_url) as store:
        assert store.add_items("blog", [item("777")]) == []
    assert guids_by_id(store_url) == {1: "777", 2: "https://example.org/b/c/777"}


def test_only_items_stored_before_the_upgrade_are_adopted(store_url: str) -> None:
    write_old_store(store_url, ["https://example.org/a/1"])
    with Store.open(store_url) as store:
        # Stored after the upgrade: its guid is as the feed gave it, absolute.
        (later,) = store.add_items("blog", [item("https://example.org/a/2")])
        (new,) = store.add_items("blog", [item("2")])
        assert new != later
        # A channel without old items has nothing to adopt.
        assert len(store.add_items("quiet", [item("1", OLD_URL)])) == 1
    assert guids_by_id(store_url)[1] == "https://example.org/a/1"


def test_a_fresh_store_records_no_bases(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.sync_channels([("blog", "Blog", OLD_URL)])
        assert len(store.add_items("blog", [item("1", OLD_URL)])) == 1
        assert len(store.add_items("blog", [item("https://example.org/a/1", OLD_URL)])) == 1


def test_guids_resolved_against_a_temporary_redirect_target_are_adopted(store_url: str) -> None:
    # The old version fetched OLD_URL through a 302 to /b/c/feed.xml, resolved the guids
    # against that target and never stored it; now the 302 leads to a CDN.
    write_old_store(
        store_url,
        [
            "https://example.org/b/c/12345",  # was <guid>12345</guid>
            "https://example.org/b/c/posts/7",  # was <guid>posts/7</guid>
            "https://example.org/b/c/x8",  # not "8": no path step before it
            "https://example.org/b/c/9",  # an absolute guid, and the feed still says so
        ],
    )
    Store.open(store_url).close()  # the upgrade
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # stored after the upgrade, with its guid as given
        values = {"title": "Later", "first_seen": NOW, "updated_at": NOW}
        conn.execute(
            sa.insert(db.items).values(
                channel_id="blog", guid="https://example.org/b/c/10", **values
            )
        )
    engine.dispose()
    cdn = "https://cdn.example.net/feed.xml"
    incoming = ["12345", "posts/7", "8", "10", "https://example.org/b/c/9"]
    with Store.open(store_url) as store:
        new = store.add_items("blog", [item(guid, cdn) for guid in incoming])
    assert guids_by_id(store_url) == {
        1: "12345",
        2: "posts/7",
        3: "https://example.org/b/c/x8",
        4: "https://example.org/b/c/9",
        5: "https://example.org/b/c/10",  # stored after the upgrade: not adopted
        6: "8",
        7: "10",
    }
    assert new == [6, 7]


def test_an_old_item_identified_by_its_relative_link_is_adopted(store_url: str) -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<link>https://example.org/</link><description>d</description>"
        b"<item><title>A</title><link>posts/9</link></item></channel></rss>"
    )
    # The old version stored the link resolved against where it fetched the feed.
    write_old_store(store_url, ["https://example.org/a/posts/9"])
    (parsed,) = parse_feed(body, url=NEW_URL).items
    assert parsed.guid == "posts/9"
    with Store.open(store_url) as store:
        store.set_channel_url("blog", NEW_URL)
        assert store.add_items("blog", [parsed]) == []
    assert guids_by_id(store_url) == {1: "posts/9"}


def bases_of(store_url: str) -> set[str]:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            query = sa.select(db.resolved_guid_bases.c.channel_id)
            return set(conn.execute(query).scalars())
    finally:
        engine.dispose()


def test_the_recorded_urls_go_once_the_first_poll_adopted_what_it_could(store_url: str) -> None:
    write_old_store(store_url, ["https://example.org/a/1", "https://example.org/a/2"])
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(db.items).values(
                channel_id="quiet", guid="q", title="Q", first_seen=NOW, updated_at=NOW
            )
        )
    engine.dispose()
    with Store.open(store_url) as store:
        assert bases_of(store_url) == {"blog", "quiet"}
        assert store.add_items("blog", [item("1")]) == []
        assert bases_of(store_url) == {"quiet"}


def test_adopting_thousands_of_items_stays_within_sqlites_parameter_limit(store_url: str) -> None:
    """32,766 parameters per statement: SQLite's default limit since 3.32."""
    write_old_store(store_url, ["https://example.org/a/0"])

    def limit_parameters(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)

    sa.event.listen(sa.Engine, "connect", limit_parameters)
    try:
        with Store.open(store_url) as store:
            store.set_channel_url("blog", NEW_URL)  # two recorded URLs, plus each item's base
            items = [item(str(n)) for n in range(17_000)]
            assert len(store.add_items("blog", items)) == 16_999
    finally:
        sa.event.remove(sa.Engine, "connect", limit_parameters)
    assert guids_by_id(store_url)[1] == "0"
