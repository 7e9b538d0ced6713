"""Video transcripts end to end: a YouTube feed, YouTube's transcript endpoints and an
OpenAI-compatible engine, all on 127.0.0.1, driven through the `kanalwerk` command.

youtube-transcript-api runs unchanged; only its requests session (the library's own
`http_client` seam) routes youtube.com to the fake.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pytest

import kanalwerk.sources
from kanalwerk.sources import youtube_transcripts
from tests.cli import run_cli
from tests.fake_openai import FakeOpenAI
from tests.fake_youtube import FakeYouTube, Video
from tests.servers import LocalServer, Resource
from tests.test_store import raw

API_KEY = "sk-transcripts-test"

MANUAL = [
    (0.0, 2.5, "Welcome back to the show."),
    (2.6, 3.0, "Today we look at DeepSeek's new model."),
    (8.0, 4.0, "It was trained for a fraction of the usual cost."),
]
GENERATED = [(0.0, 2.0, "welcome back to the show"), (2.0, 3.0, "today we look at deepseek")]


def video_entry(video_id: str, title: str, description: str, day: int) -> str:
    return f"""
 <entry>
  <id>yt:video:{video_id}</id>
  <yt:videoId>{video_id}</yt:videoId>
  <yt:channelId>UCvJJ_dzjViJCoLf5uKUTwoA</yt:channelId>
  <title>{escape(title)}</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v={video_id}"/>
  <author><name>CNBC</name></author>
  <published>2025-01-{day:02d}T10:00:00+00:00</published>
  <updated>2025-01-{day:02d}T10:00:00+00:00</updated>
  <media:group>
   <media:title>{escape(title)}</media:title>
   <media:description>{escape(description)}</media:description>
  </media:group>
 </entry>"""


def youtube_feed(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
        'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">'
        "<id>yt:channel:UCvJJ_dzjViJCoLf5uKUTwoA</id><title>CNBC</title>"
        + "".join(entries)
        + "</feed>"
    ).encode()


FEED = youtube_feed(
    video_entry("manual00001", "DeepSeek explained", "The short description.", 20),
    video_entry("generated01", "Nvidia falls", "Nvidia lost value.", 21),
    video_entry(
        "disabled001",
        "Stargate announced",
        "A big project.\n\n0:00 Intro\n1:30 Who pays\n12:34 What it means",
        22,
    ),
    video_entry("frenchonly1", "Mistral in Paris", "A French lab.", 23),
)
VIDEOS = {
    "manual00001": Video(manual={"en": MANUAL}, generated={"en": GENERATED}),
    "generated01": Video(generated={"en-US": GENERATED}),
    "disabled001": Video(disabled=True),
    "frenchonly1": Video(manual={"fr": [(0.0, 2.0, "Bonjour à tous.")]}),
}


@dataclass
class Setup:
    folder: Path
    feeds: LocalServer
    youtube: FakeYouTube
    api: FakeOpenAI

    def run(self, *args: str, channel: str = "", mode: str = "translate") -> str:
        channels = f"  - name: CNBC\n    url: {self.feeds.url('/videos.xml')}\n{channel}"
        return run_kanalwerk(self.folder, self.api, channels, *args, mode=mode)

    def page(self, title: str) -> str:
        return article_page(self.folder / "site", title)


def run_kanalwerk(
    folder: Path,
    api: FakeOpenAI,
    channels: str,
    *args: str,
    mode: str = "translate",
    allow_private: bool = True,
) -> str:
    """`kanalwerk ARGS` with a config of `channels` translated by `api`; its output.

    Links in feeds may reach 127.0.0.1, where the tests serve them, unless not `allow_private`.
    """
    config = folder / "feeds.yaml"
    config.write_text(
        f"""
site:
  title: KI-Nachrichten auf Deutsch
  base_url: https://blog.example.org/
  author: Redaktion
output: site/
store: sqlite:///kanalwerk.db
fetch: {{allow_private_addresses: {str(allow_private).lower()}}}
translator:
  engine: openai
  mode: {mode}
  source_language: en
  openai: {{base_url: "{api.base_url}", model: test-model, api_key_env: KW_TEST_KEY}}
selection:
  backfill: all
