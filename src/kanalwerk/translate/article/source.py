"""What an article is written from: the best text there is for the item.

The one place that chooses it, so a richer source (a video's transcript, a post's full
text) comes in here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanalwerk.basis import basis_name, is_episode, own_kind
from kanalwerk.models import SourceKind, StoredItem


@dataclass(frozen=True)
class ArticleSource:
    html: str  # sanitized HTML
    label: str | None  # what it is, in German for the prompt; None: the item's own text
    kind: SourceKind = "feed"  # named in the attribution box


def article_source(stored: StoredItem) -> ArticleSource:
    """The transcript or full text the enrich step found, else the item's content or
    summary (a video's description)."""
    item = stored.item
    chosen = stored.source_text
    if chosen is not None and chosen.kind in ("transcript", "fulltext") and chosen.html:
        video = item.video_id is not None
        label = basis_name(chosen.kind, video=video, episode=is_episode(stored))
        return ArticleSource(chosen.html, label, chosen.kind)
    return ArticleSource(item.content_html or item.summary_html, None, own_kind(stored))
