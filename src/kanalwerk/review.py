"""Editorial decisions: list and show drafts, approve or reject them, unpublish articles.

Ids are item ids, as `kanalwerk pending` lists them. A decision is one store transaction:
every id must suit it, or nothing changes. Approving only changes state; the next cycle
publishes. Unpublishing writes the output at once, so the article leaves the feeds now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kanalwerk.config import Config
from kanalwerk.errors import NoStoreYet, NotInStore, WrongState
from kanalwerk.models import Article
from kanalwerk.pipeline import Pipeline
from kanalwerk.publish import PublishResult
from kanalwerk.store import Store


@dataclass(frozen=True)
class Decision:
    """What a command does: the state it moves articles to, from the states it accepts."""

    verb: str
    to: str
    accepts: tuple[str, ...]


APPROVE = Decision("approve", "translated", ("draft", "rejected"))
REJECT = Decision("reject", "rejected", ("draft",))
UNPUBLISH = Decision("unpublish", "removed", ("translated", "published"))

#: Why a state does not suit a decision, and what to do instead ({id} is filled in).
_INSTEAD = {
    ("approve", "published"): "it is published already",
    ("approve", "removed"): "it was unpublished, and unpublished articles do not come back",
    ("reject", "translated"): "it was approved already; `kanalwerk unpublish {id}` removes it",
    ("reject", "published"): "it is published; `kanalwerk unpublish {id}` removes it",
    ("reject", "removed"): "it was unpublished already",
    ("unpublish", "draft"): "it is a draft, not published; `kanalwerk reject {id}` drops it",
    ("unpublish", "rejected"): "it was rejected and is not published",
}


def _checker(decision: Decision, ids: Sequence[int]) -> Callable[[Mapping[int, str]], None]:
    def check(states: Mapping[int, str]) -> None:
        unknown = [i for i in ids if i not in states]
        if unknown:
            raise NotInStore(
                f"no article with id {', '.join(map(str, unknown))}; nothing was changed "
                "(`kanalwerk pending` lists the drafts' ids)"
            )
        for i in ids:
            state = states[i]
            if state != decision.to and state not in decision.accepts:
                reason = _INSTEAD.get((decision.verb, state), f"it is {state}")
                raise WrongState(
                    f"cannot {decision.verb} {i}: {reason.format(id=i)}; nothing was changed"
                )

    return check


def _open(config: Config) -> Store:
    try:
        return Store.open(config.store, create=False)
    except NoStoreYet as exc:
        raise NotInStore(f"{exc}: no article has been made yet; nothing was changed") from exc


def decide(config: Config, decision: Decision, ids: Sequence[int]) -> list[int]:
    """Apply `decision` to every id or to none; return the ids whose state changed."""
    with _open(config) as store:
        return _decide(store, decision, ids)


def _decide(store: Store, decision: Decision, ids: Sequence[int]) -> list[int]:
    check = _checker(decision, ids)
    before = store.change_article_states(ids, decision.to, check)
    return [i for i in dict.fromkeys(ids) if before[i] != decision.to]


def drafts(config: Config) -> list[Article]:
    """The drafts waiting for review, newest first; none before anything was stored."""
    with Store.existing(config.store) as store:
        return [] if store is None else store.drafts()


def article(config: Config, item_id: int) -> tuple[Article, str]:
    """The item's article in any state, with that state."""
    with _open(config) as store:
        found = store.article(item_id)
    if found is None:
        raise NotInStore(f"no article with id {item_id} (`kanalwerk pending` lists the drafts)")
    return found


def unpublish(
    config: Config, ids: Sequence[int], *, publish: bool = True
) -> tuple[list[int], PublishResult | None]:
    """Remove the articles from the site and feeds; their pages become a notice.

    With `publish` (the caller holds the store's lock) at once; else a running daemon
    does it at its next round.
    """
    with _open(config) as store:
        changed = _decide(store, UNPUBLISH, ids)
        if not publish:
            return changed, None
        with Pipeline(config, store) as pipeline:
            return changed, pipeline.publish()