channels:
{channels}""",
        encoding="utf-8",
    )
    result = run_cli(config, *args, env={"KW_TEST_KEY": API_KEY})
    assert result.returncode == 0, result.stderr
    return result.stdout


def article_page(site: Path, title: str) -> str:
    """The article page whose headline is `title`."""
    for path in (site / "artikel").glob("*.html"):
        text = path.read_text(encoding="utf-8")
        if f"<h1>{title}</h1>" in text:
            return text
    raise AssertionError(f"no article is called {title!r}")


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    feeds, yt_server, api_server = (LocalServer().start() for _ in range(3))
    try:
        feeds.routes["/videos.xml"] = Resource(FEED)
        youtube = FakeYouTube(yt_server, dict(VIDEOS))
        monkeypatch.setattr(youtube_transcripts, "session", youtube.session)
        yield Setup(tmp_path, feeds, youtube, FakeOpenAI(api_server, api_key=API_KEY))
    finally:
        for server in (feeds, yt_server, api_server):
            server.stop()


def section(page: str, heading: str) -> str:
    """The HTML after `heading`'s <h2> up to the next <h2> or the end of the body."""
    end = r'(?:<h2>|<p class="original">|</article>)'
    match = re.search(rf"<h2>{re.escape(heading)}</h2>(.*?){end}", page, re.S)
    assert match is not None, f"no section {heading!r}"
    return match.group(1)


def test_the_hand_made_transcript_follows_the_description_in_paragraphs(setup: Setup) -> None:
    setup.run("run", "--once")

    page = setup.page("DE: DeepSeek explained")
    assert "DE: The short description." in page
    spoken = section(page, "Das Video in Textform")
    # Hand-made, not generated; cues joined by the pause after a sentence end.
    assert "welcome back to the show" not in spoken
    paragraphs = re.findall(r"<p>(.*?)</p>", spoken)
    assert paragraphs == [
        "DE: Welcome back to the show. Today we look at DeepSeek's new model.",
        "DE: It was trained for a fraction of the usual cost.",
    ]
    assert "<p>Grundlage: Transkript des Videos</p></div>" in page  # inside the box


def test_a_generated_transcript_in_a_regional_variant_is_taken(setup: Setup) -> None:
    setup.run("run", "--once")

    spoken = section(setup.page("DE: Nvidia falls"), "Das Video in Textform")
    assert "DE: welcome back to the show today we look at deepseek" in spoken


def test_disabled_and_missing_languages_fall_back_to_the_description(setup: Setup) -> None:
    setup.run("run", "--once")

    for title in ("DE: Stargate announced", "DE: Mistral in Paris"):
        page = setup.page(title)
        assert "Das Video in Textform" not in page
        assert "Grundlage: Beschreibung des Videos" in page
    listing = setup.run("items")
    lines = {line.split("  ")[4]: line for line in listing.splitlines()}
    assert lines["Stargate announced"].endswith(
        "[from its description: transcripts are disabled for this video]"
    )
    assert lines["Mistral in Paris"].endswith(
        "[from its description: no transcript in the video's language (en; available: fr)]"
    )
    assert "[" not in lines["DeepSeek explained"]


def test_transcripts_are_fetched_once(setup: Setup) -> None:
    setup.run("run", "--once")
    asked = len(setup.youtube.seen)
    assert asked > 0

    setup.feeds.routes["/videos.xml"] = Resource(FEED, etag=False, last_modified=False)
    setup.run("run", "--once")
    setup.run("publish")

    assert len(setup.youtube.seen) == asked


@pytest.mark.parametrize(
    ("knob", "asked"),
    [("too_many_requests", ["/watch"]), ("bot_check", ["/watch", "/youtubei/v1/player"])],
)
def test_a_refused_client_stops_asking_for_the_rest_of_the_run(
    setup: Setup, knob: str, asked: list[str]
) -> None:
    setattr(setup.youtube, knob, True)

    setup.run("run", "--once")

    # The first video was refused; no other video was asked.
    assert [r.path.split("?")[0] for r in setup.youtube.seen] == asked
    listing = setup.run("items")
    assert listing.count("YouTube refuses transcript requests from this address") == 4
    assert "Grundlage: Beschreibung des Videos" in setup.page("DE: DeepSeek explained")


