"""The content hash of an original: what tells an edit from a re-delivery.

Feeds re-send items with other markup, whitespace or entity spelling all the time; only
a change of the words a reader sees (title or text) is an edit worth a new translation.
"""

from __future__ import annotations

import hashlib
import unicodedata

from kanalwerk.models import Item
from kanalwerk.sanitize import collapse_whitespace, html_to_text


def _normalised(text: str) -> str:
    return collapse_whitespace(unicodedata.normalize("NFC", text))


def content_hash(item: Item) -> str:
    """sha256 of the item's title and visible text (the body translation uses)."""
    body = html_to_text(item.content_html or item.summary_html)
    payload = _normalised(item.title) + "\n" + _normalised(body)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
