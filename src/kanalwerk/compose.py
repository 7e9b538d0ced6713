"""The German article: attribution box first, then the translated body.

Pure functions only; the pipeline feeds in a stored item plus its translation and gets an
`Article` back. Identifiers are derived from values that never change (site host, channel
id, guid), so composing again, on any day, yields the same entry id.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from kanalwerk.basis import basis_name, is_episode
from kanalwerk.dates import utc_seconds
from kanalwerk.models import (
    UNTITLED,
    Article,
    SiteInfo,
    SourceKind,
    SourceRef,
    StoredItem,
    source_name,
)
from kanalwerk.sanitize import (
    clean_text,
    collapse_whitespace,
    html_to_text,
    http_url,
    sanitize_article_html,
    sanitize_html,
)
from kanalwerk.slug import slugify
from kanalwerk.sources import chapters
from kanalwerk.sources.youtube import watch_url

SUMMARY_LENGTH = 280
SLUG_LENGTH = 60
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


def guid_hash(guid: str) -> str:
    return hashlib.sha256(guid.encode("utf-8")).hexdigest()


#: The date in every entry id's tag URI (RFC 4151 wants one); fixed, so the id does not
#: depend on when an item was first seen. Ids published before used that day instead:
#: the store keeps each article's id, so those never change either.
ENTRY_ID_DATE = "2025"


def make_entry_id(site: SiteInfo, channel_id: str, guid: str) -> str:
    """RFC 4151 tag URI: `tag:<host>,2025:<channel id>/<guid hash>`.

    Only values that never change go in, so the id survives retranslation, retitling and
    a store rebuilt on another day.
    """
    channel = quote(channel_id, safe="-._~!$&'()*+,;=:@")
    return f"tag:{site.host},{ENTRY_ID_DATE}:{channel}/{guid_hash(guid)[:16]}"


def make_slug(title: str, guid: str) -> str:
    """Title slug plus six hex digits of the guid hash, so equal titles don't collide."""
    return f"{slugify(title, SLUG_LENGTH) or 'beitrag'}-{guid_hash(guid)[:6]}"


def cut_text(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """At most `limit` characters plus `…`, cut at a word boundary when there is one nearby."""
    text = collapse_whitespace(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—.") + "…"


def _original_label(source: SourceRef) -> str:
    title = collapse_whitespace(source.title)
    name = source_name(source)
    if title and name:
        return f"{title} – {name}"
    return title or name or "Originalbeitrag"


#: The heading of the transcript section in translate mode, by what was recorded.
TRANSCRIPT_HEADING_VIDEO = "Das Video in Textform"
TRANSCRIPT_HEADING_EPISODE = "Die Folge in Textform"


def basis_line(kind: SourceKind | None, *, video: bool, episode: bool = False) -> str | None:
    """ "Grundlage: …" for the attribution box; None for an ordinary feed's own text."""
    name = basis_name(kind, video=video, episode=episode)
    return f"Grundlage: {name}" if name else None


def attribution_box(
    source: SourceRef, site: SiteInfo, *, translated: bool = True, basis: str | None = None
) -> str:
    """The "Hinweis zur Quelle" box, with what the article was made from (`basis_line`).

    A `div` with a bold heading paragraph: it reads as a distinct note in feed readers that
    drop classes and unknown elements, and `class="quelle"` styles it on the site.
    """
    text = site.attribution_text if translated else site.attribution_untranslated_text
    label = _original_label(source)
    link = http_url(source.link)
    original = (
        f'<a href="{escape(link)}" rel="noopener">{escape(label)}</a>' if link else escape(label)
    )
    end = "" if label.endswith((".", "!", "?", "…")) else "."
    return (
        '<div class="quelle" role="note">'
        f"<p><strong>ℹ️ {escape(site.attribution_heading)}</strong></p>"
        f"<p>{escape(text)} {original}{end}</p>"
        + (f"<p>{escape(basis)}</p>" if basis else "")
        + "</div>"
    )


def _video_preview(stored: StoredItem) -> str:
    item = stored.item
    thumbnail = http_url(item.thumbnail)
    if not (item.video_id and thumbnail):
        return ""
    link = http_url(item.link) or watch_url(item.video_id)
    alt = f"Video ansehen: {collapse_whitespace(stored.source.title or item.title)}"
    return (
        f'<p><a href="{escape(link)}"><img src="{escape(thumbnail)}" alt="{escape(alt)}"></a></p>'
    )


def compose_article(
    stored: StoredItem,
    *,
    title_de: str,
    body_html_de: str,
    teaser_de: str | None,
    engine: str,
    model: str | None,
    site: SiteInfo,
    translated: bool = True,
    now: datetime | None = None,
    basis: SourceKind | None = None,
    chapters_html_de: str = "",
    transcript_html_de: str = "",
) -> Article:
    """Build the German article for `stored` from its translation.

    `title_de` and `teaser_de` are plain text; `body_html_de` is HTML and is sanitized here,
    as are the video's chapter list and the transcript section, which follow the body
    under German headings. `basis` is named in the attribution box.

    `now` only clamps dates a source put in the future, so such an entry doesn't stay pinned
    to the top of the feed.
    """
    item = stored.item
    source = stored.source
    base = source.link or item.link
    body = sanitize_html(body_html_de, base_url=base)
    line = basis_line(basis, video=item.video_id is not None, episode=is_episode(stored))
    extra = ""
    if chapters_html_de.strip():
        extra += f"<h2>{chapters.HEADING}</h2>{sanitize_html(chapters_html_de)}"
    if transcript_html_de.strip():
        heading = TRANSCRIPT_HEADING_VIDEO if item.video_id else TRANSCRIPT_HEADING_EPISODE
        extra += f"<h2>{heading}</h2>{sanitize_html(transcript_html_de, base_url=base)}"
    content = sanitize_article_html(
        attribution_box(source, site, translated=translated, basis=line)
        + _video_preview(stored)
        + body
        + extra,
        base_url=base,
    )

    # Title and teaser arrive as plain text; escaping happens where they are written out.
    title = clean_text(title_de) or clean_text(source.title) or UNTITLED
    teaser = clean_text(teaser_de or "")
    # Headings are left out of a generated teaser: the first one often repeats the title.
    summary = teaser or cut_text(html_to_text(body, skip=HEADINGS) or html_to_text(body))

    limit = utc_seconds(now or datetime.now(UTC))
    published = min(utc_seconds(item.published or stored.first_seen), limit)
    updated = min(max(utc_seconds(item.updated) if item.updated else published, published), limit)

    return Article(
        item_id=stored.id,
        entry_id=make_entry_id(site, stored.channel_id, stored.guid),
        slug=make_slug(title, stored.guid),
        title=title,
        summary=summary,
        content_html=content,
        published=published,
        updated=updated,
        source=source,
        engine=engine,
        model=model,
        thumbnail=item.thumbnail,
        channel_id=stored.channel_id,
        enclosures=item.enclosures,
    )
