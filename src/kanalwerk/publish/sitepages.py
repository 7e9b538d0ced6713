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
import itertools
from collections.abc import Callable, Sequence
from operator import attrgetter

from kanalwerk.errors import PublishError
from kanalwerk.models import SiteInfo, source_name
from kanalwerk.publish.opmlpages import OPML_FILE
from kanalwerk.publish.pages import (
    ArticleJob,
    Bodies,
    ChannelInfo,
    Entry,
    Library,
    Page,
    layout_key,
    page_key,
    same_objects,
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
    def render(_bodies: Bodies) -> bytes:
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
    return max(map(_updated_iso, entries), default=None)


_updated_iso: Callable[[Entry], str] = attrgetter("updated_iso")


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


_Listed = tuple[Page, str | None]  # a page, with the last change of what it shows
_ListMade = tuple[tuple[object, ...], Sequence[Entry], _Listed]  # inputs, entries, page

#: The list pages of the last plan (the index's under None, a channel's under its id),
#: with what each was made of: a page whose entries are the same objects, and whose
#: links and channel are the same, is taken as it is (see `_article_pages`).
_lists_made: dict[tuple[str | None, int | None], _ListMade] = {}


def _list_pages(
    site: SiteInfo,
    layout: str,
    entries: Sequence[Entry],
    made: dict[tuple[str | None, int | None], _ListMade],
    channel: ChannelView | None = None,
) -> list[_Listed]:
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
        inputs = (layout, pager, shown)
        kept = _lists_made.get((channel_id, chunk.number))
        if kept is None or kept[0] != inputs or not same_objects(kept[1], chunk.entries):
            kept = (inputs, chunk.entries, _list_page(site, layout, chunk, pager, shown, channel))
        made[channel_id, chunk.number] = kept
        pages.append(kept[2])
    return pages


def _list_page(
    site: SiteInfo,
    layout: str,
    chunk: ListPage,
    pager: Pager,
    shown: tuple[object, ...],
    channel: ChannelView | None,
) -> _Listed:
    def render(_bodies: Bodies) -> bytes:
        if channel is None:
            return render_index(chunk.entries, site, pager)
        return render_channel(channel, chunk.entries, site, pager)

    links = (pager.number, pager.older, pager.newer)
    key = page_key("list", layout, links, shown, versions(chunk.entries))
    path = list_path(chunk.number, None if channel is None else channel.id)
    return Page(path, key, render), _last_change(chunk.entries)


#: The article pages of the last plan, with what each was made of: a daemon's next plan
#: takes them as they are for every entry whose neighbours are the same objects
#: (`Store.published_entries` hands out unchanged entries again), and pages hold no
#: store, so the page itself carries over.
_Made = tuple[str, Entry, Entry | None, Entry | None, _Listed]  # layout, entries, page
_article_pages: dict[int, _Made] = {}


def _article_page(
    site: SiteInfo, layout: str, entry: Entry, older: Entry | None, newer: Entry | None
) -> Page:
    def render(bodies: Bodies) -> bytes:
        (article,) = bodies.articles([entry.item_id])
        return render_article(article, site, older=older, newer=newer)

    neighbours = (
        None if older is None else (older.slug, older.title),
        None if newer is None else (newer.slug, newer.title),
    )
    key = page_key("article", layout, entry.digest, neighbours)
    job = ArticleJob(entry.item_id, older, newer)
    return Page(article_path(entry.slug), key, render, needs=(entry.item_id,), job=job)


def _article_pages_of(site: SiteInfo, layout: str, entries: Sequence[Entry]) -> list[_Listed]:
    """Each entry's page, linking its neighbours in `entries` (newest first), with the
    entry's `updated` (the sitemap's last change of the page)."""
    global _article_pages
    seen, made = _article_pages, {}
    pages = []
    newers = itertools.chain((None,), entries)
    olders = itertools.chain(itertools.islice(entries, 1, None), (None,))
    for entry, older, newer in zip(entries, olders, newers, strict=False):  # one newer more
        kept = seen.get(entry.item_id)
        if (
            kept is None
            or kept[1] is not entry
            or kept[2] is not older
            or kept[3] is not newer
            or kept[0] != layout
        ):
            page = _article_page(site, layout, entry, older, newer)
            kept = (layout, entry, older, newer, (page, entry.updated_iso))
        made[entry.item_id] = kept
        pages.append(kept[4])
    _article_pages = made
    return pages


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

    global _lists_made
    made: dict[tuple[str | None, int | None], _ListMade] = {}
    listed = _list_pages(site, layout, entries, made)
    for channel in channels:
        listed += _list_pages(site, layout, by_channel.get(channel.id, []), made, channel)
    _lists_made = made
    opml = OPML_FILE if library.channels else None  # written when channels are known
    overview = Page(
        CHANNELS_FILE,
        page_key("channels", layout, opml, tuple(c.version for c in channels)),
        lambda _bodies: render_channels(channels, site, opml=opml),
    )
    listed.append((overview, newest))
    listed += _article_pages_of(site, layout, entries)

    pages = [_static(name, layout) for name in STATIC_FILES]
    pages += [page for page, _ in listed]
    pages.append(_sitemap(site, layout, listed))
    return pages


def _sitemap(site: SiteInfo, layout: str, listed: Sequence[_Listed]) -> Page:
    """Every HTML page with the newest `updated` of what it shows (an article: its own)."""
    paths = [page.path for page, _ in listed]
    changes = [changed for _, changed in listed]
    if len(set(paths)) != len(paths):  # two articles with one slug: the newest wins
        lastmod: dict[str, str | None] = {}
        for path, changed in zip(paths, changes, strict=True):
            lastmod.setdefault(path, changed)
        paths, changes = list(lastmod), list(lastmod.values())
    urls = tuple(zip(paths, changes, strict=True))
    # Every page's path and last change, digested as they are: new every time an article
    # comes out, too big to go through `page_key` (which would also keep them).
    digest = hashlib.sha256("\n".join(paths).encode())
    digest.update(b"\0" + "\n".join(map(str, changes)).encode())
    key = page_key("sitemap", layout, digest.hexdigest())
    return Page(SITEMAP_FILE, key, lambda _bodies: render_sitemap(urls, site))
