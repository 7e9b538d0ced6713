"""What an article is made from: its body, a video's chapters and the transcript section.

The enrich step chose the item's source text; this decides how translate mode uses it.
Full text replaces the feed's body. A transcript follows the translated description as
a section of its own ("Das Video in Textform"), unless the channel turns that off. The
article writer (article mode) writes from the source text itself (`article_source`).
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


def basis(stored: StoredItem, *, transcript_section: bool = True) -> Basis:
    item = stored.item
    own = item.content_html or item.summary_html
    chosen = stored.source_text
    kind = chosen.kind if chosen else own_kind(stored)
    video = watch_url(item.video_id) if item.video_id else None
    listed = chapters_html(chapters(item.media_description), video) if video else ""
    if chosen is None or chosen.kind in ("description", "feed"):
        # The item's text as it is now: an edited original is made again from its edit.
        return Basis(kind, own, listed, "")
    if chosen.kind == "fulltext":
        return Basis(kind, chosen.html, listed, "")
    # A transcript: the description leads, the transcript follows as its own section.
    if not transcript_section:
        return Basis(own_kind(stored), own, listed, "")
    return Basis(kind, own, listed, chosen.html)


def own_kind(stored: StoredItem) -> SourceKind:
    """What the item's own text is: a video's description, else the feed's text."""
    return "description" if stored.item.video_id else "feed"


def is_episode(stored: StoredItem) -> bool:
    """A podcast episode: the item carries audio or video."""
    return any(
        (e.type or "").lower().startswith(("audio/", "video/")) for e in stored.item.enclosures
    )


def basis_name(kind: SourceKind | None, *, video: bool, episode: bool = False) -> str | None:
    """What an article was made from, in German ("Transkript des Videos"); None for an
    ordinary feed's own text, which needs no saying."""
    if kind == "transcript":
        return "Transkript des Videos" if video else "Transkript der Folge"
    if kind == "fulltext":
        return "Volltext des Artikels"
    if kind == "description" or (kind == "feed" and video):
        return "Beschreibung des Videos"
    if kind == "feed" and episode:
        return "Beschreibung der Folge"
    return None
