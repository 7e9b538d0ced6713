"""Fallback chain: try engines in order, skipping any that is suspended or broken.

An engine whose error names a time (`until`: a spent quota or budget, a long
`Retry-After`) is suspended until then, so later items go straight to the next engine
instead of asking again. Suspensions are kept in the store (`Suspensions`), so a
restarted daemon does not ask a spent engine again either, and `kanalwerk status` can
show them; the article writer and the pipeline's failure streak suspend engines there too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kanalwerk.dates import as_utc
from kanalwerk.errors import Blame, TranslationDeferred, TranslationError
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


#: A suspect engine (items failing in a row) rests this long, doubling per trip, at most
#: `MAX_SUSPECT_PAUSE`; a change of the translator settings lifts it at once.
FIRST_SUSPECT_PAUSE = timedelta(hours=1)
MAX_SUSPECT_PAUSE = timedelta(days=1)


def _read(store: MetaStore | None, memory: dict[str, Any]) -> dict[str, Any]:
    if store is None:
        return dict(memory)
    raw = store.get_meta(SUSPENSIONS_KEY)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _parse(entry: Mapping[str, Any]) -> Suspension | None:
    try:
        until = as_utc(datetime.fromisoformat(entry["until"]))
        return Suspension(until, str(entry.get("reason", "")))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _made_under(entry: Mapping[str, Any], settings: str) -> bool:
    """Whether a pause holds under `settings`: a suspect engine's only under its own."""
    return bool(entry.get("settings", settings) == settings)


def settings_key(settings: str) -> str:
    """A short fingerprint of the translator settings a suspect engine was paused under."""
    return hashlib.sha256(settings.encode()).hexdigest()[:16]


class Suspensions:
    """Which engines rest until when, and why: one record, kept in the store.

    The chain, the article writer and the pipeline's failure streak all read and write
    it, so whichever of them learns that an engine must rest, none asks it again until
    then: not later in this cycle, not in the next one, not after a restart. `settings`
    (`settings_key` of the translator section) marks the pauses of a suspect engine:
    they end early when the settings change, since the user may have fixed them.
    """

    def __init__(
        self,
        store: MetaStore | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        settings: str = "",
    ):
        self._store = store
        self._clock = clock
        self._settings = settings
        self._memory: dict[str, Any] = {}  # without a store

    def _entries(self) -> dict[str, Any]:
        """Readable entries, without pauses made under other translator settings."""
        return {
            name: entry
            for name, entry in _read(self._store, self._memory).items()
            if _parse(entry) is not None and _made_under(entry, self._settings)
        }

    def _write(self, entries: Mapping[str, Any]) -> None:
        data = dict(sorted(entries.items()))
        if self._store is None:
            self._memory = data
        else:
            self._store.set_meta(SUSPENSIONS_KEY, json.dumps(data, ensure_ascii=False))

    def active(self) -> dict[str, Suspension]:
        now = self._clock()
        found = {name: _parse(entry) for name, entry in self._entries().items()}
        return {name: s for name, s in found.items() if s is not None and s.until > now}

    def get(self, name: str) -> Suspension | None:
        """The engine's suspension in force now, if any."""
        return self.active().get(name)

    def suspend(self, name: str, until: datetime, reason: str) -> None:
        """Rest `name` until `until` (the engine said so: quota, budget, Retry-After)."""
        entries = self._live()
        entries[name] = {"until": until.astimezone(UTC).isoformat(), "reason": reason}
        self._write(entries)

    def suspect(self, name: str, reason: str) -> Suspension:
        """Rest an engine that failed item after item: 1 h, doubling per trip, at most a day.

        The count of trips survives the pause, so an engine broken for good is asked
        rarely; it is forgotten when the engine translates again (`recovered`) or the
        translator settings change.
        """
        entries = self._live()
        trips = _trips(entries.get(name)) + 1
        pause = min(FIRST_SUSPECT_PAUSE * 2 ** (trips - 1), MAX_SUSPECT_PAUSE)
        until = self._clock() + pause
        text = f"{reason}; paused for {_hours(pause)} or until the translator settings change"
        entries[name] = {
            "until": until.astimezone(UTC).isoformat(),
            "reason": text,
            "trips": trips,
            "settings": self._settings,
        }
        self._write(entries)
        return Suspension(until, text)

    def recovered(self, name: str) -> None:
        """The engine translated again: forget the trips counted against it."""
        entries = self._live()
        entry = entries.get(name)
        if entry is None or not _trips(entry):
            return
        suspension = _parse(entry)
        if suspension is None or suspension.until <= self._clock():
            del entries[name]
            self._write(entries)

    def forget_stale(self) -> None:
        """Drop pauses made under other translator settings, so `status` stops showing them."""
        raw = _read(self._store, self._memory)
        kept = self._entries()
        if kept.keys() != raw.keys():
            self._write(kept)

    def _live(self) -> dict[str, Any]:
        """Entries worth keeping: in force, or counting trips of a suspect engine."""
        now = self._clock()
        return {
            name: entry
            for name, entry in self._entries().items()
            if _trips(entry) or ((s := _parse(entry)) is not None and s.until > now)
        }


def _trips(entry: Any) -> int:
    trips = entry.get("trips") if isinstance(entry, dict) else None
    return trips if isinstance(trips, int) and trips > 0 else 0


def _hours(pause: timedelta) -> str:
    hours = pause.total_seconds() / 3600
    return f"{hours:g} h"


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
        settings: str = "",
    ):
        if not engines:
            raise ValueError("a chain needs at least one engine")
        self._factories = list(engines)
        self._built: dict[str, Translator] = {}
        self._suspensions = Suspensions(store, clock=clock, settings=settings)
        self._broken: dict[str, str] = {}
        self._last: Translator | None = None

    @property
    def engine(self) -> str:
        return self._last.engine if self._last else self._factories[0][0]

    @property
    def model(self) -> str | None:
        return self._last.model if self._last else None

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
        statuses: set[int | None] = set()  # their HTTP statuses
        resting_now = self._suspensions.active()
        for name, factory in self._factories:
            suspension = resting_now.get(name)
            if suspension is not None:
                why = f" ({suspension.reason})" if suspension.reason else ""
                failures.append(
                    f"{name}: suspended until {suspension.until:%Y-%m-%d %H:%M} UTC{why}"
                )
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
                statuses.add(exc.status)
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
            # Expected, not a fault: the items wait until the first engine may be asked.
            raise TranslationError(
                "every translation engine is out of budget or quota or asked to wait: "
                + "; ".join(failures),
                blame=Blame.ENGINE,
                until=min(resting),
            )
        raise TranslationError(
            "every translation engine failed: " + "; ".join(failures),
            blame=_overall(blames),
            engine=", ".join(asked) or None,
            status=statuses.pop() if len(statuses) == 1 else None,  # one status all said
        )

    def _note_failure(self, name: str, exc: TranslationError) -> None:
        """Suspend an engine whose error says until when, stop asking a broken one."""
        if exc.until is not None:
            self._suspensions.suspend(name, exc.until, str(exc))
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
