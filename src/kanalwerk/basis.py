"""What an article is made from: its body, a video's chapters and the transcript section.

The enrich step chose the item's source text; this decides how it is used. Full text
replaces the feed's body. A transcript in translate mode follows the translated
description as a section of its own ("Das Video in Textform"), unless the channel
turns that off; the article writer (article mode) writes from the transcript itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanalwerk.models import SourceKind, StoredItem
from kanalwerk.sources.chapters import chapters, chapters_html
from kanalwerk.sources.youtube import watch_url


@dataclass(frozen=True)
class Basis:
    """The parts of one article's source, each HTML ("" when absent)."""

    kind: SourceKind  # named in the attribution box ("Grundlage: …")
    body_html: str  # translated into the article's body
    chapters_html: str  # the video's chapter list, without its heading
    transcript_html: str  # the transcript section's text, in translate mode
    source_html: str  # what the article writer writes from (article mode)


def basis(stored: StoredItem, *, transcript_section: bool = True) -> Basis:
    item = stored.item
    own = item.content_html or item.summary_html
    chosen = stored.source_text
    kind: SourceKind = chosen.kind if chosen else ("description" if item.video_id else "feed")
    video = watch_url(item.video_id) if item.video_id else None
    listed = chapters_html(chapters(item.media_description), video) if video else ""
    if chosen is None or chosen.kind in ("description", "feed"):
        body = chosen.html if chosen and chosen.html else own
        return Basis(kind, body, listed, "", body)
    if chosen.kind == "fulltext":
        return Basis(kind, chosen.html, listed, "", chosen.html)
    # A transcript: the description leads, the transcript follows as its own section.
    if not transcript_section:
        own_kind: SourceKind = "description" if item.video_id else "feed"
        return Basis(own_kind, own, listed, "", chosen.html)
    return Basis(kind, own, listed, chosen.html, chosen.html)
