"""The published articles in the store, as the page builders read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.collector import collector_paused
from kanalwerk.publish.pages import ChannelInfo, Entry

if TYPE_CHECKING:  # only the annotation: rendering pages needs no store loaded
    from kanalwerk.store import Store


class StoreLibrary:
    """A `Library` over the store: entries from one light query, bodies only on request.

    Lists, links and page keys come from the entries; `articles` loads full bodies for
    the pages that are rendered, so a quiet cycle reads no body at all.
    """

    def __init__(self, store: Store, site: SiteInfo, channel_ids: Sequence[str]) -> None:
        self._store = store
        self.site = site
        with collector_paused():  # 10,000 entries at once: see `collector`
            published = store.published_entries()
        self.entries: Sequence[Entry] = published.entries
        #: Entries whose items are not marked published yet: mark them once written.
        self.unpublished: frozenset[int] = published.unpublished
        self.channels: Sequence[ChannelInfo] = store.channel_infos(channel_ids)
        self.removed: Sequence[str] = store.removed_slugs()  # unpublished: a notice page each

    def articles(self, item_ids: Sequence[int]) -> list[Article]:
        return self._store.articles_by_id(item_ids)
