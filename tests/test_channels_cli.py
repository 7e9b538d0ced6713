"""`kanalwerk add`, `remove` and `channels` against feeds, pages and a stand-in YouTube
served on 127.0.0.1, driven in process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import kanalwerk.sources.discover as discover
from kanalwerk.config import load_config
from kanalwerk.config.edit import NewChannel, add_channels, remove_channel
from kanalwerk.daemon import Daemon
from kanalwerk.pipeline import Pipeline
from kanalwerk.store import Store
from tests.cli import run_cli
from tests.servers import LocalServer, Resource, Response

CNBC_ID = "UCvJJ_dzjViJCoLf5uKUTwoA"
VIDEO = "dQw4w9WgXcQ"

#: A config written by hand: comments, blank lines between entries, odd spacing.
CONFIG = """\
# My blog.   Keep this line as it is.
site:
  title: Testblog
  base_url: https://blog.example.org/
  author: Redaktion
store: sqlite:///k.db        # next to this file

# The channels. Every line above and below must survive an edit byte for byte.
channels:
  - name: Tech Notes
    url: {wordpress}   # the WordPress one

  - name: Ada Lindqvist
    url: {atom}
    language: en
"""


def html(body: str) -> Resource:
    return Resource(body.encode(), "text/html; charset=utf-8")


def page_with_link(href: str) -> Resource:
    return html(
        '<!DOCTYPE html><html lang="en"><head><title>Ada</title>'
        '<link rel="stylesheet" href="/style.css">'
        f'<link rel="alternate" type="application/atom+xml" title="Feed" href="{href}">'
        "</head><body><h1>Ada</h1></body></html>"
    )


@pytest.fixture(scope="module")
def feeds(shared_server: LocalServer) -> LocalServer:
    return shared_server


@pytest.fixture
def site(feeds: LocalServer, data_dir: Path) -> LocalServer:
    feeds.reset()
    feeds.routes["/wordpress.rss"] = Resource(
        (data_dir / "wordpress.rss").read_bytes(), "application/rss+xml; charset=utf-8"
    )
    feeds.routes["/blog.atom"] = Resource(
        (data_dir / "blog.atom").read_bytes(), "application/atom+xml"
    )
    feeds.routes["/feeds/videos.xml"] = Resource((data_dir / "youtube_cnbc.xml").read_bytes())
    return feeds


@pytest.fixture
def config(tmp_path: Path, site: LocalServer) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        CONFIG.format(wordpress=site.url("/wordpress.rss"), atom=site.url("/other.atom")),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def youtube(site: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """The local server stands in for www.youtube.com: pages and channel feeds."""
    monkeypatch.setattr(discover, "YOUTUBE", site.base_url)
    yield site


def appended(before: str, after: str) -> str:
    """What `after` adds to `before`, which must be its unchanged start."""
    assert after.startswith(before), "the lines before the new entry changed"
    return after[len(before) :]


def test_add_a_page_with_an_alternate_link(config: Path, site: LocalServer) -> None:
    site.routes["/ada/"] = page_with_link("/blog.atom")
    before = config.read_text(encoding="utf-8")

    result = run_cli(config, "add", site.url("/ada/"), "--name", "Ada Blog")

    assert result.returncode == 0, result.stderr
    assert "found: Ada Lindqvist’s Weblog" in result.stdout
    assert f"feed: {site.url('/blog.atom')} (announced by {site.url('/ada/')})" in result.stdout
    assert "  - DeepSeek-R1 and the price of reasoning" in result.stdout
    after = config.read_text(encoding="utf-8")
    # The file's layout (a blank line between entries) is followed; nothing else moves.
    assert appended(before, after) == f"\n  - name: Ada Blog\n    url: {site.url('/blog.atom')}\n"
    assert [c.name for c in load_config(config).channels] == [
        "Tech Notes",
        "Ada Lindqvist",
        "Ada Blog",
    ]


def test_add_a_feed_url_named_by_its_title(config: Path, site: LocalServer) -> None:
    before = config.read_text(encoding="utf-8")
    result = run_cli(config, "add", site.url("/blog.atom"))
    assert result.returncode == 0, result.stderr
    after = config.read_text(encoding="utf-8")
    expected = f"\n  - name: Ada Lindqvist’s Weblog\n    url: {site.url('/blog.atom')}\n"
    assert appended(before, after) == expected
    assert load_config(config).channels[-1].name == "Ada Lindqvist’s Weblog"
    assert "added 'Ada Lindqvist’s Weblog'" in result.stdout


def test_add_keeps_a_comment_above_channels_when_the_list_is_in_the_middle(
    tmp_path: Path, site: LocalServer
) -> None:
    config = tmp_path / "feeds.yaml"
    text = (
        "site: {title: T, base_url: 'https://e.org/', author: A}\n"
        "# the list:   odd   spacing kept\n"
        "channels:\n"
        "- name: Tech Notes\n"
        f"  url: {site.url('/wordpress.rss')}\n"
        "# a comment after the list\n"
        "\n"
        "output: out/    # here\n"
    )
    config.write_text(text, encoding="utf-8")
    result = run_cli(config, "add", site.url("/blog.atom"), "--name", "Ada")
    assert result.returncode == 0, result.stderr
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    new = ["- name: Ada\n", f"  url: {site.url('/blog.atom')}\n"]
    old = text.splitlines(keepends=True)
    assert lines == old[:5] + new + old[5:]


def test_add_a_youtube_handle(config: Path, youtube: LocalServer) -> None:
    youtube.routes["/@CNBC"] = html(
        f'<html><head><link rel="canonical" href="https://www.youtube.com/channel/{CNBC_ID}">'
        "</head></html>"
    )
    before = config.read_text(encoding="utf-8")
    result = run_cli(config, "add", "@CNBC")
    assert result.returncode == 0, result.stderr
    assert "found: CNBC" in result.stdout
    assert f"feed: https://www.youtube.com/feeds/videos.xml?channel_id={CNBC_ID}" in result.stdout
    assert appended(before, config.read_text(encoding="utf-8")) == (
        '\n  - name: CNBC\n    youtube: "@CNBC"\n'
    )
    assert load_config(config).channels[-1].youtube_handle == "@CNBC"
    feed_requests = youtube.requests_to("/feeds/videos.xml")
    assert [r.path.split("?")[1] for r in feed_requests] == [f"channel_id={CNBC_ID}"]
    assert feed_requests[0].headers["user-agent"].startswith("kanalwerk/")


def test_add_a_youtube_video_adds_its_channel(config: Path, youtube: LocalServer) -> None:
    youtube.routes["/watch"] = html(
        f'<html><head><meta itemprop="channelId" content="{CNBC_ID}"></head></html>'
    )
    result = run_cli(config, "add", f"https://youtu.be/{VIDEO}", "--name", "CNBC Videos")
    assert result.returncode == 0, result.stderr
    channel = load_config(config).channels[-1]
    assert (channel.name, channel.youtube) == ("CNBC Videos", CNBC_ID)
    assert [r.path for r in youtube.requests_to("/watch")] == [f"/watch?v={VIDEO}"]


def test_a_page_without_a_feed_is_refused_and_nothing_changes(
    config: Path, site: LocalServer
) -> None:
    site.routes["/plain/"] = html("<html><head><title>No feed</title></head><body></body></html>")
    before = config.read_bytes()
    result = run_cli(config, "add", site.url("/plain/"))
    assert result.returncode == 1
    assert f"{site.url('/plain/')}: found no feed there" in result.stderr
    assert "Traceback" not in result.stderr
    assert config.read_bytes() == before


@pytest.mark.parametrize(
    ("path", "message"),
    [("/missing.xml", "HTTP 404"), ("/broken", "HTTP 500")],
)
def test_a_url_that_cannot_be_fetched_is_named(
    config: Path, site: LocalServer, path: str, message: str
) -> None:
    site.routes["/broken"] = lambda request: Response(500, b"oops")
    before = config.read_bytes()
    result = run_cli(config, "add", site.url(path))
    assert result.returncode == 1
    assert f"could not fetch {site.url(path)}: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert config.read_bytes() == before


def test_a_feed_or_name_configured_already_is_refused(config: Path, site: LocalServer) -> None:
    before = config.read_bytes()
    same_feed = run_cli(config, "add", site.url("/wordpress.rss"), "--name", "Again")
    assert same_feed.returncode == 1
    assert "'Again' not added" in same_feed.stderr
    assert "is the same feed as 'Tech Notes'" in same_feed.stderr
    same_name = run_cli(config, "add", site.url("/blog.atom"), "--name", "tech notes")
    assert same_name.returncode == 1
    assert "'tech-notes' is used by both 'Tech Notes' and 'tech notes'" in same_name.stderr
    assert config.read_bytes() == before


def test_a_word_that_is_no_address_is_refused(config: Path) -> None:
    before = config.read_bytes()
    result = run_cli(config, "add", "CNBC")
    assert result.returncode == 1
    assert "did you mean '@CNBC'?" in result.stderr
    assert config.read_bytes() == before


def test_add_to_a_config_without_channels_yet(tmp_path: Path, site: LocalServer) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "site: {title: T, base_url: 'https://e.org/', author: A}\nchannels: []\n", encoding="utf-8"
    )
    result = run_cli(config, "add", site.url("/blog.atom"), "--name", "Ada")
    assert result.returncode == 0, result.stderr
    assert config.read_text(encoding="utf-8") == (
        "site: {title: T, base_url: 'https://e.org/', author: A}\n"
        f"channels:\n  - name: Ada\n    url: {site.url('/blog.atom')}\n"
    )


def test_remove_keeps_the_other_entries_and_comments(config: Path) -> None:
    before = config.read_text(encoding="utf-8")
    result = run_cli(config, "remove", "Tech Notes")
    assert result.returncode == 0, result.stderr
    after = config.read_text(encoding="utf-8")
    removed = before.splitlines(keepends=True)
    start = removed.index("  - name: Tech Notes\n")
    del removed[start : start + 3]  # the entry and the blank line after it
    assert after == "".join(removed)
    assert [c.name for c in load_config(config).channels] == ["Ada Lindqvist"]


def test_remove_an_unknown_name_lists_the_known_ones(config: Path) -> None:
    before = config.read_bytes()
    result = run_cli(config, "remove", "Nobody")
    assert result.returncode == 1
    assert "no channel named 'Nobody'; configured channels: Tech Notes, Ada Lindqvist" in (
        result.stderr
    )
    assert config.read_bytes() == before


def test_remove_the_last_channel_is_refused(tmp_path: Path, site: LocalServer) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "site: {title: T, base_url: 'https://e.org/', author: A}\n"
        f"channels:\n  - name: Ada\n    url: {site.url('/blog.atom')}\n",
        encoding="utf-8",
    )
    before = config.read_bytes()
    result = run_cli(config, "remove", "Ada")
    assert result.returncode == 1
    assert "'Ada' is the only channel, and a config needs one; add another first" in (result.stderr)
    assert config.read_bytes() == before


def test_commands_that_only_look_create_no_store(config: Path) -> None:
    for args in (("items",), ("pending",), ("channels",)):
        result = run_cli(config, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert run_cli(config, "items").stdout == ""
    assert not (config.parent / "k.db").exists()


def test_channels_lists_state_from_the_store(config: Path, site: LocalServer) -> None:
    never = run_cli(config, "channels")
    assert never.returncode == 0, never.stderr
    assert never.stdout.splitlines() == [
        f"Tech Notes: feed {site.url('/wordpress.rss')}; 0 item(s), 0 article(s); never fetched",
        f"Ada Lindqvist: feed {site.url('/other.atom')}; 0 item(s), 0 article(s); never fetched",
    ]
    assert not (config.parent / "k.db").exists()  # listing creates no store

    with Store.open(load_config(config).store) as store, Pipeline(load_config(config), store) as p:
        p.poll()
    listed = run_cli(config, "channels").stdout.splitlines()
    assert listed[0].startswith(f"Tech Notes: feed {site.url('/wordpress.rss')}; 3 item(s), 0")
    assert listed[0].endswith(" UTC OK")
    assert " UTC error: HTTP 404" in listed[1]


def test_a_running_daemon_picks_up_an_added_channel(config: Path, site: LocalServer) -> None:
    os.utime(config, (1_700_000_000, 1_700_000_000))  # written well before the edit
    loaded = load_config(config)
    with Store.open(loaded.store) as store, Pipeline(loaded, store) as pipeline:
        daemon = Daemon(pipeline)
        assert run_cli(config, "add", site.url("/blog.atom"), "--name", "Ada").returncode == 0
        daemon._watch_config()
        assert [c.name for c in pipeline.config.channels][-1] == "Ada"


def test_the_shipped_example_survives_add_and_remove_byte_for_byte(tmp_path: Path) -> None:
    """Its mixed indentation and aligned comments are what a dump-based edit would move."""
    example = Path(__file__).parents[1] / "feeds.yaml"
    config = tmp_path / "feeds.yaml"
    config.write_bytes(example.read_bytes())
    before = config.read_text(encoding="utf-8")

    add_channels(config, [NewChannel("@odd: name #1", youtube="@CNBC")])
    assert appended(before, config.read_text(encoding="utf-8")) == (
        '\n  - name: "@odd: name #1"\n    youtube: "@CNBC"\n'
    )
    assert load_config(config).channels[-1].name == "@odd: name #1"
    remove_channel(config, "@odd: name #1")
    assert config.read_text(encoding="utf-8") == before


def test_export_looks_up_a_handle_never_polled(tmp_path: Path, youtube: LocalServer) -> None:
    youtube.routes["/@CNBC"] = html(f'<meta itemprop="channelId" content="{CNBC_ID}">')
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "site: {title: T, base_url: 'https://e.org/', author: A}\n"
        'channels:\n  - name: CNBC\n    youtube: "@CNBC"\n',
        encoding="utf-8",
    )
    result = run_cli(config, "export-opml")
    assert result.returncode == 0, result.stderr
    feed = f"https://www.youtube.com/feeds/videos.xml?channel_id={CNBC_ID}"
    assert f'xmlUrl="{feed}"' in result.stdout


def test_a_commented_out_key_stays_with_its_entry(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    head = "site: {title: T, base_url: 'https://e.org/', author: A}\nchannels:\n"
    first = "  - name: A\n    url: https://a.example.org/feed\n    # interval: 2h\n"
    after = "  # about the list, not about A\n"
    config.write_text(head + first + after, encoding="utf-8")

    add_channels(config, [NewChannel("B", url="https://b.example.org/feed")])
    second = "  - name: B\n    url: https://b.example.org/feed\n"
    assert config.read_text(encoding="utf-8") == head + first + second + after

    remove_channel(config, "A")
    assert config.read_text(encoding="utf-8") == head + second + after


def test_add_and_remove_keep_a_crlf_file_byte_for_byte(config: Path, site: LocalServer) -> None:
    crlf = config.read_bytes().replace(b"\n", b"\r\n")
    config.write_bytes(crlf)
    result = run_cli(config, "add", site.url("/blog.atom"), "--name", "Ada Blog")
    assert result.returncode == 0, result.stderr
    after = config.read_bytes()
    assert after.startswith(crlf)
    assert (
        after[len(crlf) :]
        == f"\r\n  - name: Ada Blog\r\n    url: {site.url('/blog.atom')}\r\n".encode()
    )

    result = run_cli(config, "remove", "Ada Blog")
    assert result.returncode == 0, result.stderr
    assert config.read_bytes() == crlf.removesuffix(b"\r\n") + b"\r\n"


def test_an_error_naming_a_hostile_link_shows_no_escape_sequence(
    config: Path, site: LocalServer
) -> None:
    site.routes["/evil/"] = page_with_link("/nothing\x1b]0;PWNED\x07.atom")
    result = run_cli(config, "add", site.url("/evil/"))
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "PWNED" in result.stderr  # shown, as visible escapes
