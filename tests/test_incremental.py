"""Incremental publishing from the store: only pages whose key changed are rendered.

The store is filled through its API (items, then articles), the site is published with
the pipeline as every caller does, and the output folder is compared byte for byte.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from lxml import etree

from kanalwerk import review
from kanalwerk.config import Config, load_config
from kanalwerk.errors import PublishError
from kanalwerk.models import Article, Item, SiteInfo, SourceRef
from kanalwerk.pipeline import Pipeline
from kanalwerk.publish import PublishResult, plan, publish
from kanalwerk.publish.library import StoreLibrary
from kanalwerk.publish.pages import ArticleLibrary, ChannelInfo, Entry, Page
from kanalwerk.store import Store
from tests.old_stores import opened_at, store_at
from tests.sites import spread
from tests.test_review_migration import sql

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def write_config(
    folder: Path, *, title: str = "KI-Nachrichten auf Deutsch", sizes: str = ""
) -> Path:
    config = folder / "feeds.yaml"
    config.write_text(
        f"""
site:
  title: {title}
  base_url: https://blog.example.org/
  author: Redaktion
{sizes}
output: {folder / "site"}
store: sqlite:///{folder / "kanalwerk.db"}
channels:
  - name: Kanal A
    url: https://a.example/feed.xml
  - name: Kanal B
    url: https://b.example/feed.xml
""",
        encoding="utf-8",
    )
    return config


def add_article(store: Store, n: int, *, channel: str = "kanal-a") -> Article:
    """Item `n` of `channel`, stored and translated; published `n` hours after START."""
    published = START + timedelta(hours=n)
    link = f"https://{channel}.example/posts/{n}"
    (item_id,) = store.add_items(
        channel, [Item(guid=link, link=link, title=f"Original {n}", published=published)]
    )
    return store.save_article(
        Article(
            item_id=item_id,
            entry_id=f"tag:blog.example.org,2025:{channel}-{n}",
            slug=f"beitrag-{n}",
            title=f"Beitrag {n}",
            summary=f"Anriss {n}",
            content_html=f"<p>Text des Beitrags {n}.</p>",
            published=published,
            updated=published,
            source=SourceRef(f"Original {n}", link, channel, None, link, None, None),
            engine="local",
            model=None,
            channel_id=channel,
        )
    )


@dataclass
class Site:
    config: Config
    store: Store
    pipeline: Pipeline

    @property
    def output(self) -> Path:
        return Path(self.config.output)

    def publish(self, *, force: bool = False) -> PublishResult | None:
        return self.pipeline.publish(force=force)

    def snapshot(self) -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in self.output.rglob("*") if p.is_file()}


S = TypeVar("S", bound=Site)


@contextmanager
def opened(tmp_path: Path, kind: type[S]) -> Iterator[S]:
    """A site of `write_config`'s in `tmp_path`, its store and pipeline open."""
    config = load_config(write_config(tmp_path))
    with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
        yield kind(config, store, pipeline)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with opened(tmp_path, Site) as site:
        yield site


def publish_articles(site: Site, count: int) -> PublishResult:
    for n in range(1, count + 1):
        add_article(site.store, n, channel="kanal-a" if n % 2 else "kanal-b")
    result = site.publish()
    assert result is not None
    return result


def changed_files(before: dict[Path, bytes], after: dict[Path, bytes]) -> set[Path]:
    return {path for path, data in after.items() if before.get(path) != data}


def test_one_new_article_writes_only_the_pages_that_show_it(site: Site) -> None:
    publish_articles(site, 6)
    before = site.snapshot()

    new = add_article(site.store, 7)
    result = site.publish()

    assert result is not None
    after = site.snapshot()
    written = set(result.written)
    assert written == changed_files(before, after)
    # Every page rendered was one whose bytes changed: keys move only with the bytes.
    assert {site.output / path for path in result.rendered} == written
    assert site.output / "artikel" / f"{new.slug}.html" in written
    assert {site.output / "index.html", site.output / "feed.atom"} <= written
    for path in written:  # by its title, or by its address (a sitemap, a canonical link)
        data = path.read_bytes()
        assert new.title.encode() in data or new.slug.encode() in data, path
    assert len(written) <= 10
    assert (site.output / "artikel" / "beitrag-1.html") not in written


