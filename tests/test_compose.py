from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from html import unescape

import pytest

from kanalwerk.compose import SLUG_LENGTH, compose_article, cut_text, make_slug
from kanalwerk.config import SiteConfig
from kanalwerk.dates import format_date_de, format_datetime_de
from kanalwerk.errors import ConfigError
from kanalwerk.models import Article, Item, SourceRef, StoredItem
from kanalwerk.parse import parse_feed
from kanalwerk.sanitize import html_to_text
from kanalwerk.slug import slugify

SITE = SiteConfig(
    title="KI-Nachrichten auf Deutsch",
    subtitle="Ausgewählte Beiträge, übersetzt",
    base_url="https://example.org/",
    author="Redaktion",
).info()
NOW = datetime(2025, 2, 1, 12, 0, tzinfo=UTC)


def stored_item(
    *,
    guid: str = "yt:video:abc123",
    title: str = "How China's New AI Model DeepSeek Is Threatening U.S. Dominance",
    link: str | None = "https://www.youtube.com/watch?v=abc123",
    channel_name: str = "CNBC",
    feed_title: str | None = "CNBC - YouTube",
    published: datetime | None = datetime(2025, 1, 27, 13, 5, tzinfo=UTC),
    updated: datetime | None = None,
    first_seen: datetime = datetime(2025, 1, 27, 14, 0, tzinfo=UTC),
    video: bool = True,
) -> StoredItem:
    item = Item(
        guid=guid,
        link=link,
        title=title,
        published=published,
        updated=updated,
        content_html="<p>Original text</p>",
        video_id="abc123" if video else None,
        thumbnail="https://i.ytimg.com/vi/abc123/hqdefault.jpg" if video else None,
    )
    source = SourceRef(
        title=title,
        link=link,
        channel_name=channel_name,
        feed_title=feed_title,
        feed_url="https://www.youtube.com/feeds/videos.xml?channel_id=UC123",
        feed_link="https://www.youtube.com/channel/UC123",
        feed_id="yt:channel:UC123",
    )
    return StoredItem(
        id=7,
        channel_id="cnbc",
        guid=guid,
        item=item,
        state="translated",
        attempts=0,
        last_error=None,
        first_seen=first_seen,
        source=source,
    )


def compose(stored: StoredItem | None = None, **overrides: object) -> Article:
    kwargs: dict[str, object] = {
        "title_de": "Chinas KI-Durchbruch: DeepSeek fordert OpenAI heraus",
        "body_html_de": "<h2>Was DeepSeek besonders macht</h2><p>Die KI-Landschaft erlebt "
        "derzeit eine Verschiebung.</p>",
        "teaser_de": None,
        "engine": "openai",
        "model": "deepseek-chat",
        "site": SITE,
        "now": NOW,
    }
    kwargs.update(overrides)
    return compose_article(stored or stored_item(), **kwargs)  # type: ignore[arg-type]


