"""The feed files a subscriber reads: which exist, what each holds, when each changes."""

from __future__ import annotations

from kanalwerk.publish.atom import render_atom
from kanalwerk.publish.pages import Library, Page, layout_key, page_key, versions

FEED_FILE = "feed.atom"


def feed_pages(library: Library) -> list[Page]:
    """`feed.atom` with the newest entries."""
    site = library.site
    newest = list(library.entries[: site.feed_size])

    def render() -> bytes:
        articles = library.articles([e.item_id for e in newest])
        return render_atom(articles, site, feed_url=site.base_url + FEED_FILE, limit=site.feed_size)

    key = page_key("feed.atom", layout_key(site), versions(newest))
    return [Page(FEED_FILE, key, render, needs=tuple(e.item_id for e in newest))]
