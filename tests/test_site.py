"""The static site: stable pages, channel pages, article metadata, sitemap, links."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from kanalwerk.errors import PublishError
from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish import publish
from kanalwerk.publish.pages import ArticleLibrary, ChannelInfo, Entry, entry_of
from kanalwerk.publish.paging import by_number, paginate
from kanalwerk.publish.site import FEEDS, article_path, list_path, render_index, render_sitemap
from kanalwerk.publish.sitepages import site_pages
from tests.sites import (
    CHANNELS,
    internal_targets,
    library,
    make_article,
    parse_page,
    site_info,
    spread,
)

SITE = site_info(page_size=5)
SITEMAP = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def entries(count: int) -> list[Entry]:
    return list(library(spread(count, SITE), SITE).entries)


def listed_articles(page: Path) -> list[str]:
    """The article files a list page links from its entries, in order."""
    doc = parse_page(page)
    hrefs = doc.xpath("//ol[@class='beitraege']//h2/a/@href")
    return [str(href).rsplit("artikel/", 1)[1] for href in hrefs]


# --- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, 5])
def test_every_entry_is_on_exactly_one_page_and_full_chunks_never_move(size: int) -> None:
    every = entries(4 * size + 2)
    for count in range(len(every) + 1):
        shown = every[-count:] if count else []  # the oldest `count` entries
        pages = paginate(shown, size)
        assert [e for page in pages for e in page.entries] == shown
        front = pages[0]
        assert front.number is None and front.newer is None
        # All while there are fewer than two chunks, else one chunk and what fills none.
        assert len(front.entries) == (count if count < 2 * size else size + count % size)
        for page in pages[1:]:
            assert page.number is not None and len(page.entries) == size
            # Chunk n holds the n-th `size` entries counted from the oldest, whatever came later.
            assert (
                list(page.entries)
                == shown[::-1][(page.number - 1) * size : page.number * size][::-1]
            )
        # The links walk the pages in order, both ways.
        numbers = [page.number for page in pages]
        assert [page.older for page in pages] == [*numbers[1:], None]
        assert [page.newer for page in pages[1:]] == numbers[:-1]


def test_paginate_refuses_a_page_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        paginate(entries(3), 0)


def test_paths_of_pages() -> None:
    assert list_path(None) == "index.html"
    assert list_path(3) == "seite/3.html"
    assert list_path(None, "beta-news") == "quellen/beta-news.html"
    assert list_path(2, "beta-news") == "quellen/beta-news/seite/2.html"
    # The channel "index" must not overwrite the overview quellen/index.html.
    assert list_path(None, "index") == "quellen/_index.html"
    assert list_path(2, "index") == "quellen/index/seite/2.html"
    with pytest.raises(ValueError):
        list_path(None, "../etc")


# --- the published site ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Article]]:
    output = tmp_path_factory.mktemp("site") / "output"
    articles = spread(23, SITE)
    publish(library(articles, SITE), output)
    return output, articles


def html_files(output: Path) -> list[Path]:
    return sorted(output.rglob("*.html"))


def test_every_internal_link_resolves_to_a_written_file(
    published: tuple[Path, list[Article]],
) -> None:
    output, _ = published
    checked = 0
    for page in html_files(output):
        for url, target in internal_targets(page, output, SITE.base_url):
            assert target.is_file(), f"{page.relative_to(output)} links {url}, which is missing"
            checked += 1
    assert checked > 400


def test_every_entry_is_on_one_index_page_and_one_channel_page(
    published: tuple[Path, list[Article]],
) -> None:
    output, articles = published
    expected = Counter(f"{a.slug}.html" for a in articles)
    index_pages = [output / "index.html", *sorted((output / "seite").glob("*.html"))]
    assert Counter(name for p in index_pages for name in listed_articles(p)) == expected

    channel_pages = [p for p in (output / "quellen").rglob("*.html") if p.name != "index.html"]
    on_channel_pages = Counter(name for p in channel_pages for name in listed_articles(p))
    assert on_channel_pages == expected
    # Each channel's pages list exactly that channel's articles.
    for channel in CHANNELS:
        own = {f"{a.slug}.html" for a in articles if a.channel_id == channel.id}
        front = output / list_path(None, channel.id)
        pages = [front, *(output / "quellen" / channel.id / "seite").glob("*.html")]
        assert {name for p in pages if p.exists() for name in listed_articles(p)} == own


def test_older_and_newer_links_walk_the_index_in_order(
    published: tuple[Path, list[Article]],
) -> None:
    output, articles = published
    newest_first = sorted(articles, key=lambda a: a.published, reverse=True)
    page, seen, visited = output / "index.html", [], []
    while True:
        visited.append(page.relative_to(output).as_posix())
        seen += listed_articles(page)
        doc = parse_page(page)
        older = doc.xpath("//nav[@class='blaettern']/a[@class='aelter']")
        if not older:
            break
        assert older[0].text_content() == "Ältere Beiträge →"
        previous, page = page, (page.parent / older[0].get("href")).resolve()
        newer = parse_page(page).xpath("//nav[@class='blaettern']/a[@class='neuer']")
        assert newer[0].text_content() == "← Neuere Beiträge"
        assert (page.parent / newer[0].get("href")).resolve() == previous.resolve()
    assert seen == [f"{a.slug}.html" for a in newest_first]
    # 23 entries in chunks of 5: chunks 1-3 on their own pages, chunk 4 and 3 more in front.
    assert visited == ["index.html", "seite/3.html", "seite/2.html", "seite/1.html"]
    assert len(listed_articles(output / "index.html")) == 8


def test_every_page_is_german_and_announces_all_feeds(
    published: tuple[Path, list[Article]],
) -> None:
    output, _ = published
    pages = html_files(output)
    assert len(pages) == 23 + 1 + 3 + 1 + 4 + 1  # articles, index, seite, overview, channels
    expected = [(SITE.base_url + f.path, f.media_type) for f in FEEDS]
    for page in pages:
        doc = parse_page(page)
        assert doc.get("lang") == "de", page
        announced = [
            (ln.get("href"), ln.get("type")) for ln in doc.xpath("//link[@rel='alternate']")
        ]
        assert announced == expected, page
        canonical = doc.xpath("//link[@rel='canonical']/@href")
        relative = page.relative_to(output).as_posix()
        assert canonical == [SITE.base_url + ("" if relative == "index.html" else relative)]
    index = parse_page(output / "index.html")
    visible = [(a.get("href"), a.text_content()) for a in index.xpath("//span[@class='abo']/a")]
    assert visible == [
        (SITE.base_url + "feed.atom", "Atom-Feed"),
        (SITE.base_url + "feed.rss", "RSS-Feed"),
        (SITE.base_url + "feed.json", "JSON-Feed"),
    ]
    assert "Abonnieren:" in index.text_content()


def test_list_entries_show_german_date_teaser_source_and_thumbnail(tmp_path: Path) -> None:
    articles = [
        make_article(1, SITE, published=datetime(2025, 1, 27, 13, 5, tzinfo=UTC)),
        make_article(
            2,
            SITE,
            channel=CHANNELS[1],
            published=datetime(2025, 3, 31, 22, 30, tzinfo=UTC),  # April 1st in Berlin
            thumbnail="https://i.ytimg.com/vi/abc/hqdefault.jpg",
        ),
        make_article(3, SITE, thumbnail="javascript:alert(1)", published=datetime(2024, 12, 1)),
    ]
    publish(library(articles, SITE), tmp_path)
    doc = parse_page(tmp_path / "index.html")
    items = doc.xpath("//ol[@class='beitraege']/li")
    assert [li.xpath("string(.//time)") for li in items] == [
        "1. April 2025",
        "27. Januar 2025",
        "1. Dezember 2024",
    ]
    assert items[0].xpath(".//time/@datetime") == ["2025-03-31T22:30:00+00:00"]
    assert [li.xpath("string(.//p[@class='teaser'])") for li in items] == [
        "Anriss 2: worum es geht.",
        "Anriss 1: worum es geht.",
        "Anriss 3: worum es geht.",
    ]
    sources = [(a.text, a.get("href")) for li in items for a in li.xpath(".//p[@class='meta']/a")]
    assert sources == [
        ("Beta News", "quellen/beta-news.html"),
        ("Alpha Labs", "quellen/alpha.html"),
        ("Alpha Labs", "quellen/alpha.html"),
    ]
    images = doc.xpath("//img")
    assert len(images) == 1  # the javascript: thumbnail is not shown
    assert images[0].get("src") == "https://i.ytimg.com/vi/abc/hqdefault.jpg"
    assert images[0].get("loading") == "lazy"
    assert images[0].get("alt") == ""


def test_channel_pages_and_overview(published: tuple[Path, list[Article]]) -> None:
    output, articles = published
    overview = parse_page(output / "quellen" / "index.html")
    rows = overview.xpath("//ul[@class='quellen']/li")
    assert [r.xpath("string(h2/a)") for r in rows] == [
        "Alpha Labs",
        "Beta News",
        "Gamma",
        "Stiller Kanal",
    ]
    assert [r.xpath("h2/a/@href")[0] for r in rows] == [
        "../quellen/alpha.html",
        "../quellen/beta-news.html",
        "../quellen/gamma.html",
        "../quellen/still.html",
    ]
    newest = {}
    for article in sorted(articles, key=lambda a: a.published):
        newest[article.channel_id] = article
    for row, channel in zip(rows[:3], CHANNELS[:3], strict=True):
        latest = row.xpath(".//p[@class='neuester']/a")[0]
        assert latest.text == newest[channel.id].title
        assert latest.get("href") == f"../artikel/{newest[channel.id].slug}.html"
    assert rows[0].xpath(".//a[text()='Website des Originals']/@href") == ["https://alpha.example/"]
    assert rows[0].xpath(".//a[text()='Feed des Originals']/@href") == [
        "https://alpha.example/feed.xml"
    ]
    assert rows[2].xpath(".//a[text()='Website des Originals']") == []  # Gamma names none
    assert "Noch keine Beiträge." in rows[3].text_content()
    assert overview.xpath("//p[@class='opml']/a/@href") == ["../quellen.opml"]

    alpha = parse_page(output / "quellen" / "alpha.html")
    assert alpha.xpath("string(//h1)").strip() == "Alpha Labs"
    assert "12 Beiträge" in alpha.xpath("string(//header[@class='quellenkopf'])")
    # 12 alpha articles in chunks of 5: chunk 1 on its own page, the rest in front.
    assert alpha.xpath("//a[@class='aelter']/@href") == ["../quellen/alpha/seite/1.html"]
    older = parse_page(output / "quellen" / "alpha" / "seite" / "1.html")
    assert older.xpath("//a[@class='neuer']/@href") == ["../../../quellen/alpha.html"]
    assert older.xpath("//link[@rel='stylesheet']/@href") == ["../../../style.css"]
    empty = parse_page(output / "quellen" / "still.html")
    assert "Noch keine Beiträge." in empty.text_content()


def test_article_page_metadata_and_neighbours(published: tuple[Path, list[Article]]) -> None:
    output, articles = published
    by_time = sorted(articles, key=lambda a: a.published)
    older, article, newer = by_time[10:13]
    doc = parse_page(output / article_path(article.slug))
    url = SITE.base_url + article_path(article.slug)

    def meta(prop: str) -> list[str]:
        return [str(v) for v in doc.xpath(f"//meta[@property='{prop}']/@content")]

    assert doc.xpath("//link[@rel='canonical']/@href") == [url]
    assert meta("og:title") == [article.title]
    assert meta("og:description") == [article.summary]
    assert meta("og:url") == [url]
    assert meta("og:type") == ["article"]
    assert meta("og:locale") == ["de_DE"]
    assert meta("og:site_name") == [SITE.title]
    assert meta("og:image") == []  # no thumbnail
    assert meta("article:published_time") == [article.published.isoformat()]

    previous = doc.xpath("//nav[@class='nachbarn']/a[@class='vorheriger']")[0]
    following = doc.xpath("//nav[@class='nachbarn']/a[@class='naechster']")[0]
    assert previous.get("href") == f"../artikel/{older.slug}.html"
    assert "Vorheriger Beitrag" in previous.text_content()
    assert older.title in previous.text_content()
    assert following.get("href") == f"../artikel/{newer.slug}.html"
    assert "Nächster Beitrag" in following.text_content()
    channel = next(c for c in CHANNELS if c.id == article.channel_id)
    assert doc.xpath(f"//a[text()='Alle Beiträge von {channel.name}']/@href") == [
        f"../quellen/{channel.id}.html"
    ]

    newest = parse_page(output / article_path(by_time[-1].slug))
    assert newest.xpath("//a[@class='naechster']") == []
    oldest = parse_page(output / article_path(by_time[0].slug))
    assert oldest.xpath("//a[@class='vorheriger']") == []


def test_article_page_announces_its_thumbnail(tmp_path: Path) -> None:
    article = make_article(1, SITE, thumbnail="https://i.ytimg.com/vi/abc/hqdefault.jpg")
    publish(library([article], SITE), tmp_path)
    doc = parse_page(tmp_path / article_path(article.slug))
    assert doc.xpath("//meta[@property='og:image']/@content") == [
        "https://i.ytimg.com/vi/abc/hqdefault.jpg"
    ]


def test_sitemap_lists_every_page_once_with_lastmod(published: tuple[Path, list[Article]]) -> None:
    output, articles = published
    root = etree.fromstring((output / "sitemap.xml").read_bytes())
    assert root.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}urlset"
    urls = root.findall("s:url", SITEMAP)
    locs = [u.findtext("s:loc", namespaces=SITEMAP) for u in urls]
    expected = {SITE.base_url + p.relative_to(output).as_posix() for p in html_files(output)}
    expected = {SITE.base_url if u.endswith("/blog/index.html") else u for u in expected}
    assert Counter(locs) == Counter(expected)
    lastmod = {
        u.findtext("s:loc", namespaces=SITEMAP): u.findtext("s:lastmod", namespaces=SITEMAP)
        for u in urls
    }
    for article in articles:
        assert lastmod[SITE.base_url + article_path(article.slug)] == article.updated.isoformat()
    newest = max(a.updated for a in articles).isoformat()
    assert lastmod[SITE.base_url] == newest
    assert lastmod[SITE.base_url + "quellen/index.html"] == newest
    assert lastmod[SITE.base_url + "quellen/still.html"] is None  # shows no article


# --- what changes when an article arrives -------------------------------------------------


def keys_of(articles: list[Article], site: SiteInfo = SITE) -> dict[str, str]:
    return {page.path: page.key for page in site_pages(library(articles, site))}


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {path for path in after.keys() | before.keys() if before.get(path) != after.get(path)}


def test_one_new_article_changes_only_the_pages_that_show_it() -> None:
    articles = spread(23, SITE)
    new = make_article(24, SITE, channel=CHANNELS[2])
    previous = max(articles, key=lambda a: a.published)
    assert changed(keys_of(articles), keys_of([*articles, new])) == {
        article_path(new.slug),
        article_path(previous.slug),  # links the new one as "Nächster Beitrag"
        "index.html",
        "quellen/gamma.html",
        "quellen/index.html",
        "sitemap.xml",
    }


def test_a_new_full_chunk_adds_one_page_and_relinks_the_one_below() -> None:
    articles = spread(24, SITE)  # 4 full chunks: chunk 4 and 4 more in front
    new = make_article(25, SITE, channel=CHANNELS[1])
    previous = max(articles, key=lambda a: a.published)
    assert changed(keys_of(articles), keys_of([*articles, new])) == {
        article_path(new.slug),
        article_path(previous.slug),
        "index.html",
        "seite/4.html",  # chunk 4 leaves the front page: a new file
        "seite/3.html",  # its "Neuere Beiträge" now goes to seite/4.html, not the front page
        "quellen/beta-news.html",
        "quellen/index.html",
        "sitemap.xml",
    }


def test_nothing_changes_without_a_change_and_everything_with_the_site() -> None:
    articles = spread(12, SITE)
    before = keys_of(articles)
    assert changed(before, keys_of(articles)) == set()
    retitled = dataclasses.replace(SITE, title="Anderer Titel")
    assert changed(before, keys_of(articles, retitled)) == set(before)


def test_lists_render_from_entries_and_only_article_pages_load_bodies() -> None:
    loaded: list[list[int]] = []

    class CountingLibrary(ArticleLibrary):
        def articles(self, item_ids: Sequence[int]) -> list[Article]:
            loaded.append(list(item_ids))
            return super().articles(item_ids)

    articles = spread(12, SITE)
    library = CountingLibrary(SITE, articles, CHANNELS)
    pages = site_pages(library)
    for page in pages:
        if not page.path.startswith("artikel/"):
            assert page.needs == ()
            page.render(library)
    assert loaded == []
    for page in pages:
        if page.path.startswith("artikel/"):
            page.render(library)
            assert loaded[-1] == list(page.needs)
            assert len(page.needs) == 1


# --- hostile input --------------------------------------------------------------------------


def test_hostile_titles_and_names_are_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> & <b>fett</b> "zitiert"'
    channel = ChannelInfo(
        id="boese",
        name='Böse <img src=x onerror="alert(1)">',
        feed_url='https://evil.example/feed?a=1&b="2"',
        feed_link="javascript:alert(1)",
    )
    article = make_article(
        1,
        SITE,
        channel=channel,
        title=hostile,
        teaser=hostile,
        thumbnail='https://evil.example/x.png?"onerror="alert(1)',
    )
    publish(ArticleLibrary(SITE, [article], [channel]), tmp_path)
    for page in html_files(tmp_path):
        text = page.read_text("utf-8")
        assert "<script" not in text, page
        assert "<img src=x" not in text and "<b>fett" not in text, page
        assert "javascript:" not in text, page
        doc = parse_page(page)
        assert not doc.xpath("//@onerror"), page
    index = parse_page(tmp_path / "index.html")
    assert index.xpath("string(//h2/a)") == hostile
    assert index.xpath("string(//p[@class='teaser'])") == hostile
    assert index.xpath("//img/@src") == ['https://evil.example/x.png?"onerror="alert(1)']
    overview = parse_page(tmp_path / "quellen" / "index.html")
    assert overview.xpath("string(//h2/a)") == channel.name
    assert overview.xpath("//a[text()='Website des Originals']") == []
    article_page = parse_page(tmp_path / article_path(article.slug))
    assert article_page.xpath("//meta[@property='og:title']/@content") == [hostile]


def test_unusable_channel_id_is_refused_with_the_id(tmp_path: Path) -> None:
    bad = ChannelInfo(id="../../etc", name="Böse", feed_url="https://evil.example/feed")
    with pytest.raises(PublishError, match=r"'\.\./\.\./etc'"):
        publish(ArticleLibrary(SITE, [], [bad]), tmp_path)


def test_a_channel_named_index_keeps_the_overview(tmp_path: Path) -> None:
    channel = ChannelInfo(id="index", name="Index", feed_url="https://index.example/feed")
    article = make_article(1, SITE, channel=channel)
    publish(ArticleLibrary(SITE, [article], [channel]), tmp_path)
    assert parse_page(tmp_path / "quellen" / "index.html").xpath("string(//h1)") == "Quellen"
    assert parse_page(tmp_path / "quellen" / "_index.html").xpath("string(//h1)").strip() == "Index"
    assert parse_page(tmp_path / "index.html").xpath("//p[@class='meta']/a/@href") == [
        "quellen/_index.html"
    ]


def test_an_empty_site(tmp_path: Path) -> None:
    publish(ArticleLibrary(SITE, []), tmp_path)
    assert "Noch keine Beiträge." in parse_page(tmp_path / "index.html").text_content()
    overview = parse_page(tmp_path / "quellen" / "index.html")
    assert "Noch keine Quellen." in overview.text_content()
    assert overview.xpath("//p[@class='opml']") == []  # no channels, no quellen.opml
    root = etree.fromstring((tmp_path / "sitemap.xml").read_bytes())
    assert len(root) == 2


def test_render_index_alone() -> None:
    shown = [entry_of(make_article(n, SITE)) for n in (2, 1)]
    doc = etree.fromstring(render_index(shown, SITE), etree.HTMLParser())
    assert doc.xpath("//h2/a/text()") == ["Deutscher Titel 2", "Deutscher Titel 1"]
    assert doc.xpath("//nav[@class='blaettern']") == []


def test_a_channel_no_longer_followed_keeps_its_page(tmp_path: Path) -> None:
    article = make_article(1, SITE, channel=CHANNELS[1])
    publish(ArticleLibrary(SITE, [article]), tmp_path)  # the library names no channels
    page = parse_page(tmp_path / "quellen" / "beta-news.html")
    assert page.xpath("string(//h1)").strip() == "Beta News"
    assert page.xpath("//a[text()='Website des Originals']/@href") == [CHANNELS[1].feed_link]
    assert listed_articles(tmp_path / "quellen" / "beta-news.html") == [f"{article.slug}.html"]


def test_sitemap_escapes_what_an_address_may_hold() -> None:
    site = dataclasses.replace(SITE, base_url="https://example.org/a&b/")
    pages = [
        ("index.html", None),
        ("artikel/erster-beitrag.html", "2025-01-27T08:00:00+00:00"),
        ("quellen/<a&b>.html", "<bad>"),
    ]
    root = etree.fromstring(render_sitemap(pages, site))
    urls = [
        (u.findtext("s:loc", namespaces=SITEMAP), u.findtext("s:lastmod", namespaces=SITEMAP))
        for u in root
    ]
    assert urls == [
        ("https://example.org/a&b/", None),
        ("https://example.org/a&b/artikel/erster-beitrag.html", "2025-01-27T08:00:00+00:00"),
        ("https://example.org/a&b/quellen/<a&b>.html", "<bad>"),
    ]


@given(
    numbers=st.sets(st.integers(min_value=1, max_value=120), max_size=60),
    size=st.integers(min_value=1, max_value=12),
    above=st.integers(min_value=0, max_value=130),
)
def test_ranges_of_numbers_in_falling_order_are_those_found_one_by_one(
    numbers: set[int], size: int, above: int
) -> None:
    """Libraries hand entries out in falling order, which `by_number` cuts by bisection;
    any other order is sorted into ranges one entry at a time. Both must agree."""
    falling = sorted(numbers, reverse=True)
    count = above // size + 1  # as `split_feed` asks: the last range may reach past `above`
    newest, chunks = by_number(falling, size, int, above=above, count=count)
    assert newest == [n for n in falling if n > above]
    assert chunks == [
        [n for n in falling if n <= above and (n - 1) // size == k] for k in range(count)
    ]
    # The same numbers in another order go through the loop, and keep that order.
    mixed = falling[1::2] + falling[::2]
    newest, chunks = by_number(mixed, size, int, above=above, count=count)
    assert newest == [n for n in mixed if n > above]
    assert [sorted(c, reverse=True) for c in chunks] == [
        [n for n in falling if n <= above and (n - 1) // size == k] for k in range(count)
    ]