def test_a_retitled_article_rewrites_the_pages_of_its_neighbours(site: Site) -> None:
    publish_articles(site, 5)
    (three,) = site.store.articles_by_id([3])
    site.publish()  # a cycle in between: the next plan starts from this one's keys

    site.store.save_article(replace(three, title="Neuer Titel"))
    result = site.publish()

    assert result is not None
    written = {str(path.relative_to(site.output)) for path in result.written}
    articles = {path for path in written if path.startswith("artikel/")}
    assert articles == {
        "artikel/beitrag-2.html",
        "artikel/beitrag-3.html",
        "artikel/beitrag-4.html",
    }
    for path in articles:
        assert "Neuer Titel" in (site.output / path).read_text(encoding="utf-8")


def test_quiet_cycle_renders_nothing_and_writes_nothing(site: Site) -> None:
    publish_articles(site, 3)
    keys = site.store.published_pages()
    before = {p: p.stat().st_mtime_ns for p in site.snapshot()}

    assert site.publish() is None
    assert site.store.published_pages() == keys
    assert {p: p.stat().st_mtime_ns for p in site.snapshot()} == before


def test_items_become_published_once_their_pages_are_out(site: Site) -> None:
    add_article(site.store, 1)
    assert site.store.unpublished_count() == 1
    site.publish()
    assert site.store.unpublished_count() == 0


def test_deleted_output_file_is_written_again_on_a_quiet_cycle(site: Site) -> None:
    publish_articles(site, 3)
    gone = site.output / "artikel" / "beitrag-2.html"
    kept = gone.read_bytes()
    gone.unlink()

    result = site.publish()
    assert result is not None
    assert result.written == [gone]
    assert gone.read_bytes() == kept


def test_page_no_longer_published_is_removed_and_users_files_are_kept(site: Site) -> None:
    publish_articles(site, 2)
    # A page an earlier run wrote that the plan no longer has, e.g. a renamed page.
    old = site.output / "artikel" / "alter-beitrag.html"
    old.write_bytes(b"<p>alt</p>")
    folder = site.output / "artikel" / "ordner.html"  # made by hand where a page was
    folder.mkdir()
    site.store.record_published_pages(
        {"artikel/alter-beitrag.html": "k", "../x.html": "k", "artikel/ordner.html": "k"}, []
    )
    outside = site.output.parent / "x.html"
    outside.write_bytes(b"not the publisher's")
    mine = [site.output / "impressum.html", site.output / "artikel" / "mein-text.html"]
    for path in mine:
        path.write_bytes(b"<p>von Hand</p>")

    result = site.publish()

    assert result is not None
    assert result.removed == [old]
    assert result.written == []
    assert not old.exists()
    assert outside.exists() and folder.is_dir() and all(path.exists() for path in mine)
    assert not {"artikel/alter-beitrag.html", "../x.html", "artikel/ordner.html"} & set(
        site.store.published_pages()
    )
    assert site.publish() is None


def test_article_leaving_the_library_loses_its_page(tmp_path: Path) -> None:
    site = load_config(write_config(tmp_path)).site.info()
    out = tmp_path / "out"
    with Store.open(f"sqlite:///{tmp_path / 'k.db'}") as store:
        store.sync_channels([("kanal-a", "Kanal A", "https://a.example/feed.xml")])
        articles = [add_article(store, n) for n in (1, 2, 3)]
    first = publish(ArticleLibrary(site, articles), out)
    second = publish(ArticleLibrary(site, articles[:2]), out, previous=first.keys)

    gone = out / "artikel" / f"{articles[2].slug}.html"
    assert second.removed == [gone]
    assert not gone.exists()
    assert out / "index.html" in second.written
    assert set(second.keys) == set(first.keys) - {f"artikel/{articles[2].slug}.html"}


def test_crash_mid_publish_leaves_no_temp_files_and_the_next_run_completes(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 5):
        add_article(site.store, n)
    real_replace = os.replace
    calls = 0

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PublishError, match="No space left on device"):
        site.publish()
    monkeypatch.setattr(os, "replace", real_replace)
    assert not [p for p in site.output.rglob("*") if p.name.endswith(".tmp")]
    assert site.store.published_pages() == {}
    assert site.store.unpublished_count() == 4
    first_two = set(site.snapshot())
    assert len(first_two) == 2

    result = site.publish()

    assert result is not None
    assert not set(result.written) & first_two  # rendered again, to the same bytes
    assert set(result.rendered) == set(result.keys)
    assert site.store.published_pages() == result.keys
    assert site.store.unpublished_count() == 0
    assert site.publish() is None


