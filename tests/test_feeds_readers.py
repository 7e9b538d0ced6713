"""The written feeds as real feed readers see them, fetched from a local HTTP server.

reader (the library) reads all three formats; newsboat reads Atom and RSS (it has no
JSON Feed support). Neither follows `prev-archive` itself, so each archive is subscribed
to as well, as found by following the chain in the written files.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from reader import make_reader

from kanalwerk.models import SiteInfo
from tests.feed_docs import (
    NS,
    SITE50,
    Shown,
    articles,
    atom_chain,
    atom_entries,
    json_entries,
    links,
    read_json,
    rss_entries,
    write_feeds,
    xml,
)
from tests.servers import LocalServer, Resource

CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json",
}


@dataclass(frozen=True)
class Served:
    site: SiteInfo
    out: Path
    chain: list[str]  # feed.atom, then each archive met following prev-archive
    expected: dict[str, list[Shown]]  # feed URL → its entries, from the written file


@pytest.fixture(scope="module")
def served(
    shared_server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """130 articles with feed_size 50, written and served as a web server would."""
    server = shared_server.reset()
    out = tmp_path_factory.mktemp("output")
    site = dataclasses.replace(SITE50, base_url=server.base_url + "/")
    pages = write_feeds(site, articles(130), out)
    for path in pages:
        suffix = path.rsplit(".", 1)[1]
        server.routes["/" + path] = Resource((out / path).read_bytes(), CONTENT_TYPES[suffix])

    chain = [links(doc, "self")[0] for doc in atom_chain(out, site)]
    expected = {url: atom_entries(xml(out / url.removeprefix(site.base_url))) for url in chain}
    expected[site.base_url + "feed.rss"] = rss_entries(xml(out / "feed.rss"))
    expected[site.base_url + "feed.json"] = json_entries(read_json(out / "feed.json"))
    assert len(chain) == 3
    current = expected[chain[0]]
    assert expected[site.base_url + "feed.rss"] == expected[site.base_url + "feed.json"] == current
    assert sum(len(expected[url]) for url in chain) == 130
    yield Served(site, out, chain, expected)


def test_reader_reads_every_entry_of_every_feed(served: Served) -> None:
    reader = make_reader(":memory:")
    try:
        for url in served.expected:
            reader.add_feed(url)
        reader.update_feeds()
        versions = {}
        for feed in reader.get_feeds():
            assert feed.last_exception is None, (feed.url, feed.last_exception)
            versions[feed.url] = feed.version
            seen = {Shown(e.id, e.title or "", e.link or "") for e in reader.get_entries(feed=feed)}
            assert seen == set(served.expected[feed.url]), feed.url
        base = served.site.base_url
        assert versions == {
            **{url: "atom10" for url in served.chain},
            base + "feed.rss": "rss20",
            base + "feed.json": "json11",
        }
        all_ids = {e.id for e in reader.get_entries() if e.feed_url in served.chain}
        assert len(all_ids) == 130
    finally:
        reader.close()


def _newsboat(urls: list[str], home: Path) -> dict[str, set[Shown]]:
    """Run newsboat once (`reload`, no terminal) and read what it cached, by feed URL."""
    home.mkdir()
    (home / "urls").write_text("".join(url + "\n" for url in urls), encoding="utf-8")
    (home / "config").write_text("", encoding="utf-8")
    cache = home / "cache.db"
    command = ["newsboat", "-u", str(home / "urls"), "-c", str(cache)]
    command += ["-C", str(home / "config"), "-x", "reload"]
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    done = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, set[Shown]] = {}
    with sqlite3.connect(cache) as db:
        for feed_url, guid, title, link in db.execute(
            "SELECT feedurl, guid, title, url FROM rss_item"
        ):
            seen.setdefault(feed_url, set()).add(Shown(guid, title, link))
    return seen


@pytest.mark.skipif(shutil.which("newsboat") is None, reason="newsboat is not installed")
def test_newsboat_reads_every_entry_of_the_atom_chain_and_the_rss(
    served: Served, tmp_path: Path
) -> None:
    # newsboat keys its cache by guid across feeds, and feed.rss repeats feed.atom's ids
    # on purpose: one cache per format.
    atom = _newsboat(served.chain, tmp_path / "atom")
    assert {url: len(shown) for url, shown in atom.items()} == {
        url: len(served.expected[url]) for url in served.chain
    }
    for url in served.chain:
        assert atom[url] == set(served.expected[url]), url
    assert len({shown.id for url in served.chain for shown in atom[url]}) == 130

    rss_url = served.site.base_url + "feed.rss"
    rss = _newsboat([rss_url], tmp_path / "rss")
    assert rss == {rss_url: set(served.expected[rss_url])}
    assert {s.id for s in rss[rss_url]} == {
        str(i) for i in xml(served.out / "feed.atom").xpath("a:entry/a:id/text()", namespaces=NS)
    }
