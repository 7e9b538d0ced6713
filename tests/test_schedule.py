"""The schedule's decisions as pure functions: next poll and why, first-round spread, freshness."""

from __future__ import annotations

import email.utils
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kanalwerk.dates import format_duration
from kanalwerk.freshness import fresh_for
from kanalwerk.models import FetchResult, Item
from kanalwerk.schedule import Cadence, PollHistory, first_offset, format_wait, next_poll
from kanalwerk.store import FetchRecord, Store, migrations
from tests.old_stores import before, opened_at

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CADENCE = Cadence(
    interval=timedelta(minutes=30),
    min_interval=timedelta(minutes=5),
    max_interval=timedelta(hours=24),
    jitter=timedelta(minutes=2),
)
#: Polled 10 minutes ago, fine, posting about as often as it is polled.
STEADY = PollHistory(
    last_fetched_at=NOW - timedelta(minutes=10), items_total=200, posts_week=100, posts_day=12
)


def plan(history: PollHistory, cadence: Cadence = CADENCE) -> tuple[timedelta | None, str]:
    """(wait from the last poll, or None when disabled; status text) at NOW."""
    decided = next_poll(history, cadence, NOW)
    last = history.last_fetched_at or NOW
    return (None if decided.at is None else decided.at - last), decided.describe(NOW)


def test_a_channel_never_polled_is_due_now() -> None:
    assert plan(PollHistory()) == (timedelta(0), "now: first poll")


def test_a_steady_channel_keeps_its_interval() -> None:
    assert plan(STEADY) == (timedelta(minutes=30), "in 20 min: interval 30m")
    assert plan(PollHistory(last_fetched_at=NOW))[1] == "in 30 min: interval 30m"  # no items yet


@pytest.mark.parametrize(
    ("posts_week", "wait", "reason"),
    [
        (0, timedelta(hours=24), "quiet: no post in 7 days"),
        (1, timedelta(hours=24), "quiet: 1 post in 7 days"),  # 7 d / 4, capped
        (7, timedelta(hours=6), "quiet: 7 posts in 7 days"),  # a post a day: 4 polls a day
        (28, timedelta(hours=1.5), "quiet: 28 posts in 7 days"),
    ],
)
def test_a_quiet_channel_is_polled_less_often(
    posts_week: int, wait: timedelta, reason: str
) -> None:
    history = PollHistory(last_fetched_at=NOW, items_total=40, posts_week=posts_week)
    assert plan(history) == (wait, f"in {format_wait(wait)}: {reason}")


def test_a_busy_channel_is_polled_as_often_as_it_posts_down_to_min_interval() -> None:
    busy = PollHistory(last_fetched_at=NOW, items_total=900, posts_week=800, posts_day=144)
    assert plan(busy) == (timedelta(minutes=10), "in 10 min: busy: 144 posts in 24 h")
    flood = PollHistory(last_fetched_at=NOW, items_total=9000, posts_week=8000, posts_day=2000)
    assert plan(flood)[0] == timedelta(minutes=5)


def test_per_channel_bounds_win_and_never_invert_the_interval() -> None:
    history = PollHistory(last_fetched_at=NOW, items_total=3, posts_week=0)
    tight = Cadence(timedelta(hours=2), timedelta(hours=3), timedelta(hours=1), timedelta(0))
    assert plan(history, tight)[0] == timedelta(hours=2)  # max below the interval: interval


def test_errors_back_off_exponentially_up_to_max_interval_and_reset_on_success() -> None:
    waits = [
        plan(PollHistory(last_fetched_at=NOW, error_count=n, failing_since=NOW))[0]
        for n in range(1, 8)
    ]
    assert waits == [timedelta(hours=h) for h in (1, 2, 4, 8, 16, 24, 24)]
    text = plan(PollHistory(last_fetched_at=NOW, error_count=3, failing_since=NOW))[1]
    assert text == "in 4 h: backing off after 3 errors"
    assert plan(PollHistory(last_fetched_at=NOW, error_count=0))[0] == timedelta(minutes=30)


