"""What was said: a video's transcript from YouTube, an episode's from its feed's link.

The enrich step's first source. Videos are asked one at a time through the `youtube`
extra; once YouTube refuses the client (blocked, too many requests) the other videos
of the run are not asked. Podcast transcripts (`<podcast:transcript>`) are fetched
together through the feeds' fetcher: same User-Agent, size cap and per-host limits.
A channel with `transcripts: false` is left out of both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from kanalwerk.errors import TranscriptUnavailable
from kanalwerk.fetch import FetchSettings, fetch_all
from kanalwerk.models import FetchResult, FetchState, SourceText, TranscriptLink
from kanalwerk.sources import youtube_transcripts
from kanalwerk.sources.base import Candidate, Missing
from kanalwerk.sources.cues import cues_html, transcript_format, transcript_html

log = logging.getLogger(__name__)

#: Formats in the order they are preferred: timed cues join into the best paragraphs.
PREFERENCE = ("vtt", "srt", "json", "html", "plain")

VideoClient = Callable[[], youtube_transcripts.VideoTranscripts]


class TranscriptSource:
    """Transcripts for videos and podcast episodes (an enrich `Source`)."""

    def __init__(self, settings: FetchSettings, video_client: VideoClient | None = None) -> None:
        self._settings = settings
        self._video_client = video_client

    def find(self, candidates: Sequence[Candidate]) -> Mapping[int, SourceText | Missing]:
        wanted = [c for c in candidates if c.channel.transcripts is not False]
        videos = [c for c in wanted if c.stored.item.video_id]
        episodes = [c for c in wanted if not c.stored.item.video_id and c.stored.item.transcripts]
        found: dict[int, SourceText | Missing] = {}
        if videos:
            found.update(self._videos(videos))
        if episodes:
            found.update(asyncio.run(self._episodes(episodes)))
        return found

    def _videos(self, candidates: Sequence[Candidate]) -> dict[int, SourceText | Missing]:
        installed = youtube_transcripts.installed()
        # Without the extra only channels that asked for transcripts hear about it.
        asked = [c for c in candidates if installed or c.channel.transcripts]
        if not installed:
            if asked:
                log.warning("%s", youtube_transcripts.NOT_INSTALLED)
            return {c.stored.id: Missing(youtube_transcripts.NOT_INSTALLED) for c in asked}
        client = (self._video_client or youtube_transcripts.VideoTranscripts)()
        found: dict[int, SourceText | Missing] = {}
        blocked: str | None = None
        for c in asked:
            video_id = c.stored.item.video_id
            assert video_id is not None
            if blocked is not None:
                found[c.stored.id] = Missing(blocked)
                continue
            try:
                cues = client.cues(video_id, c.language)
            except TranscriptUnavailable as exc:
                found[c.stored.id] = Missing(str(exc))
                if exc.blocked:
                    blocked = str(exc)
                    log.warning("%s: %s", c.channel.name, exc)
                continue
            found[c.stored.id] = SourceText("transcript", cues_html(cues))
        return found

    async def _episodes(self, candidates: Sequence[Candidate]) -> dict[int, SourceText | Missing]:
        chosen: dict[str, tuple[Candidate, TranscriptLink, str]] = {}
        found: dict[int, SourceText | Missing] = {}
        for c in candidates:
            pick = best_link(c.stored.item.transcripts, c.language)
            if pick is None:
                types = ", ".join(sorted({t.type for t in c.stored.item.transcripts}))
                found[c.stored.id] = Missing(f"no transcript in a readable format ({types})")
                continue
            chosen[f"transcript:{c.stored.id}"] = (c, *pick)

        async def handle(result: FetchResult) -> None:
            candidate, link, fmt = chosen[result.channel_id]
            found[candidate.stored.id] = _episode_text(result, link, fmt)

        states = [FetchState(key, link.url) for key, (_c, link, _f) in chosen.items()]
        await fetch_all(states, self._settings, on_result=handle, untrusted=True)
        return found


def best_link(links: Sequence[TranscriptLink], language: str) -> tuple[TranscriptLink, str] | None:
    """The link to fetch and its format: the item's language first, then timed formats."""
    wanted = language.split("-", 1)[0].lower()
    readable = [(link, fmt) for link in links if (fmt := transcript_format(link.type))]
    if not readable:
        return None

    def rank(pair: tuple[TranscriptLink, str]) -> tuple[int, int]:
        link, fmt = pair
        code = (link.language or wanted).split("-", 1)[0].lower()
        other_language = code != wanted
        return (int(other_language), PREFERENCE.index(fmt))

    return min(readable, key=rank)


def _episode_text(result: FetchResult, link: TranscriptLink, fmt: str) -> SourceText | Missing:
    if not result.ok or result.content is None:
        return Missing(f"transcript {link.url} not fetched: {result.error or 'no content'}")
    # The feed's word on the type is kept: servers often send VTT as text/plain.
    try:
        return SourceText("transcript", transcript_html(result.content, fmt, url=result.final_url))
    except TranscriptUnavailable as exc:
        return Missing(str(exc))
