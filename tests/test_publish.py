from __future__ import annotations

import dataclasses
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html

from kanalwerk.compose import compose_article
from kanalwerk.config import SiteConfig
from kanalwerk.errors import PublishError
from kanalwerk.models import Article, Item, SourceRef, StoredItem
from kanalwerk.publish import PublishResult, publish
from kanalwerk.publish.atom import render_atom
from kanalwerk.publish.files import PageWriter, write_atomic
from kanalwerk.publish.pages import ArticleLibrary, entry_of
from kanalwerk.publish.site import render_article, render_index

ATOM = "http://www.w3.org/2005/Atom"
NS = {"a": ATOM}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SITE = SiteConfig(
    title="KI-Nachrichten auf Deutsch",
    subtitle="Ausgewählte Beiträge",
    base_url="https://example.org/blog/",
    author="Redaktion",
).info()
FEED_URL = SITE.base_url + "feed.atom"
BOX_START = '<div class="quelle" role="note">'


def make_article(n: int, *, title: str | None = None, day: int | None = None) -> Article:
    """A real composed article (box and all) for item number `n`."""
    published = datetime(2025, 1, day or (n % 28) + 1, 13, 5, tzinfo=UTC)
    source = SourceRef(
        title=f"Original title {n}",
        link=f"https://source.example/posts/{n}",
        channel_name="Source Blog",
        feed_title="Source Blog – everything",
        feed_url="https://source.example/feed.xml",
        feed_link="https://source.example/",
        feed_id="urn:uuid:source-feed",
    )
    item = Item(
        guid=f"https://source.example/?p={n}",
        link=source.link,
        title=source.title,
        published=published,
    )
    stored = StoredItem(
        id=n,
        channel_id="source-blog",
        guid=item.guid,
        item=item,
        state="translated",
        attempts=0,
        last_error=None,
        first_seen=published + timedelta(minutes=30),
        source=source,
    )
    return compose_article(
        stored,
        title_de=title if title is not None else f"Deutscher Titel {n}",
        body_html_de=f"<p>Deutscher Text Nummer {n}.</p>",
        teaser_de=f"Anriss {n}",
        engine="local",
        model=None,
        site=SITE,
        now=datetime(2025, 3, 1, tzinfo=UTC),
    )


def parse_feed(data: bytes) -> etree._Element:
    return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False))


# --- Atom -----------------------------------------------------------------------------------


def test_atom_document_structure() -> None:
    articles = [make_article(1, day=26), make_article(2, day=27)]
    root = parse_feed(render_atom(articles, SITE, feed_url=FEED_URL))

    assert root.tag == f"{{{ATOM}}}feed"
    assert root.get(XML_LANG) == "de"
    assert root.findtext("a:id", namespaces=NS) == SITE.base_url
    assert root.findtext("a:title", namespaces=NS) == SITE.title
    assert root.findtext("a:subtitle", namespaces=NS) == SITE.subtitle
    assert root.findtext("a:author/a:name", namespaces=NS) == "Redaktion"
    assert root.findtext("a:generator", namespaces=NS) == "kanalwerk"
    self_links = root.xpath("a:link[@rel='self']", namespaces=NS)
    assert [(e.get("href"), e.get("type")) for e in self_links] == [
        (FEED_URL, "application/atom+xml")
    ]
    assert root.xpath("a:link[@rel='alternate']/@href", namespaces=NS) == [SITE.base_url]
    # Feed updated = newest entry's updated.
    assert root.findtext("a:updated", namespaces=NS) == "2025-01-27T13:05:00+00:00"

    entries = root.findall("a:entry", namespaces=NS)
    assert [e.findtext("a:title", namespaces=NS) for e in entries] == [
        "Deutscher Titel 2",
        "Deutscher Titel 1",
    ]
    for entry, article in zip(entries, [articles[1], articles[0]], strict=True):
        assert entry.findtext("a:id", namespaces=NS) == article.entry_id
        assert entry.findtext("a:published", namespaces=NS) == article.published.isoformat()
        assert entry.findtext("a:updated", namespaces=NS) == article.updated.isoformat()
        summary = entry.find("a:summary", namespaces=NS)
        assert summary is not None
        assert summary.get("type") == "text"
        assert summary.text == article.summary
        content = entry.find("a:content", namespaces=NS)
        assert content is not None
        assert content.get("type") == "html"
        assert content.text is not None
        assert content.text.startswith(BOX_START + "<p><strong>ℹ️ Hinweis zur Quelle")
        assert content.text == article.content_html

        alternate = entry.xpath("a:link[@rel='alternate']/@href", namespaces=NS)
        assert alternate == [f"https://example.org/blog/artikel/{article.slug}.html"]
        via = entry.xpath("a:link[@rel='via']/@href", namespaces=NS)
        assert via == [article.source.link]
        assert not entry.xpath("a:link[not(@rel)]", namespaces=NS)

        source = entry.find("a:source", namespaces=NS)
        assert source is not None
        assert source.findtext("a:id", namespaces=NS) == "urn:uuid:source-feed"
        assert source.findtext("a:title", namespaces=NS) == "Source Blog – everything"
        assert source.findtext("a:updated", namespaces=NS) == article.updated.isoformat()
        assert source.xpath("a:link[@rel='self']/@href", namespaces=NS) == [
            "https://source.example/feed.xml"
        ]
        assert source.xpath("a:link[@rel='alternate']/@href", namespaces=NS) == [
            "https://source.example/"
        ]


