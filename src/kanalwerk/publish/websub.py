"""WebSub: tell the hub which feeds changed, so subscribers hear of an article at once.

WebSub leaves the publisher-to-hub call to the hub; every public hub takes the
PubSubHubbub form, a form-encoded POST of `hub.mode=publish` and `hub.url=<feed URL>`,
answered with a 2xx (usually 204). One request per feed, as some hubs take only one.

A ping that fails is kept in the store's meta and sent again at a later cycle: the
first retry at the next cycle, then after 2, 4, 8 … minutes (at most six hours), so a
hub that is down is not hammered. Nothing here raises: a hub never blocks publishing.

httpx's timeouts bound each read, not a request: a hub that sends a header line every
few seconds would hold a POST open for ever. So a whole round of pings runs under one
`DEADLINE`; what is unsent when it passes stays owed. What is owed is written down
before the first POST, so a process stopped mid-round loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

#: Store meta key: the pings still owed, as JSON (`Pending`).
PENDING_KEY = "websub_pending"

#: The files subscribers follow: the feeds at the top of the output folder (archives
#: never change for a subscriber, and nobody subscribes to them).
FEED_SUFFIXES = (".atom", ".rss", ".json")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Seconds a whole round of pings may take, whatever the hub does.
DEADLINE = 10.0
MAX_DELAY = timedelta(hours=6)


class Meta(Protocol):
    """The part of `Store` this module uses."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Pending:
    """Feed URLs the hub has not yet been told of, and when to try again."""

    topics: tuple[str, ...] = ()
    failures: int = 0  # failed rounds in a row
    not_before: datetime | None = None

    def to_json(self) -> str:
        if not self.topics:
            return ""
        when = self.not_before.isoformat() if self.not_before else None
        return json.dumps({"topics": self.topics, "failures": self.failures, "not_before": when})

    @classmethod
    def from_json(cls, raw: str | None) -> Pending:
        """What `to_json` wrote; anything unreadable counts as nothing owed."""
        try:
            data = json.loads(raw) if raw else {}
            topics = tuple(str(t) for t in data.get("topics", ()))
            failures = int(data.get("failures", 0))
            when = data.get("not_before")
            not_before = datetime.fromisoformat(when) if when else None
        except (ValueError, TypeError, AttributeError):
            return cls()
        return cls(topics, failures, not_before)


@dataclass(frozen=True)
class PingReport:
    sent: tuple[str, ...] = ()  # feed URLs the hub accepted
    owed: tuple[str, ...] = ()  # feed URLs kept for a later cycle
    error: str | None = None


def changed_feeds(base_url: str, output: Path, written: Iterable[Path]) -> list[str]:
    """The absolute URLs of the subscribable feeds among the files just written."""
    urls = []
    for path in written:
        try:
            relative = PurePosixPath(path.relative_to(output).as_posix())
        except ValueError:
            continue
        if len(relative.parts) == 1 and relative.suffix in FEED_SUFFIXES:
            urls.append(base_url + relative.name)
    return sorted(urls)


def retry_delay(failures: int) -> timedelta:
    """How long to wait after `failures` failed rounds in a row: the first retry is due
    at the next cycle, then 2, 4, 8 … minutes, at most `MAX_DELAY`."""
    if failures <= 1:
        return timedelta(0)
    return min(timedelta(minutes=2 ** min(failures - 1, 20)), MAX_DELAY)


def shown_hub(hub: str) -> str:
    """The hub URL without user, password, query or fragment: safe for logs and errors."""
    try:
        parts = urlsplit(hub)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def _ping(client: httpx.AsyncClient, hub: str, topic: str) -> str | None:
    """Tell `hub` that `topic` changed; the reason when it did not take it."""
    try:
        response = await client.post(hub, data={"hub.mode": "publish", "hub.url": topic})
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        text = str(exc).replace(hub, shown_hub(hub))
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if not response.is_success:
        return f"HTTP {response.status_code}"
    return None


async def _round(hub: str, owed: Sequence[str], user_agent: str, sent: list[str]) -> str | None:
    """Ping `hub` for each of `owed` in turn, appending to `sent`; the first failure."""
    async with httpx.AsyncClient(headers={"User-Agent": user_agent}, timeout=TIMEOUT) as client:
        for topic in owed:
            error = await _ping(client, hub, topic)
            if error is not None:
                return error  # the hub is down or refusing: the rest waits too
            sent.append(topic)
    return None


def _send(hub: str, owed: Sequence[str], user_agent: str) -> tuple[list[str], str | None]:
    """The topics the hub took within `DEADLINE`, and why the rest were not."""
    sent: list[str] = []
    deadline = DEADLINE

    async def bounded() -> str | None:
        async with asyncio.timeout(deadline):
            return await _round(hub, owed, user_agent, sent)

    try:
        return sent, asyncio.run(bounded())
    except TimeoutError:
        return sent, f"no complete answer within {deadline:g} s"


def notify_hub(
    store: Meta,
    hub: str | None,
    topics: Sequence[str],
    *,
    user_agent: str,
    now: datetime | None = None,
) -> PingReport:
    """Ping `hub` for `topics` and for any ping still owed; remember what failed.

    Without a hub, owed pings are dropped (the feeds no longer name one). While a
    failed round's back-off runs, new topics are only added to what is owed.
    """
    now = now or datetime.now(UTC)
    pending = Pending.from_json(store.get_meta(PENDING_KEY))
    if hub is None:
        if pending.topics:
            store.set_meta(PENDING_KEY, "")
        return PingReport()
    owed = tuple(dict.fromkeys([*pending.topics, *topics]))
    if not owed:
        return PingReport()
    if pending.not_before is not None and now < pending.not_before:
        if owed != pending.topics:
            store.set_meta(
                PENDING_KEY, Pending(owed, pending.failures, pending.not_before).to_json()
            )
        return PingReport(owed=owed)

    if owed != pending.topics:  # owed before asking: a stop mid-round loses nothing
        store.set_meta(PENDING_KEY, Pending(owed, pending.failures, pending.not_before).to_json())
    sent, error = _send(hub, owed, user_agent)
    left = tuple(t for t in owed if t not in sent)
    if not left:
        store.set_meta(PENDING_KEY, "")
        log.info("told the WebSub hub %s about %d changed feed(s)", shown_hub(hub), len(sent))
        return PingReport(sent=tuple(sent))
    failures = pending.failures + 1
    retry = now + retry_delay(failures)
    store.set_meta(PENDING_KEY, Pending(left, failures, retry).to_json())
    when = "at the next cycle" if retry <= now else f"after {retry:%Y-%m-%d %H:%M} UTC"
    log.warning(
        "WebSub hub %s did not take the ping for %s (%s); trying again %s",
        shown_hub(hub),
        left[0] if len(left) == 1 else f"{len(left)} feeds",
        error,
        when,
    )
    return PingReport(sent=tuple(sent), owed=left, error=error)
