"""ASCII slugs from German text, for channel ids and article file names."""

from __future__ import annotations

import re
import unicodedata

# German spelling transliterates umlauts and ß; other accents are simply dropped.
_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"}
)
# The first channel-id rule knew no capital ẞ (see `channel_slug`).
_CHANNEL_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int | None = None) -> str:
    """'Zwei Minuten Über KI' -> 'zwei-minuten-ueber-ki'; cut at a word past `max_length`.

    NFC first, so an umlaut typed as letter plus combining mark is transliterated too.
    """
    slug = _ascii_slug(unicodedata.normalize("NFC", text).translate(_TRANSLITERATION))
    if max_length is not None and len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:max_length]
        slug = slug.strip("-")
    return slug


def channel_slug(name: str) -> str:
    """A channel's default id from its name, by the rule ids were first made with.

    The id names the channel in the store: a name that gave another id would be a new
    channel, whose items are stored, translated and published a second time. So a
    decomposed umlaut ("U" + U+0308) stays "u" and "ẞ" is dropped here, unlike `slugify`.
    """
    return _ascii_slug(name.translate(_CHANNEL_TRANSLITERATION))


def _ascii_slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
