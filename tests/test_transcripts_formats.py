"""Transcript files into paragraphs: cue joining, each format, and what is refused."""

from __future__ import annotations

import json

import pytest

from kanalwerk.errors import TranscriptUnavailable
from kanalwerk.models import Enclosure, Item, TranscriptLink
from kanalwerk.parse import parse_feed
from kanalwerk.sanitize import sanitize_item
from kanalwerk.sources.cues import (
    MAX_PARAGRAPH,
    MIN_PARAGRAPH,
    Cue,
    paragraphs,
    transcript_format,
    transcript_html,
)
from kanalwerk.sources.transcripts import best_link

URL = "https://podcast.example.net/t/1"


def test_generated_captions_without_punctuation_break_at_a_length() -> None:
    words = "and then the model was trained on more data than before"
    cues = [Cue(i * 2.0, i * 2.0 + 2.0, f"{words} {i}") for i in range(60)]

    found = paragraphs(cues)

    assert len(found) > 1
    assert all(len(p) <= MAX_PARAGRAPH + len(words) + 5 for p in found)
    assert " ".join(found) == " ".join(c.text for c in cues)  # nothing lost or repeated


def test_a_sentence_end_after_enough_text_starts_a_paragraph_without_a_pause() -> None:
    sentence = "This sentence is part of a long and careful explanation of the results."
    cues = [Cue(i * 1.0, i * 1.0 + 1.0, sentence) for i in range(1)]
    cues += [Cue(i * 1.0, i * 1.0 + 1.0, f"{sentence[:-1]} number {i}.") for i in range(1, 12)]

    found = paragraphs(cues)

    assert len(found) >= 2
    assert all(p.endswith(".") for p in found)
    assert len(found[0]) >= MIN_PARAGRAPH


def test_rolling_captions_are_not_repeated() -> None:
    cues = [Cue(0, 1, "so what"), Cue(1, 2, "so   what"), Cue(2, 3, "happened next")]

    assert paragraphs(cues) == ["so what happened next"]


def test_vtt_voices_name_each_speaker_once() -> None:
    vtt = (
        "WEBVTT\n\n00:00.000 --> 00:01.000\n<v Anna>Hi.\n\n"
        "00:01.000 --> 00:02.000\n<v Anna>Still me\n\n"
        "00:02.000 --> 00:03.000\n<v Ben>Hello <b>there</b>.\n"
    )

    html = transcript_html(vtt.encode(), "vtt", url=URL)

    assert html == "<p>Anna: Hi. Still me</p>\n<p>Ben: Hello there.</p>"


def test_plain_text_and_html_transcripts() -> None:
    plain = transcript_html(b"First part.\n\nSecond <part>.", "plain", url=URL)
    assert plain == "<p>First part.</p>\n<p>Second &lt;part&gt;.</p>"

    html = transcript_html(
        b'<p onclick="x()">Said <a href="/x">this</a>.</p><script>alert(1)</script>',
        "html",
        url=URL,
    )
    assert "script" not in html and "onclick" not in html
    assert 'href="https://podcast.example.net/x"' in html


@pytest.mark.parametrize(
    ("body", "fmt", "reason"),
    [
        (b"not a vtt file", "vtt", "is not valid WebVTT"),
        (b"1\n00:00:01,000 --> nonsense\nHi\n", "srt", "is not valid SubRip"),
        (b"{not json", "json", "is not valid JSON"),
        (b'{"version": "1.0.0"}', "json", "has no segments"),
        (b"WEBVTT\n", "vtt", "is empty"),
    ],
)
def test_unreadable_transcripts_say_why(body: bytes, fmt: str, reason: str) -> None:
    with pytest.raises(TranscriptUnavailable, match=reason) as caught:
        transcript_html(body, fmt, url=URL)
    assert URL in str(caught.value)
    assert not caught.value.blocked


def test_formats_are_read_from_the_type() -> None:
    assert transcript_format("text/vtt; charset=utf-8") == "vtt"
    assert transcript_format("Application/X-Subrip") == "srt"
    assert transcript_format("application/srt") == "srt"
    assert transcript_format("audio/mpeg") is None
    assert transcript_format(None) is None


def test_the_link_in_the_items_language_comes_first_then_timed_formats() -> None:
    html_en = TranscriptLink("https://x/en.html", "text/html", "en")
    vtt_es = TranscriptLink("https://x/es.vtt", "text/vtt", "es")
    srt = TranscriptLink("https://x/any.srt", "application/x-subrip")
    pdf = TranscriptLink("https://x/t.pdf", "application/pdf")

    assert best_link([vtt_es, html_en], "en-US") == (html_en, "html")
    assert best_link([html_en, srt, vtt_es], "en") == (srt, "srt")
    assert best_link([pdf], "en") is None


def test_parse_keeps_every_transcript_link_and_media_enclosure_whatever_the_prefix() -> None:
    feed = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:pc="https://podcastindex.org/namespace/1.0">
 <channel><title>P</title><link>https://p.example/</link>
  <item><title>E</title><guid>e1</guid>
   <enclosure url="/media/e1.mp3" length="123" type="audio/mpeg"/>
   <pc:transcript url="/t/e1.vtt" type="text/vtt" language="en"/>
   <pc:transcript url="https://p.example/t/e1.srt" type="Application/X-Subrip"/>
   <pc:transcript url="javascript:alert(1)" type="text/html"/>
  </item>
  <item><title>Cover</title><guid>e2</guid>
   <enclosure url="https://p.example/cover.jpg" length="5" type="image/jpeg"/>
  </item>
 </channel>
</rss>"""
    parsed = parse_and_sanitize_feed(feed)

    first, second = parsed
    assert first.enclosures == (Enclosure("https://p.example/media/e1.mp3", "audio/mpeg", 123),)
    assert first.transcripts == (
        TranscriptLink("https://p.example/t/e1.vtt", "text/vtt", "en"),
        TranscriptLink("https://p.example/t/e1.srt", "application/x-subrip"),
    )
    assert second.enclosures == () and second.transcripts == ()


def test_json_feed_attachments_are_enclosures() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "P",
        "items": [
            {
                "id": "1",
                "content_text": "Hi",
                "attachments": [
                    {"url": "e1.m4a", "mime_type": "audio/x-m4a", "size_in_bytes": 99},
                    {"url": "notes.pdf", "mime_type": "application/pdf"},
                ],
            }
        ],
    }
    (item,) = parse_and_sanitize_feed(json.dumps(feed).encode(), "application/feed+json")
    assert item.enclosures == (Enclosure("https://p.example/e1.m4a", "audio/x-m4a", 99),)


def parse_and_sanitize_feed(body: bytes, content_type: str = "application/rss+xml") -> list[Item]:
    parsed = parse_feed(body, url="https://p.example/feed", headers={"content-type": content_type})
    return [sanitize_item(item) for item in parsed.items]
