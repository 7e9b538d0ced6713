"""The pages of the static site: the index, one page per article and the stylesheet."""

from __future__ import annotations

import importlib.resources

from kanalwerk.publish.feeds import FEED_FILE
from kanalwerk.publish.pages import Entry, Library, Page, layout_key, page_key, versions
from kanalwerk.publish.site import render_article, render_index

ARTICLE_DIR = "artikel"
INDEX_FILE = "index.html"
STYLE_FILE = "style.css"


def _stylesheet() -> bytes:
    return importlib.resources.files("kanalwerk").joinpath("templates", "style.css").read_bytes()


def article_path(slug: str) -> str:
    return f"{ARTICLE_DIR}/{slug}.html"


def site_pages(library: Library) -> list[Page]:
    """The index with every article, one page per article, and `style.css`."""
    site = library.site
    layout = layout_key(site)
    feed_url = site.base_url + FEED_FILE
    entries = list(library.entries)

    def index() -> bytes:
        return render_index(library.articles([e.item_id for e in entries]), site, feed_url=feed_url)

    def article_page(entry: Entry) -> Page:
        def render() -> bytes:
            (article,) = library.articles([entry.item_id])
            return render_article(article, site, feed_url=feed_url)

        key = page_key("article", layout, entry.version)
        return Page(article_path(entry.slug), key, render, needs=(entry.item_id,))

    pages = [
        Page(STYLE_FILE, page_key("style", layout), _stylesheet),
        Page(
            INDEX_FILE,
            page_key("index", layout, versions(entries)),
            index,
            needs=tuple(e.item_id for e in entries),
        ),
    ]
    return pages + [article_page(entry) for entry in entries]
