"""Chapters from a video description's timestamp lines ("00:00 Intro", "12:34 Zahlen").

YouTube itself takes such lines as chapters only when the first is at 0:00, they rise,
and there are at least three; the same test here keeps a description that merely
mentions a time or two from becoming a chapter list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MIN_CHAPTERS = 3

# "00:00 Intro", "1:02:03 - Fazit", "(12:34) Zahlen", "▶ 4:05 | Demo"
_LINE = re.compile(
    r"^\W{0,3}?\(?(?:(?P<h>\d{1,2}):)?(?P<m>\d{1,2}):(?P<s>[0-5]\d)\)?\s*[-–—:|.)]?\s*(?P<title>\S.*)$"
)


@dataclass(frozen=True)
class Chapter:
    start: int  # seconds into the video
    title: str

    @property
    def clock(self) -> str:
        """As YouTube writes it: "4:05", "1:02:03"."""
        hours, rest = divmod(self.start, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def chapters(description: str | None) -> list[Chapter]:
    """The description's chapters; none unless they look like YouTube's (see module doc)."""
    found: list[Chapter] = []
    for line in (description or "").splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            continue
        start = int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + int(match["s"])
        title = " ".join(match["title"].split())
        if start == 0:
            found = []  # the list starts here; a time mentioned above was no chapter
        elif found and start <= found[-1].start:
            return []  # not ascending: times mentioned, not chapters
        found.append(Chapter(start, title))
    if len(found) < MIN_CHAPTERS or found[0].start != 0:
        return []
    return found


def at_time(video_url: str, seconds: int) -> str:
    """The video's URL starting at `seconds` (`&t=754s`)."""
    parts = urlsplit(video_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "t"]
    query.append(("t", f"{seconds}s"))
    return urlunsplit(parts._replace(query=urlencode(query)))


#: The heading of the chapter list on the page.
HEADING = "Kapitel"


def chapters_html(found: list[Chapter], video_url: str) -> str:
    """The list of chapters, each linking to its place in the video; "" for none.

    Without its heading: the titles are translated, the heading is German already.
    """
    if not found:
        return ""
    rows = "".join(
        f'<li><a href="{escape(at_time(video_url, c.start))}">{escape(c.clock)}</a> '
        f"{escape(c.title, quote=False)}</li>"
        for c in found
    )
    return f"<ol>{rows}</ol>"
