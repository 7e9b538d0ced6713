"""Numbered schema migrations, each applied in its own transaction and recorded.

Migration N brings the database from version N-1 to N. Never edit a released migration:
add the next one (and update `schema.py`). Each migration declares the tables it needs
itself, so later edits to `schema.py` cannot change what an old migration creates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kanalwerk.dates import as_utc
from kanalwerk.errors import StoreError, StoreNeedsMigration
from kanalwerk.store.schema import UTCDateTime, schema_version

Migration = Callable[[Connection], None]


def _m0001_initial(conn: Connection) -> None:
    """Channels with fetch state, items, articles, translation cache, usage, meta."""
    md = sa.MetaData()
    sa.Table(
        "channels",
        md,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("configured_url", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("content_hash", sa.Text),
        sa.Column("feed_title", sa.Text),
        sa.Column("feed_link", sa.Text),
        sa.Column("feed_id", sa.Text),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("last_warning", sa.Text),
        sa.Column("last_fetched_at", UTCDateTime),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_after_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "items",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "channel_id",
            sa.Text,
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("guid", sa.Text, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("author", sa.Text),
        sa.Column("published", UTCDateTime),
        sa.Column("updated", UTCDateTime),
        sa.Column("content_html", sa.Text, nullable=False, server_default=""),
        sa.Column("summary_html", sa.Text, nullable=False, server_default=""),
        sa.Column("language", sa.Text),
        sa.Column("video_id", sa.Text),
        sa.Column("yt_channel_id", sa.Text),
        sa.Column("thumbnail", sa.Text),
        sa.Column("media_description", sa.Text),
        sa.Column("state", sa.Text, nullable=False, server_default="new"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("channel_id", "guid", name="uq_items_channel_guid"),
        sa.CheckConstraint(
            "state IN ('new', 'translated', 'published', 'failed')", name="ck_items_state"
        ),
        sa.Index("ix_items_state", "state"),
    )
    sa.Table(
        "articles",
        md,
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("entry_id", sa.Text, nullable=False, unique=True),
        sa.Column("slug", sa.Text, nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("content_html", sa.Text, nullable=False),
        sa.Column("published", UTCDateTime, nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("engine", sa.Text, nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("language", sa.Text, nullable=False, server_default="de"),
        sa.Column("thumbnail", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Index("ix_articles_published", "published"),
    )
    sa.Table(
        "translation_cache",
        md,
        sa.Column("engine", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("source_lang", sa.Text, primary_key=True),
        sa.Column("target_lang", sa.Text, primary_key=True),
        sa.Column("fmt", sa.Text, primary_key=True),
        sa.Column("text_hash", sa.Text, primary_key=True),
        sa.Column("translated", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "usage",
        md,
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("engine", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("characters", sa.Integer, nullable=False, server_default="0"),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    )
    sa.Table(
        "meta",
        md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    md.create_all(conn)


def _m0002_resolved_guid_bases(conn: Connection) -> None:
    """Remember where guids stored so far may have been resolved against.

    Up to here a relative `<guid>12345</guid>` was stored resolved against the feed's URL
    (`https://host/a/12345`). Guids are now kept as given, so the next poll of such a feed
    brings `12345`; `store.guids` recognises the old item by resolving it against the
    channel's URLs recorded here, as they were before any later redirect moves them.
    Only items up to `last_item_id` can carry a resolved guid.
    """
    md = sa.MetaData()
    sa.Table("channels", md, sa.Column("id", sa.Text, primary_key=True))
    bases = sa.Table(
        "resolved_guid_bases",
        md,
        sa.Column(
            "channel_id",
            sa.Text,
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("base_url", sa.Text, primary_key=True),
        sa.Column("last_item_id", sa.Integer, nullable=False),
    )
    bases.create(conn)
    rows = conn.execute(
        sa.text(
            "SELECT c.id, c.url, c.configured_url, max(i.id) AS last_item_id "
            "FROM channels c JOIN items i ON i.channel_id = c.id "
            "GROUP BY c.id, c.url, c.configured_url"
        )
    ).all()
    values = [
        {"channel_id": row.id, "base_url": url, "last_item_id": row.last_item_id}
        for row in rows
        for url in dict.fromkeys((row.url, row.configured_url))
        if url
    ]
    if values:
        conn.execute(sa.insert(bases), values)


_STATE_CHECK = re.compile(r"CONSTRAINT ck_items_state CHECK \(state IN \([^)]*\)\)")


def allow_item_states(conn: Connection, states: Sequence[str]) -> None:
    """Make `ck_items_state` allow exactly `states`.

    SQLite cannot alter a constraint, and rebuilding `items` would delete every article
    through its ON DELETE CASCADE; so the table's stored definition is edited in place,
    SQLite's documented way to relax a CHECK constraint (sqlite.org/lang_altertable.html).
    """
    listed = ", ".join("'" + state.replace("'", "''") + "'" for state in states)
    check = f"CONSTRAINT ck_items_state CHECK (state IN ({listed}))"
    if conn.dialect.name != "sqlite":
        conn.execute(sa.text("ALTER TABLE items DROP CONSTRAINT ck_items_state"))
        conn.execute(sa.text(f"ALTER TABLE items ADD {check}"))
        return
    table_sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'"
    ).scalar_one()
    changed, found = _STATE_CHECK.subn(lambda _match: check, table_sql)
    if found != 1:
        raise StoreError("the items table's state constraint is not where it should be")
    version = int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        conn.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'items'",
            (changed,),
        )
        conn.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def _m0003_selection(conn: Connection) -> None:
    """Skipped and held items with their reason; each item's origin; a channel's first items.

    `origin` (select.origin_key) finds the same original arriving through two channels;
    it is filled in for the items stored so far. A channel that has items already is
    not new: backfill applies only to channels whose first items are still to come.
    """
    allow_item_states(conn, ("new", "translated", "published", "failed", "skipped", "held"))
    when = UTCDateTime().compile(dialect=conn.dialect)
    conn.execute(sa.text("ALTER TABLE items ADD COLUMN skip_reason TEXT"))
    conn.execute(sa.text("ALTER TABLE items ADD COLUMN origin TEXT"))
    conn.execute(sa.text("CREATE INDEX ix_items_origin ON items (origin)"))
    conn.execute(sa.text(f"ALTER TABLE channels ADD COLUMN first_items_at {when}"))
    conn.execute(
        sa.text(
            "UPDATE channels SET first_items_at = "
            "(SELECT min(i.first_seen) FROM items i WHERE i.channel_id = channels.id)"
        )
    )
    _fill_origins(conn, blank_values=False)


def _m0004_published_pages(conn: Connection) -> None:
    """The key of every page the publisher wrote, one row per output file.

    Takes over the `published_keys` meta value (one JSON object rewritten whole each
    cycle), so a site published before is not rendered again and its pages that leave
    the plan are still known as the publisher's own.
    """
    md = sa.MetaData()
    pages = sa.Table(
        "published_pages",
        md,
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
    )
    pages.create(conn)
    meta = sa.Table(
        "meta",
        md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    old = conn.execute(sa.select(meta.c.value).where(meta.c.key == "published_keys")).scalar()
    try:
        keys = json.loads(old) if old else {}
    except ValueError:
        keys = {}
    if isinstance(keys, dict):
        rows = [
            {"path": path, "key": key}
            for path, key in keys.items()
            if isinstance(path, str) and isinstance(key, str)
        ]
        if rows:
            conn.execute(sa.insert(pages), rows)
    conn.execute(sa.delete(meta).where(meta.c.key == "published_keys"))


def _m0005_publication_order(conn: Connection) -> None:
    """When each article first went out, so feeds and pages follow the order of publishing.

    Ordered by the original's date, an article about an old original (a new channel's
    backfill, an approved draft) landed among the archives, which readers have already
    read and never fetch again. Articles already out keep the order they had: their
    original's date stands in for the moment they went out.
    """
    md = sa.MetaData()
    items = sa.Table("items", md, sa.Column("id", sa.Integer), sa.Column("state", sa.Text))
    articles = sa.Table(
        "articles",
        md,
        sa.Column("item_id", sa.Integer),
        sa.Column("published", UTCDateTime),
        sa.Column("first_published_at", UTCDateTime),
    )
    when = UTCDateTime().compile(dialect=conn.dialect)
    conn.execute(sa.text(f"ALTER TABLE articles ADD COLUMN first_published_at {when}"))
    out = sa.select(items.c.id).where(items.c.state == "published").scalar_subquery()
    conn.execute(
        sa.update(articles)
        .where(articles.c.item_id.in_(out))
        .values(first_published_at=articles.c.published)
    )


def _m0006_review_and_edits(conn: Connection) -> None:
    """Drafts, rejected and removed articles; the hashes that tell an edit from a re-delivery.

    `items.content_hash` is the normalised title and text of an item as stored,
    `articles.source_hash` the one its article was made from. Both start empty: an old
    item's first differing re-delivery sets its hash, and its article counts as made
    from the stored text. Only hashed items can wait for a re-make: a partial index
    finds them without reading every published item.
    """
    selection = ("new", "translated", "published", "failed", "skipped", "held")
    allow_item_states(conn, (*selection, "draft", "rejected", "removed"))
    conn.execute(sa.text("ALTER TABLE items ADD COLUMN content_hash TEXT"))
    conn.execute(sa.text("ALTER TABLE articles ADD COLUMN source_hash TEXT"))
    conn.execute(
        sa.text(
            "CREATE INDEX ix_items_hashed ON items (content_hash) WHERE content_hash IS NOT NULL"
        )
    )


def _m0007_source_texts(conn: Connection) -> None:
    """Items' enclosures and transcript links, and the source text each article is made from.

    Items stored before have neither; those still waiting get their source text at the
    next enrich step, from what they hold.
    """
    for column in (
        "enclosures",
        "transcript_links",
        "source_kind",
        "source_html",
        "source_reason",
    ):
        conn.execute(sa.text(f"ALTER TABLE items ADD COLUMN {column} TEXT"))


def _m0008_poll_schedule(conn: Connection) -> None:
    """What scheduling needs besides the fetch state: since when a channel fails, until when
    the server called its feed fresh (Cache-Control/Expires), and why and since when a
    channel is disabled (410 Gone)."""
    when = UTCDateTime().compile(dialect=conn.dialect)
    for column in ("failing_since", "fresh_until", "disabled_at"):
        conn.execute(sa.text(f"ALTER TABLE channels ADD COLUMN {column} {when}"))
    conn.execute(sa.text("ALTER TABLE channels ADD COLUMN disabled_reason TEXT"))
    # A channel failing now has failed at least since its last success.
    conn.execute(
        sa.text(
            "UPDATE channels SET failing_since = coalesce(last_success_at, created_at) "
            "WHERE error_count > 0"
        )
    )


def _m0009_publication_numbers(conn: Connection) -> None:
    """A permanent number per article that went out, in the order it went out.

    Archives and list pages hold ranges of these numbers, so an unpublished article
    leaves a hole instead of shifting every later page. Articles already out are
    numbered in the order they have now: when they went out, then the original's date,
    then the entry id (as `Store.published_entries` ordered them).
    """
    md = sa.MetaData()
    articles = sa.Table(
        "articles",
        md,
        sa.Column("item_id", sa.Integer),
        sa.Column("entry_id", sa.Text),
        sa.Column("published", UTCDateTime),
        sa.Column("first_published_at", UTCDateTime),
        sa.Column("published_seq", sa.Integer),
    )
    conn.execute(sa.text("ALTER TABLE articles ADD COLUMN published_seq INTEGER"))
    conn.execute(
        sa.text("CREATE UNIQUE INDEX ix_articles_published_seq ON articles (published_seq)")
    )
    found = conn.execute(
        sa.select(
            articles.c.item_id,
            articles.c.entry_id,
            articles.c.published,
            articles.c.first_published_at,
        ).where(articles.c.first_published_at.is_not(None))
    ).all()
    # The order `entries.newest_first_key` gave then, frozen here: originals to the
    # second, the entry id breaking ties.
    rows = sorted(
        found,
        key=lambda r: (
            r.first_published_at,
            as_utc(r.published).replace(microsecond=0),
            r.entry_id,
        ),
    )
    if rows:
        conn.execute(
            sa.update(articles)
            .where(articles.c.item_id == sa.bindparam("id"))
            .values(published_seq=sa.bindparam("seq")),
            [{"id": r.item_id, "seq": n} for n, r in enumerate(rows, start=1)],
        )


def _m0010_origins_keep_blank_parameters(conn: Connection) -> None:
    """Origins keep query parameters without a value: `index.php?artikel1` is its own."""
    _fill_origins(conn, blank_values=True)


def _m0011_sanitized_by(conn: Connection) -> None:
    """The policy each article body was sanitized under (`sanitize.POLICY`).

    Bodies stored before have none: the store cleans them again when it reads them and
    rewrites them at the next publish. The index finds stale bodies without reading any.
    """
    conn.execute(sa.text("ALTER TABLE articles ADD COLUMN sanitized_by TEXT"))
    conn.execute(sa.text("CREATE INDEX ix_articles_sanitized_by ON articles (sanitized_by)"))


def _m0012_entry_changes(conn: Connection) -> None:
    """A change feed of the published articles' rows, filled by triggers.

    The publisher reads every article's entry each cycle; with this it reads only the
    rows changed since its last read (`store.entry_rows`). Triggers see every writer,
    kanalwerk and a hand edit with `sqlite3` alike, except for rows that `REPLACE`
    deletes (SQLite fires no trigger for those; kanalwerk never replaces). A later
    migration that rebuilds `articles` or `items` must create these triggers again.
    SQLite only: it commits one writer at a time, so the numbers become visible in
    order; on a server database the table stays empty and the publisher reads every row
    each time.
    """
    sqlite = conn.dialect.name == "sqlite"
    seq = "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT" if sqlite else "BIGSERIAL PRIMARY KEY"
    conn.execute(sa.text(f"CREATE TABLE entry_changes (seq {seq}, item_id INTEGER NOT NULL)"))
    if not sqlite:
        return
    note = "INSERT INTO entry_changes (item_id) VALUES"
    # The columns `published_entries` reads: the article's, its item's, the item's state.
    articles = "item_id, entry_id, slug, title, summary, published, updated, thumbnail"
    triggers = {
        "articles_inserted": f"AFTER INSERT ON articles BEGIN {note} (NEW.item_id); END",
        "articles_deleted": f"AFTER DELETE ON articles BEGIN {note} (OLD.item_id); END",
        "articles_changed": (
            f"AFTER UPDATE OF {articles}, published_seq ON articles "
            f"BEGIN {note} (OLD.item_id); {note} (NEW.item_id); END"
        ),
        "items_deleted": f"AFTER DELETE ON items BEGIN {note} (OLD.id); END",
        "items_changed": (
            "AFTER UPDATE OF id, channel_id, state, title, link, author ON items "
            f"BEGIN {note} (OLD.id); {note} (NEW.id); END"
        ),
    }
    for name, body in triggers.items():
        conn.execute(sa.text(f"CREATE TRIGGER entry_changes_{name} {body}"))


# Origin keys as migrations 3 and 10 computed them (select.origin_key of their time),
# frozen here so a later change of select.py cannot change what they store.
_TRACKING = re.compile(r"utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref_src", re.IGNORECASE)
_VIDEO_ID = re.compile(r"[0-9A-Za-z_-]{11}")
_YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com")
_VIDEO_PATHS = ("shorts", "live", "embed", "v")


def _fill_origins(conn: Connection, *, blank_values: bool) -> None:
    rows = conn.execute(sa.text("SELECT id, link, video_id FROM items")).all()
    origins = [
        {"p_id": row.id, "p_origin": _origin(row.link, row.video_id, blank_values)} for row in rows
    ]
    if origins:
        conn.execute(sa.text("UPDATE items SET origin = :p_origin WHERE id = :p_id"), origins)


def _origin(link: str | None, video_id: str | None, blank_values: bool) -> str | None:
    try:
        video = video_id or (_video_id(link) if link else None)
    except ValueError:
        video = None
    if video:
        return f"youtube:{video}"
    if not link:
        return None
    try:
        parts = urlsplit(link.strip())
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    pairs = parse_qsl(parts.query, keep_blank_values=blank_values)
    query = sorted((k, v) for k, v in pairs if not _TRACKING.fullmatch(k))
    path = parts.path.rstrip("/")
    return f"link:{netloc}{path}" + (f"?{urlencode(query)}" if query else "")


def _video_id(url: str) -> str | None:
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in ("youtu.be", "www.youtu.be"):
        candidate = segments[0] if segments else ""
    elif host in _YOUTUBE_HOSTS and segments == ["watch"]:
        candidate = (parse_qs(parts.query).get("v") or [""])[0]
    elif host in _YOUTUBE_HOSTS and len(segments) >= 2 and segments[0] in _VIDEO_PATHS:
        candidate = segments[1]
    else:
        return None
    return candidate if _VIDEO_ID.fullmatch(candidate) else None


MIGRATIONS: Sequence[Migration] = (
    _m0001_initial,
    _m0002_resolved_guid_bases,
    _m0003_selection,
    _m0004_published_pages,
    _m0005_publication_order,
    _m0006_review_and_edits,
    _m0007_source_texts,
    _m0008_poll_schedule,
    _m0009_publication_numbers,
    _m0010_origins_keep_blank_parameters,
    _m0011_sanitized_by,
    _m0012_entry_changes,
)


def latest_version() -> int:
    return len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    """The highest applied migration number; 0 for a fresh database."""
    version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar_one()
    return int(version) if version is not None else 0


def check_current(engine: Engine, display_url: str) -> None:
    """Raise unless the database is at this kanalwerk's schema version; write nothing."""
    with engine.connect() as conn:
        has_table = sa.inspect(conn).has_table(schema_version.name)
        version = current_version(conn) if has_table else 0
    if version > latest_version():
        raise StoreError(
            f"the database {display_url} has schema version {version}, but this kanalwerk "
            f"only knows versions up to {latest_version()}; upgrade kanalwerk to use it"
        )
    if version < latest_version():
        raise StoreNeedsMigration(
            f"the store {display_url} has schema version {version}, this kanalwerk uses "
            f"{latest_version()}; the next `kanalwerk run` (or `kanalwerk publish`) migrates "
            "it, and commands that only read show it after that"
        )


def upgrade(engine: Engine, display_url: str) -> int:
    """Apply pending migrations in order, one transaction each; return the new version.

    `engine` must begin write transactions (on SQLite: `BEGIN IMMEDIATE`), so two
    processes opening the same fresh database apply each migration only once.
    """
    migrations = tuple(MIGRATIONS)
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
    if version > len(migrations):
        raise StoreError(
            f"the database {display_url} has schema version {version}, but this kanalwerk "
            f"only knows versions up to {len(migrations)}; upgrade kanalwerk to use it"
        )
    for number in range(version + 1, len(migrations) + 1):
        try:
            with engine.begin() as conn:
                if current_version(conn) >= number:
                    continue  # another process was faster
                migrations[number - 1](conn)
                conn.execute(
                    sa.insert(schema_version).values(version=number, applied_at=datetime.now(UTC))
                )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"migrating {display_url} to schema version {number} failed "
                f"(nothing of it was kept): {error_reason(exc)}"
            ) from exc
    return len(migrations)


def error_reason(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's message without the SQL statement and its parameters."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        return str(exc.orig)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
