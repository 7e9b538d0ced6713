"""Each new item's best source text, chosen once, between storing and translating.

Sources are asked in order (what was said, then the linked page's full text); the first
with text wins. When none has any, the item keeps its own text (a video's description,
the feed's text) together with the reasons the better ones were missing, so `kanalwerk
items` can say why an article was made from less. The choice is stored with the item:
re-polls and later cycles never fetch it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kanalwerk.basis import own_kind
from kanalwerk.config import Config
from kanalwerk.fetch import FetchSettings
from kanalwerk.models import SourceText, StoredItem
from kanalwerk.sources.base import Candidate, Missing, Source
from kanalwerk.store import Store

__all__ = ["Candidate", "EnrichReport", "Missing", "Source", "build_sources", "enrich_pending"]

log = logging.getLogger(__name__)


def own_text(stored: StoredItem, reasons: Sequence[str] = ()) -> SourceText:
    """The item's own text: the video's description or the feed's text."""
    item = stored.item
    reason = "; ".join(reasons) or None
    return SourceText(own_kind(stored), item.content_html or item.summary_html, reason)


@dataclass(frozen=True)
class EnrichReport:
    """What one enrich step chose: items per source kind, and how many fell back."""

    kinds: Mapping[str, int]
    fell_back: int  # items where a source applied but had no text

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


def enrich_pending(
    config: Config,
    store: Store,
    sources: Sequence[Source],
    *,
    language: Callable[[StoredItem], str],
    limit: int | None = None,
) -> EnrichReport:
    """Give every stored item still waiting for translation its source text, once."""
    waiting = store.items_to_enrich(limit=limit)
    if not waiting:
        return EnrichReport({}, 0)
    channels = {c.id: c for c in config.channels}
    candidates = [
        Candidate(s, channels[s.channel_id], language(s))
        for s in waiting
        if s.channel_id in channels
    ]
    chosen: dict[int, SourceText] = {}
    reasons: dict[int, list[str]] = {}
    for source in sources:
        open_ = [c for c in candidates if c.stored.id not in chosen]
        if not open_:
            break
        for item_id, answer in source.find(open_).items():
            if isinstance(answer, Missing):
                reasons.setdefault(item_id, []).append(answer.reason)
            else:
                chosen[item_id] = answer
    kinds: dict[str, int] = {}
    fell_back = 0
    for c in candidates:
        item_id = c.stored.id
        text = chosen.get(item_id)
        if text is None:
            text = own_text(c.stored, reasons.get(item_id, ()))
            if text.reason:
                fell_back += 1
                log.info(
                    "%s: %r is made from its %s (%s)",
                    c.channel.name,
                    c.stored.item.title,
                    "description" if text.kind == "description" else "feed text",
                    text.reason,
                )
        chosen[item_id] = text
        kinds[text.kind] = kinds.get(text.kind, 0) + 1
    store.save_source_texts({c.stored.id: chosen[c.stored.id] for c in candidates})
    if candidates:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        log.info("source texts chosen for %d item(s): %s", len(candidates), counts)
    return EnrichReport(kinds, fell_back)


def build_sources(config: Config, settings: FetchSettings) -> list[Source]:
    """The sources, best first; each applies only where its channel wants it.

    Imported here: commands that never enrich (status, items, publish) need not load what
    the sources load (the full-text one alone takes about 0.4 s to import).
    """
    from kanalwerk.sources.fulltext import FullTextSource
    from kanalwerk.sources.transcripts import TranscriptSource

    return [TranscriptSource(settings), FullTextSource(settings)]
