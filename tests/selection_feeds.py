"""Feeds and configs for the selection tests: RSS posts and YouTube Atom videos."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

START = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Post:
    title: str
    n: int  # a later n is a newer post
    body: str = "Ein Beitrag über Neuigkeiten."
    categories: tuple[str, ...] = ()
    duration: str | None = None  # itunes:duration
    link: str | None = None

    @property
    def guid(self) -> str:
        return f"https://blog.example.org/p/{self.n}/{quote(self.title)}"


def rss(
    posts: list[Post],
    *,
    language: str = "de",
    title: str = "Blog",
    site: str = "https://blog.example.org/",
) -> bytes:
    items = []
    for post in posts:
        extra = "".join(f"<category>{escape(c)}</category>" for c in post.categories)
        if post.duration is not None:
            extra += f"<itunes:duration>{post.duration}</itunes:duration>"
        when = format_datetime(START + timedelta(hours=post.n))
        items.append(
            f"<item><title>{escape(post.title)}</title><link>{escape(post.link or post.guid)}"
            f"</link><guid>{post.guid}</guid><pubDate>{when}</pubDate>"
            f"<description>{escape(post.body)}</description>{extra}</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>'
        f"<title>{title}</title><link>{escape(site)}</link>"
        f"<language>{language}</language><description>d</description>{''.join(items)}"
        "</channel></rss>"
    ).encode()


@dataclass(frozen=True)
class Video:
    video_id: str  # 11 characters
    title: str
    n: int
    views: int = 1000
    short: bool = False


CHANNEL = "UCvJJ_dzjViJCoLf5uKUTwoA"


def youtube(videos: list[Video]) -> bytes:
    entries = []
    for v in videos:
        page = "shorts/" + v.video_id if v.short else "watch?v=" + v.video_id
        when = (START + timedelta(hours=v.n)).isoformat()
        entries.append(
            f"<entry><id>yt:video:{v.video_id}</id><yt:videoId>{v.video_id}</yt:videoId>"
            f"<yt:channelId>{CHANNEL}</yt:channelId><title>{escape(v.title)}</title>"
            f'<link rel="alternate" href="https://www.youtube.com/{page}"/>'
            f"<author><name>Kanal</name></author><published>{when}</published>"
            f"<updated>{when}</updated><media:group><media:title>{escape(v.title)}"
            f"</media:title><media:description>Ein Video über {escape(v.title)}."
            "</media:description><media:community>"
            '<media:starRating count="5" average="5.00" min="1" max="5"/>'
            f'<media:statistics views="{v.views}"/></media:community></media:group></entry>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns:yt="http://www.youtube.com/xml/'
        'schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" '
        'xmlns="http://www.w3.org/2005/Atom">'
        f"<id>yt:channel:{CHANNEL}</id><title>Kanal</title>{''.join(entries)}</feed>"
    ).encode()


def write_config(folder: Path, channels: str, selection: str = "") -> Path:
    """A config whose channels are German, so no item needs a translation engine."""
    path = folder / "feeds.yaml"
    path.write_text(
        'site: {title: Auswahl, base_url: "https://blog.example.org/", author: Redaktion}\n'
        "output: site/\n"
        "store: sqlite:///kanalwerk.db\n"
        f"{selection}"
        f"channels:\n{channels}",
        encoding="utf-8",
    )
    return path
