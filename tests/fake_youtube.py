"""YouTube's transcript endpoints as youtube-transcript-api sees them, on a `LocalServer`.

The library asks three things: the watch page (for the Innertube API key), the
Innertube player (for the caption tracks and whether the video plays), and each
track's timed text. Their shapes follow what YouTube answers; `session()` is the
requests session handed to the library, with youtube.com routed to this server.

Knobs: `videos` maps a video id to its `Video`; `too_many_requests` answers 429 to
everything, as YouTube does to a client it throttles; `bot_check` refuses every video
as YouTube refuses a client it takes for a bot. `seen` records every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter

from tests.servers import LocalServer, Request, Response

API_KEY = "AIzaFakeInnertubeKey_0123456789"
YOUTUBE = "https://www.youtube.com"

Lines = list[tuple[float, float, str]]  # start, duration, text


@dataclass
class Video:
    """A video's caption tracks by language: made by hand, and generated (ASR)."""

    manual: dict[str, Lines] = field(default_factory=dict)
    generated: dict[str, Lines] = field(default_factory=dict)
    disabled: bool = False  # no captions at all: the player answer has no tracks


@dataclass
class FakeYouTube:
    server: LocalServer
    videos: dict[str, Video] = field(default_factory=dict)
    too_many_requests: bool = False
    bot_check: bool = False  # "Sign in to confirm you’re not a bot" for every video

    def __post_init__(self) -> None:
        self.server.routes["/watch"] = self._watch
        self.server.routes["/youtubei/v1/player"] = self._player
        self.server.routes["/api/timedtext"] = self._timedtext

    @property
    def seen(self) -> list[Request]:
        """Every request the fake has answered."""
        return self.server.requests

    def session(self) -> requests.Session:
        """A session whose youtube.com requests reach this server."""
        client = requests.Session()
        client.mount(YOUTUBE, _Rerouted(self.server.base_url))
        return client

    def _watch(self, request: Request) -> Response:
        if self.too_many_requests:
            return Response(429, b"Too Many Requests", {"Content-Type": "text/html"})
        page = (
            "<!DOCTYPE html><html><head><title>YouTube</title></head><body>"
            f'<script>ytcfg.set({{"INNERTUBE_API_KEY": "{API_KEY}", "HL": "en"}});</script>'
            "</body></html>"
        )
        return Response(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def _player(self, request: Request) -> Response:
        if self.too_many_requests:
            return Response(429, b"", {"Content-Type": "application/json"})
        if parse_qs(urlsplit(request.path).query).get("key") != [API_KEY]:
            return Response.json({"error": {"code": 400, "message": "API key not valid"}}, 400)
        video_id = request.json()["videoId"]
        if self.bot_check:
            status = {"status": "LOGIN_REQUIRED", "reason": "Sign in to confirm you’re not a bot"}
            return Response.json({"playabilityStatus": status})
        video = self.videos.get(video_id)
        if video is None:
            return Response.json(
                {"playabilityStatus": {"status": "ERROR", "reason": "This video is unavailable"}}
            )
        data: dict[str, Any] = {
            "playabilityStatus": {"status": "OK", "playableInEmbed": True},
            "videoDetails": {"videoId": video_id},
        }
        if not video.disabled:
            tracks = [_track(video_id, code, False) for code in video.manual]
            tracks += [_track(video_id, code, True) for code in video.generated]
            data["captions"] = {
                "playerCaptionsTracklistRenderer": {
                    "captionTracks": tracks,
                    "translationLanguages": [
                        {"languageCode": "de", "languageName": {"runs": [{"text": "German"}]}}
                    ],
                }
            }
        return Response.json(data)

    def _timedtext(self, request: Request) -> Response:
        if self.too_many_requests:
            return Response(429, b"", {"Content-Type": "text/xml"})
        query = parse_qs(urlsplit(request.path).query)
        video = self.videos[query["v"][0]]
        tracks = video.generated if query.get("kind") == ["asr"] else video.manual
        lines = tracks[query["lang"][0]]
        # The text is HTML-escaped inside the XML, as YouTube sends it (`&amp;#39;`).
        body = "".join(
            f'<text start="{start}" dur="{duration}">{escape(escape(text))}</text>'
            for start, duration, text in lines
        )
        xml = f'<?xml version="1.0" encoding="utf-8" ?><transcript>{body}</transcript>'
        return Response(200, xml.encode(), {"Content-Type": "text/xml; charset=UTF-8"})


def _track(video_id: str, code: str, generated: bool) -> dict[str, Any]:
    url = f"{YOUTUBE}/api/timedtext?v={video_id}&lang={code}" + ("&kind=asr" if generated else "")
    track: dict[str, Any] = {
        "baseUrl": url + "&fmt=srv3",
        "name": {"runs": [{"text": code + (" (auto-generated)" if generated else "")}]},
        "vssId": ("a." if generated else ".") + code,
        "languageCode": code,
        "isTranslatable": True,
    }
    if generated:
        track["kind"] = "asr"
    return track


class _Rerouted(HTTPAdapter):
    """Sends https://www.youtube.com/… to the fake server instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._base_url = base_url

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        request.url = self._base_url + request.url.removeprefix(YOUTUBE)
        return super().send(request, **kwargs)
