"""Retry-After as feeds and translation engines read it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from kanalwerk.fetch import retry_after_seconds
from kanalwerk.translate.retry import parse_retry_after

NOW = datetime(2025, 1, 27, 12, 0, tzinfo=UTC)


def http_date(delta: timedelta) -> str:
    return format_datetime(NOW + delta, usegmt=True)


def feed_parser(value: str | None) -> float | None:
    result = retry_after_seconds(value, now=NOW)
    return None if result is None else float(result)


def engine_parser(value: str | None) -> float | None:
    return parse_retry_after(value, now=NOW.timestamp())


PARSERS = [feed_parser, engine_parser]


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90", 90.0),
        (" 90 ", 90.0),
        ("0", 0.0),
        (http_date(timedelta(minutes=5)), 300.0),
        (http_date(-timedelta(minutes=5)), 0.0),
        ("soon", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("Mon, 99 Foo 2025 99:99:99 GMT", None),
    ],
)
def test_both_parsers_agree(
    parse: Callable[[str | None], float | None], value: str | None, seconds: float | None
) -> None:
    assert parse(value) == seconds
