"""The static site rendered with Jinja2: its URL layout and one renderer per kind of page.

Lists (index, older pages, channel pages, the channel overview) and the sitemap render
from `Entry`s alone; only an article page needs the article's body.

Autoescaping is on for every template. The one place raw HTML goes in is the article body,
through the `sanitized` filter, which marks it safe as it is: the store sanitizes every body
it keeps and hands out none that the current policy has not cleaned (`Store.save_article`,
`Store.refresh_sanitized`), so a body is not run through nh3 again for each page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from kanalwerk.dates import format_date_de, format_datetime_de, iso_utc
from kanalwerk.models import Article, SiteInfo, source_name
from kanalwerk.publish.feeds import FEED_FILE, JSON_FEED_FILE, RSS_FILE
from kanalwerk.publish.pages import Entry
from kanalwerk.sanitize import byte_flags, http_url

# --- URL layout ---------------------------------------------------------------------------

INDEX_FILE = "index.html"
STYLE_FILE = "style.css"
ICON_FILE = "favicon.svg"
STATIC_FILES = (STYLE_FILE, ICON_FILE)  # copied from the templates as they are
SITEMAP_FILE = "sitemap.xml"
ARTICLE_DIR = "artikel"
PAGE_DIR = "seite"
CHANNEL_DIR = "quellen"
CHANNELS_FILE = f"{CHANNEL_DIR}/index.html"

# Channel ids as the config allows them (`ChannelConfig.id`): no dot, no slash, so safe as
# a file name. The length cap keeps the file name under every file system's limit.
_CHANNEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,150}$")
# The page of a channel with the id "index" would be the overview; no id starts with "_".
_RESERVED_CHANNEL_STEMS = {"index": "_index"}


@dataclass(frozen=True)
class FeedLink:
    """A feed every page announces (`<link rel="alternate">`) and the header links to."""

    path: str
    media_type: str
    label: str


FEEDS = (
    FeedLink(FEED_FILE, "application/atom+xml", "Atom-Feed"),
    FeedLink(RSS_FILE, "application/rss+xml", "RSS-Feed"),
    FeedLink(JSON_FEED_FILE, "application/feed+json", "JSON-Feed"),
)


def article_path(slug: str) -> str:
    return f"{ARTICLE_DIR}/{slug}.html"


def has_channel_page(channel_id: str) -> bool:
    """Whether `channel_id` gets pages under `quellen/` (an article without one gets none)."""
    return bool(_CHANNEL_ID.match(channel_id))


def list_path(number: int | None, channel_id: str | None = None) -> str:
    """The file of one page of a list: the index's, or a channel's; None is the first page."""
    if channel_id is None:
        return INDEX_FILE if number is None else f"{PAGE_DIR}/{number}.html"
    if not has_channel_page(channel_id):
        raise ValueError(f"channel id {channel_id!r} cannot name a file")
    if number is None:
        return f"{CHANNEL_DIR}/{_RESERVED_CHANNEL_STEMS.get(channel_id, channel_id)}.html"
    return f"{CHANNEL_DIR}/{channel_id}/{PAGE_DIR}/{number}.html"


def page_url(site: SiteInfo, path: str) -> str:
    """The absolute URL of a written file; the front page is the site's own address."""
    return site.base_url if path == INDEX_FILE else site.base_url + path


# --- what the templates get ---------------------------------------------------------------


@dataclass(frozen=True)
class ChannelView:
    """A channel as its page and the overview show it."""

    id: str
    name: str
    site_url: str | None  # the original's home page, if it is an http(s) URL
    feed_url: str | None  # the original's feed, if it is an http(s) URL
    count: int  # articles published from it
    latest: Entry | None

    @property
    def version(self) -> tuple[object, ...]:
        latest = None if self.latest is None else self.latest.digest
        return (self.id, self.name, self.site_url, self.feed_url, self.count, latest)


@dataclass(frozen=True)
class Pager:
    """The links between pages of a list, as paths (None: no such page)."""

    older: str | None = None
    newer: str | None = None
    number: int | None = None  # None: the first page


class _Links:
    """Relative links from one page to the others, so the site works from any folder."""

    def __init__(self, path: str) -> None:
        self.root = "../" * path.count("/")

    def __call__(self, path: str) -> str:
        return self.root + path

    def article(self, entry: Entry | Article) -> str:
        return self(article_path(entry.slug))

    def channel(self, channel_id: str) -> str | None:
        return self(list_path(None, channel_id)) if has_channel_page(channel_id) else None


# Code points an HTML document must not contain: C0 and C1 controls other than whitespace,
# noncharacters and surrogates ("control-character-in-input-stream" and its kin). XML allows
# the C1 controls and most noncharacters, so `sanitize.strip_control_chars` keeps them.
# Two patterns, because one class holding both planes is matched code point by code point,
# 17 times slower on every page: the BMP ones, then any astral character, kept unless it is
# one of the noncharacters U+1FFFE, U+1FFFF … U+10FFFF.
_HTML_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _keep_astral(match: re.Match[str]) -> str:
    return "" if ord(match[0]) & 0xFFFE == 0xFFFE else match[0]


