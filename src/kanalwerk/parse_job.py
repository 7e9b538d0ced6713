"""The unit of work a parse worker process runs: parse one body, then sanitize it.

A module of its own so that a worker imports only the parser and the sanitizer, not the
pipeline with its store, HTTP client and config models (about 40 MB per worker).
Nothing raised here may escape: whatever goes wrong with one body comes back as that
channel's `ParseError`, so a hostile feed cannot stop the others.
"""

from __future__ import annotations

import dataclasses

from kanalwerk.errors import ParseError
from kanalwerk.models import FetchResult, Item, ParsedFeed
from kanalwerk.parse import parse_feed
from kanalwerk.sanitize import (
    MAX_ITEM_HTML_CHARS,
    clean_text,
    feed_id_iri,
    http_url,
    optional_text,
    sanitize_item,
)

ParseOutcome = ParsedFeed | ParseError


def parse_and_sanitize(result: FetchResult) -> ParseOutcome:
    """Parse and sanitize one fetched body; errors come back as values across processes."""
    if result.content is None:
        return ParseError("nothing to parse: the response had no body")
    try:
        feed = parse_feed(result.content, url=result.final_url, headers=result.headers)
        notes = tuple(
            _cut_note(item, size)
            for item in feed.items
            if (size := _html_size(item)) > MAX_ITEM_HTML_CHARS
        )
        return dataclasses.replace(
            feed,
            title=optional_text(feed.title),
            link=http_url(feed.link),
            feed_id=feed_id_iri(feed.feed_id),
            items=tuple(sanitize_item(item) for item in feed.items),
            notes=notes,
        )
    except ParseError as exc:
        return exc
    except Exception as exc:  # one hostile body must not stop other channels
        return ParseError(f"sanitizing the feed failed: {type(exc).__name__}: {exc}"[:300])


def _html_size(item: Item) -> int:
    return max(len(item.content_html), len(item.summary_html))


def _cut_note(item: Item, size: int) -> str:
    return (
        f"item {clean_text(item.title)!r} has {size:,} characters of HTML; "
        f"only the first {MAX_ITEM_HTML_CHARS:,} are kept"
    )
