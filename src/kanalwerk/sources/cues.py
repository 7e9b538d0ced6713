"""Transcript files → paragraphs of HTML.

Captions come as cues of a few words each; an article wants paragraphs. Cues are joined
into one paragraph until a pause or a sentence end after enough text says a new thought
begins (generated captions have no punctuation, so length ends theirs). WebVTT and
SubRip are read with their own libraries (webvtt-py, srt); Podcasting 2.0 JSON, plain
text and HTML transcripts need none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError
from webvtt.models import Timestamp

from kanalwerk.errors import TranscriptUnavailable
from kanalwerk.parse import text_to_html
from kanalwerk.sanitize import collapse_whitespace, html_to_text, sanitize_html

#: Silence (seconds) after a sentence end that starts a new paragraph.
PAUSE = 2.0
#: A sentence end after this many characters starts a new paragraph.
MIN_PARAGRAPH = 400
#: Without a sentence end (generated captions), a paragraph ends at a cue after this many.
MAX_PARAGRAPH = 1200
_SENTENCE_END = (".", "!", "?", "…", '."', '!"', '?"', ".”", "!”", "?”")

#: MIME types of `<podcast:transcript>` and the format each names.
FORMATS = {
    "text/vtt": "vtt",
    "application/x-subrip": "srt",
    "application/srt": "srt",
    "text/srt": "srt",
    "application/json": "json",
    "text/html": "html",
    "text/plain": "plain",
}


@dataclass(frozen=True)
class Cue:
    """A few words said between `start` and `end` (seconds), by `speaker` when known."""

    start: float
    end: float
    text: str
    speaker: str | None = None


def paragraphs(cues: Iterable[Cue]) -> list[str]:
    """Cues joined into paragraphs of plain text; a new speaker starts one, named once."""
    found: list[str] = []
    words: list[str] = []
    length = 0
    speaker: str | None = None
    last: Cue | None = None
    for cue in cues:
        text = collapse_whitespace(cue.text)
        if not text or (last is not None and text == collapse_whitespace(last.text)):
            continue  # rolling captions repeat the line before
        if words and last is not None:
            gap = cue.start - last.end
            ended = words[-1].endswith(_SENTENCE_END)
            if (
                (cue.speaker and cue.speaker != speaker)
                or (ended and (gap >= PAUSE or length >= MIN_PARAGRAPH))
                or length >= MAX_PARAGRAPH
            ):
                found.append(" ".join(words))
                words, length = [], 0
        if not words and cue.speaker and cue.speaker != speaker:
            text = f"{cue.speaker}: {text}"
        if cue.speaker:
            speaker = cue.speaker
        words.append(text)
        length += len(text) + 1
        last = cue
    if words:
        found.append(" ".join(words))
    return found


def paragraphs_html(texts: Sequence[str]) -> str:
    return "\n".join(f"<p>{escape(text, quote=False)}</p>" for text in texts)


def cues_html(cues: Iterable[Cue]) -> str:
    """Cues as HTML paragraphs."""
    return paragraphs_html(paragraphs(cues))


def transcript_format(mime: str | None) -> str | None:
    """The format a MIME type names ("vtt", "srt", …); None for one we cannot read."""
    if not mime:
        return None
    return FORMATS.get(mime.split(";", 1)[0].strip().lower())


def transcript_html(body: bytes, fmt: str, *, url: str) -> str:
    """A transcript file as sanitized HTML paragraphs; raises `TranscriptUnavailable`."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    if fmt == "html":
        html = sanitize_html(text, base_url=url)
    elif fmt == "plain":
        html = text_to_html(text)
    else:
        html = cues_html(_CUE_READERS[fmt](text, url))
    if not html_to_text(html).strip():
        raise TranscriptUnavailable(f"the transcript at {url} is empty")
    return html


def _vtt_cues(text: str, url: str) -> list[Cue]:
    try:
        captions = webvtt.from_string(text)
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise TranscriptUnavailable(f"the transcript at {url} is not valid WebVTT: {exc}") from exc
    return [
        Cue(_vtt_seconds(c.start_time), _vtt_seconds(c.end_time), c.text, c.voice or None)
        for c in captions.captions
    ]


def _vtt_seconds(stamp: Timestamp) -> float:
    hours, minutes, seconds, millis = stamp.to_tuple()
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _srt_cues(text: str, url: str) -> list[Cue]:
    try:
        subtitles = list(srt.parse(text))
    except srt.SRTParseError as exc:
        raise TranscriptUnavailable(f"the transcript at {url} is not valid SubRip: {exc}") from exc
    return [
        # SubRip allows <i>, <b> and <font> in a cue; only the words are wanted.
        Cue(s.start.total_seconds(), s.end.total_seconds(), html_to_text(s.content))
        for s in subtitles
    ]


def _json_cues(text: str, url: str) -> list[Cue]:
    """Podcasting 2.0 JSON: `{"segments": [{"speaker", "startTime", "endTime", "body"}]}`."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TranscriptUnavailable(f"the transcript at {url} is not valid JSON: {exc}") from exc
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        raise TranscriptUnavailable(f"the transcript at {url} has no segments")
    cues = []
    for segment in segments:
        if not isinstance(segment, dict) or not isinstance(segment.get("body"), str):
            continue
        start, end = _number(segment.get("startTime")), _number(segment.get("endTime"))
        speaker = segment.get("speaker")
        cues.append(
            Cue(
                start,
                max(end, start),
                segment["body"],
                speaker if isinstance(speaker, str) else None,
            )
        )
    return cues


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


_CUE_READERS = {"vtt": _vtt_cues, "srt": _srt_cues, "json": _json_cues}
