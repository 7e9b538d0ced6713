"""How long a server says its feed stays fresh: `Cache-Control: max-age`, else `Expires`.

A feed reader that asks again before then only costs the server a request (RFC 9111
§4.2.1 gives the order: max-age wins over Expires, and Expires counts from the
response's own `Date`, so a server with a wrong clock still means what it says). The
caller bounds the answer: a server cannot silence a feed for longer than `max_interval`.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping

from kanalwerk.dates import as_utc

__all__ = ["fresh_for"]

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?([0-9]+)\"?\s*(?:,|$)", re.I)
_NO_REUSE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:[,=]|$)", re.I)


def fresh_for(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds from `now` (a POSIX timestamp) the response stays fresh; None: not said.

    `headers` has lower-case names. `no-cache`/`no-store` or an `Expires` in the past
    say nothing worth waiting for (None).
    """
    control = headers.get("cache-control", "")
    if _NO_REUSE.search(control):
        return None
    if match := _MAX_AGE.search(control):
        seconds = float(match.group(1))
        return seconds or None
    expires = _http_date(headers.get("expires"))
    if expires is None:
        return None
    served = _http_date(headers.get("date"))
    seconds = expires - (served if served is not None else now)
    return seconds if seconds > 0 else None


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return as_utc(email.utils.parsedate_to_datetime(value.strip())).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None
