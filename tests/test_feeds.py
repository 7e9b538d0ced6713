"""feed.atom, feed.rss and feed.json: one set of entries in three formats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.feed_docs import (
    HUB,
    NS,
    SITE50,
    articles,
    atom_entries,
    json_entries,
    links,
    read_json,
    rss_entries,
    write_feeds,
    xml,
)

RSS_ATOM_LINK = "{http://www.w3.org/2005/Atom}link"


def test_rss_and_json_feed_carry_the_entries_of_feed_atom(tmp_path: Path) -> None:
    published = articles(60)
    newest = published[-1].published  # a tie on the date: the entry id orders them
    published[3] = dataclasses.replace(published[3], published=newest, updated=newest)
    write_feeds(SITE50, published, tmp_path)

    atom = atom_entries(xml(tmp_path / "feed.atom"))
    assert len(atom) == 50
    assert rss_entries(xml(tmp_path / "feed.rss")) == atom  # same ids, titles, links, order
    assert json_entries(read_json(tmp_path / "feed.json")) == atom

    # The original is named the same way everywhere too.
    via = [links(e, "via")[0] for e in xml(tmp_path / "feed.atom").findall("a:entry", NS)]
    assert [i["external_url"] for i in read_json(tmp_path / "feed.json")["items"]] == via


def test_every_feed_declares_the_hub_and_keeps_self(tmp_path: Path) -> None:
    site = dataclasses.replace(SITE50, websub_hub=HUB)
    write_feeds(site, articles(3), tmp_path)
    atom = xml(tmp_path / "feed.atom")
    assert links(atom, "hub") == [HUB]
    assert links(atom, "self") == [site.base_url + "feed.atom"]
    channel = xml(tmp_path / "feed.rss").find("channel")
    assert channel is not None
    assert [(e.get("rel"), e.get("href")) for e in channel.iter(RSS_ATOM_LINK)] == [
        ("self", site.base_url + "feed.rss"),
        ("hub", HUB),
    ]
    feed = read_json(tmp_path / "feed.json")
    assert feed["hubs"] == [{"type": "WebSub", "url": HUB}]
    assert feed["feed_url"] == site.base_url + "feed.json"


def test_no_hub_without_websub_hub(tmp_path: Path) -> None:
    write_feeds(SITE50, articles(3), tmp_path)
    assert links(xml(tmp_path / "feed.atom"), "hub") == []
    assert b'rel="hub"' not in (tmp_path / "feed.rss").read_bytes()
    assert "hubs" not in read_json(tmp_path / "feed.json")


def test_setting_the_hub_changes_the_keys_of_the_current_feeds(tmp_path: Path) -> None:
    published = articles(60)
    without = write_feeds(SITE50, published, tmp_path)
    with_hub = write_feeds(dataclasses.replace(SITE50, websub_hub=HUB), published, tmp_path)
    for path in ("feed.atom", "feed.rss", "feed.json"):
        assert without[path].key != with_hub[path].key
    # The setting is part of every page's layout key; the archive's bytes stay the same.
    assert links(xml(tmp_path / "archiv" / "1.atom"), "hub") == []
