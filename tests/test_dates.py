from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from kanalwerk.dates import as_utc, utc_seconds


def test_naive_times_are_utc() -> None:
    assert as_utc(datetime(2025, 1, 27, 13, 5)) == datetime(2025, 1, 27, 13, 5, tzinfo=UTC)
    assert as_utc(datetime(2025, 1, 27, 13, 5)).tzinfo is UTC


def test_aware_times_are_converted_to_utc() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    converted = as_utc(datetime(2025, 7, 1, 0, 30, tzinfo=berlin_summer))
    assert (converted.date().isoformat(), converted.hour, converted.tzinfo) == (
        "2025-06-30",
        22,
        UTC,
    )


def test_utc_seconds_drops_microseconds() -> None:
    value = utc_seconds(datetime(2025, 1, 27, 13, 5, 7, 999_999))
    assert value == datetime(2025, 1, 27, 13, 5, 7, tzinfo=UTC)
