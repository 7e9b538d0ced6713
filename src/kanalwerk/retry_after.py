"""The `Retry-After` header: which statuses honour it and how long it asks us to wait.

One reading for feeds and translation engines alike. The value is trusted only so far:
a malformed, negative or non-finite one counts as absent, and a wait is cut to a day so
that a typo (or a hostile server) cannot silence a feed or an engine for good.
"""

from __future__ import annotations

import email.utils
import re
import time

from kanalwerk.dates import as_utc

__all__ = ["HONOURED_STATUSES", "MAX_SECONDS", "parse_retry_after"]

#: Retry-After counts on these statuses only, for feeds and engines alike, as RFC 9110
#: gives it meaning there (a redirect's is about the next hop, which we follow at once).
HONOURED_STATUSES: frozenset[int] = frozenset({429, 503})

#: The longest wait we accept; longer ones are cut down to it.
MAX_SECONDS = 24 * 3600

# delay-seconds is 1*DIGIT; a decimal fraction is accepted, as some APIs send one.
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), or None.

    `now` is a POSIX timestamp (default: the current time), for HTTP-dates. A date in
    the past means no wait (0); the result is never above `MAX_SECONDS`.
    """
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return min(float(value), MAX_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    current = time.time() if now is None else now
    return min(max(0.0, as_utc(when).timestamp() - current), MAX_SECONDS)