def test_a_channel_without_transcripts_asks_nobody(setup: Setup) -> None:
    setup.run("run", "--once", channel="    transcripts: false")

    assert setup.youtube.seen == []
    page = setup.page("DE: DeepSeek explained")
    assert "Das Video in Textform" not in page
    assert "Grundlage: Beschreibung des Videos" in page
    assert "[" not in setup.run("items", channel="    transcripts: false")


def test_the_transcript_section_can_be_turned_off(setup: Setup) -> None:
    setup.run("run", "--once", channel="    transcript_section: false")

    page = setup.page("DE: DeepSeek explained")
    assert "Das Video in Textform" not in page
    assert "Welcome back" not in page
    assert "Grundlage: Beschreibung des Videos" in page


def test_without_the_extra_items_say_how_to_get_transcripts(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(youtube_transcripts, "installed", lambda: False)

    setup.run("run", "--once")
    assert setup.youtube.seen == []
    assert "[" not in setup.run("items")  # not asked for: the default follows the extra

    setup.feeds.routes["/videos.xml"] = Resource(
        youtube_feed(video_entry("asked000001", "Asked for", "Text.", 24))
    )
    setup.run("run", "--once", channel="    transcripts: true")
    listing = setup.run("items", channel="    transcripts: true")
    asked = next(line for line in listing.splitlines() if "Asked for" in line)
    assert asked.endswith("pip install 'kanalwerk[youtube]']")


def test_chapters_in_the_description_become_a_chapter_list(setup: Setup) -> None:
    setup.run("run", "--once")

    chapters = section(setup.page("DE: Stargate announced"), "Kapitel")
    links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', chapters)
    assert links == [
        ("https://www.youtube.com/watch?v=disabled001&amp;t=0s", "0:00"),
        ("https://www.youtube.com/watch?v=disabled001&amp;t=90s", "1:30"),
        ("https://www.youtube.com/watch?v=disabled001&amp;t=754s", "12:34"),
    ]
    assert "Who pays" in chapters and chapters.count("DE: ") == 3  # titles translated
    assert "<h2>Kapitel</h2>" not in setup.page("DE: Nvidia falls")


def test_translating_a_transcript_again_costs_nothing(setup: Setup) -> None:
    setup.run("run", "--once")
    paid = setup.api.requests
    sent = "".join(body for body in map(str, setup.api.bodies))
    assert "Welcome back to the show." in sent

    raw(setup.folder / "kanalwerk.db", "UPDATE items SET state = 'new'")
    setup.run("run", "--once")

    assert setup.api.requests == paid  # every segment came from the cache
    assert "Das Video in Textform" in setup.page("DE: DeepSeek explained")


def test_article_mode_writes_from_the_transcript(setup: Setup) -> None:
    setup.run("run", "--once", mode="article")

    sent = [str(body) for body in setup.api.bodies if "body_html" in str(body)]
    deepseek = next(body for body in sent if "DeepSeek explained" in body)
    assert "Vorlage (Transkript des Videos)" in deepseek
    assert "It was trained for a fraction of the usual cost." in deepseek
    stargate = next(body for body in sent if "Stargate announced" in body)
    assert "Transkript des Videos" not in stargate.split("Vorlage", 1)[1][:40]
    pages = [p.read_text(encoding="utf-8") for p in (setup.folder / "site/artikel").glob("*")]
    lines = sorted(line for page in pages for line in re.findall(r"Grundlage: [^<]+", page))
    assert (
        lines
        == ["Grundlage: Beschreibung des Videos"] * 2 + ["Grundlage: Transkript des Videos"] * 2
    )


def test_without_the_youtube_extra_the_transcript_source_still_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain `pip install kanalwerk` has neither requests nor youtube-transcript-api:
    `run --once` builds the transcript source anyway and falls back to descriptions."""
    for name in ("requests", "requests.adapters", "youtube_transcript_api"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    for name in ("youtube_transcripts", "transcripts"):
        monkeypatch.delitem(sys.modules, f"kanalwerk.sources.{name}", raising=False)
        monkeypatch.delattr(kanalwerk.sources, name, raising=False)
    module = importlib.import_module("kanalwerk.sources.transcripts")
    assert module.TranscriptSource is not None
