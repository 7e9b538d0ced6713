"""The publish step: write the site and feeds from the store, only the pages that changed.

The store keeps the key of every page written, so a quiet cycle writes nothing.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from kanalwerk.config import Config
from kanalwerk.publish import PublishResult, WorkerSetup, publish
from kanalwerk.publish.library import StoreLibrary
from kanalwerk.store import Store, article_loader

#: The stages log as the pipeline: a JSON log line without an event names it.
log = logging.getLogger("kanalwerk.pipeline")


def _publish_site(config: Config, store: Store, *, force: bool = False) -> PublishResult | None:
    """Write the pages whose content changed since last time; None when no file changed.

    The store remembers the key of every page written, so a quiet cycle renders nothing
    and writes nothing; a file missing from the output folder (deleted by hand, say) is
    written again, and files of pages no longer published are removed. The keys are
    recorded after the files: a crash in between only renders the same bytes again.
    """
    if store.publish_requested():
        store.clear_publish_request()  # before reading: a request made meanwhile stays
    store.refresh_sanitized()  # bodies of an older sanitizer policy, cleaned and kept
    site = config.site.info()
    library = StoreLibrary(store, site, [c.id for c in config.channels])
    previous = store.published_pages()
    output = Path(config.output)
    workers = WorkerSetup(partial(article_loader, config.store), site, output)
    result = publish(library, output, previous=previous, force=force, workers=workers)
    store.record_published_pages(
        result.rendered, [path for path in previous if path not in result.keys]
    )
    store.mark_published(sorted(library.unpublished))
    if not result.written and not result.removed and not force:
        return None
    log.info(
        "published %d article(s) to %s: %d file(s) written, %d removed, %d unchanged",
        len(library.entries),
        config.output,
        len(result.written),
        len(result.removed),
        result.unchanged,
    )
    return result
