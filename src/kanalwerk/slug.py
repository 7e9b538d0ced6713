"""ASCII slugs from German text, for channel ids and article file names."""

from __future__ import annotations

import re
import unicodedata

# German spelling transliterates umlauts and ß; other accents are simply dropped.
_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"}
)
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int | None = None) -> str:
    """'Zwei Minuten Über KI' -> 'zwei-minuten-ueber-ki'; cut at a word past `max_length`.

    NFC first, so an umlaut typed as letter plus combining mark is transliterated too.
    """
    composed = unicodedata.normalize("NFC", text).translate(_TRANSLITERATION)
    ascii_text = unicodedata.normalize("NFKD", composed).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    if max_length is not None and len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:max_length]
        slug = slug.strip("-")
    return slug
