"""What an article is written from: the best text there is for the item.

The one place that chooses it, so a richer source (a video's transcript, a post's full
text) comes in here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanalwerk.models import StoredItem


@dataclass(frozen=True)
class ArticleSource:
    html: str  # sanitized HTML
    label: str | None  # what it is, in German for the prompt; None: the item's own text


def article_source(stored: StoredItem) -> ArticleSource:
    """The item's text to write from: its content, else its summary (a video's description)."""
    item = stored.item
    return ArticleSource(item.content_html or item.summary_html, None)