def test_feedparser_accepts_the_feed() -> None:
    articles = [make_article(n) for n in range(1, 4)]
    parsed = feedparser.parse(render_atom(articles, SITE, feed_url=FEED_URL))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.language == "de"
    assert len(parsed.entries) == 3
    entry = parsed.entries[0]
    assert entry.id == articles[2].entry_id
    assert entry.link == f"https://example.org/blog/artikel/{articles[2].slug}.html"
    assert {link.rel for link in entry.links} == {"alternate", "via"}
    assert entry.source.title == "Source Blog – everything"
    # feedparser's own sanitizer drops `role`; the box is still first.
    assert entry.content[0].value.startswith('<div class="quelle"><p><strong>ℹ️ Hinweis')


def test_atom_is_stable() -> None:
    articles = [make_article(n, day=1) for n in range(60)]
    first = render_atom(articles, SITE, feed_url=FEED_URL)
    second = render_atom(list(reversed(articles)), SITE, feed_url=FEED_URL)
    assert first == second  # same input, same bytes: publish will not rewrite the file
    ids = parse_feed(first).xpath("a:entry/a:id/text()", namespaces=NS)
    assert len(ids) == 60  # what goes into which document is `archive.split_feed`'s job
    assert len(set(ids)) == 60


def test_atom_escapes_and_strips_control_characters() -> None:
    article = dataclasses.replace(make_article(1), title="A <b> & \x01 B", summary="x\x0cy <tag>")
    data = render_atom([article], SITE, feed_url=FEED_URL)
    entry = parse_feed(data).find("a:entry", namespaces=NS)
    assert entry is not None
    assert entry.findtext("a:title", namespaces=NS) == "A <b> &  B"
    assert entry.findtext("a:summary", namespaces=NS) == "xy <tag>"


def test_empty_atom_feed_is_valid() -> None:
    data = render_atom([], SITE, feed_url=FEED_URL)
    assert feedparser.parse(data).bozo == 0
    assert parse_feed(data).find("a:updated", namespaces=NS) is not None
    assert data == render_atom([], SITE, feed_url=FEED_URL)


# --- Site -----------------------------------------------------------------------------------


