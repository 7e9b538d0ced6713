"""The current table definitions, used to build queries.

Migrations own the DDL: a schema change is a new numbered migration in `migrations.py`
plus the matching edit here; a test compares the migrated database with these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from kanalwerk.dates import as_utc


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone-aware type and hands back naive values; storing UTC and
    re-attaching UTC on read keeps values comparable and sortable as text. Naive input is
    taken to be UTC already.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return as_utc(value)


#: An item's life: new → translated → published, or failed after too many attempts;
#: skipped when selection chose not to publish it, held while a premiere has not aired.
#: Under review an article waits as a draft until approved (→ translated) or rejected;
#: an unpublished one is removed: its page says so, and nothing brings it back.
ITEM_STATES = (
    "new",
    "translated",
    "published",
    "failed",
    "skipped",
    "held",
    "draft",
    "rejected",
    "removed",
)

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("configured_url", sa.Text),
    sa.Column("url", sa.Text),  # current poll URL; permanent redirects move it
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
    sa.Column("first_items_at", UTCDateTime),  # None: backfill applies to its first items
    sa.Column("failing_since", UTCDateTime),  # the first error since the last success
    sa.Column("fresh_until", UTCDateTime),  # the server's Cache-Control max-age / Expires
    sa.Column("disabled_at", UTCDateTime),  # 410 Gone: not polled until re-enabled
    sa.Column("disabled_reason", sa.Text),
)

items = sa.Table(
    "items",
    metadata,
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
    sa.Column("skip_reason", sa.Text),  # why it is skipped or held
    sa.Column("origin", sa.Text),  # select.origin_key: the same original through two channels
    # Normalised title and text (`kanalwerk.fingerprint`), computed once a re-delivery
    # differs from the stored text: what tells an edit from noise.
    sa.Column("content_hash", sa.Text),
    # JSON lists: the item's audio/video files and its <podcast:transcript> links.
    sa.Column("enclosures", sa.Text),
    sa.Column("transcript_links", sa.Text),
    # What the article is made from (enrich.py), chosen once; NULL until then.
    sa.Column("source_kind", sa.Text),
    sa.Column("source_html", sa.Text),
    sa.Column("source_reason", sa.Text),  # why no better source was had
    sa.UniqueConstraint("channel_id", "guid", name="uq_items_channel_guid"),
    sa.CheckConstraint(
        f"state IN ({', '.join(repr(state) for state in ITEM_STATES)})", name="ck_items_state"
    ),
    sa.Index("ix_items_state", "state"),
    sa.Index("ix_items_origin", "origin"),
)
# The items that may wait for a re-make: few, since only a re-delivery that differs from
# the stored text gives an item its hash.
sa.Index(
    "ix_items_hashed",
    items.c.content_hash,
    sqlite_where=items.c.content_hash.is_not(None),
    postgresql_where=items.c.content_hash.is_not(None),
)

articles = sa.Table(
    "articles",
    metadata,
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
    # When the article first went out: the order of the feeds, archives and pages.
    sa.Column("first_published_at", UTCDateTime),
    # Its publication number, given once in that order: archives and pages hold ranges.
    sa.Column("published_seq", sa.Integer),
    # The item's content_hash the article was made from; a differing one asks for a re-make.
    sa.Column("source_hash", sa.Text),
    # The `sanitize.POLICY` the body was sanitized under; another one asks to clean it again.
    sa.Column("sanitized_by", sa.Text),
    sa.Index("ix_articles_published", "published"),
    sa.Index("ix_articles_published_seq", "published_seq", unique=True),
    sa.Index("ix_articles_sanitized_by", "sanitized_by"),
)

# Where guids of items stored before schema version 2 may have been resolved against
# (see migration 2 and `store.guids`).
resolved_guid_bases = sa.Table(
    "resolved_guid_bases",
    metadata,
    sa.Column(
        "channel_id",
        sa.Text,
        sa.ForeignKey("channels.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("base_url", sa.Text, primary_key=True),
    sa.Column("last_item_id", sa.Integer, nullable=False),
)

translation_cache = sa.Table(
    "translation_cache",
    metadata,
    sa.Column("engine", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),  # "" when the engine has no model
    sa.Column("source_lang", sa.Text, primary_key=True),
    sa.Column("target_lang", sa.Text, primary_key=True),
    sa.Column("fmt", sa.Text, primary_key=True),
    sa.Column("text_hash", sa.Text, primary_key=True),
    sa.Column("translated", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

usage = sa.Table(
    "usage",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("engine", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),  # "" when the engine has no model
    sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
    sa.Column("characters", sa.Integer, nullable=False, server_default="0"),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
)

# The key of every page the publisher wrote (path relative to the output folder): pages
# whose key is unchanged are not rendered again, and only files listed here are removed.
published_pages = sa.Table(
    "published_pages",
    metadata,
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
)

# Which articles' rows changed, in the order they did: written by triggers on SQLite
# (see migration 12), read by `Store.published_entries`, trimmed to the newest. A
# migration that rebuilds `articles` or `items` must create those triggers again.
entry_changes = sa.Table(
    "entry_changes",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
