"""One exception root, so callers can catch everything kanalwerk raises on purpose.

Every module may import this one, so it imports nothing of kanalwerk.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum


class KanalwerkError(Exception):
    """Base of every error kanalwerk raises deliberately."""


class ConfigError(KanalwerkError):
    """`feeds.yaml` is missing, unreadable or invalid; the message names file, line and key."""


class FetchError(KanalwerkError):
    """A channel's feed could not be downloaded."""


class PrivateAddressRefused(FetchError):
    """A URL from a feed leads to a private address and was not connected to.

    `address` is the resolved address that made it private (None for `localhost`
    names), for the message fetch builds around it.
    """

    def __init__(self, host: str, address: str | None) -> None:
        at = f" ({address})" if address is not None and address != host else ""
        super().__init__(f"{host}{at} is a private or loopback address")
        self.host = host
        self.address = address


class ParseError(KanalwerkError):
    """A feed body yielded no entries."""


class StoreError(KanalwerkError):
    """The store could not be opened or migrated."""


class Blame(Enum):
    """Whose failure a translation error is; decided where the error is raised.

    - `ITEM`: this item caused it (a bad answer for its text, a request too large):
      an attempt counts against the item, the queue goes on with the next one.
    - `ENGINE`: the engine is unusable (bad key, no credit, spent quota): it is not
      asked again this run (or until `until`); items wait, no attempt counted.
    - `TRANSIENT`: an outage, a timeout, a rate limit, or a server error on this one
      item: items wait, no attempt counted. A rate limit ends the translate step; any
      other is told by another item: a second one in a row is an outage and ends the
      step, while the engine translating another item makes it the item's failure,
      and an attempt counts.
    """

    ITEM = "item"
    ENGINE = "engine"
    TRANSIENT = "transient"


class TranslationError(KanalwerkError):
    """A translation engine failed; `blame` says whose failure it is (see `Blame`).

    `until`, when set, is when the engine may be asked again: whatever the blame, the
    fallback chain suspends the engine until then. `status` is the HTTP status, if any.
    `engine` names the engine(s) whose verdict it is, where that is known (the chain
    names the engines that blamed the item), so that one engine failing item after
    item can be told from items that fail.
    """

    def __init__(
        self,
        message: str,
        *,
        blame: Blame,
        until: datetime | None = None,
        status: int | None = None,
        engine: str | None = None,
    ):
        super().__init__(message)
        self.blame = blame
        self.until = until
        self.status = status
        self.engine = engine


class RetryLater(TranslationError):
    """The server asked us to wait (`Retry-After`) longer than a cycle should block."""

    def __init__(self, message: str, *, until: datetime, status: int | None = None):
        super().__init__(message, blame=Blame.TRANSIENT, until=until, status=status)


class QuotaExceeded(TranslationError):
    """The engine's account quota is spent (DeepL's 456) until `until`."""

    def __init__(self, message: str, *, until: datetime, status: int | None = None):
        super().__init__(message, blame=Blame.ENGINE, until=until, status=status)


class BudgetExhausted(TranslationError):
    """The engine's daily budget in `feeds.yaml` is reached; it rests until `until`."""

    def __init__(self, message: str, *, until: datetime):
        super().__init__(message, blame=Blame.ENGINE, until=until)


class TranslationDeferred(TranslationError):
    """No engine can translate this item now, through no fault of the item.

    Say the item is French and no French model is installed or offered. The item stays
    queued without counting a failed attempt, and the cycle goes on with the next item:
    other items (English ones) may well be translatable. The message says what is
    missing and how to fix it. It heals only when the user acts.
    """

    def __init__(self, message: str):
        super().__init__(message, blame=Blame.TRANSIENT)


class ArticleInvalid(TranslationError):
    """The model's article broke the rules; `reason` says how. The item is translated instead.

    `spent` says what the failed attempts cost, for the log ("2 request(s), 1234 tokens");
    the writer has recorded that usage already, where it was spent.
    """

    def __init__(self, reason: str, *, message: str | None = None, spent: str = ""):
        super().__init__(message or reason, blame=Blame.ITEM)
        self.reason = reason
        self.spent = spent


class ModelDownloadFailed(TranslationError):
    """One link of an offline model package gave no valid file (HTTP error, size, checksum).

    The next link is tried; when none works, the local engine cannot run (`ENGINE`).
    """

    def __init__(self, message: str):
        super().__init__(message, blame=Blame.ENGINE)


class AlreadyRunning(KanalwerkError):
    """Another kanalwerk process holds the lock for this store."""


class PublishError(KanalwerkError):
    """Output files could not be written."""


class OpmlError(KanalwerkError):
    """An OPML file could not be read; the message names the file."""


class DiscoveryError(KanalwerkError):
    """`kanalwerk add` found no feed behind the URL it was given; the message says why."""


class TranscriptUnavailable(KanalwerkError):
    """An item's transcript could not be had; the message is the reason `items` shows.

    `blocked` is set when the service refuses this client as a whole (blocked address,
    too many requests): asking for the next video would only be refused too.
    """

    def __init__(self, message: str, *, blocked: bool = False) -> None:
        super().__init__(message)
        self.blocked = blocked


class DuplicateKey(ConfigError):
    """A mapping in the config file names a key twice (YAML would keep the last silently)."""

    def __init__(self, path: tuple[object, ...], line: int, first: int) -> None:
        super().__init__(f"duplicate key (first at line {first})")
        self.path, self.line, self.first = path, line, first


class NotInStore(StoreError):
    """The store holds no channel or item with the id a caller named."""


class WrongState(KanalwerkError):
    """An approve, reject or unpublish named an article its state does not allow it for."""


class NoStoreYet(StoreError):
    """The store's database does not exist yet, and the caller asked not to create it."""


class StoreNeedsMigration(StoreError):
    """The store's schema is older than this kanalwerk's, and the caller may not migrate it.

    Commands that only read (`status`) run without the lock, beside a daemon: migrating
    there would race the daemon, so they report the older schema instead.
    """


class StopRequested(BaseException):
    """SIGTERM asked the daemon to stop: raised in the main thread to leave the scheduler's
    loop, like `KeyboardInterrupt` for Ctrl-C, so no `except Exception` swallows it."""
