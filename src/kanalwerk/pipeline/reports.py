"""What a poll, a translate step and a whole cycle did: the counts callers report.

The daemon and the command line read them, and `round_facts` turns them into the health
file's counts; they live apart from the stages so that reading them imports no stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from kanalwerk.health import RoundFacts

if TYPE_CHECKING:
    from kanalwerk.publish import PublishResult


@dataclass(frozen=True)
class ChannelOutcome:
    channel_id: str
    name: str
    status: int | None
    new_items: int = 0  # stored to be translated
    not_modified: bool = False
    error: str | None = None
    warning: str | None = None
    waiting_until: datetime | None = None  # skipped: the server's Retry-After has not passed
    disabled: str | None = None  # not polled, or no longer: why, e.g. "410 Gone on 2026-01-02"
    notes: tuple[str, ...] = ()  # logged as warnings, e.g. an item cut to size
    skipped: int = 0  # new items selection skipped (see `kanalwerk items --skipped`)
    held: int = 0  # premieres and live streams waiting to air


@dataclass(frozen=True)
class PollReport:
    outcomes: tuple[ChannelOutcome, ...]

    @property
    def new_items(self) -> int:
        return sum(o.new_items for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.error)

    @property
    def succeeded(self) -> int:
        return sum(1 for o in self.outcomes if not o.error)


@dataclass(frozen=True)
class TranslateReport:
    translated: int = 0
    failed: int = 0
    pending: int = 0
    stopped_reason: str | None = None  # set when the engine was unusable this cycle
    errors: tuple[str, ...] = field(default=())
    deferred: tuple[tuple[str, int], ...] = ()  # reason → items no engine could take now


@dataclass(frozen=True)
class CycleReport:
    poll: PollReport
    translate: TranslateReport
    published: PublishResult | None


def round_facts(
    poll: PollReport | None,
    translate: TranslateReport | None,
    files_written: int = 0,
    error: str | None = None,
) -> RoundFacts:
    """The counts the health file keeps of a round, from what its steps reported."""
    return RoundFacts(
        channels=len(poll.outcomes) if poll is not None else 0,
        fetched=poll.succeeded if poll is not None else 0,
        failed=poll.failed if poll is not None else 0,
        new_items=poll.new_items if poll is not None else 0,
        translated=translate.translated if translate is not None else 0,
        waiting=translate.pending if translate is not None else 0,
        files_written=files_written,
        error=error,
    )
