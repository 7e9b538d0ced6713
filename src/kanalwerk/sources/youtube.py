"""YouTube helpers: channel references → channel id → feed URL, and Shorts detection.

YouTube publishes an Atom feed per channel (`/feeds/videos.xml?channel_id=UC…`) but people
know channels by handle (`@CNBC`) or page URL, so handles are resolved once by reading the
channel page.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

from kanalwerk.errors import FetchError

__all__ = [
    "CHANNEL_ID_RE",
    "channel_feed_instead_of_uploads",
    "channel_id_for_video",
    "channel_id_from_page",
    "channel_id_of_feed",
    "feed_url_for_channel_id",
    "is_shorts_link",
    "parse_channel_ref",
    "resolve_handle",
    "uploads_feed_url",
    "video_id_from_url",
]

FEED_BASE = "https://www.youtube.com/feeds/videos.xml"
CHANNEL_ID_RE = re.compile(r"UC[0-9A-Za-z_-]{22}")
# Handles: 3–30 letters (any script), digits, "_", "-", "."; "·" appears in some scripts.
_HANDLE_RE = re.compile(r"@?([\w.\-·]{3,30})")
_VIDEO_ID_RE = re.compile(r"[0-9A-Za-z_-]{11}")
_VIDEO_PATHS = ("shorts", "live", "embed", "v")
_YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com")
# Sent with page requests so EU visitors get the page, not a cookie-consent interstitial.
_CONSENT_COOKIE = "SOCS=CAI"
_ID = r"(UC[0-9A-Za-z_-]{22})"
_PAGE_PATTERNS = (
    re.compile(r"<link\b[^>]*\brel=[\"']canonical[\"'][^>]*youtube\.com/channel/" + _ID),
    re.compile(r"<link\b[^>]*youtube\.com/channel/" + _ID + r"[\"'][^>]*\brel=[\"']canonical"),
    re.compile(
        r"<meta\b[^>]*\bitemprop=[\"'](?:channelId|identifier)[\"'][^>]*content=[\"']" + _ID
    ),
    re.compile(
        r"<meta\b[^>]*content=[\"']" + _ID + r"[\"'][^>]*itemprop=[\"'](?:channelId|identifier)"
    ),
    re.compile(r'"externalId"\s*:\s*"' + _ID + '"'),
    re.compile(r'"channelId"\s*:\s*"' + _ID + '"'),
)
_HELP = (
    "use a channel id (UC…), a channel URL (https://www.youtube.com/channel/UC…), "
    "a handle (@name) or a handle URL (https://www.youtube.com/@name)"
)


def feed_url_for_channel_id(channel_id: str) -> str:
    """The channel's feed: its latest 15 uploads, Shorts and live streams included."""
    return f"{FEED_BASE}?channel_id={_checked_id(channel_id)}"


def uploads_feed_url(channel_id: str) -> str:
    """The feed of the channel's uploads without Shorts and live streams.

    YouTube keeps several playlists per channel whose ids are the channel id with its
    "UC" replaced: "UULF" holds the long-form uploads (videos and premieres), "UUSH"
    the Shorts, "UULV" past live streams.
    """
    return f"{FEED_BASE}?playlist_id=UULF{_checked_id(channel_id)[2:]}"


def watch_url(video_id: str) -> str:
    """The video's page on YouTube."""
    return f"https://www.youtube.com/watch?v={quote(video_id, safe='')}"


def channel_feed_instead_of_uploads(url: str) -> str | None:
    """The channel's full feed when `url` is its uploads playlist's feed, else None.

    YouTube answers 404 for the uploads playlist of a channel that has no long-form
    video yet (only Shorts, say); its channel feed still works.
    """
    channel_id = channel_id_of_feed(url)
    if channel_id is None or "playlist_id=UULF" not in url:
        return None
    return feed_url_for_channel_id(channel_id)


def channel_id_of_feed(url: str) -> str | None:
    """The channel id a YouTube channel or uploads feed URL names; None for other URLs."""
    parts = urlsplit(url.strip())
    if (parts.hostname or "") not in _YOUTUBE_HOSTS or parts.path != "/feeds/videos.xml":
        return None
    query = parse_qs(parts.query)
    channel = query.get("channel_id", [""])[0]
    if CHANNEL_ID_RE.fullmatch(channel):
        return channel
    playlist = query.get("playlist_id", [""])[0]
    candidate = "UC" + playlist[4:]
    if playlist[:4] in ("UULF", "UUSH", "UULV") and CHANNEL_ID_RE.fullmatch(candidate):
        return candidate
    return None


def is_shorts_link(url: str | None) -> bool:
    """Whether `url` is a YouTube Shorts page (`youtube.com/shorts/ID`)."""
    if not url:
        return False
    parts = urlsplit(url.strip())
    return (parts.hostname or "") in _YOUTUBE_HOSTS and parts.path.startswith("/shorts/")


