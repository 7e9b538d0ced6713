"""Parser tests: golden files for every fixture plus the edge cases around them.

Regenerate the golden files after a deliberate change with `python -m tests.test_parse`
and review the diff before committing.
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

import kanalwerk.parse as parse_module
from kanalwerk.errors import ParseError
from kanalwerk.models import Item, ParsedFeed
from kanalwerk.parse import UNTITLED, parse_feed, text_to_html
from kanalwerk.sanitize import html_to_text, http_url, sanitize_item

DATA = Path(__file__).parent / "data"
PREFIX = 120

# fixture → (URL it is served from, Content-Type header)
CASES: dict[str, tuple[str, str]] = {
    "youtube_cnbc.xml": (
        "https://www.youtube.com/feeds/videos.xml?channel_id=UCvJJ_dzjViJCoLf5uKUTwoA",
        "text/xml; charset=UTF-8",
    ),
    "wordpress.rss": ("https://technotes.example.com/feed/", "application/rss+xml; charset=UTF-8"),
    "blog.atom": ("https://blog.example.org/atom/everything/", "application/atom+xml"),
    "rdf.xml": ("https://news.example.net/rss", "application/rdf+xml"),
    "rss091.xml": ("http://retro.example.com/rss.xml", "text/xml"),
    "feed.json": ("https://fieldnotes.example.com/feed.json", "application/feed+json"),
    "broken_entries.xml": ("https://letters.example.org/rss", "application/rss+xml"),
    "latin1.rss": ("https://buecher.example.de/feed", "application/rss+xml"),
}
NOT_FEEDS = {"not_a_feed.html"}


def golden_path(name: str) -> Path:
    return DATA / (Path(name).stem + ".expected.json")


def parse_case(name: str) -> ParsedFeed:
    url, content_type = CASES[name]
    return parse_feed((DATA / name).read_bytes(), url=url, headers={"Content-Type": content_type})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _cut(text: str | None) -> str | None:
    return None if text is None else text[:PREFIX]


def snapshot(feed: ParsedFeed) -> dict[str, Any]:
    """The parts of a parse that a golden file pins down."""

    def item(it: Item) -> dict[str, Any]:
        return {
            "guid": it.guid,
            "link": it.link,
            "title": it.title,
            "author": it.author,
            "published": _iso(it.published),
            "updated": _iso(it.updated),
            "language": it.language,
            "content_prefix": _cut(it.content_html),
            "content_length": len(it.content_html),
            "summary_prefix": _cut(it.summary_html),
            "summary_length": len(it.summary_html),
            "video_id": it.video_id,
            "yt_channel_id": it.yt_channel_id,
            "thumbnail": it.thumbnail,
            "media_description_prefix": _cut(it.media_description),
            "base_url": it.base_url,
        }

    return {
        "feed": {
            "title": feed.title,
            "link": feed.link,
            "feed_url": feed.feed_url,
            "feed_id": feed.feed_id,
            "language": feed.language,
            "warning": feed.warning,
        },
        "items": [item(it) for it in feed.items],
    }


def regenerate() -> None:
    for name in CASES:
        text = json.dumps(snapshot(parse_case(name)), indent=2, ensure_ascii=False)
        golden_path(name).write_text(text + "\n", encoding="utf-8")
        print("wrote", golden_path(name).name)


# --- golden files -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    expected = json.loads(golden_path(name).read_text(encoding="utf-8"))
    assert snapshot(parse_case(name)) == expected


def test_every_fixture_has_a_golden_file_or_is_a_known_non_feed() -> None:
    fixtures = {
        p.name for p in DATA.iterdir() if p.is_file() and not p.name.endswith(".expected.json")
    }
    assert fixtures == set(CASES) | NOT_FEEDS
    for name in CASES:
        assert golden_path(name).is_file(), f"run `python -m tests.test_parse` for {name}"


def test_parse_is_picklable_for_a_process_pool() -> None:
    assert pickle.loads(pickle.dumps(parse_feed)) is parse_feed
    feed = parse_case("youtube_cnbc.xml")
    assert pickle.loads(pickle.dumps(feed)) == feed


# --- YouTube ------------------------------------------------------------------


def test_youtube_fields() -> None:
    feed = parse_case("youtube_cnbc.xml")
    assert feed.title == "CNBC"
    assert feed.link == "https://www.youtube.com/channel/UCvJJ_dzjViJCoLf5uKUTwoA"
    deepseek = next(i for i in feed.items if "DeepSeek" in i.title)
    assert deepseek.title == "How China’s New AI Model DeepSeek Is Threatening U.S. Dominance"
    assert deepseek.published == datetime(2025, 1, 24, 17, 0, 6, tzinfo=UTC)
    assert deepseek.video_id == "WEBiebbeNCA"
    assert deepseek.yt_channel_id == "UCvJJ_dzjViJCoLf5uKUTwoA"
    assert deepseek.thumbnail == "https://i2.ytimg.com/vi/WEBiebbeNCA/hqdefault.jpg"
    assert deepseek.link == "https://www.youtube.com/watch?v=WEBiebbeNCA"
    assert deepseek.media_description is not None
    # plain text, entities decoded once
    assert '3:52 DeepSeek & the "Sputnik moment"' in deepseek.media_description
    assert "utm_source=youtube&utm_medium=video" in deepseek.media_description


def test_youtube_description_becomes_safe_html() -> None:
    deepseek = next(i for i in parse_case("youtube_cnbc.xml").items if i.video_id == "WEBiebbeNCA")
    html = deepseek.content_html
    assert html.startswith("<p>A little-known AI lab")
    assert "DeepSeek &amp; the" in html  # escaped
    assert "0:00 Introduction<br>\n3:52" in html  # single newline → <br>
    assert html.count("<p>") == 4  # blank lines → paragraphs
    assert (
        '<a href="https://cnb.cx/SubscribeCNBCtelevision">https://cnb.cx/SubscribeCNBCtelevision</a>'
        in html
    )
    assert 'html?utm_source=youtube&amp;utm_medium=video">' in html  # href attribute escaped


def test_youtube_shorts_link_kept_as_is() -> None:
    items = parse_case("youtube_cnbc.xml").items
    shorts = [i for i in items if i.link and "/shorts/" in i.link]
    assert [s.link for s in shorts] == ["https://www.youtube.com/shorts/kM5L1yPi4Ng"]


def test_youtube_channel_id_without_uc_prefix_is_normalised() -> None:
    body = (DATA / "youtube_cnbc.xml").read_bytes()
    body = body.replace(
        b"<yt:channelId>UCvJJ_dzjViJCoLf5uKUTwoA", b"<yt:channelId>vJJ_dzjViJCoLf5uKUTwoA"
    )
    feed = parse_feed(body, url="https://www.youtube.com/feeds/videos.xml")
    assert {i.yt_channel_id for i in feed.items} == {"UCvJJ_dzjViJCoLf5uKUTwoA"}


# --- content choice -----------------------------------------------------------


def test_wordpress_prefers_content_encoded_and_keeps_markup_unsanitized() -> None:
    items = parse_case("wordpress.rss").items
    first, code, xss = items
    assert first.content_html.startswith("<p>DeepSeek released <strong>R1</strong>")
    assert first.summary_html.startswith("DeepSeek released R1 under the MIT license")
    assert first.author == "Maria Schmidt"
    # relative src is resolved against the feed URL when the body is sanitized
    assert 'src="/wp-content/uploads/2025/01/' in first.content_html
    stored = sanitize_item(first).content_html
    assert 'src="https://technotes.example.com/wp-content/uploads/2025/01/' in stored
    assert "def load(raw: bytes) -&gt; dict:\n    # bytes" in code.content_html
    # sanitizing is a later stage: the dangerous parts are still here for it to remove
    assert "<script>" in xss.content_html and "onerror=" in xss.content_html
    assert "javascript:alert" in xss.content_html


def test_atom_xml_base_and_plain_text_summary() -> None:
    first, second, third = parse_case("blog.atom").items
    assert first.link == "https://blog.example.org/2025/Jan/27/deepseek-r1/"
    assert first.base_url == "https://blog.example.org/2025/Jan/27/deepseek-r1/"  # xml:base
    stored = sanitize_item(first).content_html
    assert 'src="https://blog.example.org/2025/Jan/27/deepseek-r1/r1-pricing.png"' in stored
    assert 'href="https://blog.example.org/2025/Jan/22/openai-o1/"' in stored
    assert first.summary_html == "<p>A reasoning model at a fraction of the price.</p>"
    assert second.title == "Notes on uv workspaces"  # type="html" title → plain text
    assert third.link == "https://jalammar.github.io/illustrated-transformer/"
    assert third.content_html == (
        "<p>Still the best visual introduction to attention &amp; transformers.</p>\n"
        "<p>Worth re-reading before diving into the R1 paper.</p>"
    )
    assert third.author == "Ada Lindqvist"  # inherited from the feed


def test_plain_text_atom_content_is_escaped() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>
<entry><id>urn:x:1</id><title>One</title><updated>2025-01-01T00:00:00Z</updated>
<content type="text">Use &lt;b&gt; for bold.
Next line.</content></entry></feed>"""
    (item,) = parse_feed(body, url="https://example.org/feed").items
    assert item.content_html == "<p>Use &lt;b&gt; for bold.<br>\nNext line.</p>"


