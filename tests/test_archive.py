"""RFC 5005 archives: which entries live where, and that full archives never change."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from kanalwerk.models import Article
from kanalwerk.publish import publish
from kanalwerk.publish.archive import split_feed
from kanalwerk.publish.feeds import feed_pages
from kanalwerk.publish.pages import ArticleLibrary, Library, Page
from tests.feed_docs import (
    HUB,
    NS,
    SITE50,
    articles,
    atom_chain,
    links,
    local_path,
    write_feeds,
    xml,
)

# --- split_feed -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_split_keeps_every_entry_once_in_oldest_first_chunks(size: int) -> None:
    for count in range(0, 4 * size + 2):
        entries = list(range(count, 0, -1))  # newest first: count … 1
        split = split_feed(entries, size, seq=lambda n: n)
        assert list(split.current) == entries[:size]
        assert [a.number for a in split.archives] == list(range(1, len(split.archives) + 1))
        older = sorted(entries[size:])
        for archive in split.archives:
            # Archive n holds the n-th chunk of `size` counted from the oldest, newest first.
            chunk = older[(archive.number - 1) * size : archive.number * size]
            assert list(archive.entries) == sorted(chunk, reverse=True)
            assert archive.full == (len(chunk) == size)
        assert all(a.full for a in split.archives[:-1])  # only the newest may be partial
        newest_first = list(split.current)
        for archive in reversed(split.archives):
            newest_first += archive.entries
        assert newest_first == entries


def test_split_keeps_full_chunks_when_entries_arrive() -> None:
    before = split_feed(list(range(130, 0, -1)), 50, seq=lambda n: n)
    after = split_feed(list(range(131, 0, -1)), 50, seq=lambda n: n)
    assert [len(a.entries) for a in before.archives] == [50, 30]
    assert after.archives[0] == before.archives[0]
    assert after.archives[1].entries == (81, *before.archives[1].entries)
    assert after.current[0] == 131


def test_split_refuses_an_empty_document_size() -> None:
    with pytest.raises(ValueError, match="at least one"):
        split_feed([1, 2], 0, seq=lambda n: n)


# --- The written documents ------------------------------------------------------------------


def test_following_prev_archive_yields_every_entry_exactly_once(tmp_path: Path) -> None:
    published = articles(130)
    write_feeds(SITE50, published, tmp_path)

    documents = list(atom_chain(tmp_path, SITE50))
    ids = [str(i) for doc in documents for i in doc.xpath("a:entry/a:id/text()", namespaces=NS)]
    assert len(ids) == 130
    assert sorted(ids) == sorted(a.entry_id for a in published)
    assert [len(doc.findall("a:entry", namespaces=NS)) for doc in documents] == [50, 30, 50]
    # Newest first along the whole chain, as a client reassembles it.
    newest_first = sorted(published, key=lambda a: a.published, reverse=True)
    assert ids == [a.entry_id for a in newest_first]
    assert sorted(p.name for p in (tmp_path / "archiv").iterdir()) == ["1.atom", "2.atom"]


def test_archive_documents_carry_the_rfc5005_links(tmp_path: Path) -> None:
    site = dataclasses.replace(SITE50, websub_hub=HUB)
    write_feeds(site, articles(130), tmp_path)
    base = site.base_url
    current = xml(tmp_path / "feed.atom")
    first = xml(tmp_path / "archiv" / "1.atom")
    second = xml(tmp_path / "archiv" / "2.atom")

    assert current.find("fh:archive", namespaces=NS) is None
    assert links(current, "self") == [base + "feed.atom"]
    assert links(current, "prev-archive") == [base + "archiv/2.atom"]
    assert links(current, "hub") == [HUB]
    assert links(current, "current") == links(current, "next-archive") == []

    for number, doc, prev, next_ in [
        (1, first, [], [base + "archiv/2.atom"]),
        (2, second, [base + "archiv/1.atom"], []),
    ]:
        assert doc.find("fh:archive", namespaces=NS) is not None
        assert links(doc, "self") == [f"{base}archiv/{number}.atom"]
        assert links(doc, "current") == [base + "feed.atom"]
        assert links(doc, "prev-archive") == prev
        assert links(doc, "next-archive") == next_
        assert links(doc, "hub") == []  # subscribers subscribe to the current document
        # One logical feed: the archives share the current document's id and language.
        assert doc.findtext("a:id", namespaces=NS) == current.findtext("a:id", namespaces=NS)
        assert feedparser.parse(local_path(tmp_path, site, links(doc, "self")[0])).bozo == 0
    # The archive's <updated> is its newest entry's, so it stays put.
    assert first.findtext("a:updated", namespaces=NS) == first.findtext(
        "a:entry/a:updated", namespaces=NS
    )


def test_a_new_article_changes_feed_atom_and_no_full_archive(tmp_path: Path) -> None:
    published = articles(130)
    first = publish(ArticleLibrary(SITE50, published), tmp_path)
    archive_bytes = (tmp_path / "archiv" / "1.atom").read_bytes()
    before = {path: (tmp_path / path).read_bytes() for path in first.keys}

    newer = articles(1, first=131)[0]
    assert newer.published > max(a.published for a in published)
    second = publish(ArticleLibrary(SITE50, [*published, newer]), tmp_path, previous=first.keys)

    assert (tmp_path / "archiv" / "1.atom").read_bytes() == archive_bytes
    assert second.keys["archiv/1.atom"] == first.keys["archiv/1.atom"]
    changed_keys = {p for p in first.keys if second.keys[p] != first.keys[p]}
    feed_files = {"feed.atom", "feed.rss", "feed.json", "archiv/1.atom", "archiv/2.atom"}
    assert changed_keys & feed_files == {"feed.atom", "feed.rss", "feed.json", "archiv/2.atom"}
    written = {p.relative_to(tmp_path).as_posix() for p in second.written}
    assert written & feed_files == changed_keys & feed_files
    assert {p for p in feed_files if (tmp_path / p).read_bytes() != before[p]} == (
        changed_keys & feed_files
    )
    # The entry that left feed.atom is now the newest of the partial archive.
    moved = xml(tmp_path / "archiv" / "2.atom").findtext("a:entry/a:id", namespaces=NS)
    assert moved == sorted(published, key=lambda a: a.published)[80].entry_id


def test_a_full_archive_links_the_next_one_from_its_first_complete_version(
    tmp_path: Path,
) -> None:
    """Archive 1 fills at 100 articles: archive 2 exists at once (empty), so 1 never changes."""
    keys = []
    for count in (100, 101, 102, 150, 151):
        pages = write_feeds(SITE50, articles(count), tmp_path)
        keys.append(pages["archiv/1.atom"].key)
    assert len(set(keys)) == 1
    assert links(xml(tmp_path / "archiv" / "1.atom"), "next-archive") == [
        SITE50.base_url + "archiv/2.atom"
    ]


def test_an_updated_article_changes_only_the_document_holding_it(tmp_path: Path) -> None:
    published = articles(130)
    before = write_feeds(SITE50, published, tmp_path)
    oldest = published[0]
    edited = dataclasses.replace(
        oldest, title="Berichtigt", updated=datetime(2025, 3, 1, tzinfo=UTC)
    )
    after = write_feeds(SITE50, [edited, *published[1:]], tmp_path)
    assert {p for p in before if before[p].key != after[p].key} == {"archiv/1.atom"}
    assert "Berichtigt" in (tmp_path / "archiv" / "1.atom").read_text(encoding="utf-8")


def test_few_articles_make_no_archive(tmp_path: Path) -> None:
    pages = write_feeds(SITE50, articles(50), tmp_path)
    assert sorted(pages) == ["feed.atom", "feed.json", "feed.rss"]
    assert links(xml(tmp_path / "feed.atom"), "prev-archive") == []


def test_feed_pages_name_the_articles_they_load() -> None:
    published = articles(60)
    library = ArticleLibrary(SITE50, published)
    pages = {page.path: page for page in feed_pages(library)}
    newest = sorted(published, key=lambda a: a.published, reverse=True)
    assert set(pages["feed.atom"].needs) == {a.item_id for a in newest[:50]}
    assert pages["feed.rss"].needs == pages["feed.json"].needs == pages["feed.atom"].needs
    assert set(pages["archiv/1.atom"].needs) == {a.item_id for a in newest[50:]}


# --- Publication numbers ----------------------------------------------------------------------


def xml_of(page: Page, library: Library) -> etree._Element:
    return etree.fromstring(page.render(library), parser=etree.XMLParser(resolve_entities=False))


def numbered(published: list[Article]) -> dict[int, int]:
    """Publication numbers in the order the articles went out: oldest first."""
    return {a.item_id: n for n, a in enumerate(published, start=1)}


def test_no_full_archive_changes_as_articles_arrive_around_the_boundaries() -> None:
    """Archive k is complete once written: it links k+1 from the start, which may be empty."""
    keys: dict[str, str] = {}
    complete: set[str] = set()
    for count in range(97, 154):
        library = ArticleLibrary(SITE50, articles(count))
        pages = {page.path: page for page in feed_pages(library)}
        split = split_feed(library.entries, SITE50.feed_size, seq=lambda e: e.seq)
        changed = {path for path, page in pages.items() if keys.get(path) != page.key}
        assert not changed & complete, count
        assert len(changed) <= 5, (count, changed)
        for archive in split.archives:
            path = f"archiv/{archive.number}.atom"
            if archive.full and path not in complete:
                complete.add(path)
                assert links(xml_of(pages[path], library), "next-archive"), (count, path)
                newest = SITE50.base_url + f"archiv/{len(split.archives)}.atom"
                assert links(xml_of(pages["feed.atom"], library), "prev-archive") == [newest]
        keys = {path: page.key for path, page in pages.items()}
    assert complete == {"archiv/1.atom", "archiv/2.atom"}


def test_an_unpublished_article_leaves_a_hole_in_its_own_archive_only(tmp_path: Path) -> None:
    published = articles(230)
    seqs = numbered(published)
    before = write_feeds(SITE50, published, tmp_path, seqs)
    gone = published[60]  # in archive 2
    after = write_feeds(SITE50, [a for a in published if a is not gone], tmp_path, seqs)

    assert sorted(after) == sorted(before)
    assert {p for p in before if before[p].key != after[p].key} == {"archiv/2.atom"}
    documents = list(atom_chain(tmp_path, SITE50))
    ids = [str(i) for doc in documents for i in doc.xpath("a:entry/a:id/text()", namespaces=NS)]
    assert sorted(ids) == sorted(a.entry_id for a in published if a is not gone)
    assert len(ids) == len(set(ids)) == 229
    assert [len(doc.findall("a:entry", namespaces=NS)) for doc in documents] == [
        50, 30, 50, 49, 50
    ]  # fmt: skip


def test_an_empty_newest_archive_still_carries_its_links(tmp_path: Path) -> None:
    write_feeds(SITE50, articles(150), tmp_path)
    base = SITE50.base_url
    empty = xml(tmp_path / "archiv" / "3.atom")
    assert empty.find("fh:archive", namespaces=NS) is not None
    assert empty.findall("a:entry", namespaces=NS) == []
    assert links(empty, "current") == [base + "feed.atom"]
    assert links(empty, "prev-archive") == [base + "archiv/2.atom"]
    assert links(xml(tmp_path / "archiv" / "2.atom"), "next-archive") == [base + "archiv/3.atom"]
    assert links(xml(tmp_path / "feed.atom"), "prev-archive") == [base + "archiv/3.atom"]
