"""Podcast transcripts and enclosures: a Podcasting 2.0 feed and its transcript files
served on 127.0.0.1, through `kanalwerk run --once` to the published feeds and pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer, Resource
from tests.test_transcripts import API_KEY, article_page, run_kanalwerk

ATOM = "{http://www.w3.org/2005/Atom}"

VTT = """WEBVTT

00:00:00.000 --> 00:00:02.500
<v Anna>Welcome to Model Talk.

00:00:02.600 --> 00:00:05.000
<v Anna>Today: open weights.

00:00:05.200 --> 00:00:09.000
<v Ben>Thanks, Anna. Open weights change who can build.

00:00:09.100 --> 00:00:12.000
<v Ben>Anyone with a laptop can run them.
"""

SRT = """1
00:00:00,000 --> 00:00:03,000
This week we look at <i>benchmarks</i>

2
00:00:03,100 --> 00:00:06,000
and why they mislead.

3
00:00:09,500 --> 00:00:12,000
Our second topic is energy.
"""

PODCAST_JSON = {
    "version": "1.0.0",
    "segments": [
        {"speaker": "Cleo", "startTime": 0.0, "endTime": 3.0, "body": "Chips are scarce."},
        {"speaker": "Cleo", "startTime": 3.1, "endTime": 6.0, "body": "Prices keep rising."},
    ],
}


def episode(n: int, transcripts: str, enclosure: str = "") -> str:
    return f"""
  <item>
   <title>Episode {n}</title>
   <guid isPermaLink="false">model-talk-{n}</guid>
   <link>https://podcast.example.net/episodes/{n}</link>
   <pubDate>Mon, {n:02d} Jun 2025 08:00:00 GMT</pubDate>
   <description>Show notes of episode {n}.</description>
   {enclosure}
   {transcripts}
  </item>"""


@dataclass
class Setup:
    folder: Path
    server: LocalServer
    api: FakeOpenAI

    def run(self, *args: str) -> str:
        channels = f"  - name: Model Talk\n    url: {self.server.url('/podcast.rss')}\n"
        return run_kanalwerk(self.folder, self.api, channels, *args)

    @property
    def site(self) -> Path:
        return self.folder / "site"

    def page(self, title: str) -> str:
        return article_page(self.site, title)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    server, api_server = LocalServer().start(), LocalServer().start()
    try:
        url = server.url
        mp3 = '<enclosure url="{}" length="{}" type="audio/mpeg"/>'
        feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
 <channel>
  <title>Model Talk</title>
  <link>https://podcast.example.net/</link>
  <language>en</language>
  {
            episode(
                1,
                f'''<podcast:transcript url="{url("/t/1.html")}" type="text/html"/>
   <podcast:transcript url="{url("/t/1.vtt")}" type="text/vtt" language="en"/>''',
                mp3.format("https://cdn.example.net/model-talk-1.mp3", 45_200_000),
            )
        }
  {
            episode(
                2,
                f'<podcast:transcript url="{url("/t/2.srt")}" type="application/x-subrip"/>',
                '<enclosure url="https://cdn.example.net/2.mp4" length="0" type="video/mp4"/>',
            )
        }
  {episode(3, f'<podcast:transcript url="{url("/t/3.json")}" type="application/json"/>')}
  {episode(4, f'<podcast:transcript url="{url("/t/gone.vtt")}" type="text/vtt"/>')}
 </channel>
</rss>"""
        server.routes["/podcast.rss"] = Resource(feed.encode(), "application/rss+xml")
        server.routes["/t/1.vtt"] = Resource(VTT.encode(), "text/vtt")
        server.routes["/t/1.html"] = Resource(b"<p>The HTML one, not wanted.</p>", "text/html")
        # Servers often send SubRip as text/plain: the feed's type decides.
        server.routes["/t/2.srt"] = Resource(SRT.encode(), "text/plain")
        server.routes["/t/3.json"] = Resource(json.dumps(PODCAST_JSON).encode(), "application/json")
        yield Setup(tmp_path, server, FakeOpenAI(api_server, api_key=API_KEY))
    finally:
        server.stop()
        api_server.stop()