def test_attribution_box_comes_first() -> None:
    article = compose()
    html = article.content_html
    assert html.startswith('<div class="quelle" role="note">')
    box = html[: html.index("</div>") + len("</div>")]
    assert "<strong>ℹ️ Hinweis zur Quelle</strong>" in box
    assert (
        "Dieser Beitrag wurde automatisch erstellt und übersetzt. "
        "Er basiert auf dem folgenden Original:" in box
    )
    link = re.search(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', box)
    assert link is not None
    assert link.group(1) == "https://www.youtube.com/watch?v=abc123"
    assert unescape(link.group(2)) == (
        "How China's New AI Model DeepSeek Is Threatening U.S. Dominance – CNBC"
    )
    # Video preview follows the box, then the body.
    rest = html[len(box) :]
    assert rest.index("hqdefault.jpg") < rest.index("Was DeepSeek besonders macht")
    assert rest.endswith("<p>Die KI-Landschaft erlebt derzeit eine Verschiebung.</p>")


def test_untranslated_box_text_and_no_video_for_plain_items() -> None:
    article = compose(stored_item(video=False), translated=False)
    assert "Dieser Beitrag wurde automatisch erstellt. Er basiert" in article.content_html
    assert "übersetzt" not in article.content_html
    assert "<img" not in article.content_html


def test_box_without_link_names_the_original() -> None:
    article = compose(stored_item(link=None, video=False, title="Plain Title"))
    box = article.content_html.split("</div>")[0]
    assert "<a " not in box
    assert "Plain Title – CNBC." in box


def test_source_falls_back_to_feed_title() -> None:
    article = compose(stored_item(channel_name="", feed_title="Simon Willison's Weblog"))
    assert unescape(article.content_html).count("– Simon Willison's Weblog</a>") == 1


def test_titles_are_escaped() -> None:
    evil = 'Tom & Jerry <script>alert("x")</script> "quoted"'
    article = compose(
        stored_item(title=evil, channel_name="A&B <News>"),
        title_de="Kosten < Nutzen & mehr",
    )
    html = article.content_html
    assert "<script" not in html
    assert "Tom &amp; Jerry &lt;script&gt;" in html
    assert "A&amp;B &lt;News&gt;" in html
    assert article.title == "Kosten < Nutzen & mehr"  # plain text; escaping is the writer's job
    assert compose(title_de="Warum <div> zählt").title == "Warum <div> zählt"


def test_box_survives_hostile_body() -> None:
    article = compose(
        body_html_de='</div></aside><p onclick="x()">Text</p><script>alert(1)</script>'
        '<div class="quelle evil" style="color:red">fake</div>',
    )
    html = article.content_html
    assert html.startswith('<div class="quelle" role="note"><p><strong>ℹ️ Hinweis zur Quelle')
    assert "onclick" not in html
    assert "<script" not in html
    assert "style=" not in html
    assert "evil" not in html


def test_entry_id_is_deterministic_and_independent_of_translation() -> None:
    first = compose()
    again = compose(
        title_de="Ein ganz anderer Titel",
        body_html_de="<p>Neu übersetzt</p>",
        teaser_de="Anders",
        engine="deepl",
        model=None,
        now=NOW + timedelta(days=30),
    )
    assert first.entry_id == again.entry_id
    digest = hashlib.sha256(b"yt:video:abc123").hexdigest()[:16]
    assert first.entry_id == f"tag:example.org,2025:cnbc/{digest}"
    other_guid = compose(stored_item(guid="yt:video:zzz"))
    assert other_guid.entry_id != first.entry_id
    # Seen on another day (a store rebuilt later): the same id.
    late = stored_item(first_seen=datetime(2025, 3, 28, 0, 30, tzinfo=timezone(timedelta(hours=2))))
    assert compose(late).entry_id == first.entry_id


def test_slug_rules() -> None:
    assert slugify("Größere Übermaße für Äpfel & Öl") == "groessere-uebermasse-fuer-aepfel-oel"
    assert slugify("Café naïve — señor") == "cafe-naive-senor"
    assert slugify("U\u0308ber GROẞE Straße") == "ueber-grosse-strasse"  # decomposed Ü, capital ß
    long = slugify("Ein sehr langer Titel " * 10, SLUG_LENGTH)
    assert len(long) <= 60
    assert not long.endswith("-")
    assert set(long.split("-")) == {"ein", "sehr", "langer", "titel"}  # whole words only
    assert len(long) > 50
    digest = hashlib.sha256(b"g").hexdigest()[:6]
    assert make_slug("", "g") == f"beitrag-{digest}"
    assert make_slug("!!! ???", "g") == f"beitrag-{digest}"
    assert make_slug("中文标题", "g") == f"beitrag-{digest}"
    assert make_slug("Hallo Welt", "g") == f"hallo-welt-{digest}"
    article = compose(title_de="Künstliche Intelligenz: Ärger über Öffnung")
    assert re.fullmatch(r"kuenstliche-intelligenz-aerger-ueber-oeffnung-[0-9a-f]{6}", article.slug)


def test_summary_uses_teaser_when_given() -> None:
    article = compose(teaser_de="  Ein kurzer\n Anriss & <mehr>. ")
    assert article.summary == "Ein kurzer Anriss & <mehr>."


def test_summary_cut_from_body_at_word_boundary() -> None:
    body = "<h1>Überschrift</h1>" + "".join(
        f"<p>Satz Nummer {i} mit Wörtern.</p>" for i in range(40)
    )
    article = compose(body_html_de=body, teaser_de="")
    summary = article.summary
    assert summary.endswith("…")
    assert len(summary) <= 281
    assert "Überschrift" not in summary
    assert "<" not in summary
    words = html_to_text(body).split()
    assert all(word in words for word in summary[:-1].split())  # no word cut in half
    assert cut_text("kurz") == "kurz"


def test_dates_published_updated() -> None:
    article = compose()
    assert article.published == datetime(2025, 1, 27, 13, 5, tzinfo=UTC)
    assert article.updated == article.published
    no_date = compose(stored_item(published=None))
    assert no_date.published == datetime(2025, 1, 27, 14, 0, tzinfo=UTC)
    changed = compose(stored_item(updated=datetime(2025, 1, 29, 8, 0, tzinfo=UTC)))
    assert changed.updated == datetime(2025, 1, 29, 8, 0, tzinfo=UTC)
    future = compose(stored_item(published=datetime(2030, 1, 1, tzinfo=UTC)))
    assert future.published == NOW
    assert future.updated == NOW


def test_other_fields() -> None:
    article = compose()
    assert article.item_id == 7
    assert article.language == "de"
    assert article.engine == "openai"
    assert article.model == "deepseek-chat"
    assert article.thumbnail == "https://i.ytimg.com/vi/abc123/hqdefault.jpg"
    assert article.title == "Chinas KI-Durchbruch: DeepSeek fordert OpenAI heraus"
    assert compose(title_de="  ").title == stored_item().source.title


@pytest.mark.parametrize("url", ["example.org/", "ftp://example.org/", "https://example.org"])
def test_site_info_rejects_bad_base_url(url: str) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        dataclasses.replace(SITE, base_url=url)


def test_german_dates() -> None:
    # 23:30 UTC on 26 January is already 27 January in Berlin.
    assert format_date_de(datetime(2025, 1, 26, 23, 30, tzinfo=UTC)) == "27. Januar 2025"
    assert format_date_de(datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) == "1. März 2025"
    assert format_datetime_de(datetime(2025, 1, 27, 13, 5, tzinfo=UTC)) == (
        "27. Januar 2025, 14:05 Uhr"
    )
    # Summer time: UTC+2.
    assert format_datetime_de(datetime(2025, 7, 1, 10, 0)) == "1. Juli 2025, 12:00 Uhr"
    assert format_date_de(datetime(2025, 12, 24, 12, tzinfo=UTC)) == "24. Dezember 2025"


def test_untitled_article_reads_like_an_untitled_item() -> None:
    """An item without any title gets the placeholder parse gives untitled feed entries."""
    feed = b"""<rss version="2.0"><channel><title>Blog</title>
<item><guid>1</guid><link>https://example.org/1</link></item></channel></rss>"""
    untitled = parse_feed(feed, url="https://example.org/feed.xml").items[0]
    assert compose(stored_item(title=untitled.title), title_de=" ").title == untitled.title
    assert compose(stored_item(title=""), title_de="").title == untitled.title
