"""What an address given to `kanalwerk add` points to, and the channel it makes.

Accepted: a feed URL; a web page that announces its feed (`<link rel="alternate"
type="application/rss+xml" href="…">`, feed autodiscovery); a YouTube channel URL,
channel id or `@handle`; a YouTube video URL, whose page names its channel. Pages and
feeds are fetched with the pollers' own client and rules (User-Agent, timeouts, size cap).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from kanalwerk.errors import DiscoveryError, ParseError
from kanalwerk.fetch import FetchSettings, create_client, fetch_one
from kanalwerk.models import FetchResult, FetchState, ParsedFeed
from kanalwerk.parse import parse_feed
from kanalwerk.sources.youtube import (
    channel_id_for_video,
    feed_url_for_channel_id,
    parse_channel_ref,
    resolve_handle,
    video_id_from_url,
)

__all__ = ["YOUTUBE", "Discovery", "discover", "feed_links"]

#: Where YouTube's pages and feeds are read from; tests point it at a local server.
YOUTUBE = "https://www.youtube.com"

#: Link types that announce a feed. Plain `application/json` is left out: WordPress
#: announces its REST API with it.
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
LATEST = 3


@dataclass(frozen=True)
class Discovery:
    """A channel found behind an address: exactly one of `url` and `youtube` is set."""

    title: str | None  # the feed's own title
    feed_url: str  # the feed that was read
    url: str | None  # the `url:` to configure
    youtube: str | None  # the `youtube:` to configure: channel id or @handle
    latest: tuple[str, ...]  # titles of the newest items, newest first
    page: str | None = None  # the page whose link led to the feed


def discover(
    reference: str, settings: FetchSettings, *, youtube_base: str | None = None
) -> Discovery:
    """Find the feed behind `reference`; DiscoveryError or FetchError saying why not."""
    return asyncio.run(_discover(reference.strip(), settings, youtube_base or YOUTUBE))


async def _discover(reference: str, settings: FetchSettings, base: str) -> Discovery:
    async with create_client(settings) as client:
        channel = await _youtube_channel(client, reference, base)
        if channel is not None:
            written, channel_id = channel
            feed_url = feed_url_for_channel_id(channel_id)
            parsed = await _read_feed(client, _on(base, feed_url), settings)
            return Discovery(parsed.title, feed_url, None, written, _latest(parsed))
        return await _discover_url(client, reference, settings)


async def _youtube_channel(
    client: httpx.AsyncClient, reference: str, base: str
) -> tuple[str, str] | None:
    """(what to write as `youtube:`, the channel id), or None when it is no YouTube address."""
    try:
        channel_id, handle = parse_channel_ref(reference)
    except ValueError as exc:
        video_id = video_id_from_url(reference)
        if video_id is not None:
            channel_id = await channel_id_for_video(client, video_id, base=base)
            return channel_id, channel_id
        if urlsplit(reference).scheme not in ("http", "https"):
            raise DiscoveryError(
                f"{exc}; or give the address (https://…) of a feed or of a page that has one"
            ) from None
        return None
    if channel_id is not None:
        return channel_id, channel_id
    assert handle is not None
    return handle, await resolve_handle(client, handle, base=base)


async def _discover_url(client: httpx.AsyncClient, url: str, settings: FetchSettings) -> Discovery:
    result = await _fetch(client, url, settings)
    assert result.content is not None
    try:
        return _found(result.permanent_url or url, _parse(result))
    except ParseError:
        pass  # not a feed: a page that may announce one
    links = feed_links(_html_text(result), result.final_url)
    if not links:
        raise DiscoveryError(
            f"{url}: found no feed there: it is not a feed, and the page announces none "
            '(<link rel="alternate" type="application/rss+xml" href="…">); '
            "give the address of the feed itself"
        )
    problems = []
    for link in links:
        try:
            parsed = await _read_feed(client, link, settings)
        except (DiscoveryError, ParseError) as exc:
            problems.append(str(exc))
            continue
        found = _found(link, parsed)
        return Discovery(found.title, found.feed_url, found.url, found.youtube, found.latest, url)
    raise DiscoveryError(f"{url} announces a feed, but none could be read: {'; '.join(problems)}")


def _found(feed_url: str, parsed: ParsedFeed) -> Discovery:
    """A YouTube channel's feed is configured as `youtube: UC…`, any other as `url:`."""
    try:
        channel_id, _ = parse_channel_ref(feed_url)
    except ValueError:
        channel_id = None
    if channel_id is not None:
        return Discovery(parsed.title, feed_url, None, channel_id, _latest(parsed))
    return Discovery(parsed.title, feed_url, feed_url, None, _latest(parsed))


async def _fetch(client: httpx.AsyncClient, url: str, settings: FetchSettings) -> FetchResult:
    result = await fetch_one(client, FetchState(channel_id="add", url=url), settings)
    if result.error is not None or result.content is None:
        raise DiscoveryError(f"could not fetch {url}: {result.error or 'no content'}")
    return result


async def _read_feed(client: httpx.AsyncClient, url: str, settings: FetchSettings) -> ParsedFeed:
    result = await _fetch(client, url, settings)
    try:
        return _parse(result)
    except ParseError as exc:
        raise DiscoveryError(f"{url}: {exc}") from None


def _parse(result: FetchResult) -> ParsedFeed:
    assert result.content is not None
    return parse_feed(result.content, url=result.final_url, headers=result.headers)


def _latest(parsed: ParsedFeed) -> tuple[str, ...]:
    """The newest titles; items without a date keep their place in the feed, after dated ones."""
    never = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(parsed.items, key=lambda item: item.published or never, reverse=True)
    return tuple(item.title for item in ordered[:LATEST])


def _on(base: str, url: str) -> str:
    """`url` with the scheme and host of `base` (a stand-in for youtube.com)."""
    parts, to = urlsplit(url), urlsplit(base)
    return urlunsplit((to.scheme, to.netloc, to.path.rstrip("/") + parts.path, parts.query, ""))


def _html_text(result: FetchResult) -> str:
    assert result.content is not None
    header = Message()
    header["content-type"] = result.headers.get("content-type", "text/html")
    charset = header.get_content_charset() or "utf-8"
    try:
        return result.content.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return result.content.decode("utf-8", errors="replace")


def feed_links(html: str, page_url: str) -> list[str]:
    """The feeds a page announces, absolute, in the page's order, each once."""
    finder = _FeedLinks()
    finder.feed(html)
    finder.close()
    base = urljoin(page_url, finder.base) if finder.base else page_url
    links = [urljoin(base, href) for href in finder.hrefs]
    return [link for link in dict.fromkeys(links) if urlsplit(link).scheme in ("http", "https")]


class _FeedLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: (value or "").strip() for name, value in attrs}
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        if tag != "link" or not values.get("href"):
            return
        rel = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES:
            self.hrefs.append(values["href"])
