"""The health file: `status.json` beside the store, rewritten after every round.

A monitor that cannot talk to the process (cron, systemd, Docker's HEALTHCHECK) reads
when the last successful round ended and alerts when that is too long ago. The file is
replaced atomically, so a reader never sees half of it; it keeps the last success of
earlier rounds (and runs), so one failed round does not erase it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanalwerk.errors import KanalwerkError

if TYPE_CHECKING:
    from kanalwerk.config import Config

log = logging.getLogger(__name__)

HEALTH_FILE = "status.json"


def health_path(config: Config) -> Path:
    """`status.json` in the SQLite database's folder, else beside the config file."""
    store = config.store_file
    return (store.parent if store is not None else config.path.parent) / HEALTH_FILE


@dataclass(frozen=True)
class RoundFacts:
    """What one round did, as counts."""

    channels: int = 0  # polled (asked or skipped for Retry-After)
    fetched: int = 0
    failed: int = 0
    new_items: int = 0
    translated: int = 0
    waiting: int = 0  # items no engine could take this round
    files_written: int = 0
    error: str | None = None  # translating or publishing failed


@dataclass(frozen=True)
class Health:
    """The health file's content; `to_json` is its documented shape (README)."""

    last_round_at: datetime
    last_round_ok: bool
    last_success_at: datetime | None
    last_round: RoundFacts
    pid: int

    def to_json(self) -> dict[str, Any]:
        success = self.last_success_at
        return {
            "last_round_at": self.last_round_at.isoformat(),
            "last_round_ok": self.last_round_ok,
            "last_success_at": success.isoformat() if success is not None else None,
            "last_success_unix": int(success.timestamp()) if success is not None else None,
            "last_round": dataclasses.asdict(self.last_round),
            "pid": self.pid,
        }


def is_success(facts: RoundFacts) -> bool:
    """A round succeeded when nothing raised and some channel answered (if any was asked)."""
    return facts.error is None and (facts.channels == 0 or facts.fetched > 0)


def read_health(path: Path) -> Health | None:
    """The health file at `path`; None when missing or unreadable."""
    try:
        data = json.loads(path.read_bytes())
        success = data["last_success_at"]
        return Health(
            last_round_at=datetime.fromisoformat(data["last_round_at"]),
            last_round_ok=bool(data["last_round_ok"]),
            last_success_at=datetime.fromisoformat(success) if success else None,
            last_round=RoundFacts(**data["last_round"]),
            pid=int(data["pid"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_health(config: Config, facts: RoundFacts, now: datetime | None = None) -> Health:
    """Record a finished round in `status.json`; never raises (the round is done anyway).

    A file that cannot be written is logged: monitoring then sees the file go stale.
    """
    now = now or datetime.now(UTC)
    path = health_path(config)
    ok = is_success(facts)
    previous = read_health(path)
    last_success = now if ok else (previous.last_success_at if previous else None)
    health = Health(now, ok, last_success, facts, os.getpid())
    data = json.dumps(health.to_json(), indent=2, sort_keys=True).encode() + b"\n"
    try:
        from kanalwerk.publish.files import write_atomic

        write_atomic(path, data)
    except (OSError, KanalwerkError) as exc:
        log.error("cannot write the health file %s: %s", path, exc)
    return health
