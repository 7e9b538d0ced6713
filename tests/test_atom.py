"""`render_atom` writes the documents it wrote with feedgen, to the byte.

`tests/data/atom/<case>.atom` holds what the feedgen-based renderer wrote for each case
below, with the generator's version written as `VERSION`. Equal bytes mean no feed page
changes when a site upgrades, so no reader sees entries again. Each case is compared twice:
as canonical XML without indentation (C14N 2.0: the same elements, attributes, namespaces
and text, in the same order) and as bytes (the same declaration, indentation and escapes).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from kanalwerk import __version__
from kanalwerk.models import Article, Enclosure, SiteInfo
from kanalwerk.publish.archive import ArchiveLinks
from kanalwerk.publish.atom import render_atom
from tests.test_publish import SITE, make_article

DATA = Path(__file__).parent / "data" / "atom"
BASE = SITE.base_url
FEED_URL = BASE + "feed.atom"
HUB = "https://hub.example/websub"
ARCHIVE_2 = ArchiveLinks(
    prev_archive=BASE + "archiv/1.atom", next_archive=BASE + "archiv/3.atom", current=FEED_URL
)


@dataclasses.dataclass(frozen=True)
class Case:
    articles: list[Article]
    site: SiteInfo = SITE
    links: ArchiveLinks | None = None
    hub: str | None = None
    feed_url: str = FEED_URL

    def render(self) -> bytes:
        return render_atom(
            self.articles, self.site, feed_url=self.feed_url, links=self.links, hub=self.hub
        )


def _source(article: Article, **changes: Any) -> Article:
    return dataclasses.replace(article, source=dataclasses.replace(article.source, **changes))


def _media() -> list[Article]:
    first = dataclasses.replace(
        make_article(1, day=3),
        thumbnail="https://source.example/thumb 1.jpg",
        enclosures=(
            Enclosure("https://cdn.example/episode-1.mp3", "audio/mpeg", 12_345_678),
            Enclosure("https://cdn.example/episode-1.mp4", "video/mp4", None),
            Enclosure("https://cdn.example/episode-1.ogg", None, 0),
            Enclosure("https://cdn.example/episode-1.opus", "", 77),
            Enclosure("javascript:alert(1)", "audio/mpeg", 1),  # no http(s) URL: left out
        ),
    )
    second = dataclasses.replace(
        make_article(2, day=4),
        thumbnail="https://source.example/thumb-2.jpg",
        enclosures=(Enclosure("https://cdn.example/a b/episode 2.mp3?x=1&y=2", "audio/mpeg", 9),),
    )
    return [first, second]


def _sources() -> list[Article]:
    return [
        _source(make_article(1, day=1), feed_link=None),  # no home page: no alternate link
        _source(make_article(2, day=2), link=None),  # no original link: no via
        _source(make_article(3, day=3), title=""),  # via without title
        _source(make_article(4, day=4), feed_id=None, feed_title=None),  # id from the URL
        _source(
            make_article(5, day=5),
            feed_url="https://source.example/feed?a=1&b=2 x",
            feed_link="https://source.example/home?x=<1>",
            link="https://source.example/post?id=5&lang=en#top",
            feed_id="not an iri",
        ),
        _source(make_article(6, day=6), feed_link="javascript:alert(1)"),
    ]


def _texts(title: str, summary: str, content_html: str, original: str, feed: str) -> list[Article]:
    """One article with these texts, and these titles of its original and of their feed."""
    article = dataclasses.replace(
        make_article(1), title=title, summary=summary, content_html=content_html
    )
    return [_source(article, title=original, feed_title=feed)]


def _dates() -> list[Article]:
    cet = timezone(timedelta(hours=1))
    later = dataclasses.replace(
        make_article(1),
        published=datetime(2025, 2, 1, 13, 5, 7, 999_999, tzinfo=cet),
        updated=datetime(2025, 2, 3, 8, 0, 1, 500, tzinfo=UTC),
    )
    tie = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)
    tied = [dataclasses.replace(make_article(n), published=tie, updated=tie) for n in range(2, 5)]
    return [*tied, later]


CASES: dict[str, Callable[[], Case]] = {
    "empty": lambda: Case([]),
    "empty-plain-site": lambda: Case([], dataclasses.replace(SITE, subtitle=None)),
    "one": lambda: Case([make_article(1)]),
    "media": lambda: Case(_media()),
    "sources": lambda: Case(_sources()),
    "archive": lambda: Case([make_article(n) for n in range(1, 4)], links=ARCHIVE_2, hub=HUB),
    "archive-oldest": lambda: Case(
        [make_article(1)],
        links=ArchiveLinks(next_archive=BASE + "archiv/2.atom", current=FEED_URL),
    ),
    "archive-empty": lambda: Case(
        [], links=ArchiveLinks(prev_archive=BASE + "archiv/1.atom", current=FEED_URL)
    ),
    "current": lambda: Case(
        [make_article(4), make_article(5)],
        links=ArchiveLinks(prev_archive=BASE + "archiv/1.atom"),
        hub=HUB,
    ),
    "escaping": lambda: Case(
        _texts(
            "<b>\"Ärger\" & 'Co'</b> ]]> &amp; €",
            'Teaser mit <Tags> & "Anführungszeichen" ]]>',
            '<p title="a &quot;b&quot;">x &amp; y &lt; z</p><![CDATA[nope]]>',
            'Original "quoted" & <tagged>',
            "A & B <C>",
        ),
        dataclasses.replace(
            SITE, title="Nachrichten & <Meinungen>", subtitle='"Zitat" & mehr', author="A & <B>"
        ),
        hub="https://hub.example/?a=1&b=2",
    ),
    "control": lambda: Case(
        _texts(
            "Titel\x00mit\x01Steuer\x08zeichen\x0b\x0c\x1f\x7f\ufffe\uffff",
            "Anriss\x1bmit\tTab\nund Zeile\r\x85\u2028",
            "<p>Text\x02mit\x03Steuerzeichen \ud800 und \udfff</p>",
            "Original\x04",
            "Quelle\x05",
        ),
        dataclasses.replace(SITE, title="Seite\x01", subtitle="Unter\x02titel", author="Re\x03d"),
    ),
    "empty-texts": lambda: Case(
        [dataclasses.replace(make_article(1), summary="", content_html="")],
        dataclasses.replace(SITE, author="", subtitle=""),
    ),
    "dates": lambda: Case(_dates()),
    "other-url": lambda: Case(
        [make_article(1)],
        dataclasses.replace(SITE, base_url="http://example.net/a b/"),
        feed_url="http://example.net/a b/feed.atom?x=1&y=2",
    ),
}


def expected(name: str) -> bytes:
    data = (DATA / f"{name}.atom").read_bytes()
    return data.replace(b'version="VERSION"', f'version="{__version__}"'.encode())


def canonical(data: bytes) -> str:
    return etree.canonicalize(from_file=io.BytesIO(data), strip_text=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_atom_documents_mean_what_they_meant(name: str) -> None:
    assert canonical(CASES[name]().render()) == canonical(expected(name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_atom_documents_keep_their_bytes(name: str) -> None:
    assert CASES[name]().render() == expected(name)


def test_the_cases_cover_what_atom_writes() -> None:
    """Every element and attribute the renderer writes appears in some case."""
    seen: set[str] = set()
    for name in CASES:
        for elem in etree.fromstring(expected(name)).iter():
            seen.add(etree.QName(elem).localname)
            seen.update(
                f"{etree.QName(elem).localname}@{etree.QName(a).localname}" for a in elem.attrib
            )
            if etree.QName(elem).localname == "link":
                seen.add(f"link:{elem.get('rel')}")
    for wanted in (
        "feed@lang",
        "subtitle",
        "generator@version",
        "archive",
        "source",
        "link@title",
        "link@length",
        "link:via",
        "link:enclosure",
        "link:hub",
        "link:current",
        "link:prev-archive",
        "link:next-archive",
        "summary@type",
        "content@type",
        "published",
    ):
        assert wanted in seen, wanted


def test_empty_titles_are_written_empty() -> None:
    """feedgen refused a document without titles; a site may name none (`site.title: ""`)."""
    article = dataclasses.replace(make_article(1), title="")
    case = Case([article], dataclasses.replace(SITE, title=""))
    root = etree.fromstring(case.render())
    titles = root.xpath("//a:title", namespaces={"a": "http://www.w3.org/2005/Atom"})
    assert [(etree.QName(t.getparent()).localname, t.text) for t in titles] == [
        ("feed", None),
        ("entry", None),
        ("source", "Source Blog – everything"),
    ]
