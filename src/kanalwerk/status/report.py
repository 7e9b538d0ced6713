"""What `kanalwerk status` reports, and the JSON shape `status --json` promises.

The pipeline leaves two notes in the store's meta table for status to read: `@handle`
look-ups that failed (`record_handle_lookup`) and why items waited at the end of the
last translate step (`record_waiting`). Everything else comes from the store's channel,
item and usage tables and the config. `status_json` is the one place the JSON keys are
written; the README's table documents them, and `JSON_VERSION` changes only when a key
is removed or changes its meaning (new keys may be added).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from kanalwerk import schedule
from kanalwerk.models import Usage

if TYPE_CHECKING:
    from kanalwerk.health import Health
    from kanalwerk.store import ChannelStatus, Store
    from kanalwerk.translate.chain import Suspension
    from kanalwerk.translate.deepl import DeepLUsage

log = logging.getLogger(__name__)

JSON_VERSION = 1
#: Store meta keys: failed `@handle` look-ups, and what the last translate step left waiting.
HANDLE_LOOKUPS_KEY = "handle_lookups"
WAITING_KEY = "translate_waiting"

StoreState = Literal["ok", "missing", "needs-migration"]
ReasonKind = Literal["no-model", "engine-resting", "budget-spent", "engines-unavailable"]


@dataclass(frozen=True)
class HandleLookup:
    """A channel's `youtube: "@handle"` that could not be turned into a feed URL."""

    channel_id: str
    handle: str
    error: str
    at: datetime


@dataclass(frozen=True)
class Waiting:
    """Why items were left waiting when the last translate step ended."""

    at: datetime
    stopped: str | None  # the step ended early: every engine unusable for now
    deferred: tuple[tuple[str, int], ...]  # reason → items no engine could take (no model)


@dataclass(frozen=True)
class PendingReason:
    """One reason items wait: see `ReasonKind` and the README."""

    kind: ReasonKind
    message: str
    items: int | None = None  # how many items it held back, when known
    engine: str | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Backoff:
    """A channel polled less often because it keeps failing."""

    errors_in_a_row: int
    until: datetime | None


@dataclass(frozen=True)
class NextPoll:
    """When a channel is polled next, and why then (see `kanalwerk.schedule`)."""

    at: datetime | None  # None: at the next round (never fetched yet)
    reason: str  # a `schedule.Kind` or "never-fetched"
    backoff: Backoff | None = None
    why: str = ""  # for people: "interval 30m", "backing off after 4 errors"
    failing: bool = False  # failing for a week: polled daily, needs a look

    def describe(self, now: datetime) -> str:
        """ "in 25 min: interval 30m", "now: first poll", as `status` shows it."""
        return schedule.describe(self.at or now, self.why, now)


@dataclass(frozen=True)
class ChannelView:
    """One channel as status shows it: the store's row plus what the config says."""

    row: ChannelStatus
    enabled: bool
    items: Mapping[str, int]  # by state
    next_poll: NextPoll | None  # None: disabled
    handle_lookup: HandleLookup | None = None
    disabled_reason: str | None = None  # disabled by kanalwerk itself (e.g. 410 Gone)


@dataclass(frozen=True)
class StoreView:
    url: str  # without password
    state: StoreState
    message: str | None = None


@dataclass(frozen=True)
class EngineStatus:
    """One engine's usage today against its daily budget, and its suspension if any."""

    name: str
    role: Literal["configured", "article", "former"]  # article: the writer's usage in article mode
    usage: Usage
    daily_characters: int | None
    daily_tokens: int | None
    cost_usd: float | None  # openai with prices configured
    suspension: Suspension | None


@dataclass(frozen=True)
class DeepLAccount:
    """DeepL's own count for the billing period, or why it could not be had."""

    usage: DeepLUsage | None
    error: str | None = None


