"""When each channel is polled next, and why: pure functions of its history and `now`.

The daemon asks `next_poll` after every poll and `status` asks it to show the plan, so
both always agree. The rules, in order:

1. A channel the server retired (410 Gone) is not polled until it is enabled again.
2. A failing channel backs off: the interval doubled per error in a row, up to
   `max_interval`; one failing for `FLAG_AFTER` (7 days) is polled daily and flagged.
3. Otherwise the interval adapts to how often the channel posts (by its items' dates):
   a quiet one is polled about four times per average gap between its posts in the
   last week (up to `max_interval`; once a `max_interval` with no post that week), a
   busy one as often as it posted in the last day (down to `min_interval`).
4. The server can only move the next poll later: `Cache-Control: max-age` / `Expires`
   (at most `max_interval` after the poll) and `Retry-After`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from kanalwerk.dates import format_duration

__all__ = [
    "BUSY_WINDOW",
    "FLAG_AFTER",
    "QUIET_WINDOW",
    "Cadence",
    "NextPoll",
    "PollHistory",
    "describe",
    "first_offset",
    "format_wait",
    "next_poll",
]

#: Posts in this window tell how quiet a channel is …
QUIET_WINDOW = timedelta(days=7)
#: … and posts in this one how busy.
BUSY_WINDOW = timedelta(days=1)
#: A channel failing this long without a success is polled daily and flagged.
FLAG_AFTER = timedelta(days=7)
DAILY = timedelta(days=1)
#: Polls per average gap between a quiet channel's posts.
POLLS_PER_GAP = 4

Kind = Literal[
    "first", "interval", "quiet", "busy", "backoff", "failing", "max-age", "retry-after", "disabled"
]


@dataclass(frozen=True)
class Cadence:
    """A channel's schedule settings from the config (`schedule:` and the channel's keys)."""

    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta
    jitter: timedelta


@dataclass(frozen=True)
class PollHistory:
    """What the store knows about a channel's polls and posts, as of one moment."""

    last_fetched_at: datetime | None = None
    error_count: int = 0  # errors in a row; 0 after a success
    failing_since: datetime | None = None  # the first of those errors
    last_error: str | None = None
    retry_after_until: datetime | None = None  # Retry-After on a 429/503
    fresh_until: datetime | None = None  # Cache-Control max-age / Expires of the last poll
    disabled_at: datetime | None = None  # 410 Gone
    disabled_reason: str | None = None
    items_total: int = 0  # stored items, any state
    posts_week: int = 0  # items dated within QUIET_WINDOW before now
    posts_day: int = 0  # … within BUSY_WINDOW


@dataclass(frozen=True)
class NextPoll:
    """A channel's next poll (None: disabled) and the one rule that decided it."""

    at: datetime | None
    kind: Kind
    reason: str  # e.g. "interval 30m", "backing off after 4 errors", "410 Gone on 2026-01-02"
    flagged: bool = False  # failing for FLAG_AFTER or longer

    def describe(self, now: datetime) -> str:
        """One line for `status`: "in 25 min: interval 30m", "disabled: 410 Gone on …"."""
        return describe(self.at, self.reason, now)


def describe(at: datetime | None, reason: str, now: datetime) -> str:
    """A next poll at `at` (None: disabled) for `reason`, as `status` shows it."""
    if at is None:
        return f"disabled: {reason}"
    wait = at - now
    when = "now" if wait <= timedelta(0) else f"in {format_wait(wait)}"
    return f"{when}: {reason}"


def next_poll(history: PollHistory, cadence: Cadence, now: datetime) -> NextPoll:
    """The next poll by the rules in the module's docstring; never before the last poll."""
    h, c = history, cadence
    if h.disabled_at is not None:
        reason = f"{h.disabled_reason or 'disabled'} on {h.disabled_at:%Y-%m-%d}"
        return NextPoll(None, "disabled", reason)
    if h.last_fetched_at is None:
        return NextPoll(now, "first", "first poll")
    longest = max(c.max_interval, c.interval)
    flagged = False
    wait: timedelta
    kind: Kind
    if h.error_count > 0:
        since = h.failing_since or h.last_fetched_at
        if h.last_fetched_at - since >= FLAG_AFTER:
            flagged = True
            wait, kind = DAILY, "failing"
            reason = f"failing since {since:%Y-%m-%d}, polled daily"
        else:
            wait = min(longest, c.interval * 2 ** min(h.error_count, 32))
            kind = "backoff"
            reason = f"backing off after {_count(h.error_count, 'error')}"
    else:
        wait, kind, reason = _adaptive(h, c, longest)
    at = h.last_fetched_at + wait
    if h.error_count == 0 and h.fresh_until is not None:
        fresh = min(h.fresh_until, h.last_fetched_at + longest)
        if fresh > at:
            at, kind, reason = fresh, "max-age", "server asked (max-age)"
    if h.retry_after_until is not None and h.retry_after_until >= at:
        at, kind, reason = h.retry_after_until, "retry-after", "server asked (Retry-After)"
    return NextPoll(at, kind, reason, flagged)


def _adaptive(h: PollHistory, c: Cadence, longest: timedelta) -> tuple[timedelta, Kind, str]:
    normal: tuple[timedelta, Kind, str] = (
        c.interval,
        "interval",
        f"interval {format_duration(c.interval)}",
    )
    if h.items_total == 0:  # nothing to tell its pace by yet
        return normal
    if h.posts_week == 0:
        if longest > c.interval:
            return longest, "quiet", "quiet: no post in 7 days"
        return normal
    stretched = min(longest, QUIET_WINDOW / h.posts_week / POLLS_PER_GAP)
    if stretched > c.interval:
        return stretched, "quiet", f"quiet: {_count(h.posts_week, 'post')} in 7 days"
    shortest = min(c.min_interval, c.interval)
    if h.posts_day >= 2:
        tightened = max(shortest, BUSY_WINDOW / h.posts_day)
        if tightened < c.interval:
            return tightened, "busy", f"busy: {h.posts_day} posts in 24 h"
    return normal


def first_offset(channel_id: str, jitter: timedelta) -> timedelta:
    """Where in the first round's `jitter` a channel goes: the same place on every start."""
    if jitter <= timedelta(0):
        return timedelta(0)
    fraction = int.from_bytes(hashlib.sha256(channel_id.encode()).digest()[:8]) / 2**64
    return jitter * fraction


def format_wait(value: timedelta) -> str:
    """A wait in one rounded unit: "45 s", "25 min", "3 h", "2 d"."""
    seconds = max(0, round(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
