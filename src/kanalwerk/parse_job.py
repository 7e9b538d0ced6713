"""The unit of work a parse worker process runs: parse one body, then sanitize it.

A module of its own so that a worker imports only the parser and the sanitizer, not the
pipeline with its store, HTTP client and config models (about 40 MB per worker).
"""

from __future__ import annotations

import dataclasses

from kanalwerk.errors import ParseError
from kanalwerk.models import FetchResult, ParsedFeed
from kanalwerk.parse import parse_feed
from kanalwerk.sanitize import http_url, sanitize_item

ParseOutcome = ParsedFeed | ParseError


def parse_and_sanitize(result: FetchResult) -> ParseOutcome:
    """Parse and sanitize one fetched body; errors come back as values across processes."""
    assert result.content is not None
    try:
        feed = parse_feed(result.content, url=result.final_url, headers=result.headers)
    except ParseError as exc:
        return exc
    items = tuple(sanitize_item(item) for item in feed.items)
    return dataclasses.replace(feed, link=http_url(feed.link), items=items)
