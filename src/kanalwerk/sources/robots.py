"""robots.txt for our User-Agent, read once per site per run through the polite fetcher.

Fetching an article's page is crawling, not polling a feed someone published for
readers, so the site's robots.txt decides (RFC 9309): a 2xx file is obeyed for our
User-Agent's product token (e.g. `kanalwerk`, else `*`); a 4xx means there are no
rules; a server error, a failed connection or a refused redirect means the site could
not say, which counts as "disallow everything" until the next run.
"""

from __future__ import annotations

import logging
import urllib.robotparser
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from kanalwerk.fetch import FetchSettings, fetch_all
from kanalwerk.models import FetchResult, FetchState

__all__ = ["Robots", "RobotsVerdict", "site_of"]

log = logging.getLogger(__name__)


def site_of(url: str) -> str:
    """`scheme://host[:port]`: robots.txt applies per scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


@dataclass(frozen=True)
class RobotsVerdict:
    allowed: bool
    reason: str | None = None  # why not, for `kanalwerk items`


@dataclass(frozen=True)
class _Rules:
    parser: urllib.robotparser.RobotFileParser | None  # None: everything allowed
    unreadable: str | None = None  # why the file could not be read: everything disallowed


class Robots:
    """The robots.txt rules of the sites seen in this run, each fetched once."""

    def __init__(self, settings: FetchSettings) -> None:
        self._settings = settings
        self._sites: dict[str, _Rules] = {}

    async def load(self, urls: Iterable[str]) -> None:
        """Fetch robots.txt of each site among `urls` not asked yet, concurrently."""
        missing = sorted({site_of(u) for u in urls} - self._sites.keys())
        if not missing:
            return
        states = [FetchState(site, site + "/robots.txt") for site in missing]
        for result in await fetch_all(states, self._settings, untrusted=True):
            self._sites[result.channel_id] = _rules(result)

    def verdict(self, url: str) -> RobotsVerdict:
        """Whether our User-Agent may fetch `url`; `load` must have seen its site."""
        site = site_of(url)
        rules = self._sites[site]
        if rules.unreadable is not None:
            return RobotsVerdict(False, f"{site}/robots.txt could not be read ({rules.unreadable})")
        if rules.parser is None or rules.parser.can_fetch(self._settings.user_agent, url):
            return RobotsVerdict(True)
        return RobotsVerdict(False, f"{site}/robots.txt disallows fetching the page")


def _rules(result: FetchResult) -> _Rules:
    status = result.status
    if result.ok and result.content is not None:
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(result.content.decode("utf-8", errors="replace").splitlines())
        return _Rules(parser)
    if status is not None and 400 <= status < 500:
        return _Rules(None)
    log.info("%s: %s", result.requested_url, result.error)
    return _Rules(None, unreadable=result.error or f"HTTP {status}")
