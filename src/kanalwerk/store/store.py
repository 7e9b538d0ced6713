"""The one class that speaks SQL: channels' fetch state, items, articles, cache, usage.

Rows never leave this module; callers get the frozen dataclasses from `kanalwerk.models`.
Every write is one transaction. SQL stays portable between SQLite and PostgreSQL; the
dialect-specific pieces are `INSERT … ON CONFLICT`, chosen by `_insert_for`, and the
change feed SQLite's triggers fill (`entry_rows`), which PostgreSQL does without.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from kanalwerk import sanitize
from kanalwerk.config.load import feed_identity
from kanalwerk.dates import as_utc
from kanalwerk.entries import (
    ChannelInfo,
    Entry,
    channel_numbers,
    newest_first_key,
    number_new,
    same_objects,
)
from kanalwerk.errors import NoStoreYet, NotInStore, StoreError
from kanalwerk.fingerprint import content_hash
from kanalwerk.models import (
    Article,
    FetchResult,
    FetchState,
    Item,
    ParsedFeed,
    SourceRef,
    SourceText,
    StoredItem,
    Usage,
)
from kanalwerk.schedule import BUSY_WINDOW, QUIET_WINDOW, PollHistory
from kanalwerk.select import Decision, Facts, origin_key
from kanalwerk.sources.youtube import channel_id_of_feed
from kanalwerk.store import migrations
from kanalwerk.store import schema as db
from kanalwerk.store.chunks import chunks as _chunks
from kanalwerk.store.entry_rows import EntryRows, Row, trim_changes
from kanalwerk.store.guids import adopt_resolved_guids, channels_to_adopt
from kanalwerk.store.media import (
    enclosures_from_json,
    enclosures_json,
    links_from_json,
    links_json,
    source_text,
)

_WRITE = "kanalwerk_write"  # execution option: this transaction will write
_SUPPORTED = ("sqlite", "postgresql")


@dataclass(frozen=True)
class ChannelStatus:
    """One channel's health and queue sizes, for `kanalwerk status`."""

    id: str
    name: str
    url: str | None
    last_status: int | None
    last_error: str | None
    last_warning: str | None
    last_fetched_at: datetime | None
    last_success_at: datetime | None
    error_count: int
    items_total: int
    items_pending: int  # state "new": waiting for translation
    items_published: int
    items_failed: int
    retry_after_until: datetime | None = None  # the server asked not to poll before this
    disabled_at: datetime | None = None  # 410 Gone: not polled until enabled again
    disabled_reason: str | None = None
    failing_since: datetime | None = None  # the first error since the last success


def mask_url(url: str) -> str:
    """The URL with any password replaced, safe for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r"://.*@", "://***@", url)


def _now() -> datetime:
    return datetime.now(UTC)


def _key_model(model: str | None) -> str:
    """`None` cannot be part of a primary key; the empty string stands for "no model"."""
    return model if model is not None else ""


def _insert_for(dialect: str, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that supports `ON CONFLICT`, in the engine's dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_file(url: sa.URL) -> Path | None:
    """The database file of an SQLite URL; None for other backends, memory and file: URIs."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder of a new database; refuse an existing file that is not a database.

    A new store starts only where no file is. An empty file is most often a database lost
    to a failed copy or a full disk: starting over in it would translate and publish every
    item again, under new entry ids that readers see as duplicates.
    """
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not header:
        raise StoreError(
            f"the database file {path} is empty (0 bytes), so kanalwerk's store was lost; "
            "restore it from a backup, or delete the file to start a new store (every item "
            "is then translated and published again)"
        )
    if header != _SQLITE_HEADER:
        raise StoreError(
            f"{path} is not an SQLite database; point `store:` in feeds.yaml at kanalwerk's "
            "database, or at a file that does not exist yet to start a new store"
        )


def _check_ours(conn: Connection, display: str) -> None:
    """Refuse a database file whose tables are another program's: migrating would mix them.

    A database without tables is one whose first opening was cut short; it is set up.
    """
    tables = sorted(sa.inspect(conn).get_table_names())
    if tables and db.schema_version.name not in tables:
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise StoreError(
            f"the database {display} is not kanalwerk's (it holds the tables {shown}); "
            "point `store:` in feeds.yaml at kanalwerk's database, or at a file that does "
            "not exist yet to start a new store"
        )


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys and a busy timeout on every connection; explicit BEGINs.

    The sqlite3 driver's own transaction handling is switched off so SQLAlchemy's BEGIN
    covers reads too, and writers take the lock up front (`BEGIN IMMEDIATE`): a deferred
    transaction that reads and then writes can fail with "database is locked" at once
    instead of waiting for `busy_timeout`.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout = 5000")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    def on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "begin", on_begin)


_item_fields = (
    "link",
    "title",
    "author",
    "published",
    "updated",
    "content_html",
    "summary_html",
    "language",
    "video_id",
    "yt_channel_id",
    "thumbnail",
    "media_description",
)

_source_columns = (
    db.channels.c.name.label("channel_name"),
    db.channels.c.url.label("channel_url"),
    db.channels.c.configured_url.label("channel_configured_url"),
    db.channels.c.feed_title,
    db.channels.c.feed_link,
    db.channels.c.feed_id,
)


def _source(row: sa.Row[Any], title: str, link: str | None, author: str | None) -> SourceRef:
    return SourceRef(
        title=title,
        link=link,
        channel_name=row.channel_name,
        feed_title=row.feed_title,
        feed_url=row.channel_url or row.channel_configured_url or "",
        feed_link=row.feed_link,
        feed_id=row.feed_id,
        author=author,
    )


def _stored_datetime(value: object) -> datetime:
    """A date selected without its column type: SQLite's text, or a driver's datetime."""
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str):
        raise TypeError(f"expected a date from the database, got {type(value).__name__}")
    return as_utc(datetime.fromisoformat(value))


def _entry(row: tuple[Any, ...], channel: sa.Row[Any], seq: int, channel_seq: int) -> Entry:
    """An `Entry` from a row of `published_entries` and its channel's row."""
    (item_id, entry_id, slug, title, summary, published, updated, thumbnail) = row[:8]
    (channel_id, item_title, item_link, item_author) = row[8:12]
    return Entry(
        item_id=item_id,
        entry_id=entry_id,
        slug=slug,
        channel_id=channel_id,
        title=title,
        summary=summary,
        published=_stored_datetime(published),
        updated=_stored_datetime(updated),
        source=_source(channel, item_title, item_link, item_author),
        thumbnail=thumbnail,
        seq=seq,
        channel_seq=channel_seq,
    )


def _stored_item(row: sa.Row[Any]) -> StoredItem:
    item = Item(
        guid=row.guid,
        **{name: getattr(row, name) for name in _item_fields},
        enclosures=enclosures_from_json(row.enclosures),
        transcripts=links_from_json(row.transcript_links),
    )
    return StoredItem(
        id=row.id,
        channel_id=row.channel_id,
        guid=row.guid,
        item=item,
        state=row.state,
        attempts=row.attempts,
        last_error=row.last_error,
        first_seen=row.first_seen,
        source=_source(row, row.title, row.link, row.author),
        # Computed when missing, so a saved article always names what it was made from.
        content_hash=row.content_hash or content_hash(item),
        remake=getattr(row, "remake", False),
        source_text=source_text(row.source_kind, row.source_html, row.source_reason),
    )


def _article(row: sa.Row[Any]) -> Article:
    return Article(
        item_id=row.item_id,
        entry_id=row.entry_id,
        slug=row.slug,
        title=row.title,
        summary=row.summary,
        content_html=_current_body(row.content_html, row.sanitized_by),
        published=row.published,
        updated=row.updated,
        source=_source(row, row.item_title, row.item_link, row.item_author),
        engine=row.engine,
        model=row.model,
        language=row.language,
        thumbnail=row.thumbnail,
        channel_id=row.item_channel_id,
        enclosures=enclosures_from_json(row.item_enclosures),
    )


