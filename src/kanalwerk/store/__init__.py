"""The store: the only SQL in kanalwerk (SQLAlchemy Core; SQLite now, PostgreSQL later)."""

from kanalwerk.store.store import (
    ChannelStatus,
    FetchRecord,
    ListedItem,
    Store,
    StoredDecisions,
    article_loader,
)

__all__ = [
    "ChannelStatus",
    "FetchRecord",
    "ListedItem",
    "Store",
    "StoredDecisions",
    "article_loader",
]
