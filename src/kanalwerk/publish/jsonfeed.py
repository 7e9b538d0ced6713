"""`feed.json` (JSON Feed 1.1): the entries of `feed.atom`, for readers and services that want JSON.

Keys are written in a fixed order and without the time of rendering, so unchanged entries
give identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kanalwerk.dates import iso_utc
from kanalwerk.models import Article, Enclosure, SiteInfo
from kanalwerk.publish.feeditem import FeedItem, feed_info, feed_items

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
JSON_FEED_TYPE = "application/feed+json"


def _item(item: FeedItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id,
        "url": item.url,
        "external_url": item.original_url,
        "title": item.title,
        "content_html": item.content_html,
        "summary": item.summary,
        "image": item.image,
        "date_published": iso_utc(item.published),
        "date_modified": iso_utc(item.updated),
        "authors": [{"name": item.author}],
        "language": "de",
        "attachments": [_attachment(e) for e in item.enclosures] or None,
    }
    return {key: value for key, value in data.items() if value is not None}


def _attachment(enclosure: Enclosure) -> dict[str, Any]:
    data: dict[str, Any] = {
        "url": enclosure.url,
        "mime_type": enclosure.type or "application/octet-stream",
        "size_in_bytes": enclosure.length,
    }
    return {key: value for key, value in data.items() if value is not None}


def render_json_feed(
    articles: Sequence[Article], site: SiteInfo, *, feed_url: str, hub: str | None = None
) -> bytes:
    """The JSON Feed document for `articles`, newest first."""
    items = feed_items(articles, site)
    info = feed_info(site, items, self_url=feed_url, hub=hub)
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": info.title,
        "home_page_url": info.home_url,
        "feed_url": info.self_url,
        "language": "de",
        "authors": [{"name": info.author}],
    }
    if info.subtitle:
        feed["description"] = info.subtitle
    if info.hub:
        feed["hubs"] = [{"type": "WebSub", "url": info.hub}]
    feed["items"] = [_item(item) for item in items]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
