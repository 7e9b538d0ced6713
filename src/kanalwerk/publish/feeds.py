"""The feed files a subscriber reads: which exist, what each holds, when each changes.

`feed.atom`, `feed.rss` and `feed.json` carry the same newest `site.feed_size` entries;
older entries live in the Atom archives `archiv/<n>.atom` (see `archive`), by publication
number. A full archive's key depends only on its own entries, the layout and the neighbour
links it has from the start, so a new article never makes it render again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.archive import (
    Archive,
    ArchiveLinks,
    archive_links,
    archive_path,
    current_links,
    split_feed,
)
from kanalwerk.publish.atom import render_atom
from kanalwerk.publish.jsonfeed import render_json_feed
from kanalwerk.publish.pages import (
    Bodies,
    Entry,
    Library,
    Page,
    layout_key,
    page_key,
    same_objects,
    versions,
)
from kanalwerk.publish.paging import global_seq
from kanalwerk.publish.rss import render_rss

FEED_FILE = "feed.atom"
RSS_FILE = "feed.rss"
JSON_FEED_FILE = "feed.json"

_Renderer = Callable[[Sequence[Article], SiteInfo, str], bytes]


def _page(
    library: Library, path: str, entries: Sequence[Entry], render: _Renderer, *key: object
) -> Page:
    site = library.site
    ids = tuple(e.item_id for e in entries)

    def rendered(bodies: Bodies) -> bytes:
        return render(bodies.articles(ids), site, site.base_url + path)

    return Page(path, page_key(path, layout_key(site), versions(entries), *key), rendered, ids)


def _links_key(links: ArchiveLinks) -> tuple[str | None, ...]:
    return (links.prev_archive, links.next_archive, links.current)


def feed_pages(library: Library) -> list[Page]:
    """The three current feeds and every Atom archive."""
    site = library.site
    split = split_feed(library.entries, site.feed_size, seq=global_seq)
    count = len(split.archives)
    hub = site.websub_hub
    current = current_links(count, base_url=site.base_url)

    def atom(articles: Sequence[Article], site: SiteInfo, url: str) -> bytes:
        return render_atom(articles, site, feed_url=url, links=current, hub=hub)

    def rss(articles: Sequence[Article], site: SiteInfo, url: str) -> bytes:
        return render_rss(articles, site, feed_url=url, hub=hub)

    def json_feed(articles: Sequence[Article], site: SiteInfo, url: str) -> bytes:
        return render_json_feed(articles, site, feed_url=url, hub=hub)

    pages = [
        _page(library, FEED_FILE, split.current, atom, _links_key(current)),
        _page(library, RSS_FILE, split.current, rss),
        _page(library, JSON_FEED_FILE, split.current, json_feed),
    ]
    return pages + _archive_pages(library, split.archives)


#: The archive pages of the last plan by number, with what they were made of: a full
#: archive's entries stay the same objects (`Store.published_entries`), so its page
#: carries over instead of digesting its entries again each plan.
_archives_made: dict[int, tuple[tuple[object, ...], Sequence[Entry], Page]] = {}


def _archive_pages(library: Library, archives: Sequence[Archive[Entry]]) -> list[Page]:
    global _archives_made
    site = library.site
    layout = layout_key(site)
    made = {}
    pages = []
    for archive in archives:
        links = archive_links(
            archive.number,
            len(archives),
            base_url=site.base_url,
            current_url=site.base_url + FEED_FILE,
        )
        inputs = (layout, _links_key(links))
        kept = _archives_made.get(archive.number)
        if kept is None or kept[0] != inputs or not same_objects(kept[1], archive.entries):
            kept = (inputs, archive.entries, _archive_page(library, archive, links))
        made[archive.number] = kept
        pages.append(kept[2])
    _archives_made = made
    return pages


def _archive_page(library: Library, archive: Archive[Entry], links: ArchiveLinks) -> Page:
    def render(articles: Sequence[Article], site: SiteInfo, url: str) -> bytes:
        return render_atom(articles, site, feed_url=url, links=links)

    path = archive_path(archive.number)
    return _page(library, path, archive.entries, render, _links_key(links))
