"""OPML: reading readers' exports, `import-opml`/`export-opml`, and `quellen.opml`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from kanalwerk.config import load_config
from kanalwerk.errors import OpmlError
from kanalwerk.opml import Subscription, parse_opml, render_opml
from kanalwerk.publish import publish
from kanalwerk.publish.opmlpages import opml_pages
from kanalwerk.publish.pages import ArticleLibrary, ChannelInfo
from tests.cli import run_cli
from tests.test_publish import SITE

CNBC_ID = "UCvJJ_dzjViJCoLf5uKUTwoA"
CNBC_FEED = f"https://www.youtube.com/feeds/videos.xml?channel_id={CNBC_ID}"

#: An OPML 1.0 export as older readers write it: folders, lower-case attribute names,
#: a folder-less feed, an outline that is only a link, and a feed listed twice.
READER_EXPORT = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<opml version="1.0">
  <head><title>Abos</title></head>
  <body>
    <outline text="Technik">
      <outline text="Tech Notes" type="rss" xmlUrl="https://technotes.example.com/feed/"
               htmlUrl="https://technotes.example.com/"/>
      <outline text="Unterordner">
        <outline title="Ada" text="Ada L." xmlurl="https://ada.example.org/atom.xml"/>
      </outline>
    </outline>
    <outline text="Nur ein Link" type="link" url="https://example.org/"/>
    <outline text="M\xfcnchen" type="rss" xmlUrl="https://muenchen.example.de/rss"/>
    <outline text="Tech Notes again" type="rss" xmlUrl="HTTPS://TechNotes.example.com/feed"/>
  </body>
</opml>
"""

CONFIG = """\
# Hand-written; this comment stays.
site:
  title: Testblog
  base_url: https://blog.example.org/
  author: Redaktion
store: sqlite:///k.db
channels: []
"""


def test_parse_reads_folders_and_both_versions() -> None:
    assert parse_opml(READER_EXPORT, name="abos.opml") == [
        Subscription(
            "Tech Notes", "https://technotes.example.com/feed/", "https://technotes.example.com/"
        ),
        Subscription("Ada", "https://ada.example.org/atom.xml"),
        Subscription("München", "https://muenchen.example.de/rss"),
        Subscription("Tech Notes again", "HTTPS://TechNotes.example.com/feed"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<opml><body><outline", "abos.opml:1:13: not well-formed XML: unclosed token"),
        (b"<rss version='2.0'><channel/></rss>", "its root element is <rss>, not <opml>"),
        (b"<opml version='2.0'><head/></opml>", "has no <body>"),
        (
            b'<!DOCTYPE opml [<!ENTITY a "aaaa">]><opml><body/></opml>',
            "it declares XML entities",
        ),
    ],
)
def test_a_malformed_file_is_named(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=r"^abos\.opml") as info:
        parse_opml(data, name="abos.opml")
    assert message in str(info.value)


def test_render_is_opml_2_that_parses_back() -> None:
    subscriptions = [
        Subscription(
            "A & B <Blog>", "https://a.example.org/feed?x=1&y=2", "https://a.example.org/"
        ),
        Subscription("CNBC", CNBC_FEED),
    ]
    data = render_opml("Quellen", subscriptions, owner="Redaktion")
    root = etree.fromstring(data)
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "Quellen"
    assert root.findtext("head/ownerName") == "Redaktion"
    outlines = root.findall("body/outline")
    assert [dict(o.attrib) for o in outlines] == [
        {
            "type": "rss",
            "text": "A & B <Blog>",
            "title": "A & B <Blog>",
            "xmlUrl": "https://a.example.org/feed?x=1&y=2",
            "htmlUrl": "https://a.example.org/",
        },
        {"type": "rss", "text": "CNBC", "title": "CNBC", "xmlUrl": CNBC_FEED},
    ]
    assert parse_opml(data, name="x") == subscriptions
    assert render_opml("Quellen", subscriptions, owner="Redaktion") == data  # no date in it


def test_import_adds_new_feeds_and_skips_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        CONFIG.replace(
            "channels: []", "channels:\n  - name: Ada\n    url: https://ada.example.org/atom.xml"
        ),
        encoding="utf-8",
    )
    export = tmp_path / "abos.opml"
    export.write_bytes(READER_EXPORT)

    result = run_cli(config, "import-opml", str(export))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "added Tech Notes: https://technotes.example.com/feed/",
        "added München: https://muenchen.example.de/rss",
        "skipped Ada (https://ada.example.org/atom.xml): already configured as 'Ada'",
        "skipped Tech Notes again (HTTPS://TechNotes.example.com/feed): "
        "already configured as 'Tech Notes'",
        f"2 channel(s) added to {config}, 2 skipped",
    ]
    channels = load_config(config).channels
    assert [(c.name, c.url) for c in channels] == [
        ("Ada", "https://ada.example.org/atom.xml"),
        ("Tech Notes", "https://technotes.example.com/feed/"),
        ("München", "https://muenchen.example.de/rss"),
    ]
    assert config.read_text(encoding="utf-8").startswith("# Hand-written; this comment stays.\n")


