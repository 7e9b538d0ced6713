"""One exception root, so callers can catch everything kanalwerk raises on purpose."""

from __future__ import annotations

from datetime import datetime


class KanalwerkError(Exception):
    """Base of every error kanalwerk raises deliberately."""


class ConfigError(KanalwerkError):
    """`feeds.yaml` is missing, unreadable or invalid; the message names file, line and key."""


class FetchError(KanalwerkError):
    """A channel's feed could not be downloaded."""


class ParseError(KanalwerkError):
    """A feed body yielded no entries."""


class StoreError(KanalwerkError):
    """The store could not be opened or migrated."""


class TranslationError(KanalwerkError):
    """A translation engine failed; the item stays pending for a later cycle.

    `retryable` says whether a later attempt can succeed without the user acting
    (timeouts, 429, 5xx) or not (bad key, no credit, bad request).
    """

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class EngineResting(TranslationError):
    """The engine may not be asked again before `until` (a spent quota or daily budget).

    Expected, not a fault: the fallback chain suspends the engine until then and items
    wait or go to the next engine.
    """

    def __init__(self, message: str, *, until: datetime, status: int | None = None):
        super().__init__(message, retryable=True, status=status)
        self.until = until


class TranslationDeferred(TranslationError):
    """No engine can translate this item now, through no fault of the item.

    Say the item is French and no French model is installed or offered. The item stays
    queued without counting a failed attempt, and the cycle goes on with the next item:
    other items (English ones) may well be translatable. The message says what is
    missing and how to fix it. Not `retryable`: it heals only when the user acts.
    """

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class PublishError(KanalwerkError):
    """Output files could not be written."""


class DuplicateKey(ConfigError):
    """A mapping in the config file names a key twice (YAML would keep the last silently)."""

    def __init__(self, path: tuple[object, ...], line: int, first: int) -> None:
        super().__init__(f"duplicate key (first at line {first})")
        self.path, self.line, self.first = path, line, first


class NotInStore(StoreError):
    """The store holds no channel or item with the id a caller named."""