def parse_channel_ref(ref: str) -> tuple[str | None, str | None]:
    """`(channel_id, handle)` from an id, a channel URL, `@handle` or a handle URL.

    Exactly one of the two is set; the handle keeps its "@". Raises ValueError otherwise.
    """
    text = ref.strip()
    if not text:
        raise ValueError(f"empty YouTube channel reference; {_HELP}")
    if CHANNEL_ID_RE.fullmatch(text):
        return text, None
    if text.startswith("@"):
        return None, _checked_handle(text, ref)
    if "://" not in text and text.split("/", 1)[0].lower() in _YOUTUBE_HOSTS:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in _YOUTUBE_HOSTS:
        hint = f" (did you mean '@{text}'?)" if _HANDLE_RE.fullmatch(text) else ""
        raise ValueError(f"{ref!r} is not a YouTube channel{hint}; {_HELP}")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments and segments[0].startswith("@"):
        return None, _checked_handle(segments[0], ref)
    if len(segments) >= 2 and segments[0] == "channel" and CHANNEL_ID_RE.fullmatch(segments[1]):
        return segments[1], None
    query_ids = parse_qs(parts.query).get("channel_id", [])
    if segments == ["feeds", "videos.xml"] and query_ids and CHANNEL_ID_RE.fullmatch(query_ids[0]):
        return query_ids[0], None
    if segments and segments[0] in ("user", "c"):
        raise ValueError(
            f"legacy YouTube URL {ref!r} cannot be resolved; open the channel page and copy "
            "its @handle or its https://www.youtube.com/channel/UC… address instead"
        )
    raise ValueError(f"{ref!r} is not a YouTube channel; {_HELP}")


async def resolve_handle(
    client: httpx.AsyncClient, handle: str, *, base: str = "https://www.youtube.com"
) -> str:
    """The channel id behind `@handle`, read from the channel page (`{base}/@handle`).

    Raises FetchError when the page cannot be loaded or names no channel id.
    """
    name = handle.strip().removeprefix("@")
    if not _HANDLE_RE.fullmatch(name):
        raise FetchError(f"not a valid YouTube handle: {handle!r}; {_HELP}")
    return await _channel_id_on(
        client,
        f"{base.rstrip('/')}/@{quote(name)}",
        f"@{name}",
        missing=f"YouTube has no channel @{name}",
        instead="configure the channel id (UC…) from the channel's page instead of the handle",
    )


async def channel_id_for_video(
    client: httpx.AsyncClient, video_id: str, *, base: str = "https://www.youtube.com"
) -> str:
    """The id of the channel that uploaded `video_id`, read from its watch page.

    Raises FetchError when the page cannot be loaded or names no channel id.
    """
    return await _channel_id_on(
        client,
        f"{base.rstrip('/')}/watch?v={quote(video_id)}",
        f"video {video_id}",
        missing=f"YouTube has no video {video_id}",
        instead="use the channel's address or @handle instead",
    )


def video_id_from_url(url: str) -> str | None:
    """The video id of a YouTube video address (watch, youtu.be, shorts, live, embed)."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in ("youtu.be", "www.youtu.be"):
        candidate = segments[0] if segments else ""
    elif host in _YOUTUBE_HOSTS and segments == ["watch"]:
        candidate = (parse_qs(parts.query).get("v") or [""])[0]
    elif host in _YOUTUBE_HOSTS and len(segments) >= 2 and segments[0] in _VIDEO_PATHS:
        candidate = segments[1]
    else:
        return None
    return candidate if _VIDEO_ID_RE.fullmatch(candidate) else None


async def _channel_id_on(
    client: httpx.AsyncClient, url: str, what: str, *, missing: str, instead: str
) -> str:
    """The channel id a YouTube page names; FetchError saying what to do `instead` if none.

    The consent cookie gets EU visitors the page, not a cookie-consent interstitial.
    """
    try:
        response = await client.get(url, headers={"Cookie": _CONSENT_COOKIE}, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise FetchError(f"could not load {url} to look up {what}: {exc}") from exc
    if response.status_code == 404:
        raise FetchError(f"{missing} (HTTP 404); check the spelling")
    if response.status_code >= 400:
        raise FetchError(
            f"could not look up {what}: HTTP {response.status_code} from {url}; "
            "try again later or configure the channel id (UC…) instead"
        )
    if (response.url.host or "").startswith("consent."):
        raise FetchError(
            f"YouTube showed a cookie-consent page instead of {what}; "
            "configure the channel id (UC…) instead"
        )
    channel_id = channel_id_from_page(response.text)
    if channel_id is None:
        raise FetchError(f"found no channel id on {url}; {instead}")
    return channel_id


def channel_id_from_page(page: str) -> str | None:
    """The page owner's channel id: canonical link first, embedded JSON last.

    `"channelId"` is the weakest clue because pages also name featured channels.
    """
    for pattern in _PAGE_PATTERNS:
        match = pattern.search(page)
        if match:
            return match.group(1)
    return None


def _checked_id(channel_id: str) -> str:
    channel_id = channel_id.strip()
    if not CHANNEL_ID_RE.fullmatch(channel_id):
        raise ValueError(f"not a YouTube channel id: {channel_id!r} (expected UC + 22 characters)")
    return channel_id


def _checked_handle(candidate: str, ref: str) -> str:
    match = _HANDLE_RE.fullmatch(candidate)
    if not match:
        raise ValueError(f"not a valid YouTube handle: {ref!r}; {_HELP}")
    return "@" + match.group(1)