@dataclass(frozen=True)
class Report:
    """Everything `kanalwerk status` shows; built by `status.read.read_status`."""

    generated_at: datetime
    config: str
    store: StoreView
    channels: tuple[ChannelView, ...]
    usage: Usage  # today's, all engines
    engines: tuple[EngineStatus, ...]
    pending_items: int
    pending: tuple[PendingReason, ...]
    handle_lookups: tuple[HandleLookup, ...]
    health: Health | None
    deepl: DeepLAccount | None = None


# --- notes the pipeline leaves in the store ---------------------------------------------


def record_handle_lookup(
    store: Store, channel_id: str, handle: str, error: str | None, now: datetime
) -> None:
    """Remember a failed look-up of `handle` (or forget it when `error` is None)."""
    data = store.get_meta_json(HANDLE_LOOKUPS_KEY)
    lookups: dict[str, Any] = data if isinstance(data, dict) else {}
    if error is None:
        if channel_id not in lookups:
            return
        del lookups[channel_id]
    else:
        lookups[channel_id] = {"handle": handle, "error": error, "at": now.isoformat()}
    store.set_meta(HANDLE_LOOKUPS_KEY, json.dumps(lookups, sort_keys=True))


def handle_lookups(store: Store) -> dict[str, HandleLookup]:
    """The failed look-ups noted, by channel id; anything unreadable counts as none."""
    data = store.get_meta_json(HANDLE_LOOKUPS_KEY)
    found: dict[str, HandleLookup] = {}
    for channel_id, entry in (data if isinstance(data, dict) else {}).items():
        try:
            at = datetime.fromisoformat(entry["at"])
            found[channel_id] = HandleLookup(channel_id, str(entry["handle"]), entry["error"], at)
        except (KeyError, TypeError, ValueError):
            continue
    return found


def record_waiting(
    store: Store, stopped: str | None, deferred: Sequence[tuple[str, int]], now: datetime
) -> None:
    """Note why the translate step that just ended left items waiting (nothing: clear).

    Written only when it changed, so a quiet cycle does not write the store.
    """
    if stopped is None and not deferred:
        if store.get_meta(WAITING_KEY) not in (None, ""):
            store.set_meta(WAITING_KEY, "")
        return
    value = {"at": now.isoformat(), "stopped": stopped, "deferred": [list(d) for d in deferred]}
    old = store.get_meta_json(WAITING_KEY)
    if isinstance(old, dict) and {**old, "at": None} == {**value, "at": None}:
        return
    store.set_meta(WAITING_KEY, json.dumps(value))


def waiting(store: Store) -> Waiting | None:
    """What the last translate step left waiting, as `record_waiting` noted it."""
    data = store.get_meta_json(WAITING_KEY)
    if not isinstance(data, dict):
        return None
    try:
        deferred = tuple((str(reason), int(count)) for reason, count in data["deferred"])
        stopped = data["stopped"]
        return Waiting(datetime.fromisoformat(data["at"]), stopped and str(stopped), deferred)
    except (KeyError, TypeError, ValueError):
        return None


# --- derived views ----------------------------------------------------------------------


def next_poll(planned: schedule.NextPoll | None, row: ChannelStatus) -> NextPoll | None:
    """Status's view of the daemon's plan for a channel; None: disabled (410 Gone)."""
    if planned is None or planned.kind == "first":
        return NextPoll(None, "never-fetched", why="first poll")
    if planned.at is None:
        return None
    backoff = Backoff(row.error_count, planned.at) if row.error_count else None
    return NextPoll(planned.at, planned.kind, backoff, planned.reason, planned.flagged)


def disabled_reason(row: ChannelStatus) -> str | None:
    """Why kanalwerk stopped polling the channel, e.g. "410 Gone on 2026-03-01"."""
    if row.disabled_at is None:
        return None
    return f"{row.disabled_reason or 'disabled'} on {row.disabled_at:%Y-%m-%d}"


