"""Feed bytes → `ParsedFeed`. The only module that imports feedparser.

feedparser handles RSS 0.9x/1.0/2.0 and Atom; JSON Feed is normalised here because
feedparser 6 does not read it. HTML is left unsanitized on purpose: nh3 cleans it later
(about twice as fast as feedparser's sanitizer), so nothing here is safe to render yet.

`parse_feed` is a pure top-level function so it can run in a process pool.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import time
import xml.sax
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.mixin

from kanalwerk.dates import as_utc
from kanalwerk.errors import ParseError
from kanalwerk.models import UNTITLED, Enclosure, Item, ParsedFeed, TranscriptLink
from kanalwerk.sanitize import collapse_whitespace, html_to_text

__all__ = ["UNTITLED", "parse_feed", "text_to_html"]

# feedparser resolves <guid>, <atom:id> and links against the feed's URL, so an item's
# identity would change whenever the feed moves. Ids and RSS <link> text are kept as
# given (tests pin this), and every link remembers the href as written and the base it
# is relative to: links are resolved here, for display, and an item without a guid is
# identified by its link as written.
_Mixin = feedparser.mixin._FeedParserMixin
_Mixin.can_be_relative_uri = frozenset(_Mixin.can_be_relative_uri) - {"id", "link"}
_WRITTEN_HREF = "kanalwerk_written_href"
_LINK_BASE = "kanalwerk_link_base"
_feedparser_start_link = _Mixin._start_link


def _start_link_keeping_href(self: Any, attrs_d: dict[str, Any]) -> Any:
    attrs_d[_LINK_BASE] = self.baseuri
    href = attrs_d.get("url", attrs_d.get("uri", attrs_d.get("href")))
    if isinstance(href, str):
        if isinstance(self, feedparser.api.LooseFeedParser):
            href = _decode_xml_refs(href)
        attrs_d[_WRITTEN_HREF] = href
    return _feedparser_start_link(self, attrs_d)


# Podcasting 2.0 `<podcast:transcript>`: feedparser keeps only the last such element of
# an entry, and only under the prefix the feed chose; every one is collected instead,
# under the namespace's usual prefix whatever the feed calls it.
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
_TRANSCRIPTS = "kanalwerk_transcripts"
_Mixin.namespaces = {**_Mixin.namespaces, PODCAST_NS: "podcast"}
# feedparser fills this lower-cased copy from `namespaces` only while it is empty.
_Mixin._matchnamespaces = {uri.lower(): prefix for uri, prefix in _Mixin.namespaces.items()}


def _start_podcast_transcript(self: Any, attrs_d: dict[str, Any]) -> None:
    if self.inentry:
        self._get_context().setdefault(_TRANSCRIPTS, []).append(dict(attrs_d))


_Mixin._start_podcast_transcript = _start_podcast_transcript


# The lenient parser (a malformed feed) decodes only `&amp;` in attribute values. A
# `java&#10;script:` href would then be taken for a harmless relative path, although
# every reader decodes it to a `javascript:` link. Only XML's own references are
# decoded: HTML's legacy names (`&copy` in `?a=1&copy=2`) are not references in XML.
_XML_REF = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|quot|apos));")
_XML_NAMED = {"lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _decode_xml_refs(value: str) -> str:
    def decode(match: re.Match[str]) -> str:
        digits, hex_digits, name = match.groups()
        if name:
            return _XML_NAMED[name]
        code = _code_point(hex_digits, digits)
        return "\ufffd" if code is None else chr(code)

    return _XML_REF.sub(decode, value)


def _code_point(hex_digits: str | bytes | None, digits: str | bytes | None) -> int | None:
    """The character a reference names; None for a surrogate or beyond U+10FFFF."""
    text = hex_digits or digits or ""
    if len(text) > 8:
        return None
    code = int(text, 16) if hex_digits else int(text)
    return None if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF else code


_Mixin._start_link = _start_link_keeping_href

TITLE_FROM_SUMMARY_CHARS = 80
WARNING_MAX_CHARS = 200

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}"
_PARAGRAPH_SPLIT_RE = re.compile(r"\n[ \t]*\n\s*")
_HTML_SNIFF_RE = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_LINK_TAG_RE = re.compile(r"<link\b([^>]*)>", re.IGNORECASE)
_ATTR_RE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
# Numeric character references no XML or Unicode text can hold (surrogates, beyond
# U+10FFFF, absurdly long): feedparser's lenient parser crashes on them.
_CHAR_REF_RE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT_REF = b"&#xFFFD;"
#: An item's categories beyond this many are not kept (a hostile feed may list thousands).
MAX_CATEGORIES = 50
#: An item's enclosures or transcript links beyond this many are not kept.
MAX_ENCLOSURES = 10
#: JSON numbers longer than this stay digit strings (Python refuses ints over 4300 digits).
JSON_INT_DIGITS = 100


def parse_feed(content: bytes, *, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse one feed body fetched from `url`.

    `headers` are the HTTP response headers (any case): Content-Type decides the charset
    (RFC 3023) and JSON detection, Content-Location the base for relative links (defaults to
    `url`), Content-Language the fallback language. Raises `ParseError` when the body
    yields no entries and is not a valid empty feed; a malformed feed that still yields
    entries is returned with `warning` set.
    """
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    try:
        if _looks_like_json(content, hdrs.get("content-type", "")):
            return _parse_json_feed(content, url=url, headers=hdrs)
        return _parse_xml_feed(content, url=url, headers=hdrs)
    except ParseError:
        raise
    except Exception as exc:  # one hostile body must not stop other channels
        raise ParseError(f"not a feed kanalwerk can read: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    return _shorten(f"{type(exc).__name__}: {exc}", WARNING_MAX_CHARS)


def _convert_all(
    raws: Iterable[Any], convert: Callable[[Any], Item]
) -> tuple[tuple[Item, ...], str | None]:
    """Each entry as an Item; an entry that cannot be read is skipped, and said so."""
    items: list[Item] = []
    skipped: list[str] = []
    for raw in raws:
        try:
            items.append(convert(raw))
        except Exception as exc:  # one bad entry must not cost the others
            skipped.append(_describe(exc))
    if not skipped:
        return tuple(items), None
    return tuple(items), _shorten(
        f"{len(skipped)} item(s) skipped, unreadable: {skipped[0]}", WARNING_MAX_CHARS
    )


def _join_warnings(*warnings: str | None) -> str | None:
    return "; ".join(w for w in warnings if w) or None


# How a UTF-16 or UTF-32 body starts: its byte order mark, else `<?` or `<` as XML 1.0
# Appendix F detects them. UTF-32 first: its LE mark begins with UTF-16 LE's.
_WIDE_STARTS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def _repair_char_refs(content: bytes) -> bytes:
    """Character references to impossible code points become U+FFFD, in any encoding."""
    codec = next((codec for start, codec in _WIDE_STARTS if content.startswith(start)), None)
    if codec is None:
        return _repair_refs(content) if b"&#" in content else content
    try:
        text = content.decode(codec)
    except UnicodeDecodeError:
        return content  # not what it looked like; feedparser judges it as it is
    return _repair_refs(text.encode("utf-8")).decode("utf-8").encode(codec)


def _repair_refs(content: bytes) -> bytes:
    def repair(match: re.Match[bytes]) -> bytes:
        if _code_point(match.group(1), match.group(2)) is None:
            return _REPLACEMENT_REF
        return match.group(0)

    return _CHAR_REF_RE.sub(repair, content)


# --- XML feeds (feedparser) ---------------------------------------------------

#: UTF-8, UTF-32 (checked before UTF-16, whose LE mark begins UTF-32 LE's) and UTF-16.
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")


def _without_charset(content_type: str) -> str:
    """`content_type` without its charset parameter (the other parameters kept)."""
    kept = [p for p in content_type.split(";") if not p.strip().lower().startswith("charset=")]
    return ";".join(kept).strip() or "application/xml"


def _parse_xml_feed(content: bytes, *, url: str, headers: dict[str, str]) -> ParsedFeed:
    headers["content-location"] = _join(url, headers.get("content-location", "")) or url
    # Without a Content-Type feedparser assumes Latin-1 and flags the feed; a body with no
    # HTTP context is plain XML, whose declaration (or UTF-8) decides the charset.
    headers.setdefault("content-type", "application/xml")
    if content.startswith(_BOMS):
        # A byte order mark names the encoding for certain; a server's charset that
        # disagrees would make feedparser read UTF-16 as Latin-1 and find nothing.
        headers["content-type"] = _without_charset(headers["content-type"])
    # A file-like object: feedparser treats a bytes/str argument as a path or URL first.
    d = feedparser.parse(
        io.BytesIO(_repair_char_refs(content)),
        response_headers=headers,
        # Both passes re-parse every HTML body and cost feedparser about two thirds of
        # its time; the sanitizer does both jobs in the one parse it needs anyway.
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries: list[Any] = list(d.entries)
    exc = _get(d, "bozo_exception")
    if not entries and (d.bozo or not _get(d, "version")):
        raise ParseError(_not_a_feed_message(content, url, headers, exc))

    feed = d.feed
    feed_language = _clean(_get(feed, "language")) or _clean(headers.get("content-language"))
    feed_author = _author(feed)
    base = headers["content-location"]
    items, skipped = _convert_all(
        entries, lambda e: _entry_to_item(e, base, feed_language, feed_author)
    )
    return ParsedFeed(
        title=_text_field(feed, "title"),
        link=_link_url(_alternate_link(feed), base),
        feed_url=url,
        feed_id=_clean(_get(feed, "id")) or _feed_link(feed, base),
        language=feed_language,
        items=items,
        warning=_join_warnings(_bozo_warning(exc) if d.bozo else None, skipped),
    )


def _entry_to_item(
    entry: Any, feed_base: str, feed_language: str | None, feed_author: str | None
) -> Item:
    published = _to_datetime(_get(entry, "published_parsed"))
    updated = _to_datetime(_get(entry, "updated_parsed"))
    video_id = _clean(_get(entry, "yt_videoid"))
    summary_html = _as_html(_get(entry, "summary"), _detail_type(entry, "summary_detail"))
    content_html = _richest_content(entry) or summary_html
    media_description: str | None = None
    if video_id:
        # YouTube's media:description is plain text; feedparser treats it as HTML and
        # escapes `&`, so undo that and build our own markup (paragraphs, <br>, links).
        raw = _get(entry, "summary") or ""
        media_description = html.unescape(raw).strip() if _is_html_detail(entry) else raw.strip()
        content_html = summary_html = text_to_html(media_description)
    title = _text_field(entry, "title") or _title_from(summary_html or content_html)
    base_url = _content_base(entry)
    written = _alternate_link(entry)
    link = _link_url(written, base_url or feed_base)
    return Item(
        guid=_guid(
            _clean(_get(entry, "id")),
            _link_identity(written, link),
            title,
            _date_key(entry),
            content_html,
        ),
        link=link,
        title=title,
        author=_author(entry) or feed_author,
        published=published or updated,
        updated=updated,
        content_html=content_html,
        summary_html=summary_html,
        language=_entry_language(entry) or feed_language,
        video_id=video_id,
        yt_channel_id=_youtube_channel_id(_get(entry, "yt_channelid")),
        thumbnail=_thumbnail(entry),
        media_description=media_description,
        base_url=base_url,
        categories=_categories(_get(entry, "tags") or (), lambda tag: _get(tag, "term")),
        duration=_duration(entry),
        views=_views(entry),
        enclosures=_enclosures(entry, base_url or feed_base),
        transcripts=_transcript_links(entry, base_url or feed_base),
    )


def _is_media(kind: str | None) -> bool:
    return bool(kind) and str(kind).lower().startswith(("audio/", "video/"))


def _enclosures(entry: Any, base: str) -> tuple[Enclosure, ...]:
    """Audio and video files (RSS enclosure, Atom rel="enclosure"), each once."""
    found: dict[str, Enclosure] = {}
    for link in _get(entry, "links") or ():
        kind = _clean(_get(link, "type"))
        href = _clean(_get(link, "href"))
        if _get(link, "rel") != "enclosure" or not href or not _is_media(kind):
            continue
        url = _join(base, href)
        if url and url not in found:
            found[url] = Enclosure(url, kind, _length(_get(link, "length")))
    return tuple(found.values())[:MAX_ENCLOSURES]


def _length(value: Any) -> int | None:
    text = _clean(value) if isinstance(value, str) else None
    return int(text) if text and text.isdigit() and len(text) <= JSON_INT_DIGITS else None


def _transcript_links(entry: Any, base: str) -> tuple[TranscriptLink, ...]:
    """The entry's `<podcast:transcript>` links with a type, each URL once."""
    found: dict[str, TranscriptLink] = {}
    for attrs in _get(entry, _TRANSCRIPTS) or ():
        href, kind = _clean(attrs.get("url")), _clean(attrs.get("type"))
        url = _join(base, href) if href else None
        if url and kind and url not in found:
            found[url] = TranscriptLink(url, kind.lower(), _clean(attrs.get("language")))
    return tuple(found.values())[:MAX_ENCLOSURES]


def _categories(values: Iterable[Any], text: Callable[[Any], Any]) -> tuple[str, ...]:
    """The item's categories or tags as plain text, each once."""
    found = (collapse_whitespace(value) for value in map(text, values) if isinstance(value, str))
    return tuple(dict.fromkeys(value for value in found if value))[:MAX_CATEGORIES]


_CLOCK_RE = re.compile(r"(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?|(\d+)(?:\.\d+)?")


def _duration(entry: Any) -> int | None:
    """Seconds, from yt:duration, itunes:duration or the first media:content with one."""
    yt = _get(entry, "yt_duration")
    candidates = [_get(yt, "seconds") if isinstance(yt, dict) else None]
    candidates.append(_get(entry, "itunes_duration"))
    candidates += [_get(media, "duration") for media in _get(entry, "media_content") or ()]
    for value in candidates:
        match = _CLOCK_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match:
            hours, minutes, seconds, plain = match.groups()
            if plain is not None:
                return int(plain)
            return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return None


def _views(entry: Any) -> int | None:
    """YouTube's view count (media:community/media:statistics)."""
    stats = _get(entry, "media_statistics")
    views = _clean(_get(stats, "views")) if isinstance(stats, dict) else None
    return int(views) if views is not None and views.isdigit() else None


def _content_base(entry: Any) -> str | None:
    """The base URI feedparser tracked for the entry's bodies (xml:base or the feed URL)."""
    for part in [*(_get(entry, "content") or ()), _get(entry, "summary_detail")]:
        base = _clean(_get(part, "base")) if part else None
        if base:
            return base
    return None


def _richest_content(entry: Any) -> str:
    """The longest `content` value: content:encoded or atom:content usually beat summaries."""
    best = ""
    for part in _get(entry, "content") or ():
        value = _as_html(_get(part, "value"), _clean(_get(part, "type")))
        if len(value) > len(best):
            best = value
    return best


def _as_html(value: Any, content_type: str | None) -> str:
    """Markup as given for HTML types; plain text escaped and wrapped in paragraphs."""
    if not isinstance(value, str) or not value.strip():
        return ""
    if content_type is None or content_type.lower() in _HTML_TYPES:
        return value.strip()
    return text_to_html(value)


def _text_field(obj: Any, key: str) -> str | None:
    """A title-like field as plain text, whatever markup type the feed declared."""
    value = _get(obj, key)
    if not isinstance(value, str):
        return None
    if _detail_type(obj, key + "_detail") in _HTML_TYPES:
        value = html_to_text(value)
    return collapse_whitespace(value) or None


def _title_from(body_html: str) -> str:
    text = collapse_whitespace(html_to_text(body_html))
    if not text:
        return UNTITLED
    if len(text) <= TITLE_FROM_SUMMARY_CHARS:
        return text
    cut = text[:TITLE_FROM_SUMMARY_CHARS].rsplit(" ", 1)[0] or text[:TITLE_FROM_SUMMARY_CHARS]
    return cut.rstrip(" ,;:.-") + "…"


@dataclass(frozen=True)
class _WrittenLink:
    """A link's href as the feed wrote it, and the base it is relative to (if known)."""

    href: str
    base: str | None = None


def _alternate_link(obj: Any) -> _WrittenLink | None:
    links = [link for link in _get(obj, "links") or () if _get(link, "href")]
    alternates = [link for link in links if _get(link, "rel", "alternate") == "alternate"]
    html_alternates = [
        link
        for link in alternates
        if _get(link, "type") in (None, "text/html", "application/xhtml+xml")
    ]
    for link in [*html_alternates, *alternates[:1]]:
        href = _clean(_get(link, _WRITTEN_HREF)) or _clean(_get(link, "href"))
        if href:
            return _WrittenLink(href, _clean(_get(link, _LINK_BASE)))
    # Without <link>, feedparser takes a permalink <guid> as the link, unresolved
    # since ids are kept as given.
    link = _clean(_get(obj, "link"))
    return _WrittenLink(link) if link else None


def _link_url(link: _WrittenLink | None, base: str) -> str | None:
    """The link resolved for display and for following."""
    return _join(link.base or base, link.href) if link else None


def _link_identity(link: _WrittenLink | None, resolved: str | None) -> str | None:
    """A link as an item's identity: as written when relative, so a move keeps the item.

    An absolute link stays as resolved: earlier versions stored that form (urljoin drops
    an empty query, for one), and items stored then keep their identity.
    """
    if link is None:
        return None
    return resolved if _is_absolute(link.href) else link.href


def _feed_link(feed: Any, base: str) -> str | None:
    """The feed's own `link`, resolved as feedparser did before links were kept as written."""
    link = _clean(_get(feed, "link"))
    if not link:
        return None
    bases = [_get(x, _LINK_BASE) for x in _get(feed, "links") or () if _get(x, "href") == link]
    link_base = _clean(bases[-1]) if bases else None
    return _join(link_base or base, link)


def _author(obj: Any) -> str | None:
    detail = _get(obj, "author_detail")
    return _clean(_get(detail, "name") if detail else None) or _clean(_get(obj, "author"))


def _entry_language(entry: Any) -> str | None:
    details = [*(_get(entry, "content") or ()), _get(entry, "summary_detail")]
    for detail in [*details, _get(entry, "title_detail")]:
        language = _clean(_get(detail, "language")) if detail else None
        if language:
            return language
    return _clean(_get(entry, "language"))


def _thumbnail(entry: Any) -> str | None:
    for thumb in _get(entry, "media_thumbnail") or ():
        if url := _clean(_get(thumb, "url")):
            return url
    for media in _get(entry, "media_content") or ():
        kind = (_get(media, "medium") or _get(media, "type") or "").lower()
        if kind.startswith("image") and (url := _clean(_get(media, "url"))):
            return url
    for link in _get(entry, "links") or ():
        kind = (_get(link, "type") or "").lower()
        if _get(link, "rel") == "enclosure" and kind.startswith("image/"):
            return _clean(_get(link, "href"))
    return None


def _youtube_channel_id(value: Any) -> str | None:
    """Some YouTube feeds give the channel id without its "UC" prefix."""
    channel_id = _clean(value)
    if channel_id and len(channel_id) == 22 and not channel_id.startswith("UC"):
        return "UC" + channel_id
    return channel_id


def _date_key(entry: Any) -> str:
    return str(_get(entry, "published") or _get(entry, "updated") or "")


def _detail_type(obj: Any, key: str) -> str | None:
    detail = _get(obj, key)
    return _clean(_get(detail, "type")) if detail else None


def _is_html_detail(entry: Any) -> bool:
    return (_detail_type(entry, "summary_detail") or "text/html") in _HTML_TYPES


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Plain dict lookup: FeedParserDict.get aliases keys and warns (`updated` → `published`)."""
    if isinstance(obj, dict):
        return dict.get(obj, key, default)
    return default


def _bozo_warning(exc: BaseException | None) -> str:
    if exc is None:
        return "feed is malformed; items may be incomplete"
    name = type(exc).__name__
    if isinstance(exc, xml.sax.SAXParseException):
        where = f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        text = (
            f"malformed XML ({where}: {exc.getMessage()}); read leniently, items may be incomplete"
        )
    elif name == "CharacterEncodingOverride":
        text = f"character encoding: {exc}"
    elif name == "NonXMLContentType":
        text = f"unusual content type: {exc}"
    else:
        text = f"malformed feed: {exc}"
    return _shorten(text, WARNING_MAX_CHARS)


def _not_a_feed_message(
    content: bytes, url: str, headers: Mapping[str, str], exc: BaseException | None
) -> str:
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "text/html" or _HTML_SNIFF_RE.match(content[:4096]):
        message = "this looks like an HTML page, not a feed; check the URL"
        discovered = _discover_feed_links(content, url)
        if discovered:
            message += " (the page links to a feed: " + ", ".join(discovered[:3]) + ")"
        return message
    if not content.strip():
        return "not a feed: the response body is empty"
    if exc is None:
        return "not a feed: no RSS, Atom or JSON Feed elements found"
    reason = exc.getMessage() if isinstance(exc, xml.sax.SAXParseException) else str(exc)
    return _shorten(f"not a feed: {reason}", WARNING_MAX_CHARS)


def _discover_feed_links(content: bytes, url: str) -> list[str]:
    """Feed autodiscovery links (`<link rel="alternate" type="application/rss+xml">`)."""
    found: list[str] = []
    text = content[:200_000].decode("utf-8", "replace")
    for match in _LINK_TAG_RE.finditer(text):
        attrs = _attributes(match.group(1))
        rels = attrs.get("rel", "").lower().split()
        if "alternate" in rels and attrs.get("type", "").lower() in _FEED_TYPES:
            href = _join(url, html.unescape(attrs.get("href", "")))
            if href and href not in found:
                found.append(href)
    return found


def _attributes(raw: str) -> dict[str, str]:
    return {
        m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
        for m in _ATTR_RE.finditer(raw)
    }


# --- JSON Feed ----------------------------------------------------------------


def _looks_like_json(content: bytes, content_type: str) -> bool:
    if "json" in content_type.lower():
        return True
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_json_feed(content: bytes, *, url: str, headers: Mapping[str, str]) -> ParsedFeed:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        data = json.loads(content.decode("utf-8-sig"), parse_int=_json_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ParseError("not a feed: the JSON is nested too deeply") from exc
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise ParseError("not a feed: JSON without a JSON Feed version (https://jsonfeed.org/)")
    base = _json_str(data.get("feed_url")) or url
    home = _json_url(data.get("home_page_url"), base)
    language = _json_str(data.get("language")) or _clean(headers.get("content-language"))
    feed_author = _json_author(data)
    raw_items = data.get("items")
    items, skipped = _convert_all(
        (
            raw
            for raw in (raw_items if isinstance(raw_items, list) else [])
            if isinstance(raw, dict)
        ),
        lambda raw: _json_item(raw, base=base, language=language, feed_author=feed_author),
    )
    return ParsedFeed(
        title=_json_str(data.get("title")),
        link=home,
        feed_url=url,
        feed_id=home or _json_url(data.get("feed_url"), url),
        language=language,
        items=items,
        warning=_join_warnings(
            None if isinstance(raw_items, list) else "JSON Feed without an items list", skipped
        ),
    )


def _json_int(digits: str) -> int | str:
    """An integer, or its digits as given when it is too long to be a useful number."""
    return int(digits) if len(digits) <= JSON_INT_DIGITS else digits


def _json_item(
    raw: Mapping[str, Any], *, base: str, language: str | None, feed_author: str | None
) -> Item:
    written = _json_str(raw.get("url")) or _json_str(raw.get("external_url"))
    link = _join(base, written) if written else None
    content_base = link or base
    content_html = _json_str(raw.get("content_html"))
    if not content_html:
        content_html = text_to_html(_json_str(raw.get("content_text")) or "")
    summary = _json_str(raw.get("summary"))
    summary_html = text_to_html(summary) if summary else ""
    published = _parse_iso(raw.get("date_published"))
    updated = _parse_iso(raw.get("date_modified"))
    title = _json_str(raw.get("title"))
    title = collapse_whitespace(title) if title else _title_from(summary_html or content_html)
    raw_id = raw.get("id")
    guid = _clean(str(raw_id)) if isinstance(raw_id, str | int) else None
    date_key = str(raw.get("date_published") or raw.get("date_modified") or "")
    return Item(
        guid=_guid(
            guid,
            _link_identity(_WrittenLink(written), link) if written else None,
            title,
            date_key,
            content_html,
        ),
        link=link,
        title=title,
        author=_json_author(raw) or feed_author,
        published=published or updated,
        updated=updated,
        content_html=content_html or summary_html,
        summary_html=summary_html,
        language=_json_str(raw.get("language")) or language,
        thumbnail=_json_url(raw.get("image"), base) or _json_url(raw.get("banner_image"), base),
        base_url=content_base,
        categories=_categories(_json_list(raw.get("tags")), lambda tag: tag),
        enclosures=_json_attachments(raw.get("attachments"), base),
    )


def _json_attachments(value: Any, base: str) -> tuple[Enclosure, ...]:
    """JSON Feed `attachments` that are audio or video, each URL once."""
    found: dict[str, Enclosure] = {}
    for raw in _json_list(value):
        if not isinstance(raw, dict):
            continue
        url, kind = _json_url(raw.get("url"), base), _json_str(raw.get("mime_type"))
        size = raw.get("size_in_bytes")
        if url and _is_media(kind) and url not in found:
            length = size if isinstance(size, int) and not isinstance(size, bool) else None
            found[url] = Enclosure(url, kind, length)
    return tuple(found.values())[:MAX_ENCLOSURES]


def _json_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_author(obj: Mapping[str, Any]) -> str | None:
    authors = obj.get("authors")
    candidates = authors if isinstance(authors, list) else [obj.get("author")]
    names = [_json_str(a.get("name")) for a in candidates if isinstance(a, dict)]
    joined = ", ".join(n for n in names if n)
    return joined or None


def _json_str(value: Any) -> str | None:
    return _clean(value) if isinstance(value, str) else None


def _json_url(value: Any, base: str) -> str | None:
    text = _json_str(value)
    return _join(base, text) if text else None


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):  # impossible dates (year 0, year 1 east of UTC)
        return None


# --- shared helpers -----------------------------------------------------------


def _join(base: str, reference: str) -> str | None:
    """`reference` resolved against `base`; None when it is no URL at all (`http://[::1`)."""
    try:
        return urljoin(base, reference)
    except ValueError:
        return None


def _is_absolute(reference: str) -> bool:
    try:
        return bool(urlsplit(reference).scheme)
    except ValueError:
        return False


def _guid(entry_id: str | None, link: str | None, title: str, date_key: str, content: str) -> str:
    """Entry id, else link, else a content hash that stays stable across polls."""
    if entry_id:
        return entry_id
    if link:
        return link
    basis = title + "\n" + date_key
    if not date_key and title == UNTITLED:
        basis += "\n" + content
    return "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()


def _to_datetime(value: Any) -> datetime | None:
    """feedparser's `*_parsed` values are `time.struct_time` already converted to UTC."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:5], min(value.tm_sec, 59), tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def text_to_html(text: str) -> str:
    """Plain text as HTML: escaped, blank lines → paragraphs, newlines → <br>, URLs → links."""
    paragraphs = [p.strip() for p in _PARAGRAPH_SPLIT_RE.split(text.strip()) if p.strip()]
    out = []
    for paragraph in paragraphs:
        lines = [_linkify(line.strip()) for line in paragraph.splitlines()]
        out.append("<p>" + "<br>\n".join(lines) + "</p>")
    return "\n".join(out)


def _linkify(line: str) -> str:
    parts: list[str] = []
    pos = 0
    for match in _URL_RE.finditer(line):
        url = match.group(0)
        trimmed = _trim_url(url)
        end = match.start() + len(trimmed)
        parts.append(html.escape(line[pos : match.start()], quote=False))
        parts.append(f'<a href="{html.escape(trimmed)}">{html.escape(trimmed, quote=False)}</a>')
        pos = end
    parts.append(html.escape(line[pos:], quote=False))
    return "".join(parts)


def _trim_url(url: str) -> str:
    """Drop sentence punctuation after a URL, keeping balanced parentheses."""
    while url and url[-1] in _URL_TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url