def test_index_page() -> None:
    older = make_article(1, day=26)
    newer = make_article(2, day=27, title='Neu <script>alert("x")</script> & gut')
    page = render_index([entry_of(newer), entry_of(older)], SITE).decode("utf-8")
    doc = html.fromstring(page)

    assert doc.get("lang") == "de"
    assert doc.xpath("//meta[@charset]/@charset") == ["utf-8"]
    assert doc.xpath("//link[@rel='alternate'][@type='application/atom+xml']/@href") == [FEED_URL]
    assert "<script" not in page
    assert "Neu &lt;script&gt;alert(" in page
    titles = doc.xpath("//ol[@class='beitraege']//h2/a")
    assert [a.text_content() for a in titles] == [
        'Neu <script>alert("x")</script> & gut',
        "Deutscher Titel 1",
    ]
    assert [a.get("href") for a in titles] == [
        f"artikel/{newer.slug}.html",
        f"artikel/{older.slug}.html",
    ]
    times = doc.xpath("//time")
    assert [t.text for t in times] == ["27. Januar 2025", "26. Januar 2025"]
    assert times[0].get("datetime") == "2025-01-27T13:05:00+00:00"
    assert "Anriss 2" in page
    assert "Quelle: Source Blog" in doc.text_content()
    assert doc.xpath("//a[@type='application/atom+xml']/text()") == ["Atom-Feed"]
    assert "Automatisch übersetzt und erstellt mit kanalwerk" in page
    assert doc.xpath("//link[@rel='stylesheet']/@href") == ["style.css"]


def test_empty_index() -> None:
    page = render_index([], SITE).decode("utf-8")
    assert "Noch keine Beiträge." in page


def test_article_page() -> None:
    article = make_article(3, day=27)
    page = render_article(article, SITE).decode("utf-8")
    doc = html.fromstring(page)
    assert doc.get("lang") == "de"
    assert doc.xpath("//h1/text()") == ["Deutscher Titel 3"]
    assert doc.xpath("//link[@rel='alternate'][@type='application/atom+xml']/@href") == [FEED_URL]
    assert doc.xpath("//link[@rel='canonical']/@href") == [SITE.article_url(article.slug)]
    assert doc.xpath("//link[@rel='stylesheet']/@href") == ["../style.css"]
    assert "Veröffentlicht am" in page
    assert "27. Januar 2025" in page
    assert "Zur Übersicht" in page
    body = doc.xpath("//article")[0]
    first_block = body.xpath("./*[not(self::h1) and not(@class='meta')]")[0]
    assert first_block.get("class") == "quelle"
    assert "Hinweis zur Quelle" in first_block.text_content()
    assert doc.xpath("//p[@class='original']/a/@href") == ["https://source.example/posts/3"]


# --- Files ----------------------------------------------------------------------------------


def test_write_atomic_only_rewrites_on_change(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    assert write_atomic(target, b"eins") is True
    assert target.read_bytes() == b"eins"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    past = 1_000_000_000
    os.utime(target, (past, past))
    assert write_atomic(target, b"eins") is False
    assert target.stat().st_mtime == past
    assert write_atomic(target, b"zwei") is True
    assert target.read_bytes() == b"zwei"
    assert target.stat().st_mtime > past
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]


def test_write_atomic_keeps_existing_mode(tmp_path: Path) -> None:
    target = tmp_path / "feed.atom"
    target.write_bytes(b"alt")
    target.chmod(0o640)
    assert write_atomic(target, b"neu")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_write_atomic_cleans_up_when_replace_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "feed.atom"
    target.write_bytes(b"old complete content")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"new content")
    assert target.read_bytes() == b"old complete content"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.atom"]