# --- dates --------------------------------------------------------------------


def test_dates_are_utc() -> None:
    code = parse_case("wordpress.rss").items[1]
    assert code.published == datetime(2025, 1, 20, 12, 30, tzinfo=UTC)  # 07:30 -0500
    assert code.published is not None and code.published.utcoffset() is not None
    atom = parse_case("blog.atom").items[0]
    assert atom.published == datetime(2025, 1, 27, 20, 3, 44, tzinfo=UTC)  # 21:03:44 +01:00
    for name in CASES:
        for item in parse_case(name).items:
            for value in (item.published, item.updated):
                assert value is None or value.tzinfo is UTC


def test_rdf_dc_date_is_the_published_date() -> None:
    first = parse_case("rdf.xml").items[0]
    assert first.published == datetime(2025, 1, 26, 0, 30, tzinfo=UTC)  # 09:30 +09:00


def test_missing_dates_stay_missing() -> None:
    for item in parse_case("rss091.xml").items:
        assert item.published is None and item.updated is None


# --- guid fallbacks -----------------------------------------------------------


def _rss(items: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>https://example.org/</link>
<description>d</description>{items}</channel></rss>""".encode()


def test_guid_fallbacks() -> None:
    body = _rss(
        "<item><guid isPermaLink='false'>abc-1</guid><title>A</title>"
        "<link>https://example.org/a</link></item>"
        "<item><title>B</title><link>https://example.org/b</link></item>"
        "<item><title>C</title><pubDate>Mon, 27 Jan 2025 10:00:00 GMT</pubDate></item>"
        "<item><title>D</title><pubDate>Mon, 27 Jan 2025 10:00:00 GMT</pubDate></item>"
    )
    a, b, c, d = parse_feed(body, url="https://example.org/feed").items
    assert a.guid == "abc-1"
    assert b.guid == "https://example.org/b"
    assert c.guid.startswith("sha256:") and len(c.guid) == len("sha256:") + 64
    assert c.guid != d.guid
    again = parse_feed(body, url="https://example.org/feed").items[2]
    assert again.guid == c.guid  # stable across polls


def test_untitled_items_get_a_title_from_the_summary() -> None:
    long_text = "Word " * 40
    body = _rss(
        f"<item><guid>1</guid><description>{long_text}</description></item>"
        "<item><guid>2</guid><description>Short note.</description></item>"
        "<item><guid>3</guid></item>"
    )
    first, second, third = parse_feed(body, url="https://example.org/feed").items
    assert first.title.endswith("…") and len(first.title) <= 81
    assert first.title.startswith("Word Word")
    assert second.title == "Short note."
    assert third.title == UNTITLED


# --- encodings ----------------------------------------------------------------


def test_latin1_from_xml_declaration() -> None:
    feed = parse_case("latin1.rss")
    assert feed.title == "Münchner Bücherblog"
    assert feed.items[0].title == "Größe ist nicht alles: drei schmale Romane"
    assert feed.warning is None


def test_latin1_without_any_headers() -> None:
    feed = parse_feed((DATA / "latin1.rss").read_bytes(), url="https://buecher.example.de/feed")
    assert feed.items[1].title == "Lesung im Café Luitpold"
    assert feed.warning is None


def test_http_charset_beats_xml_declaration() -> None:
    # Transcoded by a proxy to KOI8-R, but the declaration still says windows-1251.
    title = "Новости недели"
    body = (
        '<?xml version="1.0" encoding="windows-1251"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.ru/</link><description>d</description>"
        f"<item><guid>1</guid><title>{title}</title></item></channel></rss>"
    ).encode("koi8-r")
    url = "https://example.ru/feed"
    right = parse_feed(
        body, url=url, headers={"content-type": "application/rss+xml; charset=KOI8-R"}
    )
    wrong = parse_feed(body, url=url, headers={"content-type": "application/rss+xml"})
    assert right.title == title and right.items[0].title == title
    assert wrong.items[0].title == title.encode("koi8-r").decode("cp1251")  # mojibake


def test_text_xml_without_charset_warns_but_parses() -> None:
    feed = parse_feed(
        (DATA / "latin1.rss").read_bytes(),
        url="https://buecher.example.de/feed",
        headers={"Content-Type": "text/xml"},
    )
    assert len(feed.items) == 2
    assert feed.items[0].title == "Größe ist nicht alles: drei schmale Romane"
    assert feed.warning is not None and feed.warning.startswith("character encoding")


# --- relative links -----------------------------------------------------------


RELATIVE = _rss(
    "<item><guid>1</guid><title>Rel</title><link>/posts/1</link>"
    '<description>&lt;img src="img/a.png"&gt;</description></item>'
)


def test_relative_links_resolve_against_url() -> None:
    (item,) = parse_feed(RELATIVE, url="https://example.org/blog/feed.xml").items
    assert item.link == "https://example.org/posts/1"
    assert item.base_url == "https://example.org/blog/feed.xml"
    assert 'src="https://example.org/blog/img/a.png"' in sanitize_item(item).content_html


def test_content_location_overrides_url() -> None:
    headers = {"Content-Location": "https://cdn.example.net/mirror/feed.xml"}
    (item,) = parse_feed(RELATIVE, url="https://example.org/feed", headers=headers).items
    assert item.link == "https://cdn.example.net/posts/1"
    assert 'src="https://cdn.example.net/mirror/img/a.png"' in sanitize_item(item).content_html


def test_relative_content_location_is_resolved_against_url() -> None:
    headers = {"content-location": "archive/feed.xml"}
    (item,) = parse_feed(RELATIVE, url="https://example.org/blog/feed", headers=headers).items
    assert 'src="https://example.org/blog/archive/img/a.png"' in sanitize_item(item).content_html


# --- bozo policy --------------------------------------------------------------


def test_html_page_is_not_a_feed() -> None:
    body = (DATA / "not_a_feed.html").read_bytes()
    with pytest.raises(ParseError, match="HTML page, not a feed; check the URL") as info:
        parse_feed(
            body, url="https://technotes.example.com/", headers={"Content-Type": "text/html"}
        )
    assert "https://technotes.example.com/feed/" in str(info.value)  # autodiscovery hint


def test_html_page_detected_without_content_type() -> None:
    body = (DATA / "not_a_feed.html").read_bytes()
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed(body, url="https://technotes.example.com/")


def test_broken_entries_give_items_with_warning() -> None:
    feed = parse_case("broken_entries.xml")
    assert len(feed.items) == 3
    assert feed.warning is not None
    assert "malformed XML" in feed.warning and "undefined entity" in feed.warning
    assert feed.items[1].content_html == "<p>Predictions\xa0— and why most of them are wrong.</p>"


def test_empty_valid_feed_has_no_items_and_no_error() -> None:
    feed = parse_feed(_rss(""), url="https://example.org/feed")
    assert feed.items == () and feed.warning is None and feed.title == "T"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the response body is empty"),
        (b"<?xml version='1.0'?><urlset><url><loc>x</loc></url></urlset>", "no RSS, Atom"),
        (b"<?xml version='1.0'?><rss><channel><title>x</titl", "not a feed: "),
        (b"Service temporarily unavailable", "not a feed"),
    ],
)
def test_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(body, url="https://example.org/feed")


# --- JSON Feed ----------------------------------------------------------------


def test_json_feed() -> None:
    feed = parse_case("feed.json")
    assert feed.title == "Field Notes" and feed.link == "https://fieldnotes.example.com/"
    first, second, third = feed.items
    assert first.published == datetime(2025, 1, 25, 17, 20, tzinfo=UTC)
    assert first.updated == datetime(2025, 1, 26, 7, 0, tzinfo=UTC)
    stored = sanitize_item(first).content_html
    assert 'href="https://fieldnotes.example.com/2024/12/distillation"' in stored
    assert first.summary_html == "<p>Cheap to run and easy to inspect.</p>"
    assert first.thumbnail == "https://fieldnotes.example.com/img/small-models.png"
    assert first.author == "Sam Okafor"
    assert second.link == "https://fieldnotes.example.com/2025/01/notebook"
    assert second.content_html == (
        "<p>Read two papers on retrieval.<br>\nBoth use &lt;chunking&gt; &amp; reranking.</p>\n"
        "<p>Next week: evaluation.</p>"
    )
    assert second.language == "de-DE" and second.author == "Guest Writer"
    assert third.guid == "1024" and third.title.endswith("…")


def test_json_feed_1_0_author_and_sniffing_without_header() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1",
            "title": "Old",
            "author": {"name": "Jo"},
            "items": [{"id": "1", "content_text": "Hi", "date_published": "2025-01-02T03:04:05"}],
        }
    ).encode()
    (item,) = parse_feed(body, url="https://example.org/feed.json").items
    assert item.author == "Jo" and item.content_html == "<p>Hi</p>"
    assert item.published == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "invalid JSON"), (b'{"error": "rate limited"}', "JSON Feed version")],
)
def test_json_that_is_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(
            body, url="https://example.org/feed.json", headers={"content-type": "application/json"}
        )


# --- text helpers -------------------------------------------------------------


def test_text_to_html_linkifies_and_trims_punctuation() -> None:
    html = text_to_html("See https://example.org/a_(b) and https://example.org/x. <ok> & done")
    assert '<a href="https://example.org/a_(b)">https://example.org/a_(b)</a>' in html
    assert '<a href="https://example.org/x">https://example.org/x</a>.' in html
    assert "&lt;ok&gt; &amp; done" in html


def test_html_to_text_drops_scripts() -> None:
    assert html_to_text("<p>Hi <b>there</b></p><script>x()</script><p>you</p>") == "Hi there\nyou"


# --- identity does not depend on where the feed was fetched -------------------


def test_relative_guid_is_kept_as_given_and_resolved_only_as_link() -> None:
    body = _rss(
        "<item><title>A</title><guid>12345</guid></item>"
        "<item><title>B</title><guid isPermaLink='false'>./b</guid><link>b.html</link></item>"
        "<item><title>C</title><guid>https://example.org/c</guid></item>"
    )
    old = parse_feed(body, url="https://example.org/a/feed.xml").items
    moved = parse_feed(body, url="https://example.org/b/c/feed.xml").items
    assert [i.guid for i in old] == ["12345", "./b", "https://example.org/c"]
    assert [i.guid for i in moved] == [i.guid for i in old]
    # The permalink guid still serves as the link, resolved against where the feed is.
    assert old[0].link == "https://example.org/a/12345"
    assert moved[0].link == "https://example.org/b/c/12345"
    assert moved[1].link == "https://example.org/b/c/b.html"


def test_an_item_without_guid_is_identified_by_its_link_as_written() -> None:
    body = _rss(
        "<item><title>A</title><link>posts/1</link></item>"
        "<item><title>B</title><link>https://example.org/x/./b?</link></item>"
    )
    old = parse_feed(body, url="https://example.org/a/feed.xml").items
    moved = parse_feed(body, url="https://example.org/b/c/feed.xml").items
    # An absolute link keeps the form earlier versions stored (urljoin drops the "?").
    assert [i.guid for i in old] == ["posts/1", "https://example.org/x/./b"]
    assert [i.guid for i in moved] == [i.guid for i in old]
    assert old[0].link == "https://example.org/a/posts/1"
    assert moved[0].link == "https://example.org/b/c/posts/1"
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.org/base/">'
        b"<title>T</title><link href='home'/>"
        b"<entry><title>E</title><link href='7'/><updated>2025-01-27T10:00:00Z</updated></entry>"
        b"</feed>"
    )
    feed = parse_feed(atom, url="https://example.org/x/atom.xml")
    (item,) = feed.items
    assert (item.guid, item.link) == ("7", "https://example.org/base/7")
    assert feed.link == feed.feed_id == "https://example.org/base/home"


def test_relative_atom_id_is_kept_as_given() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>feed-1</id>'
        b"<entry><title>E</title><id>entry/7</id><updated>2025-01-27T10:00:00Z</updated>"
        b'<link href="/posts/7"/></entry></feed>'
    )
    feed = parse_feed(body, url="https://example.org/x/atom.xml")
    assert feed.feed_id == "feed-1"
    (item,) = feed.items
    assert item.guid == "entry/7"
    assert item.link == "https://example.org/posts/7"


def test_escaped_markup_in_a_plain_text_title_survives_sanitizing() -> None:
    body = _rss("<item><title>The &lt;dialog&gt; element</title><guid>1</guid></item>")
    (item,) = parse_feed(body, url="https://example.org/feed").items
    assert item.title == "The <dialog> element"
    assert sanitize_item(item).title == "The <dialog> element"


# --- hostile bodies stay with their feed or item ------------------------------


def test_character_references_to_lone_surrogates_are_replaced() -> None:
    body = _rss(
        "<item><title>Titel &#55296; und &#xDFFF;</title><guid>id-&#55296;</guid></item>"
        "<item><title>Zu groß &#1114112; &#99999999999999999999;</title><guid>2</guid></item>"
        "<item><title>Gut &#8211; &#x1F600;</title><guid>3</guid></item>"
    )
    first, second, third = (
        sanitize_item(i) for i in parse_feed(body, url="https://example.org/feed").items
    )
    assert first.title == "Titel \ufffd und \ufffd"
    assert first.guid == "id-\ufffd"
    assert second.title == "Zu groß \ufffd \ufffd"
    assert third.title == "Gut – \U0001f600"


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-16-le", b""),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
        ("utf-32-be", b""),
    ],
)
def test_impossible_character_references_are_replaced_in_wide_encodings(
    codec: str, bom: bytes
) -> None:
    """The repair must see references in UTF-16 and UTF-32 bodies too, not only in 8-bit ones."""
    text = (
        f'<?xml version="1.0" encoding="{codec[:6].upper()}"?>'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>Zu gro\u00df &#1114112; &#xD800;</title><guid>1</guid></item>"
        "<item><title>Gut</title><guid>2</guid></item>"
        "</channel></rss>"
    )
    body = bom + text.encode(codec)
    first, second = (sanitize_item(i) for i in parse_feed(body, url="https://example.org/f").items)
    assert first.title == "Zu gro\u00df \ufffd \ufffd"
    assert second.title == "Gut"


def test_json_lone_surrogates_are_replaced_when_sanitized() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": [{"id": "a\ud800", "title": "T\udfff", "content_text": "x"}],
        }
    ).encode()
    (item,) = parse_feed(body, url="https://example.org/feed.json").items
    clean = sanitize_item(item)
    assert (clean.guid, clean.title) == ("a\ufffd", "T\ufffd")


def _json_feed(*items: dict[str, Any]) -> bytes:
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "items": list(items)}
    ).encode()


def test_json_impossible_dates_are_dropped() -> None:
    body = _json_feed(
        {"id": "1", "title": "A", "date_published": "0001-01-01T00:00:00+01:00"},
        {"id": "2", "title": "B", "date_modified": "9999-12-31T23:59:59-01:00"},
        {"id": "3", "title": "C", "date_published": "2025-01-27T10:00:00+01:00"},
    )
    a, b, c = parse_feed(body, url="https://example.org/feed.json").items
    assert a.published is None and b.updated is None
    assert c.published == datetime(2025, 1, 27, 9, 0, tzinfo=UTC)


def test_json_huge_number_is_kept_as_its_digits() -> None:
    digits = "7" * 5000
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": '
        + digits.encode()
        + b', "title": "Zahl", "content_text": "x"}]}'
    )
    (item,) = parse_feed(body, url="https://example.org/feed.json").items
    assert item.guid == digits


def test_json_nested_too_deeply_is_a_parse_error() -> None:
    depth = 100_000
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * depth
    body += b"]" * depth + b"}"
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_feed(body, url="https://example.org/feed.json")


def test_bad_urls_are_dropped_not_fatal() -> None:
    body = _json_feed({"id": "1", "title": "A", "url": "http://[::1"})
    (item,) = parse_feed(body, url="https://example.org/feed.json").items
    assert item.link is None
    rss = _rss("<item><title>B</title><guid>http://[::1</guid></item>")
    (item,) = parse_feed(rss, url="https://example.org/feed").items
    assert item.guid == "http://[::1" and sanitize_item(item).link is None


def test_an_item_that_cannot_be_read_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = parse_module._json_item

    def flaky(raw: dict[str, Any], **kwargs: Any) -> Item:
        if raw.get("id") == "bad":
            raise ValueError("kaputt")
        return real(raw, **kwargs)

    monkeypatch.setattr(parse_module, "_json_item", flaky)
    body = _json_feed({"id": "ok", "title": "A"}, {"id": "bad", "title": "B"})
    feed = parse_feed(body, url="https://example.org/feed.json")
    assert [i.guid for i in feed.items] == ["ok"]
    assert feed.warning == "1 item(s) skipped, unreadable: ValueError: kaputt"


def test_any_unexpected_failure_becomes_a_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr(feedparser, "parse", broken)  # the module kanalwerk.parse calls
    with pytest.raises(ParseError, match="not a feed kanalwerk can read: AttributeError"):
        parse_feed(_rss(""), url="https://example.org/feed")


if __name__ == "__main__":
    regenerate()


_UTF16_RSS = """<?xml version="1.0" encoding="utf-16"?>
<rss version="2.0"><channel><title>Kanal</title><link>https://example.com/</link>
<item><title>Grüße aus Köln</title><guid>k-1</guid><link>https://example.com/1</link>
<description>{body}</description></item></channel></rss>"""


@pytest.mark.parametrize(
    "body",
    ["&lt;p&gt;well-formed&lt;/p&gt;", "<p>not <b>well-formed</p><SCRIPT SRC=x.js></SCRIPT>"],
    ids=["well-formed", "malformed"],
)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_byte_order_mark_wins_over_a_wrong_http_charset(encoding: str, body: str) -> None:
    text = _UTF16_RSS.format(body=body)
    if encoding == "utf-16-be":
        content = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        content = text.encode(encoding)  # both write their byte order mark
    feed = parse_feed(
        content,
        url="https://example.com/feed.xml",
        headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"},
    )
    assert [item.title for item in feed.items] == ["Grüße aus Köln"]


def test_a_malformed_feed_decodes_character_references_in_links() -> None:
    """The lenient parser leaves `&#10;` in hrefs; read as written it hid a script URL
    behind what looked like a relative path (and so an http link)."""
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Kanal &copy;</title><id>urn:x:k</id>
<link href="java&#10;script:home()"/>
<entry><title>Eins</title><id>e-1</id><link href="java&#x0A;script:item()"/></entry>
<entry><title>Zwei</title><id>e-2</id><link href="/posts/2?a=1&amp;copy=2&#x41;"/></entry>
</feed>"""
    feed = parse_feed(
        body,
        url="https://example.com/feed.xml",
        headers={"Content-Type": "application/atom+xml"},
    )
    assert feed.warning  # read leniently: `&copy;` is not defined in XML
    assert http_url(feed.link) is None
    first, second = (sanitize_item(item) for item in feed.items)
    assert first.link is None
    assert second.link == "https://example.com/posts/2?a=1&copy=2A"
