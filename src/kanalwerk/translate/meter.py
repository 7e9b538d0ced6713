"""Usage accounting and daily budgets around one engine.

It sits inside the cache (cache → meter → engine), so only text that is really sent is
counted and checked against the budget: cache hits are free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Protocol

from kanalwerk.dates import next_utc_midnight
from kanalwerk.errors import Blame, BudgetExhausted, TranslationError
from kanalwerk.models import Usage
from kanalwerk.translate.base import (
    Translation,
    TranslationRequest,
    Translator,
    TranslatorWrapper,
)

log = logging.getLogger(__name__)


class UsageStore(Protocol):
    def add_usage(
        self, engine: str, model: str | None, usage: Usage, day: date | None = None
    ) -> None: ...

    def usage_for(self, day: date, engine: str | None = None) -> Usage: ...


class Meter:
    """An engine's usage per day, against its daily caps.

    Shared by translation (`MeteredTranslator`) and article mode, so one budget caps both
    alike and an article answer rejected by validation still counts.
    """

    def __init__(
        self,
        usage: UsageStore,
        *,
        daily_characters: int | None = None,
        daily_tokens: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.usage = usage
        self.daily_characters = daily_characters
        self.daily_tokens = daily_tokens
        self.clock = clock

    def check(
        self, engine: str, characters: int, now: datetime | None = None, *, needed_for: str = ""
    ) -> None:
        """Raise `BudgetExhausted` when `characters` more do not fit into what is left today.

        `needed_for` says in the message what the characters are for (" for an article").
        """
        if self.daily_characters is None and self.daily_tokens is None:
            return
        now = now or self.clock()
        spent = self.usage.usage_for(now.date(), engine)
        if (
            self.daily_characters is not None
            and spent.characters + characters > self.daily_characters
        ):
            raise BudgetExhausted(
                f"{engine}: daily budget of {self.daily_characters:,} characters reached "
                f"({spent.characters:,} used, {characters:,} more needed{needed_for}); "
                "skipped until tomorrow",
                until=next_utc_midnight(now),
            )
        tokens = spent.prompt_tokens + spent.completion_tokens
        if self.daily_tokens is not None and tokens >= self.daily_tokens:
            raise BudgetExhausted(
                f"{engine}: daily budget of {self.daily_tokens:,} tokens reached "
                f"({tokens:,} used); skipped until tomorrow",
                until=next_utc_midnight(now),
            )

    def record(
        self, engine: str, model: str | None, usage: Usage, now: datetime | None = None
    ) -> None:
        self.usage.add_usage(engine, model, usage, (now or self.clock()).date())


class MeteredTranslator(TranslatorWrapper):
    """Records every request's usage per day and refuses work beyond the daily caps."""

    def __init__(
        self,
        inner: Translator,
        usage: UsageStore,
        *,
        daily_characters: int | None = None,
        daily_tokens: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__(inner)
        self._meter = Meter(
            usage, daily_characters=daily_characters, daily_tokens=daily_tokens, clock=clock
        )

    def _check_budget(self, request: TranslationRequest, now: datetime) -> None:
        """Raise `BudgetExhausted` when the request does not fit into what is left today.

        A request larger than the whole daily budget fits on no day: suspending the
        engine for it would stop everything queued behind it, every day. It fails as
        this item's own error instead (`Blame.ITEM`), so the chain tries the next
        engine and, without one, the item counts an attempt while the rest goes on.
        A budget of 0 switches the engine off: it is suspended as for a spent budget.
        """
        wanted = sum(len(t) for t in request.texts)
        limit = self._meter.daily_characters
        if limit and wanted > limit:
            raise TranslationError(
                f"{self.engine}: this request has {wanted:,} characters, more than the daily "
                f"budget of {limit:,}; raise translator.budget for "
                f"{self.engine} in feeds.yaml or add a fallback engine",
                blame=Blame.ITEM,
            )
        self._meter.check(self.engine, wanted, now)

    def translate(self, request: TranslationRequest) -> Translation:
        now = self._meter.clock()
        self._check_budget(request, now)
        result = self._inner.translate(request)
        self._meter.record(result.engine, result.model, result.usage, now)
        return result
