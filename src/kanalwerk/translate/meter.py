"""Usage accounting and daily budgets around one engine.

It sits inside the cache (cache → meter → engine), so only text that is really sent is
counted and checked against the budget: cache hits are free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from kanalwerk.errors import TranslationError
from kanalwerk.translate.base import Translation, TranslationRequest, Translator, Usage

log = logging.getLogger(__name__)


class UsageStore(Protocol):
    def add_usage(
        self, engine: str, model: str | None, usage: Usage, day: date | None = None
    ) -> None: ...

    def usage_for(self, day: date, engine: str | None = None) -> Usage: ...


class BudgetExhausted(TranslationError):
    """The engine's daily cap is reached; it is skipped until `until` (next UTC midnight)."""

    def __init__(self, message: str, *, until: datetime):
        super().__init__(message, retryable=True)
        self.until = until


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)


class MeteredTranslator:
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
        self._inner = inner
        self._usage = usage
        self._daily_characters = daily_characters
        self._daily_tokens = daily_tokens
        self._clock = clock

    @property
    def engine(self) -> str:
        return self._inner.engine

    @property
    def model(self) -> str | None:
        return self._inner.model

    def _check_budget(self, request: TranslationRequest, now: datetime) -> None:
        if self._daily_characters is None and self._daily_tokens is None:
            return
        spent = self._usage.usage_for(now.date(), self.engine)
        wanted = sum(len(t) for t in request.texts)
        if (
            self._daily_characters is not None
            and spent.characters + wanted > self._daily_characters
        ):
            raise BudgetExhausted(
                f"{self.engine}: daily budget of {self._daily_characters:,} characters reached "
                f"({spent.characters:,} used, {wanted:,} more needed); skipped until tomorrow",
                until=next_midnight(now),
            )
        tokens = spent.prompt_tokens + spent.completion_tokens
        if self._daily_tokens is not None and tokens >= self._daily_tokens:
            raise BudgetExhausted(
                f"{self.engine}: daily budget of {self._daily_tokens:,} tokens reached "
                f"({tokens:,} used); skipped until tomorrow",
                until=next_midnight(now),
            )

    def translate(self, request: TranslationRequest) -> Translation:
        now = self._clock()
        self._check_budget(request, now)
        result = self._inner.translate(request)
        self._usage.add_usage(result.engine, result.model, result.usage, now.date())
        return result

    def close(self) -> None:
        self._inner.close()