def _current_body(html: str, policy: str | None) -> str:
    """A stored body as the current sanitizer policy has it: cleaned again if it was
    stored under another one (or by a version that recorded none)."""
    return html if policy == sanitize.POLICY else sanitize.sanitize_article_html(html)


def _stale(policy: str) -> sa.ColumnElement[bool]:
    """Articles whose body was sanitized under another policy than `policy`, or none.

    Three terms an index answers, where `!=` would read every row (and every body).
    """
    marker = db.articles.c.sanitized_by
    return sa.or_(marker.is_(None), marker < policy, marker > policy)


def _articles_query() -> sa.Select[Any]:
    """The columns `_article` reads, and no others: bodies of thousands of articles are
    loaded in a full publish, and every date column costs a conversion per row."""
    a = db.articles.c
    return (
        sa.select(
            a.item_id,
            a.entry_id,
            a.slug,
            a.title,
            a.summary,
            a.content_html,
            a.sanitized_by,
            a.published,
            a.updated,
            a.engine,
            a.model,
            a.language,
            a.thumbnail,
            db.items.c.title.label("item_title"),
            db.items.c.link.label("item_link"),
            db.items.c.author.label("item_author"),
            db.items.c.channel_id.label("item_channel_id"),
            db.items.c.enclosures.label("item_enclosures"),
            *_source_columns,
        )
        .join(db.items, db.articles.c.item_id == db.items.c.id)
        .join(db.channels, db.items.c.channel_id == db.channels.c.id)
    )


#: Item states whose articles are on the site.
_PUBLISHABLE = ("translated", "published")

#: The rows `published_entries` makes entries of; the item id first (see `EntryRows`).
_entries_query: sa.Select[Any] = (
    sa.select(
        db.articles.c.item_id,
        db.articles.c.entry_id,
        db.articles.c.slug,
        db.articles.c.title,
        db.articles.c.summary,
        sa.type_coerce(db.articles.c.published, sa.String),
        sa.type_coerce(db.articles.c.updated, sa.String),
        db.articles.c.thumbnail,
        db.items.c.channel_id,
        db.items.c.title,
        db.items.c.link,
        db.items.c.author,
        db.articles.c.published_seq,
        db.items.c.state,
    )
    .join(db.items, db.articles.c.item_id == db.items.c.id)
    # Every number given counts, unpublished articles' too: a channel's numbers keep
    # holes where they were.
    .where(sa.or_(db.items.c.state.in_(_PUBLISHABLE), db.articles.c.published_seq.is_not(None)))
)


@dataclass(frozen=True)
class PublishedEntries:
    """The site's articles without bodies, and which of them are not marked published yet."""

    entries: list[Entry]
    unpublished: frozenset[int]


def _same_entries(one: PublishedEntries, other: PublishedEntries) -> bool:
    """Whether both hold the very same entries (by identity: cheap at 10,000)."""
    return same_objects(one.entries, other.entries) and one.unpublished == other.unpublished


def _free_slug(wanted: str, taken: set[str]) -> str:
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


#: States whose article is re-made when the original changes (`add_items(updates=True)`).
_REMAKE_STATES = ("draft", "translated", "published")


#: The fields an edit is judged by (`fingerprint.content_hash` reads the same ones).
_TEXT_FIELDS = ("title", "content_html", "summary_html")


def _store_edits(
    conn: Connection, channel_id: str, seen: Mapping[str, Item], now: datetime
) -> None:
    """Store re-delivered items whose title or text changed; the rest cost one read.

    Hashes are computed only where the stored and the delivered text differ at all, so
    a feed that re-sends its items as they were costs no parsing of their HTML. The
    first hash of an item is its stored content's; its article counts as made from it.
    A re-delivery with other markup or whitespace only is stored (the next one is then
    byte-identical); one with other words also gets its attempts back, and its article,
    if any, is re-made by the next translate step. Failed, rejected, removed (and any
    other) items stay as they are: an edit does not bring them back.
    """
    i = db.items.c
    rows: list[Any] = []
    for chunk in _chunks(list(seen)):
        columns = (i.id, i.guid, i.state, i.content_hash, *(i[name] for name in _TEXT_FIELDS))
        stmt = sa.select(*columns).where(i.channel_id == channel_id, i.guid.in_(chunk))
        rows += conn.execute(stmt).all()
    for row in rows:
        item = seen[row.guid]
        if row.state not in ("new", *_REMAKE_STATES) or all(
            getattr(row, name) == getattr(item, name) for name in _TEXT_FIELDS
        ):
            continue
        old = row.content_hash or content_hash(
            Item(
                row.guid,
                None,
                row.title,
                content_html=row.content_html,
                summary_html=row.summary_html,
            )
        )
        new = content_hash(item)
        values: dict[str, Any] = {name: getattr(item, name) for name in _item_fields}
        if new != old:
            values |= {"attempts": 0, "last_error": None}
        conn.execute(
            sa.update(db.items)
            .where(i.id == row.id)
            .values(**values, content_hash=new, updated_at=now)
        )
        conn.execute(
            sa.update(db.articles)
            .where(db.articles.c.item_id == row.id, db.articles.c.source_hash.is_(None))
            .values(source_hash=old)
        )


#: Meta key: "1" while a decision waits to be published (see `change_article_states`).
PUBLISH_REQUESTED = "publish_requested"
#: Changed by every `record_published_pages`: whether the pages kept in memory are current.
PAGES_RECORDED = "published_pages_recorded"