def pending_reasons(
    last: Waiting | None, engines: Sequence[EngineStatus], pending_items: int
) -> tuple[PendingReason, ...]:
    """Why the `pending_items` queued items wait: the last step's notes and resting engines.

    Nothing is said when no item waits: a resting engine alone holds nothing back.
    """
    if not pending_items:
        return ()
    reasons: list[PendingReason] = []
    if last is not None:
        reasons += [PendingReason("no-model", text, count) for text, count in last.deferred]
        if last.stopped:
            reasons.append(PendingReason("engines-unavailable", last.stopped))
    for engine in engines:
        if engine.suspension is None or engine.role == "former":
            continue
        kind: ReasonKind = "budget-spent" if _budget_spent(engine) else "engine-resting"
        s = engine.suspension
        reasons.append(PendingReason(kind, s.reason, engine=engine.name, until=s.until))
    return tuple(reasons)


def _budget_spent(engine: EngineStatus) -> bool:
    used = engine.usage
    chars, tokens = engine.daily_characters, engine.daily_tokens
    return (chars is not None and used.characters >= chars) or (
        tokens is not None and used.prompt_tokens + used.completion_tokens >= tokens
    )


# --- JSON -------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _channel_json(view: ChannelView) -> dict[str, Any]:
    row, poll = view.row, view.next_poll
    backoff = poll.backoff if poll is not None else None
    lookup = view.handle_lookup
    return {
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "enabled": view.enabled,
        "last_fetch": _time(row.last_fetched_at),
        "last_success": _time(row.last_success_at),
        "http_status": row.last_status,
        "error": row.last_error,
        "errors_in_a_row": row.error_count,
        "warning": row.last_warning,
        "items": {**view.items, "total": sum(view.items.values())},
        "next_poll": _time(poll.at) if poll is not None else None,
        "next_poll_reason": poll.reason if poll is not None else "disabled",
        "next_poll_why": poll.why if poll is not None else view.disabled_reason,
        "failing": poll.failing if poll is not None else False,
        "backoff": (
            {"errors_in_a_row": backoff.errors_in_a_row, "until": _time(backoff.until)}
            if backoff is not None
            else None
        ),
        "disabled_reason": view.disabled_reason,
        "handle_lookup": (
            {"handle": lookup.handle, "error": lookup.error, "at": _time(lookup.at)}
            if lookup is not None
            else None
        ),
    }


def _engine_json(engine: EngineStatus) -> dict[str, Any]:
    used, s = engine.usage, engine.suspension
    return {
        "name": engine.name,
        "role": engine.role,
        "requests": used.requests,
        "characters": used.characters,
        "tokens": used.prompt_tokens + used.completion_tokens,
        "cost_usd": engine.cost_usd,
        "budget": {
            "daily_characters": engine.daily_characters,
            "daily_tokens": engine.daily_tokens,
            "spent": _budget_spent(engine),
        },
        "suspended_until": _time(s.until) if s is not None else None,
        "suspended_reason": s.reason if s is not None else None,
    }


def status_json(report: Report) -> dict[str, Any]:
    """`report` in the documented shape of `kanalwerk status --json` (README)."""
    usage, health, deepl = report.usage, report.health, report.deepl
    account = None
    if deepl is not None:
        account = {
            "character_count": deepl.usage.character_count if deepl.usage else None,
            "character_limit": deepl.usage.character_limit if deepl.usage else None,
            "error": deepl.error,
        }
    return {
        "version": JSON_VERSION,
        "generated_at": _time(report.generated_at),
        "config": report.config,
        "store": {
            "url": report.store.url,
            "state": report.store.state,
            "message": report.store.message,
        },
        "daemon": health.to_json() if health is not None else None,
        "channels": [_channel_json(view) for view in report.channels],
        "usage_today": {
            "requests": usage.requests,
            "characters": usage.characters,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        },
        "engines": [_engine_json(engine) for engine in report.engines],
        "pending": {
            "items": report.pending_items,
            "reasons": [
                {
                    "kind": r.kind,
                    "message": r.message,
                    "items": r.items,
                    "engine": r.engine,
                    "until": _time(r.until),
                }
                for r in report.pending
            ],
        },
        "handle_lookups": [
            {"channel": h.channel_id, "handle": h.handle, "error": h.error, "at": _time(h.at)}
            for h in report.handle_lookups
        ],
        "deepl_account": account,
    }
