"""Typed values passed between stages.

Library objects (httpx responses, feedparser dicts, SQL rows, lxml elements) never
cross a stage boundary; these frozen dataclasses do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from kanalwerk.errors import ConfigError


@dataclass(frozen=True)
class FetchState:
    """What the store remembers about a channel between polls."""

    channel_id: str
    url: str  # the URL to poll: the configured one, or where a permanent redirect pointed
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None  # sha256 of the last body, for servers without validators
    not_before: datetime | None = None  # the server's Retry-After (429/503) asked for a pause


@dataclass(frozen=True)
class FetchResult:
    """Outcome of one HTTP poll of one channel. Never raises: errors are values."""

    channel_id: str
    requested_url: str
    final_url: str  # after redirects
    status: int | None  # None when no HTTP response arrived (DNS, connect, timeout)
    content: bytes | None = None  # None on 304, on error, or when unchanged by hash
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    permanent_url: str | None = None  # set when a 301/308 chain moved the feed for good
    not_modified: bool = False  # 304, or body hash equal to the stored one
    error: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Enclosure:
    """An audio or video file the item carries (RSS enclosure, Atom rel="enclosure")."""

    url: str
    type: str | None = None  # MIME type as the feed gives it, e.g. "audio/mpeg"
    length: int | None = None  # bytes; None when the feed does not say


@dataclass(frozen=True)
class TranscriptLink:
    """A Podcasting 2.0 `<podcast:transcript>`: where the episode's transcript lives."""

    url: str
    type: str  # MIME type, e.g. "text/vtt", "application/x-subrip"
    language: str | None = None


#: What an article is made from, best first: what was said, the page's whole text, the
#: video's description, the feed's own text.
SourceKind = Literal["transcript", "fulltext", "description", "feed"]


@dataclass(frozen=True)
class SourceText:
    """The text an article is made from, chosen once per item by the enrich step.

    `html` is sanitized. `reason` says why no better source was had (transcripts
    disabled, blocked, too little full text); `kanalwerk items` shows it.
    """

    kind: SourceKind
    html: str
    reason: str | None = None


UNTITLED = "(ohne Titel)"  # the title of an entry that has none, shown to readers


@dataclass(frozen=True)
class Item:
    """One feed entry, normalised. `guid` is stable across polls."""

    guid: str
    link: str | None
    title: str
    author: str | None = None
    published: datetime | None = None  # timezone-aware UTC
    updated: datetime | None = None  # timezone-aware UTC
    content_html: str = ""  # richest body available, not yet sanitized
    summary_html: str = ""  # the feed's summary/description, not yet sanitized
    language: str | None = None  # BCP 47-ish code from the feed, e.g. "en", "en-us"
    video_id: str | None = None  # YouTube
    yt_channel_id: str | None = None  # YouTube
    thumbnail: str | None = None
    media_description: str | None = None  # YouTube media:description (plain text)
    # What relative URLs in the bodies are relative to (xml:base, else the feed's URL);
    # resolved when the bodies are sanitized, which parses them anyway.
    base_url: str | None = None
    # For choosing what gets published (select.py); not stored.
    categories: tuple[str, ...] = ()  # <category>, atom:category, JSON Feed tags
    duration: int | None = None  # seconds: itunes:duration, media:content, yt:duration
    views: int | None = None  # YouTube media:statistics; 0 before a premiere has aired
    enclosures: tuple[Enclosure, ...] = ()  # audio and video files, published with the article
    transcripts: tuple[TranscriptLink, ...] = ()  # <podcast:transcript> links


@dataclass(frozen=True)
class ParsedFeed:
    """A feed body turned into items. `warning` is set for malformed-but-usable feeds."""

    title: str | None
    link: str | None  # the feed's website (alternate) link
    feed_url: str  # the URL the feed was fetched from (self)
    feed_id: str | None  # atom:id / channel link, used for atom:source
    language: str | None
    items: tuple[Item, ...]
    warning: str | None = None
    notes: tuple[str, ...] = ()  # worth a line in the log, e.g. an item cut to size


@dataclass(frozen=True)
class SourceRef:
    """The original an article is based on, for the attribution box and atom:source."""

    title: str  # the original item's title
    link: str | None  # the original item's URL
    channel_name: str  # e.g. "CNBC"
    feed_title: str | None
    feed_url: str
    feed_link: str | None
    feed_id: str | None
    author: str | None = None


def source_name(source: SourceRef) -> str:
    """The "Quelle" shown to readers: the channel's name, else the feed's title."""
    return " ".join(source.channel_name.split()) or " ".join((source.feed_title or "").split())


@dataclass(frozen=True)
class StoredItem:
    """An item as the store holds it, with its processing state."""

    id: int
    channel_id: str
    guid: str
    item: Item  # content fields already sanitized
    state: str  # one of `store.schema.ITEM_STATES`
    attempts: int
    last_error: str | None
    first_seen: datetime
    source: SourceRef
    content_hash: str | None = None  # `fingerprint.content_hash` of `item`
    remake: bool = False  # its article exists: the original changed since it was made
    source_text: SourceText | None = None  # None until the enrich step has run


@dataclass(frozen=True)
class Article:
    """A German article ready to publish."""

    item_id: int
    entry_id: str  # stable atom:id, fixed at first compose, never changes
    slug: str  # file name stem under artikel/
    title: str  # German
    summary: str  # German plain-text teaser
    content_html: str  # sanitized; starts with the attribution box
    published: datetime  # UTC
    updated: datetime  # UTC
    source: SourceRef
    engine: str  # e.g. "openai"
    model: str | None
    language: str = "de"
    thumbnail: str | None = None
    channel_id: str = ""  # the channel the original came through
    enclosures: tuple[Enclosure, ...] = ()  # the original's audio and video files


@dataclass(frozen=True)
class SiteInfo:
    """What the site says about itself; `base_url` is absolute and ends with `/`.

    Built by `SiteConfig.info()`, where the defaults live.
    """

    title: str
    subtitle: str | None
    base_url: str
    author: str
    attribution_heading: str
    attribution_text: str  # the box's text for a translated article
    attribution_untranslated_text: str  # … and for one published in its own language
    feed_size: int = 50  # entries in each feed; older ones live in the archives
    page_size: int = 20  # articles on one page of the index and of a channel's page
    websub_hub: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"site.base_url {self.base_url!r} must be an absolute http(s) URL, "
                "e.g. https://example.org/"
            )
        if not self.base_url.endswith("/"):
            raise ConfigError(
                f"site.base_url {self.base_url!r} must end with '/', e.g. {self.base_url + '/'!r}"
            )

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def article_url(self, slug: str) -> str:
        return f"{self.base_url}artikel/{slug}.html"


@dataclass(frozen=True)
class Usage:
    """What a request cost, as the engine reported it."""

    requests: int = 0
    characters: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.requests + other.requests,
            self.characters + other.characters,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )
