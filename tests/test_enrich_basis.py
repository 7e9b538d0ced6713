"""How the chosen source text makes the article: body, chapters, transcript section, and
the "Grundlage" line in the attribution box."""

from __future__ import annotations

import dataclasses
import re

import pytest

from kanalwerk.basis import basis
from kanalwerk.compose import basis_line
from kanalwerk.models import Enclosure, SourceKind, SourceText, StoredItem
from kanalwerk.translate.article.source import ArticleSource, article_source
from tests.test_compose import compose, stored_item

CHAPTERS = "Intro below.\n0:00 Intro\n2:00 Part two\n5:00 End"


def with_source(
    stored: StoredItem, kind: SourceKind, html: str, **item_fields: object
) -> StoredItem:
    item = dataclasses.replace(stored.item, **item_fields)  # type: ignore[arg-type]
    return dataclasses.replace(stored, item=item, source_text=SourceText(kind, html))


@pytest.mark.parametrize(
    ("kind", "video", "episode", "line"),
    [
        ("transcript", True, False, "Grundlage: Transkript des Videos"),
        ("transcript", False, True, "Grundlage: Transkript der Folge"),
        ("fulltext", False, False, "Grundlage: Volltext des Artikels"),
        ("description", True, False, "Grundlage: Beschreibung des Videos"),
        ("feed", False, True, "Grundlage: Beschreibung der Folge"),
        ("feed", False, False, None),
        (None, False, False, None),
    ],
)
def test_the_basis_is_named_in_german(
    kind: SourceKind | None, video: bool, episode: bool, line: str | None
) -> None:
    assert basis_line(kind, video=video, episode=episode) == line


def test_the_line_sits_inside_the_box_after_its_usual_text() -> None:
    html = compose(basis="transcript").content_html
    box = html[: html.index("</div>") + len("</div>")]
    assert re.fullmatch(
        r'<div class="quelle" role="note"><p><strong>ℹ️ Hinweis zur Quelle</strong></p>'
        r"<p>[^<]* Original: <a [^>]*>[^<]*</a>\.</p>"
        r"<p>Grundlage: Transkript des Videos</p></div>",
        box,
    ), box
    assert "Grundlage" not in compose().content_html


def test_a_transcript_follows_the_description_unless_turned_off() -> None:
    stored = with_source(stored_item(), "transcript", "<p>Said.</p>", media_description=CHAPTERS)

    made = basis(stored)
    assert (made.kind, made.body_html, made.transcript_html) == (
        "transcript",
        "<p>Original text</p>",
        "<p>Said.</p>",
    )
    assert made.chapters_html.count("<li>") == 3

    off = basis(stored, transcript_section=False)
    assert (off.kind, off.body_html, off.transcript_html) == (
        "description",
        "<p>Original text</p>",
        "",
    )
    # The article writer writes from the transcript either way, and names it.
    assert article_source(stored) == ArticleSource(
        "<p>Said.</p>", "Transkript des Videos", "transcript"
    )


def test_full_text_replaces_the_feeds_body() -> None:
    stored = with_source(stored_item(video=False), "fulltext", "<p>All of it.</p>")
    made = basis(stored)
    assert (made.kind, made.body_html, made.transcript_html, made.chapters_html) == (
        "fulltext",
        "<p>All of it.</p>",
        "",
        "",
    )


def test_an_item_not_yet_enriched_uses_its_own_text() -> None:
    made = basis(stored_item())
    assert (made.kind, made.body_html) == ("description", "<p>Original text</p>")
    assert basis(stored_item(video=False)).kind == "feed"
    assert article_source(stored_item()) == ArticleSource(
        "<p>Original text</p>", None, "description"
    )


def test_the_article_carries_chapters_transcript_and_enclosures() -> None:
    mp3 = Enclosure("https://cdn.example.net/e.mp3", "audio/mpeg", 1000)
    stored = with_source(stored_item(video=False), "transcript", "<p>x</p>", enclosures=(mp3,))
    article = compose(
        stored,
        basis="transcript",
        chapters_html_de="<ol><li>Kapitel eins</li></ol>",
        transcript_html_de="<p>Gesagt.</p><script>x()</script>",
    )
    html = article.content_html
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings[-2:] == ["Kapitel", "Die Folge in Textform"]
    assert html.endswith("<h2>Die Folge in Textform</h2><p>Gesagt.</p>")
    assert "Grundlage: Transkript der Folge" in html
    assert article.enclosures == (mp3,)
