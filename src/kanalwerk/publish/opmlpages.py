"""`quellen.opml`: the channels the blog follows, for readers who want the originals too."""

from __future__ import annotations

import dataclasses

from kanalwerk.opml import Subscription, render_opml
from kanalwerk.publish.pages import Bodies, Library, Page, layout_key, page_key

OPML_FILE = "quellen.opml"


def opml_pages(library: Library) -> list[Page]:
    """`quellen.opml` listing `library.channels` in their order; it changes when they do.

    A library that names no channels gives no file rather than an empty list.
    """
    site = library.site
    channels = list(library.channels)
    if not channels:
        return []
    subscriptions = [
        Subscription(c.feed_title or c.name, c.feed_url, c.feed_link) for c in channels
    ]

    def render(_bodies: Bodies) -> bytes:
        return render_opml(f"{site.title}: Quellen", subscriptions, owner=site.author)

    key = page_key(OPML_FILE, layout_key(site), [dataclasses.astuple(s) for s in subscriptions])
    return [Page(OPML_FILE, key, render)]
