"""Transcript files into paragraphs: cue joining, each format, and what is refused."""

from __future__ import annotations

import pytest

from kanalwerk.errors import TranscriptUnavailable
from kanalwerk.models import TranscriptLink
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