class Store:
    """kanalwerk's database. Open with `Store.open(url)`; close it (or use `with`)."""

    def __init__(self, engine: Engine, display_url: str) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_WRITE: True})
        self._dialect = engine.dialect.name
        self._url = display_url
        self._closed = False
        # Channels that still have guids stored resolved (see `store.guids`); read once,
        # since no row is ever added there after migration 2.
        self._to_adopt: set[str] | None = None
        #: The rows of the published entries, kept up to date from the change feed.
        self._entry_rows = EntryRows(_entries_query, db.articles.c.item_id)
        #: The entries `published_entries` made last time by item id, with the row, the
        #: channel row and the numbers each came from.
        self._entries_seen: dict[int, tuple[Row, tuple[Row | None, int, int], Entry]] = {}
        #: Its last answer, with the rows and channel rows it came from.
        self._entries_last: tuple[dict[int, Row], dict[str, Row], PublishedEntries] | None = None
        #: The published pages as last read or recorded, with the mark they were read at.
        self._pages_seen: tuple[str, dict[str, str]] | None = None

    @classmethod
    @contextmanager
    def existing(cls, url: str) -> Iterator[Store | None]:
        """The store at `url`, open, if it has been set up; None before anything was
        stored (for commands that only look, or act on what is there)."""
        try:
            store = cls.open(url, create=False)
        except NoStoreYet:
            yield None
            return
        with store:
            yield store

    @classmethod
    def open(cls, url: str, *, create: bool = True, migrate: bool = True) -> Store:
        """Connect and apply pending migrations.

        With `create=False` an SQLite file that does not exist yet raises `NoStoreYet`
        instead of being set up: for commands that only read. With `migrate=False` a
        store whose schema is older raises `StoreNeedsMigration` and is left as it is.
        """
        display = mask_url(url)
        try:
            parsed = sa.make_url(url)
            file = sqlite_file(parsed)
            if file is not None:
                if not create and not file.exists():
                    raise NoStoreYet(f"the store {display} does not exist yet")
                _prepare_sqlite_file(file)
            engine = sa.create_engine(parsed, future=True)
        except ImportError as exc:
            raise StoreError(
                f"cannot open the store {display}: its database driver is missing ({exc}); "
                "install the driver package named there"
            ) from exc
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise StoreError(
                f"cannot open the store {display}: {exc}; check the `store:` URL in feeds.yaml"
            ) from exc
        if engine.dialect.name not in _SUPPORTED:
            engine.dispose()
            raise StoreError(
                f"cannot open the store {display}: {engine.dialect.name} is not supported; "
                "use sqlite:/// or postgresql://"
            )
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        store = cls(engine, display)
        try:
            with engine.connect() as conn:  # a file or a server database alike
                _check_ours(conn, display)
            if migrate:
                migrations.upgrade(store._writer, display)
            else:
                migrations.check_current(engine, display)
        except StoreError:
            store.close()
            raise
        except sa.exc.SQLAlchemyError as exc:
            store.close()
            raise StoreError(
                f"cannot open the store {display}: {migrations.error_reason(exc)}"
            ) from exc
        return store

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._url!r})"

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"store {self._url}: {migrations.error_reason(exc)}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._writer.begin() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"store {self._url}: {migrations.error_reason(exc)}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self._url} is closed")

    # --- channels -------------------------------------------------------------------

    def sync_channels(self, channels: Sequence[tuple[str, str, str | None]]) -> None:
        """Add or rename channels; a changed configured URL restarts fetch state and backfill.

        Backfill does not restart when both URLs name the same feed, e.g. a YouTube
        channel's feed and its uploads playlist, as `shorts:` or an upgrade switch them.

        `configured_url=None` (a YouTube handle) keeps the URL `set_channel_url` stored,
        unless the config used to name a URL: then the URL is dropped so the handle gets
        resolved.
        Channels missing from the list are kept: their articles stay published.
        """
        wanted = {channel_id: (name, url) for channel_id, name, url in channels}
        now = _now()
        with self._write() as conn:
            existing = {
                row.id: row
                for row in conn.execute(
                    sa.select(db.channels.c.id, db.channels.c.name, db.channels.c.configured_url)
                )
            }
            new_rows: list[dict[str, Any]] = []
            for channel_id, (name, url) in wanted.items():
                row = existing.get(channel_id)
                if row is None:
                    new_rows.append(
                        {
                            "id": channel_id,
                            "name": name,
                            "configured_url": url,
                            "url": url,
                            "error_count": 0,
                            "created_at": now,
                        }
                    )
                elif url != row.configured_url:
                    restart = (
                        {} if _same_feed(row.configured_url, url) else {"first_items_at": None}
                    )
                    conn.execute(
                        sa.update(db.channels)
                        .where(db.channels.c.id == channel_id)
                        .values(
                            name=name,
                            configured_url=url,
                            url=url,
                            etag=None,
                            last_modified=None,
                            content_hash=None,
                            retry_after_until=None,
                            # A new URL gets a fresh start: not disabled, no backoff.
                            disabled_at=None,
                            disabled_reason=None,
                            error_count=0,
                            failing_since=None,
                            fresh_until=None,
                            last_error=None,
                            **restart,  # another feed: backfill applies again
                        )
                    )
                elif name != row.name:
                    conn.execute(
                        sa.update(db.channels)
                        .where(db.channels.c.id == channel_id)
                        .values(name=name)
                    )
            if new_rows:
                conn.execute(sa.insert(db.channels), new_rows)

    def set_channel_url(self, channel_id: str, url: str) -> None:
        """Point a channel at a feed URL; validators are dropped when the URL changes."""
        same = db.channels.c.url == url
        stmt = (
            sa.update(db.channels)
            .where(db.channels.c.id == channel_id)
            .values(
                url=url,
                etag=sa.case((same, db.channels.c.etag), else_=sa.null()),
                last_modified=sa.case((same, db.channels.c.last_modified), else_=sa.null()),
                content_hash=sa.case((same, db.channels.c.content_hash), else_=sa.null()),
            )
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotInStore(f"unknown channel {channel_id!r}")

    def fetch_states(self, channel_ids: Sequence[str]) -> dict[str, FetchState]:
        """What the next polls need, in one query; channels without a URL are left out."""
        stmt = sa.select(
            db.channels.c.id,
            db.channels.c.url,
            db.channels.c.etag,
            db.channels.c.last_modified,
            db.channels.c.content_hash,
            db.channels.c.retry_after_until,
        ).where(db.channels.c.id.in_(list(channel_ids)), db.channels.c.url.is_not(None))
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return {
            row.id: FetchState(
                channel_id=row.id,
                url=row.url,
                etag=row.etag,
                last_modified=row.last_modified,
                content_hash=row.content_hash,
                not_before=row.retry_after_until,
            )
            for row in rows
        }

    def record_fetches(self, records: Sequence[FetchRecord]) -> None:
        """Several polls' outcomes in one transaction: an all-304 poll of a thousand
        channels would otherwise spend most of its time committing."""
        if not records:
            return
        with self._write() as conn:
            _write_fetches(conn, records, _now())

    def channel_statuses(self) -> list[ChannelStatus]:
        def count_state(state: str) -> sa.ColumnElement[int]:
            return sa.func.coalesce(
                sa.func.sum(sa.case((db.items.c.state == state, 1), else_=0)), 0
            )

        counts = (
            sa.select(
                db.items.c.channel_id,
                sa.func.count().label("total"),
                count_state("new").label("pending"),
                count_state("published").label("published"),
                count_state("failed").label("failed"),
            )
            .group_by(db.items.c.channel_id)
            .subquery()
        )
        stmt = (
            sa.select(
                db.channels,
                sa.func.coalesce(counts.c.total, 0).label("total"),
                sa.func.coalesce(counts.c.pending, 0).label("pending"),
                sa.func.coalesce(counts.c.published, 0).label("published"),
                sa.func.coalesce(counts.c.failed, 0).label("failed"),
            )
            .outerjoin(counts, counts.c.channel_id == db.channels.c.id)
            .order_by(db.channels.c.name, db.channels.c.id)
        )
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [
            ChannelStatus(
                id=row.id,
                name=row.name,
                url=row.url,
                last_status=row.last_status,
                last_error=row.last_error,
                last_warning=row.last_warning,
                last_fetched_at=row.last_fetched_at,
                last_success_at=row.last_success_at,
                error_count=row.error_count,
                items_total=int(row.total),
                items_pending=int(row.pending),
                items_published=int(row.published),
                items_failed=int(row.failed),
                retry_after_until=row.retry_after_until,
                disabled_at=row.disabled_at,
                disabled_reason=row.disabled_reason,
                failing_since=row.failing_since,
            )
            for row in rows
        ]

    def item_counts(self) -> dict[str, dict[str, int]]:
        """Per channel id, how many of its items are in each state (states with none left out)."""
        stmt = sa.select(db.items.c.channel_id, db.items.c.state, sa.func.count()).group_by(
            db.items.c.channel_id, db.items.c.state
        )
        counts: dict[str, dict[str, int]] = {}
        with self._read() as conn:
            for channel_id, state, count in conn.execute(stmt):
                counts.setdefault(channel_id, {})[state] = int(count)
        return counts

    def poll_histories(self, channel_ids: Sequence[str], now: datetime) -> dict[str, PollHistory]:
        """What `schedule.next_poll` needs of each channel the store knows, in one query.

        A post's date is its published date, else when it was first seen; dates after
        `now` do not count.
        """
        dated = sa.func.coalesce(db.items.c.published, db.items.c.first_seen)

        def posts_since(start: datetime) -> sa.ColumnElement[int]:
            recent = sa.and_(dated > start, dated <= now)
            return sa.func.coalesce(sa.func.sum(sa.case((recent, 1), else_=0)), 0)

        counts = (
            sa.select(
                db.items.c.channel_id,
                sa.func.count().label("total"),
                posts_since(now - QUIET_WINDOW).label("week"),
                posts_since(now - BUSY_WINDOW).label("day"),
            )
            .where(db.items.c.channel_id.in_(list(channel_ids)))
            .group_by(db.items.c.channel_id)
            .subquery()
        )
        c = db.channels.c
        stmt = (
            sa.select(
                c.id,
                c.last_fetched_at,
                c.error_count,
                c.failing_since,
                c.last_error,
                c.retry_after_until,
                c.fresh_until,
                c.disabled_at,
                c.disabled_reason,
                sa.func.coalesce(counts.c.total, 0).label("total"),
                sa.func.coalesce(counts.c.week, 0).label("week"),
                sa.func.coalesce(counts.c.day, 0).label("day"),
            )
            .outerjoin(counts, counts.c.channel_id == c.id)
            .where(c.id.in_(list(channel_ids)))
        )
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return {
            row.id: PollHistory(
                last_fetched_at=row.last_fetched_at,
                error_count=row.error_count,
                failing_since=row.failing_since,
                last_error=row.last_error,
                retry_after_until=row.retry_after_until,
                fresh_until=row.fresh_until,
                disabled_at=row.disabled_at,
                disabled_reason=row.disabled_reason,
                items_total=int(row.total),
                posts_week=int(row.week),
                posts_day=int(row.day),
            )
            for row in rows
        }

    def enable_channel(self, channel_id: str) -> bool:
        """Poll a disabled channel again, with no backoff; False if it was not disabled."""
        c = db.channels.c
        stmt = (
            sa.update(db.channels)
            .where(c.id == channel_id, c.disabled_at.is_not(None))
            .values(
                disabled_at=None,
                disabled_reason=None,
                error_count=0,
                failing_since=None,
                retry_after_until=None,
            )
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount:
                return True
            if conn.execute(sa.select(c.id).where(c.id == channel_id)).first() is None:
                raise NotInStore(f"unknown channel {channel_id!r}")
        return False

    # --- items ----------------------------------------------------------------------

    def add_items(
        self,
        channel_id: str,
        items: Sequence[Item],
        *,
        fetched: FetchRecord | None = None,
        updates: bool = True,
    ) -> list[int]:
        """Store items not seen before, all to be translated; return their new ids.

        The pipeline stores what `select` decided with `store_decisions`; this is the
        same without a choice.
        """
        decisions = [Decision(item, "new", None, origin_key(item)) for item in items]
        return self.store_decisions(channel_id, decisions, fetched=fetched, updates=updates).new_ids

    def _stored_items_query(self) -> sa.Select[Any]:
        return sa.select(db.items, *_source_columns).join(
            db.channels, db.items.c.channel_id == db.channels.c.id
        )

    def pending_items(self, max_attempts: int, limit: int | None = None) -> list[StoredItem]:
        """Items waiting for translation, oldest first; undated ones count from first_seen.

        Besides new items, those whose article was made from an older version of the
        original (`remake`): their draft or published article stays as it is meanwhile.
        """
        i = db.items.c
        oldest_first = (sa.func.coalesce(i.published, i.first_seen), i.id)
        base = (
            self._stored_items_query()
            .add_columns(db.articles.c.item_id.is_not(None).label("remake"))
            .outerjoin(db.articles, db.articles.c.item_id == i.id)
            .where(i.attempts < max_attempts)
            .order_by(*oldest_first)
            .limit(limit)
        )
        # Two queries, each on an index: `state` for new items, and for re-makes the
        # partial index of the few items that carry a hash (see `_store_edits`). A state
        # condition would make SQLite prefer the state index and read every published
        # item, so the few edited items in other states are dropped here instead.
        remakes = base.limit(None).where(
            i.content_hash.is_not(None), db.articles.c.source_hash != i.content_hash
        )
        with self._read() as conn:
            rows = [*conn.execute(base.where(i.state == "new"))]
            rows += [row for row in conn.execute(remakes) if row.state in _REMAKE_STATES]
        rows.sort(key=lambda row: (row.published or row.first_seen, row.id))
        return [_stored_item(row) for row in rows[:limit]]

    def items_to_enrich(self, limit: int | None = None) -> list[StoredItem]:
        """Items waiting for translation whose source text is not chosen yet, oldest first."""
        stmt = (
            self._stored_items_query()
            .where(db.items.c.state == "new", db.items.c.source_kind.is_(None))
            .order_by(sa.func.coalesce(db.items.c.published, db.items.c.first_seen), db.items.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_stored_item(row) for row in conn.execute(stmt)]

    def save_source_texts(self, texts: Mapping[int, SourceText]) -> None:
        """Keep each item's source text; an item that has one already keeps it."""
        if not texts:
            return
        i = db.items.c
        stmt = (
            sa.update(db.items)
            .where(i.id == sa.bindparam("p_id"), i.source_kind.is_(None))
            .values(
                source_kind=sa.bindparam("p_kind"),
                source_html=sa.bindparam("p_html"),
                source_reason=sa.bindparam("p_reason"),
                updated_at=_now(),
            )
        )
        rows = [
            {"p_id": item_id, "p_kind": t.kind, "p_html": t.html, "p_reason": t.reason}
            for item_id, t in texts.items()
        ]
        with self._write() as conn:
            conn.execute(stmt, rows)

    def mark_attempt_failed(self, item_id: int, error: str, max_attempts: int) -> str:
        """Count a failed translation; the item gives up ("failed") after `max_attempts`."""
        attempts = db.items.c.attempts + 1
        stmt = (
            sa.update(db.items)
            .where(db.items.c.id == item_id)
            .values(
                attempts=attempts,
                last_error=error,
                updated_at=_now(),
                state=sa.case(
                    (sa.and_(db.items.c.state == "new", attempts >= max_attempts), "failed"),
                    else_=db.items.c.state,
                ),
            )
            .returning(db.items.c.state)
        )
        with self._write() as conn:
            state = conn.execute(stmt).scalar_one_or_none()
        if state is None:
            raise NotInStore(f"unknown item {item_id}")
        return str(state)

    # --- articles -------------------------------------------------------------------

    def save_article(
        self, article: Article, *, source_hash: str | None = None, draft: bool = False
    ) -> Article:
        """Store the item's article and mark the item translated (a `draft` under review).

        A re-saved article keeps the entry id, slug and published date it got first, so
        feed readers never see it as new; a draft stays a draft, and a rejected or
        removed article keeps its state. A slug taken by another item gets "-2", "-3"….
        `source_hash` is the item's `content_hash` the article was made from.
        The body is sanitized here, under `sanitize.POLICY`, which is recorded with it:
        every article the store hands out is fit to publish as it is.
        Returns the article as stored.
        """
        now = _now()
        article = replace(
            article, content_html=sanitize.sanitize_article_html(article.content_html)
        )
        with self._write() as conn:
            kept = conn.execute(
                sa.select(
                    db.articles.c.entry_id, db.articles.c.slug, db.articles.c.published
                ).where(db.articles.c.item_id == article.item_id)
            ).first()
            content = {
                "title": article.title,
                "summary": article.summary,
                "content_html": article.content_html,
                "updated": article.updated,
                "engine": article.engine,
                "model": article.model,
                "language": article.language,
                "thumbnail": article.thumbnail,
                "source_hash": source_hash,
                "sanitized_by": sanitize.POLICY,
            }
            if kept is not None:
                conn.execute(
                    sa.update(db.articles)
                    .where(db.articles.c.item_id == article.item_id)
                    .values(**content)
                )
                stored = replace(
                    article, entry_id=kept.entry_id, slug=kept.slug, published=kept.published
                )
            else:
                taken = set(
                    conn.execute(
                        sa.select(db.articles.c.slug).where(
                            sa.or_(
                                db.articles.c.slug == article.slug,
                                db.articles.c.slug.startswith(article.slug + "-", autoescape=True),
                            )
                        )
                    ).scalars()
                )
                stored = replace(article, slug=_free_slug(article.slug, taken))
                conn.execute(
                    sa.insert(db.articles).values(
                        item_id=stored.item_id,
                        entry_id=stored.entry_id,
                        slug=stored.slug,
                        published=stored.published,
                        created_at=now,
                        **content,
                    )
                )
            state = db.items.c.state
            waits = state.in_(("draft", "new") if draft else ("draft",))
            conn.execute(
                sa.update(db.items)
                .where(db.items.c.id == article.item_id, state.in_(("new", *_REMAKE_STATES)))
                .values(state=sa.case((waits, "draft"), else_="translated"), updated_at=now)
            )
        return stored

    def _listed(self) -> sa.Select[Any]:
        """Articles with their item's state, newest original first."""
        return (
            _articles_query()
            .add_columns(db.items.c.state.label("item_state"))
            .order_by(db.articles.c.published.desc(), db.articles.c.item_id.desc())
        )

    def articles(self, limit: int | None = None) -> list[Article]:
        """The articles on the site and in the feeds, newest original first."""
        stmt = self._listed().where(db.items.c.state.in_(_PUBLISHABLE)).limit(limit)
        with self._read() as conn:
            return [_article(row) for row in conn.execute(stmt)]

    def drafts(self) -> list[Article]:
        """Articles waiting for review (`kanalwerk pending`), newest first."""
        stmt = self._listed().where(db.items.c.state == "draft")
        with self._read() as conn:
            return [_article(row) for row in conn.execute(stmt)]

    def article(self, item_id: int) -> tuple[Article, str] | None:
        """The item's article in any state, with the item's state; None if it has none."""
        stmt = self._listed().where(db.articles.c.item_id == item_id)
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (_article(row), row.item_state)

    def removed_slugs(self) -> list[str]:
        """Slugs of unpublished articles: their pages become a removal notice."""
        stmt = (
            sa.select(db.articles.c.slug)
            .join(db.items, db.articles.c.item_id == db.items.c.id)
            .where(db.items.c.state == "removed")
            .order_by(db.articles.c.slug)
        )
        with self._read() as conn:
            return list(conn.execute(stmt).scalars())

    def change_article_states(
        self,
        item_ids: Sequence[int],
        to: str,
        check: Callable[[Mapping[int, str]], None],
    ) -> dict[int, str]:
        """Move the articles of `item_ids` to state `to`, all or none; return the old states.

        `check` gets the current state of each id that has an article (ids without one
        are missing) inside the transaction, and raises to change nothing. A change asks
        for a publish in the same transaction (`publish_requested`), so a running daemon
        shows it at its next round even when no poll brings anything.
        """
        ids = list(dict.fromkeys(item_ids))
        with self._write() as conn:
            states: dict[int, str] = {}
            for chunk in _chunks(ids):
                stmt = (
                    sa.select(db.items.c.id, db.items.c.state)
                    .join(db.articles, db.articles.c.item_id == db.items.c.id)
                    .where(db.items.c.id.in_(chunk))
                )
                states.update({row.id: row.state for row in conn.execute(stmt)})
            check(states)
            moving = [i for i in ids if states.get(i, to) != to]
            for chunk in _chunks(moving):
                conn.execute(
                    sa.update(db.items)
                    .where(db.items.c.id.in_(chunk))
                    .values(state=to, updated_at=_now())
                )
            if moving:
                conn.execute(_set_meta_statement(self._dialect, PUBLISH_REQUESTED, "1"))
        return states

    def publish_requested(self) -> bool:
        """Whether a decision changed what the output should show since the last publish."""
        return self.get_meta(PUBLISH_REQUESTED) == "1"

    def clear_publish_request(self) -> None:
        """Called before a publish reads the articles: a request made during it stays."""
        self.set_meta(PUBLISH_REQUESTED, "0")

    def mark_published(self, item_ids: Sequence[int]) -> None:
        """Translated items become published; items in other states are left alone.

        Articles going out for the first time get their publication numbers, after every
        number given, oldest original first: the provisional numbers
        `published_entries` gave them.
        """
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return
        now = _now()
        with self._write() as conn:
            fresh: list[Any] = []
            for chunk in _chunks(ids):
                translated = sa.select(db.items.c.id).where(
                    db.items.c.id.in_(chunk), db.items.c.state == "translated"
                )
                new = (
                    db.articles.c.item_id.in_(translated.scalar_subquery()),
                    db.articles.c.first_published_at.is_(None),
                )
                fresh += conn.execute(
                    sa.select(
                        db.articles.c.item_id, db.articles.c.published, db.articles.c.entry_id
                    ).where(*new, db.articles.c.published_seq.is_(None))
                ).all()
                conn.execute(sa.update(db.articles).where(*new).values(first_published_at=now))
                conn.execute(
                    sa.update(db.items)
                    .where(db.items.c.id.in_(chunk), db.items.c.state == "translated")
                    .values(state="published", updated_at=now)
                )
            if fresh:
                fresh.sort(key=lambda r: newest_first_key(r.published, r.entry_id))
                last = conn.execute(sa.select(sa.func.max(db.articles.c.published_seq)))
                after = last.scalar_one() or 0
                conn.execute(
                    sa.update(db.articles)
                    .where(db.articles.c.item_id == sa.bindparam("id"))
                    .values(published_seq=sa.bindparam("seq")),
                    [{"id": r.item_id, "seq": after + n} for n, r in enumerate(fresh, start=1)],
                )

    def unpublished_count(self) -> int:
        """Articles not in the published output yet."""
        stmt = (
            sa.select(sa.func.count())
            .select_from(db.articles.join(db.items, db.articles.c.item_id == db.items.c.id))
            .where(db.items.c.state == "translated")
        )
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    # --- selection (what becomes an article; see select.py) -------------------------

    def selection_facts(self, channel_id: str, items: Sequence[Item]) -> Facts:
        """What `select.decide` needs to know about these items of `channel_id`."""
        guids = list(dict.fromkeys(item.guid for item in items))
        origins = list(dict.fromkeys(k for k in map(origin_key, items) if k is not None))
        i, c = db.items.c, db.channels.c
        states: dict[str, str] = {}
        claimed: dict[str, tuple[str, str, str]] = {}
        with self._read() as conn:
            first_items_at = conn.execute(
                sa.select(c.first_items_at).where(c.id == channel_id)
            ).one_or_none()
            if first_items_at is None:
                raise NotInStore(f"unknown channel {channel_id!r}")
            for chunk in _chunks(guids):
                stmt = sa.select(i.guid, i.state).where(
                    i.channel_id == channel_id, i.guid.in_(chunk)
                )
                states.update({row.guid: row.state for row in conn.execute(stmt)})
            for chunk in _chunks(origins):
                stmt = (
                    sa.select(i.origin, c.name, i.channel_id, i.guid)
                    .join(db.channels, i.channel_id == c.id)
                    .where(i.origin.in_(chunk), i.state != "skipped")
                    .order_by(i.id)
                )
                for row in conn.execute(stmt):
                    claimed.setdefault(row.origin, (row.name, row.channel_id, row.guid))
            first_time = first_items_at[0] is None
            known: set[str] = set()
            for chunk in _chunks(origins) if first_time else ():
                mine_held = sa.and_(i.channel_id == channel_id, i.state == "held")
                stmt = sa.select(i.origin).where(i.origin.in_(chunk), ~mine_held).distinct()
                known.update(conn.execute(stmt).scalars())
        return Facts(first_time, states, claimed, frozenset(known))

    def store_decisions(
        self,
        channel_id: str,
        decisions: Sequence[Decision],
        *,
        fetched: FetchRecord | None = None,
        updates: bool = True,
    ) -> StoredDecisions:
        """Store decided items: new ones once per (channel, guid), held ones decided again.

        One `INSERT … ON CONFLICT DO NOTHING` for the whole batch, so concurrent or
        repeated calls store each (channel, guid) exactly once; a held item is updated
        with its fresh content and new decision. Items must be sanitized. `fetched`, the
        poll that brought them, is recorded in the same transaction: the new validators
        can never be stored without the items (one commit, not two). The channel's first
        poll with items ends its backfill, also when all of them were stored before (the
        channel was pointed at another URL of the same feed). With `updates`, a known
        item whose title or text changed materially is stored anew, and its article goes
        back for a re-make (see `_store_edits`); select's decision is not asked again.
        The known items are those of `decisions` and of the feed in `fetched`.
        """
        unique: dict[str, Decision] = {}
        for decision in decisions:
            unique.setdefault(decision.item.guid, decision)
        feed = fetched.feed if fetched is not None else None
        if not unique and (feed is None or not feed.items):
            if fetched is not None:
                self.record_fetches([fetched])
            return StoredDecisions([], 0, 0)
        now = _now()
        rows = [
            {
                "channel_id": channel_id,
                "guid": guid,
                **_decided_fields(d),
                "attempts": 0,
                "first_seen": now,
                "updated_at": now,
            }
            for guid, d in unique.items()
        ]
        stmt = (
            _insert_for(self._dialect, db.items)
            .on_conflict_do_nothing(index_elements=[db.items.c.channel_id, db.items.c.guid])
            .returning(db.items.c.id, db.items.c.guid)
        )
        i = db.items.c
        release = (
            sa.update(db.items)
            .where(
                i.channel_id == channel_id,
                i.guid == sa.bindparam("p_guid"),
                i.state == "held",
            )
            .returning(i.id, i.guid)
        )
        with self._write() as conn:
            if self._to_adopt is None:
                self._to_adopt = channels_to_adopt(conn)
            adopting = channel_id in self._to_adopt
            if adopting:
                adopt_resolved_guids(conn, channel_id, {g: d.item for g, d in unique.items()})
            stored = {row.guid: row.id for row in conn.execute(stmt, rows)} if rows else {}
            for guid, decision in unique.items():
                if guid not in stored:  # known: only a held item is decided again
                    values = {**_decided_fields(decision), "updated_at": now}
                    row = conn.execute(release.values(**values), {"p_guid": guid}).first()
                    if row is not None:
                        stored[guid] = row.id
            if updates:  # select decides only unknown items: the feed names the others
                seen: dict[str, Item] = {}
                for item in [d.item for d in unique.values()] + list(feed.items if feed else ()):
                    if item.guid not in stored:
                        seen.setdefault(item.guid, item)
                _store_edits(conn, channel_id, seen, now)
            conn.execute(
                sa.update(db.channels)
                .where(db.channels.c.id == channel_id, db.channels.c.first_items_at.is_(None))
                .values(first_items_at=now)
            )
            if fetched is not None:
                _write_fetches(conn, [fetched], now)
        if adopting:  # done, and committed: its recorded URLs are gone
            self._to_adopt.discard(channel_id)
        kept = [unique[guid] for guid in stored]
        return StoredDecisions(
            new_ids=[stored[d.item.guid] for d in kept if d.state == "new"],
            skipped=sum(1 for d in kept if d.state == "skipped"),
            held=sum(1 for d in kept if d.state == "held"),
        )

    def list_items(
        self, *, channel_id: str | None = None, state: str | None = None
    ) -> list[ListedItem]:
        """Items with their state and skip reason, newest first (for `kanalwerk items`)."""
        i = db.items.c
        when = sa.func.coalesce(i.published, i.first_seen)
        stmt = sa.select(
            i.id,
            i.channel_id,
            i.state,
            i.title,
            i.link,
            i.skip_reason,
            when.label("date"),
            i.source_kind,
            i.source_reason,
        ).order_by(when.desc(), i.id.desc())
        if channel_id is not None:
            stmt = stmt.where(i.channel_id == channel_id)
        if state is not None:
            stmt = stmt.where(i.state == state)
        with self._read() as conn:
            return [
                ListedItem(
                    row.id,
                    row.channel_id,
                    row.state,
                    row.date,
                    row.title,
                    row.link,
                    row.skip_reason,
                    row.source_kind,
                    row.source_reason,
                )
                for row in conn.execute(stmt)
            ]

    # --- publishing -----------------------------------------------------------------

    def published_entries(self) -> PublishedEntries:
        """Every translated or published article without its body, last to go out first.

        The order is that of publishing (articles not out yet come first), not of the
        originals' dates: an article about an old original still reaches `feed.atom` and
        the front page, and the archives and older pages, which readers have seen, stay
        as they were.

        This runs every cycle over every article, so it reads little: no bodies (the
        site's lists, links and page keys need none), the channels' feed fields once per
        channel rather than once per row, and on SQLite only the rows changed since the
        last call (`EntryRows`). An `Entry` is made only for a row this store has not seen as it
        is: a daemon's later cycles reuse the entries (and the digests cached on them)
        of every unchanged article, and get the very same result while nothing changed.
        """
        feeds: sa.Select[Any] = sa.select(db.channels.c.id, *_source_columns)
        with self._read() as conn:
            channels = {row[0]: row for row in conn.execute(feeds).all()}
            by_id = self._entry_rows.read(conn)
        channel_rows = {key: tuple(row) for key, row in channels.items()}
        last = self._entries_last
        if last is not None and last[0] is by_id and last[1] == channel_rows:
            return last[2]
        rows_read = by_id.values()
        given = sorted(((r[8], r[12]) for r in rows_read if r[12] is not None), key=itemgetter(1))
        found = [r for r in rows_read if r[13] in _PUBLISHABLE]
        # Numbered in the order they went out; the rest after them, oldest original first
        # (see `mark_published`). Only those few need their dates to be placed.
        numbered_rows = sorted((r for r in found if r[12] is not None), key=itemgetter(12))
        fresh = sorted(
            (r for r in found if r[12] is None),
            key=lambda r: newest_first_key(_stored_datetime(r[5]), r[1]),
        )
        rows = numbered_rows + fresh
        seqs = number_new([r[12] for r in rows], given[-1][1] if given else 0)
        given += [(r[8], seq) for r, seq in zip(fresh, seqs[len(numbered_rows) :], strict=True)]
        ranks = channel_numbers(given)
        seen, made = self._entries_seen, {}
        entries = []
        unpublished: set[int] = set()
        for row, seq in zip(reversed(rows), reversed(seqs), strict=True):
            channel = channel_rows.get(row[8])
            rank = ranks[seq]
            memo = seen.get(row[0])
            # [12], [13]: the number given and the state, which the entry does not show
            if (
                memo is not None
                and (memo[0] is row or memo[0][:12] == row[:12])
                and memo[1] == (channel, seq, rank)
            ):
                entry = memo[2]
            else:
                entry = _entry(row, channels[row[8]], seq, rank)
            made[row[0]] = (row, (channel, seq, rank), entry)
            entries.append(entry)
            if row[13] != "published":
                unpublished.add(row[0])
        self._entries_seen = made
        result = PublishedEntries(entries, frozenset(unpublished))
        if last is not None and _same_entries(last[2], result):
            result = last[2]  # rows changed, entries not (an article marked published)
        self._entries_last = (by_id, channel_rows, result)
        return result

    def articles_by_id(self, item_ids: Sequence[int]) -> list[Article]:
        """Full articles for `item_ids`, in that order; unknown ids are left out."""
        ids = list(dict.fromkeys(item_ids))
        found: dict[int, Article] = {}
        with self._read() as conn:
            for chunk in _chunks(ids):
                stmt = _articles_query().where(db.articles.c.item_id.in_(chunk))
                found.update((row.item_id, _article(row)) for row in conn.execute(stmt).all())
        return [found[i] for i in item_ids if i in found]

    def refresh_sanitized(self, batch: int = 200) -> int:
        """Sanitize again every body stored under another policy; return how many there were.

        Reading cleans such a body too, but every time: this writes it back with the
        current `sanitize.POLICY`, `batch` bodies per short transaction, cleaned outside
        any. Publishing calls it first; with nothing stale it costs one query on an index.
        A body saved again meanwhile is left as the save wrote it.
        """
        policy = sanitize.POLICY
        a = db.articles.c
        with self._read() as conn:
            stale = list(conn.execute(sa.select(a.item_id).where(_stale(policy))).scalars())
        for chunk in _chunks(stale, batch):
            with self._read() as conn:
                rows = conn.execute(
                    sa.select(a.item_id, a.content_html).where(a.item_id.in_(chunk))
                ).all()
            if not rows:
                continue  # deleted meanwhile
            cleaned = [
                {
                    "id": row.item_id,
                    "old": row.content_html,
                    "new": sanitize.sanitize_article_html(row.content_html),
                }
                for row in rows
            ]
            with self._write() as conn:
                conn.execute(
                    sa.update(db.articles)
                    .where(a.item_id == sa.bindparam("id"), a.content_html == sa.bindparam("old"))
                    .values(content_html=sa.bindparam("new"), sanitized_by=policy),
                    cleaned,
                )
        return len(stale)

    def channel_infos(self, channel_ids: Sequence[str]) -> list[ChannelInfo]:
        """The named channels with the feed title and link last fetched, in that order."""
        stmt = sa.select(
            db.channels.c.id,
            db.channels.c.name,
            db.channels.c.url,
            db.channels.c.configured_url,
            db.channels.c.feed_title,
            db.channels.c.feed_link,
        )
        with self._read() as conn:
            rows = {row.id: row for row in conn.execute(stmt)}
        return [
            ChannelInfo(
                id=row.id,
                name=row.name,
                feed_url=row.url or row.configured_url or "",
                feed_title=row.feed_title,
                feed_link=row.feed_link,
            )
            for row in (rows.get(channel_id) for channel_id in channel_ids)
            if row is not None
        ]

    def published_pages(self) -> dict[str, str]:
        """Path → key of every page the publisher wrote and has not removed.

        Thousands of rows, asked for every cycle: kept from the last read or record, and
        read again only when the mark that every record leaves says another store (a
        second process on the same database) has recorded pages since.
        """
        stmt = sa.select(db.published_pages.c.path, db.published_pages.c.key)
        mark = sa.select(db.meta.c.value).where(db.meta.c.key == PAGES_RECORDED)
        with self._read() as conn:
            recorded = conn.execute(mark).scalar()
            kept = self._pages_seen
            if kept is None or recorded is None or kept[0] != recorded:
                pages = {path: key for path, key in conn.execute(stmt).all()}
                kept = self._pages_seen = (recorded, pages) if recorded else None
            else:
                pages = kept[1]
        return dict(pages)

    def record_published_pages(self, changed: Mapping[str, str], removed: Sequence[str]) -> None:
        """Remember the keys of the pages just written and forget the removed ones.

        Only these rows are touched, so a quiet cycle writes nothing.
        """
        if not changed and not removed:
            return
        insert = _insert_for(self._dialect, db.published_pages)
        stmt = insert.on_conflict_do_update(
            index_elements=[db.published_pages.c.path], set_={"key": insert.excluded.key}
        )
        gone = list(removed)
        mark = secrets.token_hex(8)
        with self._write() as conn:
            # Locked on a server database, so no other record slips in between this read
            # and the mark below (SQLite writes one transaction at a time anyway).
            before = conn.execute(
                sa.select(db.meta.c.value).where(db.meta.c.key == PAGES_RECORDED).with_for_update()
            ).scalar()
            if changed:
                conn.execute(stmt, [{"path": p, "key": k} for p, k in changed.items()])
            for chunk in _chunks(gone):
                conn.execute(
                    sa.delete(db.published_pages).where(db.published_pages.c.path.in_(chunk))
                )
            conn.execute(_set_meta_statement(self._dialect, PAGES_RECORDED, mark))
            trim_changes(conn)  # pages went out: this store has read the changes
        kept = self._pages_seen
        if kept is not None and before is not None and kept[0] == before:
            pages = {**kept[1], **changed}  # what was read last, and nobody wrote since
            for path in gone:
                pages.pop(path, None)
            self._pages_seen = (mark, pages)
        else:
            self._pages_seen = None

    def cache_get(
        self,
        engine: str,
        model: str | None,
        source_lang: str,
        target_lang: str,
        fmt: str,
        text_hashes: Sequence[str],
    ) -> dict[str, str]:
        """Cached translations by text hash; hashes not cached are absent."""
        hashes = list(dict.fromkeys(text_hashes))
        if not hashes:
            return {}
        key = sa.and_(
            db.translation_cache.c.engine == engine,
            db.translation_cache.c.model == _key_model(model),
            db.translation_cache.c.source_lang == source_lang,
            db.translation_cache.c.target_lang == target_lang,
            db.translation_cache.c.fmt == fmt,
        )
        found: dict[str, str] = {}
        with self._read() as conn:
            for chunk in _chunks(hashes):
                stmt = sa.select(
                    db.translation_cache.c.text_hash, db.translation_cache.c.translated
                )
                stmt = stmt.where(key, db.translation_cache.c.text_hash.in_(chunk))
                found.update({row.text_hash: row.translated for row in conn.execute(stmt)})
        return found

    def cache_put(
        self,
        engine: str,
        model: str | None,
        source_lang: str,
        target_lang: str,
        fmt: str,
        entries: Mapping[str, str],
    ) -> None:
        """Store translations by text hash, replacing older ones."""
        if not entries:
            return
        now = _now()
        rows = [
            {
                "engine": engine,
                "model": _key_model(model),
                "source_lang": source_lang,
                "target_lang": target_lang,
                "fmt": fmt,
                "text_hash": text_hash,
                "translated": translated,
                "created_at": now,
            }
            for text_hash, translated in entries.items()
        ]
        insert = _insert_for(self._dialect, db.translation_cache)
        stmt = insert.on_conflict_do_update(
            index_elements=list(db.translation_cache.primary_key.columns),
            set_={
                "translated": insert.excluded.translated,
                "created_at": insert.excluded.created_at,
            },
        )
        with self._write() as conn:
            conn.execute(stmt, rows)

    # --- usage ----------------------------------------------------------------------

    def add_usage(
        self, engine: str, model: str | None, usage: Usage, day: date | None = None
    ) -> None:
        """Add to the day's counters (default: today in UTC)."""
        insert = _insert_for(self._dialect, db.usage).values(
            day=day or _now().date(),
            engine=engine,
            model=_key_model(model),
            requests=usage.requests,
            characters=usage.characters,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        counters = ("requests", "characters", "prompt_tokens", "completion_tokens")
        stmt = insert.on_conflict_do_update(
            index_elements=list(db.usage.primary_key.columns),
            set_={name: db.usage.c[name] + insert.excluded[name] for name in counters},
        )
        with self._write() as conn:
            conn.execute(stmt)

    def usage_for(self, day: date, engine: str | None = None) -> Usage:
        """The day's usage summed over models (and over engines unless one is named)."""

        def total(column: sa.Column[int]) -> sa.ColumnElement[int]:
            return sa.func.coalesce(sa.func.sum(column), 0)

        stmt = sa.select(
            total(db.usage.c.requests),
            total(db.usage.c.characters),
            total(db.usage.c.prompt_tokens),
            total(db.usage.c.completion_tokens),
        ).where(db.usage.c.day == day)
        if engine is not None:
            stmt = stmt.where(db.usage.c.engine == engine)
        with self._read() as conn:
            row = conn.execute(stmt).one()
        return Usage(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    # --- meta -----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            value = conn.execute(sa.select(db.meta.c.value).where(db.meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def get_meta_json(self, key: str) -> Any:
        """The JSON value kept under `key`; None when there is none or it is unreadable
        (the notes kept there are hints: a garbled one counts as absent)."""
        raw = self.get_meta(key)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(_set_meta_statement(self._dialect, key, value))


def _set_meta_statement(dialect: str, key: str, value: str) -> sa.Insert:
    insert = _insert_for(dialect, db.meta).values(key=key, value=value)
    return insert.on_conflict_do_update(
        index_elements=[db.meta.c.key], set_={"value": insert.excluded.value}
    )


def _decided_fields(decision: Decision) -> dict[str, Any]:
    item = decision.item
    return {
        **{name: getattr(item, name) for name in _item_fields},
        "state": decision.state,
        "skip_reason": decision.reason,
        "origin": decision.origin,
        "enclosures": enclosures_json(item.enclosures),
        "transcript_links": links_json(item.transcripts),
    }


@dataclass(frozen=True)
class StoredDecisions:
    """What `store_decisions` stored: ids of the items to translate, and the others' count."""

    new_ids: list[int]
    skipped: int
    held: int


@dataclass(frozen=True)
class ListedItem:
    """One line of `kanalwerk items`."""

    id: int
    channel_id: str
    state: str
    date: datetime  # published, else first seen
    title: str
    link: str | None
    skip_reason: str | None
    source_kind: str | None = None  # what the article is made from (enrich.py)
    source_reason: str | None = None  # why no better source was had


@dataclass(frozen=True)
class FetchRecord:
    """One poll outcome to remember: see `Store.record_fetches`."""

    result: FetchResult
    feed: ParsedFeed | None = None
    error: str | None = None
    retry_after_until: datetime | None = None
    at: datetime | None = None  # when it was polled (default: when it is written)
    fresh_until: datetime | None = None  # the server's Cache-Control max-age / Expires
    disable: str | None = None  # why the channel is no longer polled, e.g. "410 Gone"


_FetchShape = tuple[bool, bool, bool, bool, bool]  # failure, gone, moved, not modified, feed


def _fetch_params(record: FetchRecord, now: datetime) -> tuple[_FetchShape, dict[str, Any]]:
    """The statement shape a poll outcome needs and its parameters.

    Outcomes of one shape share one prepared UPDATE run with many parameter sets, so a
    poll of a thousand unchanged feeds builds a handful of statements, not a thousand.
    """
    result, feed = record.result, record.feed
    failure = result.error or record.error
    params: dict[str, Any] = {
        "p_id": result.channel_id,
        "p_now": record.at or now,
        "p_status": result.status,
        "p_retry": record.retry_after_until,
    }
    if failure is not None:
        params |= {"p_error": failure, "p_gone": record.disable}
        return (True, record.disable is not None, False, False, False), params
    params |= {
        "p_fresh": record.fresh_until,
        "p_url": result.permanent_url,
        "p_etag": result.etag,
        "p_lm": result.last_modified,
        "p_hash": result.content_hash,
    }
    with_feed = feed is not None and not result.not_modified
    if feed is not None and with_feed:
        params |= {
            "p_title": feed.title,
            "p_link": feed.link,
            "p_feed_id": feed.feed_id,
            "p_warning": feed.warning,
        }
    return (False, False, bool(result.permanent_url), result.not_modified, with_feed), params


@functools.lru_cache(maxsize=16)
def _fetch_statement(shape: _FetchShape) -> sa.Update:
    failure, gone, moved, not_modified, with_feed = shape
    c = db.channels.c
    values: dict[str, Any] = {
        "last_fetched_at": sa.bindparam("p_now"),
        "last_status": sa.bindparam("p_status"),
        "retry_after_until": sa.bindparam("p_retry"),
    }
    if failure:
        # Errors keep the old validators, so the next poll downloads again.
        values |= {
            "last_error": sa.bindparam("p_error"),
            "error_count": c.error_count + 1,
            "failing_since": sa.func.coalesce(c.failing_since, sa.bindparam("p_now")),
            "fresh_until": None,
        }
        if gone:
            values |= {
                "disabled_at": sa.bindparam("p_now"),
                "disabled_reason": sa.bindparam("p_gone"),
            }
    else:
        values |= {
            "last_success_at": sa.bindparam("p_now"),
            "last_error": None,
            "error_count": 0,
            "failing_since": None,
            "fresh_until": sa.bindparam("p_fresh"),
        }
        if moved:
            values["url"] = sa.bindparam("p_url")
        if not_modified:  # a 304 may carry fresh validators; absent ones keep the stored
            values |= {
                "etag": sa.func.coalesce(sa.bindparam("p_etag"), c.etag),
                "last_modified": sa.func.coalesce(sa.bindparam("p_lm"), c.last_modified),
                "content_hash": sa.func.coalesce(sa.bindparam("p_hash"), c.content_hash),
            }
        else:
            values |= {
                "etag": sa.bindparam("p_etag"),
                "last_modified": sa.bindparam("p_lm"),
                "content_hash": sa.bindparam("p_hash"),
            }
        if with_feed:
            values |= {
                "feed_title": sa.bindparam("p_title"),
                "feed_link": sa.bindparam("p_link"),
                "feed_id": sa.bindparam("p_feed_id"),
                "last_warning": sa.bindparam("p_warning"),
            }
    return sa.update(db.channels).where(c.id == sa.bindparam("p_id")).values(**values)


def _write_fetches(conn: Connection, records: Sequence[FetchRecord], now: datetime) -> None:
    shapes: dict[_FetchShape, list[dict[str, Any]]] = {}
    for record in records:
        shape, params = _fetch_params(record, now)
        shapes.setdefault(shape, []).append(params)
    updated = 0
    for shape, rows in shapes.items():
        updated += conn.execute(_fetch_statement(shape), rows).rowcount
    if updated != len(records):
        ids = [r.result.channel_id for r in records]
        known = set(
            conn.execute(sa.select(db.channels.c.id).where(db.channels.c.id.in_(ids))).scalars()
        )
        missing = sorted(set(ids) - known)
        if missing:
            raise NotInStore(f"unknown channel {missing[0]!r}")
        raise StoreError("a channel's fetch was recorded twice in one batch")


def _same_feed(old: str | None, new: str | None) -> bool:
    """Whether two poll URLs are the same feed (`feed_identity`): a YouTube channel's
    feed and its uploads playlist are, as are URLs differing only in how they are written."""
    if old is None or new is None:
        return False
    channel = channel_id_of_feed(old)
    return feed_identity(old) == feed_identity(new) or (
        channel is not None and channel == channel_id_of_feed(new)
    )


def article_loader(url: str) -> Callable[[Sequence[int]], list[Article]]:
    """The store at `url`, opened to read articles (`Store.articles_by_id`): for a process
    that renders pages (`publish.workers`). It is never migrated here; the publisher
    opened it first. Closed when the process ends."""
    return Store.open(url, create=False, migrate=False).articles_by_id
