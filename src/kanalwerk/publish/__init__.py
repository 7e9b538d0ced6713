"""Publishing: the feeds, the site and its stylesheet, written atomically into `output`.

The pages come from `feeds.feed_pages` and `sitepages.site_pages`. A page whose key equals
the one written last time (and whose file is still there) is not rendered at all; every
other page goes through `write_atomic`, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kanalwerk.errors import PublishError
from kanalwerk.publish.feeds import feed_pages
from kanalwerk.publish.files import remove_stale_temp_files, write_atomic
from kanalwerk.publish.opmlpages import opml_pages
from kanalwerk.publish.pages import Library, Page
from kanalwerk.publish.sitepages import site_pages

__all__ = ["PublishResult", "plan", "publish"]

_SAFE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,150}$")


@dataclass(frozen=True)
class PublishResult:
    written: list[Path]
    unchanged: int
    keys: dict[str, str] = field(default_factory=dict)  # path → key of every page now out


def _check_slugs(library: Library) -> None:
    for entry in library.entries:
        if not _SAFE_SLUG.match(entry.slug):
            raise PublishError(
                f"article {entry.entry_id} has an unusable slug {entry.slug!r}; "
                "slugs may only contain a-z, 0-9 and '-' (compose the article again)"
            )


def plan(library: Library) -> list[Page]:
    """Every file of the output, article pages before the lists and feeds that link them."""
    _check_slugs(library)
    unique: dict[str, Page] = {}
    for page in site_pages(library) + feed_pages(library) + opml_pages(library):
        unique.setdefault(page.path, page)  # two articles with one slug: the newest wins
    return sorted(unique.values(), key=lambda p: "/" not in p.path)


def publish(
    library: Library, output: Path, *, previous: Mapping[str, str] | None = None
) -> PublishResult:
    """Write every page whose key differs from `previous` (or whose file is gone)."""
    previous = previous or {}
    pages = plan(library)
    written: list[Path] = []
    unchanged = 0
    try:
        folders = {(output / page.path).parent for page in pages} | {output}
        for folder in sorted(folders):
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(folder)
        for page in pages:
            path = output / page.path
            if previous.get(page.path) == page.key and path.is_file():
                unchanged += 1
            elif write_atomic(path, page.render()):
                written.append(path)
            else:
                unchanged += 1
    except OSError as exc:
        raise PublishError(
            f"cannot write the site to {output}: {exc.strerror or exc}; "
            "check that the output folder exists, is writable and has free space"
        ) from exc
    return PublishResult(written, unchanged, {page.path: page.key for page in pages})
