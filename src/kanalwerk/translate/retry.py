"""HTTP retries with exponential backoff for translation APIs.

Shared by the engines so they all treat rate limits and outages alike: transient
statuses and transport errors are retried with jittered backoff, `Retry-After` is
honoured on 429 and 503 (where RFC 9110 gives it meaning; other statuses back off), and
a server that asks for a longer pause than we are willing to wait inside one cycle gets
a `RetryLater` naming when to try again, so the item simply stays queued for a later
cycle. `RetryPolicy` keeps one engine's settings for all its requests.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from kanalwerk.errors import Blame, RetryLater, TranslationError
from kanalwerk.retry_after import HONOURED_STATUSES, parse_retry_after

log = logging.getLogger(__name__)

#: Statuses worth another try, for every engine: 529 is DeepL's "too many requests"
#: under high load, and any 5xx may heal.
RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 429, *range(500, 600)})

#: Transport failures worth another try; others (bad scheme, local protocol misuse) won't heal.
_TRANSIENT = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)


def backoff_delay(attempt: int, base_delay: float, max_delay: float) -> float:
    """Exponential backoff with jitter: about `base_delay * 2**attempt`, never above the cap."""
    ceiling = min(max_delay, base_delay * 2.0**attempt)
    return ceiling * random.uniform(0.5, 1.0)


def send_with_retries(
    client: httpx.Client,
    request_factory: Callable[[], httpx.Request],
    *,
    max_retries: int,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    describe: str,
    give_up: Callable[[httpx.Response], bool] | None = None,
    now: Callable[[], float] = time.time,
) -> httpx.Response:
    """Send a request, retrying transient failures up to `max_retries` times.

    Returns the first response whose status is not in `RETRY_STATUSES` (the caller
    interprets it), or the last transient one when retries are used up. `give_up` lets
    a caller return a transient-looking response at once (a 429 that really means "no
    credit"). Transport errors that persist become a transient `TranslationError`;
    a `Retry-After` (on 429 or 503) longer than `max_delay` becomes a `RetryLater`
    without waiting.
    `describe` names the call in messages, so it must not contain secrets.
    """
    attempt = 0
    while True:
        request = request_factory()
        try:
            response = client.send(request)
        except _TRANSIENT as exc:
            if attempt >= max_retries:
                raise TranslationError(
                    f"{describe}: {_transport_problem(exc)} after {attempt + 1} attempt(s); "
                    "will try again later",
                    blame=Blame.TRANSIENT,
                ) from exc
            delay = backoff_delay(attempt, base_delay, max_delay)
            log.warning(
                "%s: %s; retrying in %.1f s (%d/%d)",
                describe,
                _transport_problem(exc),
                delay,
                attempt + 1,
                max_retries,
            )
        except httpx.TransportError as exc:
            raise TranslationError(
                f"{describe}: {_transport_problem(exc)}; check the configured URL",
                blame=Blame.ENGINE,
            ) from exc
        else:
            status = response.status_code
            if status not in RETRY_STATUSES or (give_up is not None and give_up(response)):
                return response
            if attempt >= max_retries:
                return response
            response.close()
            # Retry-After means something on 429 and 503 only (RFC 9110); others back off.
            wait = (
                parse_retry_after(response.headers.get("Retry-After"), now=now())
                if status in HONOURED_STATUSES
                else None
            )
            if wait is not None and wait > max_delay:
                until = datetime.fromtimestamp(now() + wait, UTC)
                raise RetryLater(
                    f"{describe}: HTTP {status}, the server asks to wait {wait:.0f} s; "
                    f"try again after {until:%Y-%m-%d %H:%M:%S} UTC",
                    until=until,
                    status=status,
                )
            delay = wait if wait is not None else backoff_delay(attempt, base_delay, max_delay)
            log.warning(
                "%s: HTTP %d; retrying in %.1f s (%d/%d)",
                describe,
                status,
                delay,
                attempt + 1,
                max_retries,
            )
        sleep(delay)
        attempt += 1


@dataclass(frozen=True)
class RetryPolicy:
    """One engine's retry settings, so that each of its requests is sent alike."""

    max_retries: int
    sleep: Callable[[float], None] = time.sleep

    def send(
        self,
        client: httpx.Client,
        request_factory: Callable[[], httpx.Request],
        *,
        describe: str,
        give_up: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """`send_with_retries` with these settings."""
        return send_with_retries(
            client,
            request_factory,
            max_retries=self.max_retries,
            sleep=self.sleep,
            describe=describe,
            give_up=give_up,
        )


def response_json(response: httpx.Response, what: str) -> Any:
    """The decoded JSON body; a body that is not JSON is an error naming `what` answered it."""
    try:
        return response.json()
    except ValueError as exc:
        raise TranslationError(f"{what} answered with invalid JSON", blame=Blame.TRANSIENT) from exc


def _transport_problem(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    detail = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {detail}" if detail else name