def test_force_renders_every_page(site: Site) -> None:
    publish_articles(site, 3)
    result = site.publish(force=True)
    assert result is not None
    assert result.rendered == result.keys
    assert result.written == []  # same bytes: no file is touched


def test_new_site_settings_render_every_page_once(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    with Store.open(config.store) as store:
        with Pipeline(config, store) as pipeline:
            add_article(store, 1)
            first = pipeline.publish()
        assert first is not None
        retitled = load_config(write_config(tmp_path, title="Neuer Titel"))
        with Pipeline(retitled, store) as pipeline:
            again = pipeline.publish()
            assert again is not None
            assert set(again.rendered) == set(first.keys)
            assert pipeline.publish() is None


@dataclass
class CountingLibrary:
    """An in-memory library that records each body request."""

    inner: ArticleLibrary
    requests: list[list[int]]

    @property
    def site(self) -> SiteInfo:
        return self.inner.site

    @property
    def entries(self) -> Sequence[Entry]:
        return self.inner.entries

    @property
    def channels(self) -> Sequence[ChannelInfo]:
        return self.inner.channels

    @property
    def removed(self) -> Sequence[str]:
        return self.inner.removed

    def articles(self, item_ids: Sequence[int]) -> list[Article]:
        self.requests.append(list(item_ids))
        return self.inner.articles(item_ids)


def test_bodies_are_loaded_in_batches_only_for_pages_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kanalwerk.publish.BODY_BATCH", 2)
    site = load_config(write_config(tmp_path)).site.info()
    with Store.open(f"sqlite:///{tmp_path / 'k.db'}") as store:
        store.sync_channels([("kanal-a", "Kanal A", "https://a.example/feed.xml")])
        articles = [add_article(store, n) for n in range(1, 6)]
    out = tmp_path / "out"
    library = CountingLibrary(ArticleLibrary(site, articles), [])
    first = publish(library, out)
    article_loads = [ids for ids in library.requests if len(ids) <= 2]
    assert sorted(i for ids in article_loads for i in ids) == sorted(a.item_id for a in articles)

    library.requests.clear()
    assert publish(library, out, previous=first.keys).written == []
    assert library.requests == []  # nothing rendered, no body read


def test_store_library_lists_published_entries_without_bodies(store: Store, tmp_path: Path) -> None:
    store.sync_channels(
        [
            ("kanal-a", "Kanal A", "https://a.example/feed.xml"),
            ("kanal-b", "Kanal B", "https://b.example/feed.xml"),
        ]
    )
    one, two, three = (add_article(store, n) for n in (1, 3, 2))
    store.add_items("kanal-b", [Item(guid="untranslated", link=None, title="Neu")])
    store.mark_published([one.item_id])
    site = load_config(write_config(tmp_path)).site.info()

    library = StoreLibrary(store, site, ["kanal-b", "kanal-a", "unknown"])

    assert [e.entry_id for e in library.entries] == [
        two.entry_id,
        three.entry_id,
        one.entry_id,
    ]
    assert library.unpublished == {two.item_id, three.item_id}
    assert [c.id for c in library.channels] == ["kanal-b", "kanal-a"]
    assert library.channels[1].feed_url == "https://a.example/feed.xml"
    loaded = library.articles([three.item_id, 999, one.item_id])
    assert [a.item_id for a in loaded] == [three.item_id, one.item_id]
    assert loaded[0].content_html == three.content_html


def test_entries_are_reused_while_their_rows_stay_and_remade_when_they_change(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with Store.open(url) as store:
        store.sync_channels([("kanal-a", "Kanal A", "https://a.example/feed.xml")])
        one, two = (add_article(store, n) for n in (1, 2))

        def entries() -> list[Entry]:
            found = store.published_entries().entries
            with Store.open(url) as fresh_eyes:  # as if never seen
                assert found == fresh_eyes.published_entries().entries
            return found

        first = entries()
        again = entries()
        assert all(a is b for a, b in zip(first, again, strict=True))

        store.save_article(replace(two, title="Neuer Titel", updated=two.updated))
        retitled = entries()
        assert [e.title for e in retitled] == ["Neuer Titel", "Beitrag 1"]
        assert retitled[1] is first[1]

        store.mark_published([one.item_id, two.item_id])  # numbers given: as provisional
        assert entries()[1] is first[1]

        store.sync_channels([("kanal-a", "Kanal A neu", "https://a.example/feed.xml")])
        renamed = entries()
        assert {e.source.channel_name for e in renamed} == {"Kanal A neu"}
        assert renamed[1] is not first[1]

        add_article(store, 3)
        assert [e.seq for e in entries()] == [3, 2, 1]


def test_a_quiet_plan_is_the_last_one_and_unchanged_article_pages_carry_over(
    site: Site,
) -> None:
    publish_articles(site, 5)
    info = site.config.site.info()

    def planned() -> dict[str, Page]:
        library = StoreLibrary(site.store, info, ["kanal-a", "kanal-b"])
        return {page.path: page for page in plan(library)}

    first = planned()
    assert planned() == first
    assert all(page is first[path] for path, page in planned().items())

    add_article(site.store, 6)
    after = planned()
    same = {path for path, page in after.items() if page is first.get(path)}
    articles = {path for path in first if path.startswith("artikel/")}
    # The newest article's page links the new one now; the others are as they were.
    assert articles - same == {"artikel/beitrag-5.html"}
    assert after["artikel/beitrag-5.html"].key != first["artikel/beitrag-5.html"].key
    assert "index.html" not in same


def test_a_library_whose_list_changed_in_place_is_planned_again() -> None:
    site = SiteInfo("T", None, "https://blog.example.org/", "R", "H", "x", "y")
    library = ArticleLibrary(site, spread(4, site))
    first = plan(library)
    assert plan(library) is first
    assert isinstance(library.entries, list)
    newest = library.entries.pop(0)
    assert f"artikel/{newest.slug}.html" not in {page.path for page in plan(library)}


def test_published_pages_kept_in_memory_follow_records_from_another_store(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with Store.open(url) as daemon, Store.open(url) as by_hand:
        assert daemon.published_pages() == {}
        daemon.record_published_pages({"index.html": "a", "feed.atom": "b"}, [])
        assert daemon.published_pages() == {"index.html": "a", "feed.atom": "b"}
        assert by_hand.published_pages() == {"index.html": "a", "feed.atom": "b"}

        by_hand.record_published_pages({"index.html": "c", "seite/1.html": "d"}, ["feed.atom"])
        assert daemon.published_pages() == {"index.html": "c", "seite/1.html": "d"}

        daemon.record_published_pages({"feed.atom": "e"}, ["seite/1.html"])
        by_hand.record_published_pages({"feed.rss": "f"}, [])
        expected = {"index.html": "c", "feed.atom": "e", "feed.rss": "f"}
        assert daemon.published_pages() == expected
        assert by_hand.published_pages() == expected
        daemon.published_pages()["index.html"] = "changed by a caller"
        assert daemon.published_pages() == expected


def test_migration_takes_over_the_keys_kept_in_meta(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with opened_at(url, 3) as old:
        old.set_meta("published_keys", '{"index.html": "abc", "feed.atom": "def"}')
    with Store.open(url) as store:
        assert store.published_pages() == {"index.html": "abc", "feed.atom": "def"}
        assert store.get_meta("published_keys") is None


# --- the order of publishing ----------------------------------------------------------

ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}


def atom_ids(path: Path) -> list[str]:
    return [
        str(i) for i in etree.parse(str(path)).xpath("//a:entry/a:id/text()", namespaces=ATOM_NS)
    ]


def test_an_old_original_published_late_reaches_the_feed_and_spares_the_archives(
    site: Site,
) -> None:
    publish_articles(site, 120)  # feed.atom holds 50, archiv/1.atom and archiv/2.atom 70
    archive = site.output / "archiv" / "1.atom"
    before = site.snapshot()

    late = add_article(site.store, 500, channel="kanal-b")
    with sqlite3.connect(Path(site.config.store.removeprefix("sqlite:///"))) as db:
        db.execute(
            "UPDATE articles SET published = ? WHERE item_id = ?",
            (datetime(2019, 5, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), late.item_id),
        )
    site.publish()

    assert late.entry_id in atom_ids(site.output / "feed.atom")
    assert archive.read_bytes() == before[archive]
    assert late.entry_id not in archive.read_text(encoding="utf-8")
    assert site.output / "archiv" / "1.atom" not in changed_files(before, site.snapshot())
    front = (site.output / "index.html").read_text(encoding="utf-8")
    assert f"artikel/{late.slug}.html" in front


def test_articles_going_out_together_keep_the_originals_order(site: Site) -> None:
    publish_articles(site, 3)
    ids = atom_ids(site.output / "feed.atom")
    assert ids == [
        f"tag:blog.example.org,2025:{c}-{n}"
        for n, c in ((3, "kanal-a"), (2, "kanal-b"), (1, "kanal-a"))
    ]


# --- Publication numbers: a removed article leaves a hole, nothing shifts ------------------


def test_unpublishing_the_oldest_rewrites_only_the_pages_that_showed_it(tmp_path: Path) -> None:
    """Many archives and pages of each kind (400 articles at the default sizes, made small)."""
    config = load_config(write_config(tmp_path, sizes="  feed_size: 10\n  page_size: 4"))
    with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
        site = Site(config, store, pipeline)
        publish_articles(site, 80)
        unpublish_oldest(site)


def unpublish_oldest(site: Site) -> None:
    oldest = site.store.published_entries().entries[-1]
    assert oldest.slug == "beitrag-1" and oldest.seq == 1
    before = site.snapshot()

    review.unpublish(site.config, [oldest.item_id], publish=False)
    result = site.publish()

    assert result is not None
    written = {path.relative_to(site.output).as_posix() for path in result.written}
    changed = {
        path.relative_to(site.output).as_posix() for path in changed_files(before, site.snapshot())
    }
    assert (
        written
        == changed
        == {
            "artikel/beitrag-1.html",  # a notice now
            "artikel/beitrag-2.html",  # its newer neighbour linked it
            "seite/1.html",
            "archiv/1.atom",
            "quellen/kanal-a/seite/1.html",
            "quellen/kanal-a.html",  # the channel's count
            "quellen/index.html",  # the overview's counts
            "sitemap.xml",
        }
    )


def test_publication_numbers_follow_the_order_articles_went_out(site: Site) -> None:
    publish_articles(site, 3)
    late = add_article(site.store, 0)  # about the oldest original, but out last
    pending = site.store.published_entries().entries
    assert [(e.slug, e.seq) for e in pending] == [
        ("beitrag-0", 4),  # provisional: after every number given
        ("beitrag-3", 3),
        ("beitrag-2", 2),
        ("beitrag-1", 1),
    ]
    site.publish()
    assert site.store.published_entries().entries == pending
    assert pending[0].item_id == late.item_id
    assert {e.slug: e.channel_seq for e in pending} == {
        "beitrag-0": 3,
        "beitrag-3": 2,
        "beitrag-2": 1,
        "beitrag-1": 1,
    }


def test_migration_numbers_articles_out_in_the_order_they_went_out(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store_at(f"sqlite:///{path}", 7)
    now = "2025-03-01 09:00:00.000000"
    sql(
        path,
        "INSERT INTO channels (id, name, error_count, created_at) VALUES ('c', 'C', 0, ?)",
        (now,),
    )
    # id, state, original's date, went out: 3 and 1 together (3's original is older), 4 never.
    for n, state, published, out in (
        (1, "published", "2025-02-03 00:00:00.000000", "2025-03-02 00:00:00.000000"),
        (2, "removed", "2025-02-01 00:00:00.000000", "2025-03-01 00:00:00.000000"),
        (3, "published", "2025-02-02 00:00:00.000000", "2025-03-02 00:00:00.000000"),
        (4, "translated", "2025-01-01 00:00:00.000000", None),
    ):
        sql(
            path,
            "INSERT INTO items (id, channel_id, guid, title, state, attempts, first_seen, "
            "updated_at) VALUES (?, 'c', ?, ?, ?, 0, ?, ?)",
            (n, f"g{n}", f"Title {n}", state, now, now),
        )
        sql(
            path,
            "INSERT INTO articles (item_id, entry_id, slug, title, summary, content_html, "
            "published, updated, engine, created_at, first_published_at) "
            "VALUES (?, ?, ?, 'T', 'S', '<p>x</p>', ?, ?, 'local', ?, ?)",
            (n, f"urn:{n}", f"s-{n}", published, published, now, out),
        )
    with Store.open(f"sqlite:///{path}") as store:
        entries = store.published_entries().entries
    assert sql(path, "SELECT item_id, published_seq FROM articles ORDER BY item_id") == [
        (1, 3),
        (2, 1),
        (3, 2),
        (4, None),
    ]
    assert [(e.item_id, e.seq, e.channel_seq) for e in entries] == [(4, 4, 4), (1, 3, 3), (3, 2, 2)]