def test_a_server_error_every_poll_for_a_day_costs_a_handful_of_requests() -> None:
    """The schedule itself, walked over a day: 5 requests instead of 48."""
    history, requests = PollHistory(), []
    now = NOW
    while now < NOW + timedelta(days=1):
        decided = next_poll(history, CADENCE, now)
        assert decided.at is not None
        now = max(now, decided.at)
        requests.append(now)
        history = PollHistory(
            last_fetched_at=now,
            error_count=history.error_count + 1,
            failing_since=history.failing_since or now,
        )
    assert [r - NOW for r in requests][:5] == [
        timedelta(hours=h) for h in (0, 1, 3, 7, 15)
    ]  # and the sixth is after a day
    assert len(requests) == 6 and requests[-1] > NOW + timedelta(days=1)


def test_a_channel_failing_for_a_week_is_polled_daily_and_flagged() -> None:
    since = NOW - timedelta(days=8)
    failing = PollHistory(last_fetched_at=NOW, error_count=9, failing_since=since)
    decided = next_poll(failing, CADENCE, NOW)
    assert decided.flagged and decided.kind == "failing"
    assert decided.at == NOW + timedelta(days=1)
    assert decided.describe(NOW) == "in 24 h: failing since 2026-02-21, polled daily"
    week = PollHistory(last_fetched_at=NOW, error_count=4, failing_since=NOW - timedelta(days=6))
    assert not next_poll(week, CADENCE, NOW).flagged


def test_a_disabled_channel_has_no_next_poll() -> None:
    gone = PollHistory(
        last_fetched_at=NOW, error_count=1, disabled_at=NOW, disabled_reason="410 Gone"
    )
    decided = next_poll(gone, CADENCE, NOW)
    assert decided.at is None
    assert decided.describe(NOW) == "disabled: 410 Gone on 2026-03-01"


def test_max_age_moves_the_next_poll_later_but_not_past_max_interval() -> None:
    fresh = PollHistory(
        last_fetched_at=NOW, items_total=200, posts_week=100, fresh_until=NOW + timedelta(hours=2)
    )
    assert plan(fresh) == (timedelta(hours=2), "in 2 h: server asked (max-age)")
    forever = PollHistory(last_fetched_at=NOW, fresh_until=NOW + timedelta(days=365))
    assert plan(forever)[0] == timedelta(hours=24)
    soon = PollHistory(last_fetched_at=NOW, fresh_until=NOW + timedelta(minutes=1))
    assert plan(soon)[0] == timedelta(minutes=30)  # never earlier than planned


def test_retry_after_moves_the_next_poll_later() -> None:
    busy = PollHistory(
        last_fetched_at=NOW,
        error_count=1,
        failing_since=NOW,
        retry_after_until=NOW + timedelta(hours=5),
    )
    assert plan(busy) == (timedelta(hours=5), "in 5 h: server asked (Retry-After)")


def test_the_first_round_is_spread_over_the_jitter_the_same_way_every_time() -> None:
    jitter = timedelta(minutes=10)
    offsets = [first_offset(f"channel-{n}", jitter) for n in range(200)]
    assert offsets == [first_offset(f"channel-{n}", jitter) for n in range(200)]
    assert all(timedelta(0) <= o < jitter for o in offsets)
    tenths = {int(o / jitter * 10) for o in offsets}
    assert tenths == set(range(10))  # every part of the window gets some
    assert first_offset("channel-1", timedelta(0)) == timedelta(0)


def test_durations_read_as_in_the_config() -> None:
    assert format_duration(timedelta(minutes=30)) == "30m"
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(days=2)) == "2d"
    assert format_wait(timedelta(seconds=45)) == "45 s"
    assert format_wait(timedelta(minutes=25)) == "25 min"


