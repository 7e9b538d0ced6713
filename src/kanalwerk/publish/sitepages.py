"""The pages of the static site, and what each depends on.

Which files exist: the index in stable pages (`paging`), one page per article, per channel
pages in the same scheme, the channel overview, the sitemap and the stylesheet. A page's
key holds exactly what it shows, so one new article changes only its own page, its older
neighbour's (which links it now), the front page, its channel's front page, the overview
and the sitemap; and, once every `page_size` articles, the page a new chunk moves below.
Lists are paged by publication number (`paging`): an unpublished article changes only the
pages that showed it or linked it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Mapping, Sequence

from kanalwerk.errors import PublishError
from kanalwerk.models import SiteInfo, source_name
from kanalwerk.publish.opmlpages import OPML_FILE
from kanalwerk.publish.pages import (
    ArticleJob,
    ChannelInfo,
    Entry,
    Library,
    Page,
    layout_key,
    page_key,
    versions,
)
from kanalwerk.publish.paging import ListPage, channel_seq, global_seq, paginate
from kanalwerk.publish.site import (
    CHANNELS_FILE,
    SITEMAP_FILE,
    STATIC_FILES,
    ChannelView,
    Pager,
    article_path,
    has_channel_page,
    list_path,
    render_article,
    render_channel,
    render_channels,
    render_index,
    render_sitemap,
)
from kanalwerk.sanitize import http_url

__all__ = ["article_path", "site_pages"]


def _static(name: str, layout: str) -> Page:
    def render() -> bytes:
        return importlib.resources.files("kanalwerk").joinpath("templates", name).read_bytes()

    return Page(name, page_key("static", name, layout), render)


def _pager(page: ListPage, channel_id: str | None) -> Pager:
    return Pager(
        older=None if page.older is None else list_path(page.older, channel_id),
        newer=None if page.is_front else list_path(page.newer, channel_id),
        number=page.number,
    )


def _last_change(entries: Sequence[Entry]) -> str | None:
    """The newest `updated` of `entries`, as the sitemap writes it."""
    return max((e.updated_iso for e in entries), default=None)


def _channel_views(
    channels: Sequence[ChannelInfo], by_channel: dict[str, list[Entry]]
) -> list[ChannelView]:
    """Every channel followed or published from, by name; unknown names from the entries."""
    infos = {info.id: info for info in channels}
    views = []
    for channel_id in infos.keys() | by_channel.keys():
        if not has_channel_page(channel_id):
            raise PublishError(
                f"channel id {channel_id!r} cannot name a page under quellen/; "
                "ids may only contain a-z, 0-9, '-' and '_' (give the channel an id: key)"
            )
        own = by_channel.get(channel_id, [])
        views.append(_channel_view(channel_id, infos.get(channel_id), own))
    return sorted(views, key=lambda v: (v.name.casefold(), v.id))


def _channel_view(channel_id: str, info: ChannelInfo | None, entries: list[Entry]) -> ChannelView:
    latest = entries[0] if entries else None
    if info is not None:
        name, site_url, feed_url = info.name, info.feed_link, info.feed_url
    else:  # no longer followed: known from its articles alone
        source = entries[0].source
        name, site_url, feed_url = source_name(source), source.feed_link, source.feed_url
    return ChannelView(
        id=channel_id,
        name=" ".join(name.split()) or channel_id,
        site_url=http_url(site_url),
        feed_url=http_url(feed_url),
        count=len(entries),
        latest=latest,
    )


def _list_pages(
    site: SiteInfo,
    layout: str,
    entries: Sequence[Entry],
    channel: ChannelView | None = None,
) -> list[tuple[Page, str | None]]:
    """The index's pages, or one channel's, each with the last change of what it shows."""
    channel_id = None if channel is None else channel.id
    pages = []
    number = global_seq if channel is None else channel_seq
    for chunk in paginate(entries, site.page_size, number):
        pager = _pager(chunk, channel_id)
        shown: tuple[object, ...] = ()
        if channel is not None:
            # Only a channel's front page shows its count and the original's links.
            shown = channel.version if chunk.is_front else (channel.id, channel.name)

        def render(chunk: ListPage = chunk, pager: Pager = pager) -> bytes:
            if channel is None:
                return render_index(chunk.entries, site, pager)
            return render_channel(channel, chunk.entries, site, pager)

        links = (pager.number, pager.older, pager.newer)
        key = page_key("list", layout, links, shown, versions(chunk.entries))
        path = list_path(chunk.number, channel_id)
        pages.append((Page(path, key, render), _last_change(chunk.entries)))
    return pages


#: The path and key of each article page of the last plan, with what they were made of:
#: a daemon's next plan takes them as they are for every entry whose neighbours are the
#: same objects (`Store.published_entries` hands out unchanged entries again).
_Made = tuple[str, Entry, Entry | None, Entry | None, str, str]  # layout, entries, path, key
_article_keys: dict[int, _Made] = {}


def _article_page(
    library: Library,
    layout: str,
    entry: Entry,
    older: Entry | None,
    newer: Entry | None,
    seen: Mapping[int, _Made],
    keys: dict[int, _Made],
) -> Page:
    job = ArticleJob(entry.item_id, older, newer)

    def render() -> bytes:
        (article,) = library.articles([entry.item_id])
        return render_article(article, library.site, older=older, newer=newer)

    made = seen.get(entry.item_id)
    if made is None or not (
        made[0] == layout and made[1] is entry and made[2] is older and made[3] is newer
    ):
        neighbours = (
            None if older is None else (older.slug, older.title),
            None if newer is None else (newer.slug, newer.title),
        )
        key = page_key("article", layout, entry.digest, neighbours)
        made = (layout, entry, older, newer, article_path(entry.slug), key)
    keys[entry.item_id] = made
    return Page(made[4], made[5], render, needs=(entry.item_id,), job=job)


def site_pages(library: Library) -> list[Page]:
    """Every page of the site; only article pages load bodies, the rest render from Entries."""
    site = library.site
    layout = layout_key(site)
    entries = list(library.entries)
    newest = _last_change(entries)
    by_channel: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.channel_id:  # an article from before channels were recorded has none
            by_channel.setdefault(entry.channel_id, []).append(entry)
    channels = _channel_views(library.channels, by_channel)

    listed = _list_pages(site, layout, entries)
    for channel in channels:
        listed += _list_pages(site, layout, by_channel.get(channel.id, []), channel)
    opml = OPML_FILE if library.channels else None  # written when channels are known
    overview = Page(
        CHANNELS_FILE,
        page_key("channels", layout, opml, tuple(c.version for c in channels)),
        lambda: render_channels(channels, site, opml=opml),
    )
    listed.append((overview, newest))
    global _article_keys
    seen: dict[int, _Made] = _article_keys
    keys: dict[int, _Made] = {}
    for i, entry in enumerate(entries):
        newer = entries[i - 1] if i > 0 else None
        older = entries[i + 1] if i + 1 < len(entries) else None
        page = _article_page(library, layout, entry, older, newer, seen, keys)
        listed.append((page, entry.updated_iso))
    _article_keys = keys

    pages = [_static(name, layout) for name in STATIC_FILES]
    pages += [page for page, _ in listed]
    pages.append(_sitemap(site, layout, listed))
    return pages


def _sitemap(site: SiteInfo, layout: str, listed: Sequence[tuple[Page, str | None]]) -> Page:
    """Every HTML page with the newest `updated` of what it shows (an article: its own)."""
    lastmod: dict[str, str | None] = {}
    for page, changed in listed:
        lastmod.setdefault(page.path, changed)  # two articles with one slug: the newest wins
    urls = tuple(lastmod.items())
    # One line per page, digested as it is: a new one every time an article comes out,
    # too big to go through `page_key` (which would also keep it).
    lines = "".join(f"{path}\t{changed or ''}\n" for path, changed in urls)
    key = page_key("sitemap", layout, hashlib.sha256(lines.encode()).hexdigest())
    return Page(SITEMAP_FILE, key, lambda: render_sitemap(urls, site))
