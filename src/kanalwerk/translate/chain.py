"""Fallback chain: try engines in order, skipping any that is suspended or broken.

An engine whose error names a time (`until`: a spent quota or budget, a long
`Retry-After`) is suspended until then, so later items go straight to the next engine
instead of asking again. Suspensions are kept in the store, so a restarted daemon does not ask a
spent engine again either, and `kanalwerk status` can show them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from kanalwerk.dates import as_utc
from kanalwerk.errors import Blame, EnginesResting, TranslationDeferred, TranslationError
from kanalwerk.translate.base import Translation, TranslationRequest, Translator

log = logging.getLogger(__name__)

EngineFactory = Callable[[], Translator]

#: Store meta key holding the suspensions as JSON: {engine: {"until": iso, "reason": …}}.
SUSPENSIONS_KEY = "translator_suspensions"


class MetaStore(Protocol):
    """The part of the store suspensions are kept in."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Suspension:
    """An engine skipped until `until` (UTC), and why."""

    until: datetime
    reason: str


def load_suspensions(store: MetaStore, now: datetime) -> dict[str, Suspension]:
    """Suspensions still in force at `now`; unreadable entries are ignored, not fatal."""
    raw = store.get_meta(SUSPENSIONS_KEY)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    found: dict[str, Suspension] = {}
    for name, entry in data.items() if isinstance(data, dict) else ():
        try:
            until = datetime.fromisoformat(entry["until"])
            reason = str(entry.get("reason", ""))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        until = as_utc(until)
        if until > now:
            found[name] = Suspension(until, reason)
    return found


def save_suspensions(store: MetaStore, suspensions: Mapping[str, Suspension]) -> None:
    data = {
        name: {"until": s.until.astimezone(UTC).isoformat(), "reason": s.reason}
        for name, s in sorted(suspensions.items())
    }
    store.set_meta(SUSPENSIONS_KEY, json.dumps(data, ensure_ascii=False))


class ChainTranslator:
    """A `Translator` over several engines; the result names the engine that answered.

    With a `store`, suspensions are read from it at start and written to it as they
    happen. A broken engine (bad key, model missing) is only remembered for this run:
    the user may have fixed it before the next start.
    """

    def __init__(
        self,
        engines: Sequence[tuple[str, EngineFactory]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        store: MetaStore | None = None,
    ):
        if not engines:
            raise ValueError("a chain needs at least one engine")
        self._factories = list(engines)
        self._built: dict[str, Translator] = {}
        self._store = store
        self._suspensions: dict[str, Suspension] = (
            load_suspensions(store, clock()) if store is not None else {}
        )
        self._broken: dict[str, str] = {}
        self._clock = clock
        self._last: Translator | None = None

    @property
    def engine(self) -> str:
        return self._last.engine if self._last else self._factories[0][0]

    @property
    def model(self) -> str | None:
        return self._last.model if self._last else None

    def _suspend(self, name: str, until: datetime, reason: str) -> None:
        now = self._clock()
        self._suspensions = {
            n: s for n, s in self._suspensions.items() if s.until > now and n != name
        }
        self._suspensions[name] = Suspension(until, reason)
        if self._store is not None:
            save_suspensions(self._store, self._suspensions)

    def _engine(self, name: str, factory: EngineFactory) -> Translator:
        if name not in self._built:
            self._built[name] = factory()
        return self._built[name]

    def translate(self, request: TranslationRequest) -> Translation:
        """First engine that answers wins.

        What each failure means was decided where it was raised (`Blame`, `until`):
        any error with `until` suspends its engine until then, an `ENGINE` one stops
        asking that engine for this run. The final error is the item's (`ITEM`) only
        when every engine rejected this very request; an outage, a bad key or a spent
        quota leaves the item queued. When an engine cannot take the request now
        (`TranslationDeferred`: no model for its language) and no other engine
        translated it, the error is a `TranslationDeferred` too: the item waits while
        the rest of the queue goes on.
        """
        failures: list[str] = []
        deferred: list[str] = []
        resting: list[datetime] = []  # engines suspended, and until when
        blames: list[Blame] = []
        asked: list[str] = []  # engines that answered with an error
        now = self._clock()
        for name, factory in self._factories:
            suspension = self._suspensions.get(name)
            if suspension is not None and suspension.until > now:
                failures.append(f"{name}: suspended until {suspension.until:%Y-%m-%d %H:%M} UTC")
                resting.append(suspension.until)
                blames.append(Blame.ENGINE)
                continue
            if name in self._broken:
                failures.append(f"{name}: {self._broken[name]}")
                blames.append(Blame.ENGINE)
                continue
            try:
                engine = self._engine(name, factory)
            except TranslationError as exc:
                # Building failed (missing key, model not installable): won't heal this run.
                self._broken[name] = str(exc)
                log.error("%s", _labelled(name, exc))
                failures.append(_labelled(name, exc))
                blames.append(Blame.ENGINE)
                continue
            try:
                result = engine.translate(request)
            except TranslationDeferred as exc:
                log.debug("%s cannot take the request now: %s", name, exc)
                deferred.append(str(exc))
                failures.append(_labelled(name, exc))
                continue
            except TranslationError as exc:
                self._note_failure(name, exc)
                if exc.until is not None:
                    resting.append(exc.until)
                blames.append(exc.blame)
                asked.append(name)
                failures.append(_labelled(name, exc))
                continue
            self._last = engine
            return result
        if deferred:
            if len(self._factories) == 1:
                raise TranslationDeferred(
                    f"{deferred[0]}; or add a fallback engine for it under "
                    "translator.fallback in feeds.yaml"
                )
            raise TranslationDeferred(
                "no translation engine can take this now: " + "; ".join(failures)
            )
        if len(resting) == len(self._factories):
            raise EnginesResting(
                "every translation engine is out of budget or quota or asked to wait: "
                + "; ".join(failures),
                until=min(resting),
            )
        raise TranslationError(
            "every translation engine failed: " + "; ".join(failures),
            blame=_overall(blames),
            engine=", ".join(asked) or None,
        )

    def _note_failure(self, name: str, exc: TranslationError) -> None:
        """Suspend an engine whose error says until when, stop asking a broken one."""
        if exc.until is not None:
            self._suspend(name, exc.until, str(exc))
            others = [n for n, _ in self._factories if n != name]
            then = "the next engine is used" if others else "items wait"
            log.warning(
                "%s; %s until %s UTC", _labelled(name, exc), then, f"{exc.until:%Y-%m-%d %H:%M}"
            )
        elif exc.blame is Blame.ENGINE:
            self._broken[name] = str(exc)
            log.error("%s", _labelled(name, exc))
        else:
            log.warning("failed: %s", _labelled(name, exc))

    def close(self) -> None:
        for engine in self._built.values():
            engine.close()
        self._built.clear()


def _overall(blames: Sequence[Blame]) -> Blame:
    """The item's fault only if every engine blamed it; an outage before an engine fault."""
    if all(blame is Blame.ITEM for blame in blames):
        return Blame.ITEM
    return Blame.TRANSIENT if Blame.TRANSIENT in blames else Blame.ENGINE


def _labelled(name: str, exc: Exception) -> str:
    """`name: message`, without doubling a name the message already starts with."""
    message = str(exc)
    return message if message.startswith(f"{name}:") else f"{name}: {message}"