def spoken(page: str) -> list[str]:
    """The paragraphs of the transcript section."""
    match = re.search(r"<h2>Die Folge in Textform</h2>(.*?)</article>", page, re.S)
    assert match is not None, "no transcript section"
    return re.findall(r"<p>(.*?)</p>", match.group(1).split('<p class="original">')[0])


def test_vtt_and_srt_transcripts_become_the_articles_text(setup: Setup) -> None:
    setup.run("run", "--once")

    first = setup.page("DE: Episode 1")
    assert "DE: Show notes of episode 1." in first
    # VTT preferred to HTML; a new speaker starts a paragraph and is named once.
    assert spoken(first) == [
        "DE: Anna: Welcome to Model Talk. Today: open weights.",
        "DE: Ben: Thanks, Anna. Open weights change who can build. Anyone with a laptop can "
        "run them.",
    ]
    assert "Grundlage: Transkript der Folge" in first
    # SubRip's inline tags are dropped; a cue without a sentence end runs on, a pause
    # after one starts a paragraph.
    assert spoken(setup.page("DE: Episode 2")) == [
        "DE: This week we look at benchmarks and why they mislead.",
        "DE: Our second topic is energy.",
    ]
    assert spoken(setup.page("DE: Episode 3")) == [
        "DE: Cleo: Chips are scarce. Prices keep rising."
    ]


def test_transcripts_come_through_the_feed_fetcher(setup: Setup) -> None:
    setup.run("run", "--once")

    feed_agent = setup.server.requests_to("/podcast.rss")[0].headers["user-agent"]
    fetched = setup.server.requests_to("/t/1.vtt")
    assert len(fetched) == 1
    assert fetched[0].headers["user-agent"] == feed_agent
    assert feed_agent.startswith("kanalwerk/")
    assert setup.server.requests_to("/t/1.html") == []


def test_a_missing_transcript_falls_back_to_the_show_notes_with_the_reason(setup: Setup) -> None:
    setup.run("run", "--once")

    page = setup.page("DE: Episode 4")
    assert "Die Folge in Textform" not in page
    line = next(line for line in setup.run("items").splitlines() if "Episode 4" in line)
    assert f"[from its feed: transcript {setup.server.url('/t/gone.vtt')} not fetched:" in line
    assert "404" in line


def test_enclosures_are_published_in_every_feed_and_on_the_page(setup: Setup) -> None:
    setup.run("run", "--once")
    mp3 = "https://cdn.example.net/model-talk-1.mp3"

    atom = etree.parse(str(setup.site / "feed.atom")).getroot()
    links = {
        entry.findtext(f"{ATOM}title"): [
            (link.get("href"), link.get("type"), link.get("length"))
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel") == "enclosure"
        ]
        for entry in atom.findall(f"{ATOM}entry")
    }
    assert links["DE: Episode 1"] == [(mp3, "audio/mpeg", "45200000")]
    assert links["DE: Episode 2"] == [("https://cdn.example.net/2.mp4", "video/mp4", "0")]
    assert links["DE: Episode 3"] == []

    rss = etree.parse(str(setup.site / "feed.rss")).getroot()
    enclosures = {
        item.findtext("title"): [dict(e.attrib) for e in item.findall("enclosure")]
        for item in rss.iter("item")
    }
    assert enclosures["DE: Episode 1"] == [{"url": mp3, "length": "45200000", "type": "audio/mpeg"}]
    assert enclosures["DE: Episode 3"] == []

    items = json.loads((setup.site / "feed.json").read_text(encoding="utf-8"))["items"]
    attachments = {i["title"]: i.get("attachments") for i in items}
    assert attachments["DE: Episode 1"] == [
        {"url": mp3, "mime_type": "audio/mpeg", "size_in_bytes": 45200000}
    ]
    assert attachments["DE: Episode 3"] is None

    page = setup.page("DE: Episode 1")
    assert (
        f'<p class="download"><a href="{mp3}" download>Audio herunterladen</a> '
        "(audio/mpeg, 45,2 MB)</p>"
    ) in page
    assert "<audio" not in page and "<video" not in page
    assert "Video herunterladen</a> (video/mp4)</p>" in setup.page("DE: Episode 2")
    assert 'class="download"' not in setup.page("DE: Episode 3")