def test_write_atomic_never_leaves_partial_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new.html"

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output"):
        write_atomic(target, b"x" * 100_000)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_concurrent_reader_sees_only_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    versions = [bytes([65 + i]) * (200_000 + i) for i in range(4)]
    write_atomic(target, versions[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(target.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(40):
            write_atomic(target, versions[round_ % 4])
    finally:
        stop.set()
        thread.join()
    assert seen <= set(versions)


# --- publish() ------------------------------------------------------------------------------


def test_publish_writes_everything_then_nothing(tmp_path: Path) -> None:
    out = tmp_path / "output"
    articles = [make_article(n) for n in range(1, 4)]
    first = publish(ArticleLibrary(SITE, articles), out)
    assert isinstance(first, PublishResult)
    expected = {
        out / "feed.atom",
        out / "feed.rss",
        out / "feed.json",
        out / "index.html",
        out / "style.css",
        out / "favicon.svg",
        out / "sitemap.xml",
        out / "quellen" / "index.html",
        out / "quellen" / "source-blog.html",
        *(out / "artikel" / f"{a.slug}.html" for a in articles),
    }
    assert set(first.written) == expected
    assert first.unchanged == 0
    assert all(p.is_file() for p in expected)
    assert b"quelle" in (out / "style.css").read_bytes()
    assert feedparser.parse((out / "feed.atom").read_bytes()).bozo == 0

    second = publish(ArticleLibrary(SITE, articles), out)
    assert second.written == []
    assert second.unchanged == len(expected)

    changed = [*articles[:2], dataclasses.replace(articles[2], title="Neuer Titel")]
    third = publish(ArticleLibrary(SITE, changed), out)
    assert set(third.written) == {
        out / "feed.atom",
        out / "feed.rss",
        out / "feed.json",
        out / "index.html",
        out / "quellen" / "index.html",  # shows the newest article's title
        out / "quellen" / "source-blog.html",
        out / "artikel" / f"{articles[2].slug}.html",
        out / "artikel" / f"{articles[1].slug}.html",  # links it as "Nächster Beitrag"
    }
    assert not [p for p in out.rglob("*.tmp")]


def test_publish_reports_write_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PublishError, match="Permission denied"):
        publish(ArticleLibrary(SITE, [make_article(1)]), tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.tmp"))


@pytest.mark.parametrize("slug", ["../../etc/passwd", "zwei\nzeilen", "nul\0", "", "-"])
def test_publish_rejects_unsafe_slug(tmp_path: Path, slug: str) -> None:
    good = make_article(2)
    bad = dataclasses.replace(make_article(1), slug=slug)
    with pytest.raises(PublishError, match="slug"):
        publish(ArticleLibrary(SITE, [good, bad]), tmp_path)
    assert not (tmp_path / "feed.atom").exists()


def test_publish_removes_temp_files_a_killed_run_left(tmp_path: Path) -> None:
    out = tmp_path / "output"
    (out / "artikel").mkdir(parents=True)
    left = [
        out / ".feed.atom.k3j9x_2a.tmp",
        out / "artikel" / ".deutscher-titel-1.html.0a1b2c3d.tmp",
    ]
    young = out / ".index.html.zz99yy88.tmp"  # may be a publish running right now
    others = [out / ".feed.atom.tmp", out / "notes.tmp", out / "artikel" / ".mine.tmp"]
    for path in [*left, young, *others]:
        path.write_bytes(b"<half a page")
    hour_ago = datetime.now(UTC).timestamp() - 3600
    for path in [*left, *others]:
        os.utime(path, (hour_ago, hour_ago))

    publish(ArticleLibrary(SITE, [make_article(1)]), out)
    assert not any(path.exists() for path in left)
    assert young.exists() and all(path.exists() for path in others)


def test_page_writer_reports_the_files_it_changed_in_order(tmp_path: Path) -> None:
    (tmp_path / "same.html").write_bytes(b"gleich")
    with PageWriter() as writer:
        for n in range(20):
            writer.write(tmp_path / f"{n}.html", f"Seite {n}".encode())
        writer.write(tmp_path / "same.html", b"gleich")
    assert writer.written == [tmp_path / f"{n}.html" for n in range(20)]
    assert (tmp_path / "7.html").read_bytes() == b"Seite 7"


def test_held_files_are_put_in_place_only_on_commit(tmp_path: Path) -> None:
    (tmp_path / "alt.html").write_bytes(b"alt")
    with PageWriter(hold=True) as writer:
        writer.write(tmp_path / "neu.html", b"neu")
        writer.write(tmp_path / "alt.html", b"ersetzt")
        assert writer.written == []
        assert not (tmp_path / "neu.html").exists()
        assert (tmp_path / "alt.html").read_bytes() == b"alt"
        writer.commit()
    assert writer.written == [tmp_path / "neu.html", tmp_path / "alt.html"]
    assert (tmp_path / "neu.html").read_bytes() == b"neu"
    assert (tmp_path / "alt.html").read_bytes() == b"ersetzt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alt.html", "neu.html"]


def test_held_files_never_committed_leave_nothing_behind(tmp_path: Path) -> None:
    with PageWriter(hold=True) as writer:
        writer.write(tmp_path / "neu.html", b"neu")
    assert list(tmp_path.iterdir()) == []
