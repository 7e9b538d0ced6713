"""Dates: the one naive-to-UTC rule, and German formatting independent of the locale.

`locale.setlocale` is process-wide and the German locale is often not installed on servers,
so month names live here and times are shown in Berlin time via `zoneinfo`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS_DE = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)

TIMEZONE_NAME = "Europe/Berlin"


@lru_cache(maxsize=1)
def display_zone() -> tzinfo:
    """Berlin time; UTC when the system has no time zone database (no `tzdata` dependency)."""
    try:
        return ZoneInfo(TIMEZONE_NAME)
    except ZoneInfoNotFoundError:
        return UTC


def as_utc(dt: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC, the convention of every stage model."""
    if dt.tzinfo is UTC:
        return dt  # the common case, and cheap: publishing asks for thousands of dates
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def utc_seconds(dt: datetime) -> datetime:
    """`as_utc` without microseconds, as feeds and entry ids carry times."""
    return as_utc(dt).replace(microsecond=0)


def iso_utc(dt: datetime) -> str:
    """RFC 3339 in UTC, to the second, as feeds and pages carry times."""
    return utc_seconds(dt).isoformat()


def _local(dt: datetime) -> datetime:
    return as_utc(dt).astimezone(display_zone())


def format_date_de(dt: datetime) -> str:
    """`27. Januar 2025`."""
    local = _local(dt)
    return f"{local.day}. {MONTHS_DE[local.month - 1]} {local.year}"


def format_datetime_de(dt: datetime) -> str:
    """`27. Januar 2025, 14:05 Uhr`."""
    local = _local(dt)
    return f"{format_date_de(local)}, {local.hour:02d}:{local.minute:02d} Uhr"


def next_utc_midnight(now: datetime) -> datetime:
    """The start of the next UTC day: when daily budgets and DeepL's quota pause end."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def format_duration(value: timedelta) -> str:
    """A duration as the config writes it: 90s → 1m30s, 26h → 1d2h, 0 → 0s."""
    seconds = int(value.total_seconds())
    parts = [(seconds // 86400, "d"), (seconds // 3600 % 24, "h"), (seconds // 60 % 60, "m")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    return text + (f"{seconds % 60}s" if seconds % 60 or not text else "")