def test_import_gives_a_taken_title_a_number(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    export = tmp_path / "abos.opml"
    export.write_bytes(
        render_opml(
            "x",
            [
                Subscription("Blog", "https://one.example.org/feed"),
                Subscription("Blog", "https://two.example.org/feed"),
            ],
        )
    )
    assert run_cli(config, "import-opml", str(export)).returncode == 0
    assert [c.name for c in load_config(config).channels] == ["Blog", "Blog (2)"]


def test_import_of_a_malformed_file_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    export = tmp_path / "abos.opml"
    export.write_bytes(b"<opml><body><outline text='x'></body></opml>")
    result = run_cli(config, "import-opml", str(export))
    assert result.returncode == 1
    assert f"{export}:1:" in result.stderr and "not well-formed XML" in result.stderr
    assert "Traceback" not in result.stderr
    assert config.read_text(encoding="utf-8") == CONFIG

    missing = run_cli(config, "import-opml", str(tmp_path / "nope.opml"))
    assert missing.returncode == 1
    assert f"{tmp_path / 'nope.opml'}: cannot read it" in missing.stderr


def test_export_then_import_gives_the_same_channels(tmp_path: Path) -> None:
    source = tmp_path / "feeds.yaml"
    source.write_text(
        CONFIG.replace(
            "channels: []",
            "channels:\n"
            "  - name: Tech Notes\n    url: https://technotes.example.com/feed/\n"
            f"  - name: CNBC\n    youtube: https://www.youtube.com/channel/{CNBC_ID}\n"
            '  - name: "Ada: Notizen & mehr"\n    url: https://ada.example.org/atom.xml?x=1&y=2\n',
        ),
        encoding="utf-8",
    )
    exported = tmp_path / "export.opml"
    result = run_cli(source, "export-opml", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    assert f"wrote 3 channel(s) to {exported}" in result.stderr

    target_folder = tmp_path / "new"
    target_folder.mkdir()
    target = target_folder / "feeds.yaml"
    target.write_text(CONFIG, encoding="utf-8")
    assert run_cli(target, "import-opml", str(exported)).returncode == 0

    def channels(path: Path) -> list[tuple[str, str, str | None]]:
        return [(c.id, c.name, c.feed_url) for c in load_config(path).channels]

    assert channels(target) == channels(source)
    # Standard output carries the same document.
    assert run_cli(source, "export-opml").stdout.encode() == exported.read_bytes()


def test_quellen_opml_lists_the_channels(tmp_path: Path) -> None:
    channels = [
        ChannelInfo("cnbc", "CNBC", CNBC_FEED, "CNBC", "https://www.youtube.com/channel/x"),
        ChannelInfo("notes", "Tech Notes", "https://technotes.example.com/feed/"),
    ]
    library = ArticleLibrary(SITE, [], channels=channels)
    first = publish(library, tmp_path)
    written = tmp_path / "quellen.opml"
    assert written in first.written
    assert parse_opml(written.read_bytes(), name="quellen.opml") == [
        Subscription("CNBC", CNBC_FEED, "https://www.youtube.com/channel/x"),
        Subscription("Tech Notes", "https://technotes.example.com/feed/"),
    ]
    assert etree.fromstring(written.read_bytes()).findtext("head/title") == (
        f"{SITE.title}: Quellen"
    )

    again = publish(library, tmp_path, previous=first.keys)
    assert written not in again.written
    renamed = [dataclasses.replace(channels[1], feed_title="Notes")]
    (page,) = opml_pages(ArticleLibrary(SITE, [], channels=renamed))
    assert page.key != first.keys["quellen.opml"]
    assert opml_pages(ArticleLibrary(SITE, [])) == []


def test_a_utf16_entity_bomb_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    laughs = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)
    )
    bomb = tmp_path / "abos.opml"
    bomb.write_bytes(
        f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE opml [{laughs}]>'
        "<opml><body><outline text='&l9;' xmlUrl='https://e.org/f'/></body></opml>".encode("utf-16")
    )
    result = run_cli(config, "import-opml", str(bomb))
    assert result.returncode == 1
    assert f"{bomb}: not an OPML file kanalwerk reads (it declares XML entities)" in result.stderr
    assert config.read_text(encoding="utf-8") == CONFIG


def test_export_to_a_missing_folder_names_the_path(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        CONFIG.replace("channels: []", "channels:\n  - name: A\n    url: https://a.example/f\n"),
        encoding="utf-8",
    )
    target = tmp_path / "missing" / "x.opml"
    result = run_cli(config, "export-opml", "-o", str(target))
    assert result.returncode == 1
    assert f"Error: {target}: cannot write the OPML file:" in result.stderr
    assert "unexpected error" not in result.stderr