# Where those two patterns can match in UTF-8: C0 controls and DEL, and the lead bytes of
# C1 controls (0xC2 0x80…0x9F), of U+FDD0…U+FDEF, U+FFFE and U+FFFF (0xEF) and of the
# astral noncharacters (0xF0…0xF4). The same lead bytes start "·", "§", "«", variation
# selectors and every emoji, so each flagged lead is looked at with the exact byte forms.
_HTML_LEADS = byte_flags(
    [*range(0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0xC2, 0xEF, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4]
)
_HTML_FORBIDDEN_UTF8 = re.compile(
    b"[\x00-\x08\x0b\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xef(?:\xb7[\x90-\xaf]|\xbf[\xbe\xbf])"
    b"|[\xf0-\xf4][\x8f\x9f\xaf\xbf]\xbf[\xbe\xbf]"
)


def _holds_forbidden(encoded: bytes) -> bool:
    """Whether UTF-8 `encoded` holds a character `_HTML_FORBIDDEN` or a noncharacter
    `_keep_astral` drops: the byte table finds the few candidates at C speed."""
    flagged = encoded.translate(_HTML_LEADS)
    at = flagged.find(1)
    while at >= 0:
        if _HTML_FORBIDDEN_UTF8.match(encoded, at):
            return True
        at = flagged.find(1, at + 1)
    return False


def _html_document(html: str) -> bytes:
    """A rendered page as UTF-8, without the characters HTML forbids (from any feed field).

    Most pages hold none: `_holds_forbidden` says so and the patterns are skipped.
    """
    try:
        encoded = html.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        encoded = b"\x00"
    if _holds_forbidden(encoded):
        html = _ASTRAL.sub(_keep_astral, _HTML_FORBIDDEN.sub("", html))
        encoded = html.encode("utf-8")
    return encoded


def _sanitized(html: str) -> Markup:
    return Markup(html)  # sanitized by the store under the current policy


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kanalwerk", "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # package files: no stat() per page rendered
    )
    env.filters["datum"] = format_date_de
    env.filters["datum_zeit"] = format_datetime_de
    env.filters["iso"] = iso_utc
    env.filters["quelle"] = source_name
    env.filters["sanitized"] = _sanitized
    env.filters["http_url"] = http_url
    return env


@dataclass(frozen=True)
class _Chrome:
    """The parts every page of a site shows alike, rendered once per site: they were
    half the time of rendering an article page."""

    feed_links: Markup  # <link rel="alternate"> for each feed, one per line
    feed_menu: Markup  # the header's links to the feeds


@lru_cache(maxsize=8)
def _chrome(site: SiteInfo) -> _Chrome:
    parts = environment().get_template("_kopf.html").module
    feeds = [(site.base_url + feed.path, feed) for feed in FEEDS]
    return _Chrome(
        feed_links=Markup(parts.feed_links(site, feeds)).rstrip("\n"),  # type: ignore[attr-defined]
        feed_menu=Markup(parts.feed_menu(feeds)),  # type: ignore[attr-defined]
    )


def _render(template: str, site: SiteInfo, path: str, **context: Any) -> bytes:
    link = _Links(path)
    html = (
        environment()
        .get_template(template)
        .render(
            site=site,
            link=link,
            root=link.root,
            canonical=page_url(site, path),
            chrome=_chrome(site),
            is_front=path == INDEX_FILE,
            **context,
        )
    )
    return _html_document(html)


# --- renderers ----------------------------------------------------------------------------


def render_index(entries: Sequence[Entry], site: SiteInfo, pager: Pager = Pager()) -> bytes:
    """A page of the index (`index.html`, `seite/<n>.html`), entries newest first."""
    path = list_path(pager.number)
    return _render("index.html", site, path, entries=entries, pager=pager)


def render_channel(
    channel: ChannelView, entries: Sequence[Entry], site: SiteInfo, pager: Pager = Pager()
) -> bytes:
    """A page of one channel's articles (`quellen/<id>.html`, `quellen/<id>/seite/<n>.html`)."""
    path = list_path(pager.number, channel.id)
    return _render("channel.html", site, path, entries=entries, pager=pager, channel=channel)


def render_channels(
    channels: Sequence[ChannelView], site: SiteInfo, *, opml: str | None = None
) -> bytes:
    """`quellen/index.html`: every channel with its newest article and the original's links;
    `opml` is the path of the channel list for feed readers, when there is one."""
    return _render("channels.html", site, CHANNELS_FILE, channels=channels, opml=opml)


def render_article(
    article: Article,
    site: SiteInfo,
    *,
    older: Entry | None = None,
    newer: Entry | None = None,
) -> bytes:
    """One article page (`artikel/<slug>.html`), linking its older and newer neighbours."""
    return _render(
        "article.html",
        site,
        article_path(article.slug),
        article=article,
        image=http_url(article.thumbnail),
        older=older,
        newer=newer,
    )


def render_removed(slug: str, site: SiteInfo) -> bytes:
    """The notice left at an unpublished article's address (see `publish.removed`)."""
    return _render("removed.html", site, article_path(slug))


def render_sitemap(pages: Sequence[tuple[str, str | None]], site: SiteInfo) -> bytes:
    """`sitemap.xml` (sitemaps.org 0.9): every page's absolute URL with its last change.

    `lastmod` is RFC 3339; a page that shows no article (an empty channel's) has none.
    Built as text, not with a template: one line per page of the site, and it is written
    again whenever an article comes out.
    """
    base = str(escape(site.base_url))
    # Page paths and RFC 3339 dates hold nothing to escape (slugs and channel ids are
    # checked when the plan is made): one look at all of them spares escaping each.
    everything = "".join(path + (lastmod or "") for path, lastmod in pages)
    plain = _PLAIN.fullmatch(everything) is not None
    lines = [_SITEMAP_HEAD]
    for path, lastmod in pages:
        loc = "" if path == INDEX_FILE else path if plain else escape(path)
        changed = ""
        if lastmod:
            changed = f"<lastmod>{lastmod if plain else escape(lastmod)}</lastmod>"
        lines.append(f"<url><loc>{base}{loc}</loc>{changed}</url>\n")
    lines.append("</urlset>\n")
    return _html_document("".join(lines))


_PLAIN = re.compile(r"[A-Za-z0-9._/:+-]*")
_SITEMAP_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
)
