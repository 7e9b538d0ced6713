"""`feed.rss`: RSS 2.0 with the Atom, content and Dublin Core modules."""

from __future__ import annotations

import dataclasses
import locale
import re
from email.utils import parsedate_to_datetime

import feedparser
from lxml import etree

from kanalwerk.publish.rss import render_rss, rfc822
from tests.feed_docs import HUB, articles
from tests.test_publish import SITE

FEED_URL = SITE.base_url + "feed.rss"
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$"
)


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False))


def test_rss_document_structure() -> None:
    older, newer = articles(2)
    rss = parse(render_rss([older, newer], SITE, feed_url=FEED_URL))

    assert rss.tag == "rss"
    assert rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel is not None
    assert channel.findtext("title") == SITE.title
    assert channel.findtext("link") == SITE.base_url
    assert channel.findtext("description") == SITE.subtitle
    assert channel.findtext("language") == "de"
    self_links = channel.findall(f"{ATOM}link")
    assert [(e.get("rel"), e.get("href"), e.get("type")) for e in self_links] == [
        ("self", FEED_URL, "application/rss+xml")
    ]
    # lastBuildDate is the newest entry's date, not the time of rendering.
    assert parsedate_to_datetime(str(channel.findtext("lastBuildDate"))) == newer.updated

    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == [newer.title, older.title]
    for item, article in zip(items, [newer, older], strict=True):
        assert item.findtext("link") == f"{SITE.base_url}artikel/{article.slug}.html"
        guid = item.find("guid")
        assert guid is not None
        assert (guid.text, guid.get("isPermaLink")) == (article.entry_id, "false")
        assert item.findtext("description") == article.summary
        assert item.findtext(f"{CONTENT}encoded") == article.content_html
        assert item.findtext(f"{DC}creator") == "Redaktion"
        source = item.find("source")
        assert source is not None
        assert source.get("url") == "https://source.example/feed.xml"
        assert source.text == "Source Blog – everything"
        pub_date = str(item.findtext("pubDate"))
        assert RFC822.match(pub_date), pub_date
        assert parsedate_to_datetime(pub_date) == article.published


def test_rss_dates_ignore_the_process_locale() -> None:
    """RFC 822 names are English; rendering never sets or reads the locale."""
    before = locale.setlocale(locale.LC_ALL)
    data = render_rss(articles(3), SITE, feed_url=FEED_URL)
    assert locale.setlocale(locale.LC_ALL) == before
    dates = re.findall(rb"<pubDate>([^<]+)</pubDate>", data)
    assert len(dates) == 3
    assert all(RFC822.match(d.decode()) for d in dates)
    first = articles(1)[0]  # 2025-01-01 01:00 UTC was a Wednesday
    assert rfc822(first.published) == "Wed, 01 Jan 2025 01:00:00 GMT"


def test_feedparser_reads_the_rss() -> None:
    published = articles(3)
    parsed = feedparser.parse(render_rss(published, SITE, feed_url=FEED_URL, hub=HUB))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.language == "de"
    links = {(link.rel, link.href) for link in parsed.feed.links}
    assert {("self", FEED_URL), ("hub", HUB)} <= links
    entry = parsed.entries[0]
    assert entry.id == published[2].entry_id
    assert entry.guidislink is False
    assert entry.author == "Redaktion"
    assert entry.source.href == "https://source.example/feed.xml"
    assert entry.content[0].value.startswith('<div class="quelle"><p><strong>ℹ️ Hinweis')


def test_rss_declares_the_hub_and_keeps_self() -> None:
    channel = parse(render_rss(articles(1), SITE, feed_url=FEED_URL, hub=HUB)).find("channel")
    assert channel is not None
    assert {e.get("rel"): e.get("href") for e in channel.findall(f"{ATOM}link")} == {
        "self": FEED_URL,
        "hub": HUB,
    }


def test_rss_is_stable_and_strips_control_characters() -> None:
    published = articles(3)
    data = render_rss(published, SITE, feed_url=FEED_URL)
    assert data == render_rss(list(reversed(published)), SITE, feed_url=FEED_URL)
    odd = dataclasses.replace(published[0], title="A <b> & \x01 B", summary="x\x0cy <tag>")
    item = parse(render_rss([odd], SITE, feed_url=FEED_URL)).find("channel/item")
    assert item is not None
    assert item.findtext("title") == "A <b> &  B"
    assert item.findtext("description") == "xy <tag>"


def test_empty_rss_is_valid() -> None:
    data = render_rss([], SITE, feed_url=FEED_URL)
    assert feedparser.parse(data).bozo == 0
    assert b"<item>" not in data
    assert data == render_rss([], SITE, feed_url=FEED_URL)
