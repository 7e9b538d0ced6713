"""Items' enclosures and transcript links as the JSON the store keeps them in.

Lists of small records that are only ever read with their item: one text column each
instead of two tables. Anything unreadable counts as none, so a hand-edited row cannot
stop an item from being read.
"""

from __future__ import annotations

import json
from typing import Any

from kanalwerk.models import Enclosure, SourceKind, SourceText, TranscriptLink

_KINDS: tuple[SourceKind, ...] = ("transcript", "fulltext", "description", "feed")


def enclosures_json(enclosures: tuple[Enclosure, ...]) -> str | None:
    if not enclosures:
        return None
    return json.dumps([{"url": e.url, "type": e.type, "length": e.length} for e in enclosures])


def enclosures_from_json(raw: str | None) -> tuple[Enclosure, ...]:
    found: list[Enclosure] = []
    for entry in _records(raw):
        url, kind, length = entry.get("url"), entry.get("type"), entry.get("length")
        if isinstance(url, str):
            found.append(
                Enclosure(
                    url,
                    kind if isinstance(kind, str) else None,
                    length if isinstance(length, int) else None,
                )
            )
    return tuple(found)


def links_json(links: tuple[TranscriptLink, ...]) -> str | None:
    if not links:
        return None
    return json.dumps([{"url": t.url, "type": t.type, "language": t.language} for t in links])


def links_from_json(raw: str | None) -> tuple[TranscriptLink, ...]:
    found: list[TranscriptLink] = []
    for entry in _records(raw):
        url, kind, language = entry.get("url"), entry.get("type"), entry.get("language")
        if isinstance(url, str) and isinstance(kind, str):
            found.append(TranscriptLink(url, kind, language if isinstance(language, str) else None))
    return tuple(found)


def source_text(kind: str | None, html: str | None, reason: str | None) -> SourceText | None:
    """The stored choice of the enrich step; None before it ran (or for an unknown kind)."""
    for known in _KINDS:
        if kind == known:
            return SourceText(known, html or "", reason)
    return None


def _records(raw: str | None) -> list[dict[str, Any]]:
    try:
        data = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []
