"""Fallback chain: try engines in order, skipping any that is out of budget or quota.

An engine that reports an exhausted quota or budget is suspended until the time it
names (the next UTC day), so later items go straight to the next engine instead of
asking again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from kanalwerk.errors import TranslationError
from kanalwerk.translate.base import Translation, TranslationRequest, Translator

log = logging.getLogger(__name__)

EngineFactory = Callable[[], Translator]


class ChainTranslator:
    """A `Translator` over several engines; the result names the engine that answered."""

    def __init__(
        self,
        engines: Sequence[tuple[str, EngineFactory]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        if not engines:
            raise ValueError("a chain needs at least one engine")
        self._factories = list(engines)
        self._built: dict[str, Translator] = {}
        self._suspended: dict[str, datetime] = {}
        self._broken: dict[str, str] = {}
        self._clock = clock
        self._last: Translator | None = None

    @property
    def engine(self) -> str:
        return self._last.engine if self._last else self._factories[0][0]

    @property
    def model(self) -> str | None:
        return self._last.model if self._last else None

    def suspended(self) -> dict[str, datetime]:
        now = self._clock()
        return {name: until for name, until in self._suspended.items() if until > now}

    def _engine(self, name: str, factory: EngineFactory) -> Translator:
        if name not in self._built:
            self._built[name] = factory()
        return self._built[name]

    def translate(self, request: TranslationRequest) -> Translation:
        """First engine that answers wins.

        The final error is retryable unless every engine rejected this very request
        (say, a 400 for its content): an outage, a bad key or a spent quota must leave
        the item queued, not count against it.
        """
        failures: list[str] = []
        item_specific = True
        now = self._clock()
        for name, factory in self._factories:
            until = self._suspended.get(name)
            if until is not None and until > now:
                failures.append(f"{name}: suspended until {until:%Y-%m-%d %H:%M} UTC")
                item_specific = False
                continue
            if name in self._broken:
                failures.append(f"{name}: {self._broken[name]}")
                item_specific = False
                continue
            try:
                engine = self._engine(name, factory)
            except TranslationError as exc:
                # Building failed (missing key, model not installable): won't heal this run.
                self._broken[name] = str(exc)
                log.error("%s: %s", name, exc)
                failures.append(f"{name}: {exc}")
                item_specific = False
                continue
            try:
                result = engine.translate(request)
            except TranslationError as exc:
                until = getattr(exc, "until", None)
                if isinstance(until, datetime):
                    self._suspended[name] = until
                    log.warning("%s; using the next engine until %s", exc, f"{until:%Y-%m-%d}")
                elif exc.status in (401, 402, 403):
                    self._broken[name] = str(exc)
                    log.error("%s: %s", name, exc)
                else:
                    log.warning("%s failed: %s", name, exc)
                if exc.retryable or until is not None or exc.status in (401, 402, 403):
                    item_specific = False
                failures.append(f"{name}: {exc}")
                continue
            self._last = engine
            return result
        raise TranslationError(
            "every translation engine failed: " + "; ".join(failures),
            retryable=not item_specific,
        )

    def close(self) -> None:
        for engine in self._built.values():
            engine.close()
        self._built.clear()
