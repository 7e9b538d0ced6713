"""Retry-After, read one way for feeds and translation engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from kanalwerk.errors import RetryLater, TranslationError
from kanalwerk.retry_after import HONOURED_STATUSES, MAX_SECONDS, parse_retry_after
from kanalwerk.translate.retry import send_with_retries
from tests.servers import LocalServer, Response

NOW = datetime(2025, 1, 27, 12, 0, tzinfo=UTC)


def http_date(delta: timedelta) -> str:
    return format_datetime(NOW + delta, usegmt=True)


def parse(value: str | None) -> float | None:
    return parse_retry_after(value, now=NOW.timestamp())


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90", 90.0),
        (" 90 ", 90.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (http_date(timedelta(minutes=5)), 300.0),
        (http_date(-timedelta(minutes=5)), 0.0),
        ("soon", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("Mon, 99 Foo 2025 99:99:99 GMT", None),
    ],
)
def test_delta_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert parse(value) == seconds


@pytest.mark.parametrize("value", ["-5", "+5", "inf", "nan", "1e3", "٣", "0x10", "5 s"])
def test_values_that_are_not_delta_seconds_count_as_absent(value: str) -> None:
    assert parse(value) is None


@pytest.mark.parametrize(
    "value",
    [
        str(365 * 24 * 3600),
        "9" * 400,
        http_date(timedelta(days=400)),
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ],
)
def test_a_wait_is_cut_to_a_day(value: str) -> None:
    assert MAX_SECONDS == 24 * 3600
    assert parse(value) == MAX_SECONDS


def test_default_now_is_the_current_time() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None and 3500 < seconds <= 3600


def post_with_retries(
    server: LocalServer, sleep: Callable[[float], None] = lambda s: None
) -> httpx.Response:
    """POST to the server's `/v1` as an engine does: up to two retries, 1 s base delay."""
    with httpx.Client() as client:
        return send_with_retries(
            client,
            lambda: client.build_request("POST", server.url("/v1")),
            max_retries=2,
            base_delay=1.0,
            max_delay=60.0,
            sleep=sleep,
            describe="test engine",
        )


def test_an_engine_asking_for_an_absurd_wait_rests_for_a_day(server: LocalServer) -> None:
    """A 20-digit Retry-After used to overflow the date of the engine's rest (a traceback)."""
    server.routes["/v1"] = lambda r: Response(429, b"slow down", {"Retry-After": "9" * 20})
    started = datetime.now(UTC)
    with pytest.raises(TranslationError) as caught:
        post_with_retries(server)
    until = getattr(caught.value, "until", None)
    assert isinstance(until, datetime)
    assert timedelta(hours=23) < until - started <= timedelta(days=1, seconds=5)
    assert len(server.requests_to("/v1")) == 1


@pytest.mark.parametrize("status", [500, 502, 504, 408])
def test_retry_after_on_other_statuses_is_ignored_for_backoff(
    server: LocalServer, status: int
) -> None:
    """Only 429 and 503 give Retry-After a meaning: a 500 asking for an hour backs off."""
    server.routes["/v1"] = lambda r: Response(status, b"oops", {"Retry-After": "3600"})
    sleeps: list[float] = []
    response = post_with_retries(server, sleeps.append)
    assert response.status_code == status  # the caller decides; no RetryLater for an hour
    assert len(server.requests_to("/v1")) == 3
    assert len(sleeps) == 2 and all(2**n / 2 <= s <= 2**n for n, s in enumerate(sleeps))


@pytest.mark.parametrize("status", sorted(HONOURED_STATUSES))
def test_retry_after_is_honoured_on_429_and_503(server: LocalServer, status: int) -> None:
    server.routes["/v1"] = lambda r: Response(status, b"wait", {"Retry-After": "3600"})
    with pytest.raises(RetryLater) as caught:
        post_with_retries(server)
    assert caught.value.status == status
    assert len(server.requests_to("/v1")) == 1