# --- what the server says about freshness ----------------------------------------------


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "public, max-age=3600"}, 3600),
        ({"cache-control": 'max-age="600"'}, 600),
        ({"cache-control": "max-age=0"}, None),
        ({"cache-control": "no-cache, max-age=3600"}, None),
        ({"cache-control": "no-store"}, None),
        ({"cache-control": "s-maxage=99"}, None),  # for shared caches, not for us
        ({"cache-control": "max-age=60", "expires": http_date(NOW + timedelta(hours=5))}, 60),
        ({"expires": http_date(NOW + timedelta(hours=2))}, 7200),
        # Counted from the response's Date: the server's clock may be off from ours.
        (
            {
                "expires": http_date(NOW + timedelta(hours=3)),
                "date": http_date(NOW + timedelta(hours=2)),
            },
            3600,
        ),
        ({"expires": http_date(NOW - timedelta(hours=1))}, None),
        ({"expires": "0"}, None),
        ({}, None),
    ],
)
def test_freshness_from_cache_control_and_expires(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert fresh_for(headers, now=NOW.timestamp()) == seconds


# --- what the store remembers ----------------------------------------------------------


def result(status: int | None, error: str | None = None) -> FetchResult:
    url = "https://example.org/feed"
    return FetchResult("blog", url, url, status, error=error)


def test_the_store_keeps_what_the_schedule_needs(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'k.db'}") as store:
        store.sync_channels([("blog", "Blog", "https://example.org/feed")])
        fresh = NOW + timedelta(hours=2)
        store.record_fetches([FetchRecord(result(200), at=NOW, fresh_until=fresh)])
        history = store.poll_histories(["blog"], NOW)["blog"]
        assert (history.last_fetched_at, history.fresh_until) == (NOW, fresh)

        later = NOW + timedelta(hours=1)
        for at in (later, later + timedelta(hours=1)):
            store.record_fetches([FetchRecord(result(500, "HTTP 500"), at=at)])
        history = store.poll_histories(["blog"], NOW)["blog"]
        assert (history.error_count, history.failing_since) == (2, later)
        assert history.fresh_until is None

        store.record_fetches([FetchRecord(result(410, "HTTP 410"), at=later, disable="410 Gone")])
        history = store.poll_histories(["blog"], NOW)["blog"]
        assert (history.disabled_at, history.disabled_reason) == (later, "410 Gone")
        assert store.enable_channel("blog") and not store.enable_channel("blog")
        history = store.poll_histories(["blog"], NOW)["blog"]
        assert (history.disabled_at, history.error_count, history.failing_since) == (None, 0, None)

        store.record_fetches([FetchRecord(result(410, "HTTP 410"), at=later, disable="410 Gone")])
        store.sync_channels([("blog", "Blog", "https://example.org/new-feed")])  # a new URL
        assert store.poll_histories(["blog"], NOW)["blog"].disabled_at is None


def test_a_channels_pace_is_counted_from_its_items_dates(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'k.db'}") as store:
        store.sync_channels([("blog", "Blog", "https://example.org/feed")])
        ages = [timedelta(hours=2), timedelta(hours=20), timedelta(days=3), timedelta(days=30)]
        items = [
            Item(f"g{n}", None, f"Post {n}", published=NOW - age) for n, age in enumerate(ages)
        ]
        items.append(Item("future", None, "Scheduled", published=NOW + timedelta(days=1)))
        store.add_items("blog", items)
        history = store.poll_histories(["blog"], NOW)["blog"]
        assert (history.items_total, history.posts_week, history.posts_day) == (5, 3, 2)


def test_the_migration_dates_a_failing_streak_from_the_last_success(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    with opened_at(f"sqlite:///{database}", before(migrations._m0008_poll_schedule)) as old:
        old.sync_channels([("ok", "OK", "https://a.example/"), ("bad", "Bad", None)])
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE channels SET error_count = 3, last_success_at = '2026-02-01 08:00:00.000000' "
            "WHERE id = 'bad'"
        )
    with Store.open(f"sqlite:///{database}") as store:
        histories = store.poll_histories(["ok", "bad"], NOW)
    assert histories["ok"].failing_since is None
    assert histories["bad"].failing_since == datetime(2026, 2, 1, 8, tzinfo=UTC)
    assert histories["bad"].disabled_at is None
