"""Publishing: the feeds, the site and its stylesheet, written atomically into `output`.

The pages come from `feeds.feed_pages` and `sitepages.site_pages`. A page whose key equals
the one written last time (and whose file is still there) is not rendered at all; every
other page goes through `write_atomic`, so a crash never leaves a half-written file. The
bodies the rendered pages need are loaded in batches, so memory stays bounded however
many articles the site holds. Files written by an earlier run whose page is no longer in
the plan are removed; nothing else in `output` is touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kanalwerk.errors import PublishError
from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.collector import collector_frozen, collector_paused
from kanalwerk.publish.feeds import feed_pages
from kanalwerk.publish.files import PageWriter, flush_to_disk, remove_file, scan_folder
from kanalwerk.publish.opmlpages import opml_pages
from kanalwerk.publish.pages import (
    ChannelInfo,
    Entry,
    Library,
    Page,
    layout_key,
    new_plan,
    same_objects,
)
from kanalwerk.publish.removed import removed_pages
from kanalwerk.publish.sitepages import site_pages
from kanalwerk.publish.workers import WorkerSetup, article_workers, shared_out

__all__ = ["PublishResult", "WorkerSetup", "plan", "publish"]

_SAFE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,150}$")
_SAFE_SLUGS = re.compile(r"(?:[a-z0-9][a-z0-9-]{0,150}\0)*")  # each slug ends with NUL

#: Article bodies loaded at once: bounds memory on big sites, keeps queries few.
BODY_BATCH = 500


@dataclass(frozen=True)
class PublishResult:
    written: list[Path]  # files whose bytes changed
    unchanged: int  # pages not rendered, or rendered to the bytes already there
    keys: dict[str, str] = field(default_factory=dict)  # path → key of every page now out
    rendered: dict[str, str] = field(default_factory=dict)  # path → key of the pages rendered
    removed: list[Path] = field(default_factory=list)  # files of pages no longer published


def _check_slugs(library: Library) -> None:
    if _SAFE_SLUGS.fullmatch("".join(f"{entry.slug}\0" for entry in library.entries)):
        return  # one match for every slug of a big site; the loop names the bad one
    for entry in library.entries:
        if not _SAFE_SLUG.match(entry.slug):
            raise PublishError(
                f"article {entry.entry_id} has an unusable slug {entry.slug!r}; "
                "slugs may only contain a-z, 0-9 and '-' (compose the article again)"
            )


@dataclass(frozen=True)
class _Planned:
    """A plan with what it was made of (pages hold no store: see `Page`)."""

    layout: str  # `layout_key`: the site, the templates, the sanitizer policy
    entries: Sequence[Entry]
    channels: tuple[ChannelInfo, ...]
    removed: tuple[str, ...]
    pages: list[Page]

    def holds(self, library: Library) -> bool:
        """Whether `library` would be planned as this: the same entries, by identity, as
        the store hands out while none changed (cheap at 10,000, unlike comparing them)."""
        return (
            self.layout == layout_key(library.site)
            and same_objects(self.entries, library.entries)
            and self.channels == tuple(library.channels)
            and self.removed == tuple(library.removed)
        )


_last_plan: _Planned | None = None


def plan(library: Library) -> list[Page]:
    """Every file of the output, pages in folders before the lists and feeds that link them.

    A library planned last time as it is now gets that plan again: a daemon's quiet
    cycle plans nothing. The list is shared: not the caller's to change.
    """
    global _last_plan
    if _last_plan is not None and _last_plan.holds(library):
        return _last_plan.pages
    new_plan()
    _check_slugs(library)
    unique: dict[str, Page] = {}
    pages = site_pages(library) + feed_pages(library) + opml_pages(library)
    for page in pages + removed_pages(library):
        unique.setdefault(page.path, page)  # two articles with one slug: the newest wins
    planned = sorted(unique.values(), key=lambda p: "/" not in p.path)
    _last_plan = _Planned(
        layout_key(library.site),
        tuple(library.entries),  # a copy: the caller's list may change
        tuple(library.channels),
        tuple(library.removed),
        planned,
    )
    return planned


class _Bodies:
    """The library as the pages see it, serving the bodies loaded for the current batch."""

    def __init__(self, library: Library) -> None:
        self._library = library
        self._loaded: dict[int, Article] = {}

    @property
    def site(self) -> SiteInfo:
        return self._library.site

    @property
    def entries(self) -> Sequence[Entry]:
        return self._library.entries

    @property
    def channels(self) -> Sequence[ChannelInfo]:
        return self._library.channels

    @property
    def removed(self) -> Sequence[str]:
        return self._library.removed

    def load(self, item_ids: Sequence[int]) -> None:
        loaded = self._library.articles(item_ids) if item_ids else []
        self._loaded = {a.item_id: a for a in loaded}

    def articles(self, item_ids: Sequence[int]) -> list[Article]:
        missing = [i for i in item_ids if i not in self._loaded]
        extra = {a.item_id: a for a in self._library.articles(missing)} if missing else {}
        found = [self._loaded.get(i) or extra.get(i) for i in item_ids]
        return [a for a in found if a is not None]


def _batches(pages: Sequence[Page]) -> Iterator[tuple[list[Page], list[int]]]:
    """`pages` in order, cut where their bodies would exceed `BODY_BATCH` articles."""
    batch: list[Page] = []
    needs: dict[int, None] = {}
    for page in pages:
        own = dict.fromkeys(page.needs)
        fresh = sum(1 for i in own if i not in needs)
        if batch and len(needs) + fresh > BODY_BATCH:
            yield batch, list(needs)
            batch, needs = [], {}
        batch.append(page)
        needs.update(own)
    if batch:
        yield batch, list(needs)


def _render(pages: Sequence[Page], bodies: _Bodies, output: Path, writer: PageWriter) -> None:
    """Render `pages` with their bodies loaded in batches, and hand them to `writer`."""
    for batch, needs in _batches(pages):
        bodies.load(needs)
        for page in batch:
            writer.write(output / page.path, page.render(bodies))
    bodies.load([])


def _our_file(output: Path, path: str) -> Path | None:
    """`output/path` for a path from the publisher's own records, if it is a plain one."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return output.joinpath(*parts)


def publish(
    library: Library,
    output: Path,
    *,
    previous: Mapping[str, str] | None = None,
    force: bool = False,
    workers: WorkerSetup | None = None,
) -> PublishResult:
    """Render and write every page whose key differs from `previous` or whose file is gone.

    `previous` maps the paths written last time to their keys; those no longer in the plan
    are deleted. With `force` every page is rendered (files keep their bytes if equal).
    With `workers`, thousands of article pages due are rendered by worker processes.
    """
    previous = previous or {}
    bodies = _Bodies(library)
    with collector_paused():
        pages = plan(bodies)
    with collector_frozen():
        return _write(bodies, pages, output, previous, force=force, workers=workers)


def _write(
    bodies: _Bodies,
    pages: list[Page],
    output: Path,
    previous: Mapping[str, str],
    *,
    force: bool,
    workers: WorkerSetup | None,
) -> PublishResult:
    removed: list[Path] = []
    try:
        present: set[str] = set()
        # "" is the output folder itself
        for folder in sorted({page.path.rpartition("/")[0] for page in pages} | {""}):
            directory = output / folder
            directory.mkdir(parents=True, exist_ok=True)
            prefix = f"{folder}/" if folder else ""
            present.update(prefix + name for name in scan_folder(directory))
        due = [
            page
            for page in pages
            if force or previous.get(page.path) != page.key or page.path not in present
        ]
        elsewhere = shared_out(due, workers)
        with article_workers(workers, elsewhere) as pool:
            here = due if pool is None else [page for page in due if page.job is None]
            # With workers, the publisher's pages wait until the article pages they link
            # are in place.
            with PageWriter(hold=pool is not None) as writer:
                _render(here, bodies, output, writer)
                written: list[Path] = []
                if pool is not None:
                    by_workers, left = pool.finish()
                    with PageWriter() as direct:  # what a failing worker left
                        _render(left, bodies, output, direct)
                    written = by_workers + direct.written
                    writer.commit()
                written += writer.written
        if written:
            flush_to_disk()  # before the caller records the keys of these pages
        planned = {page.path for page in pages}
        for old in previous:
            stale = _our_file(output, old) if old not in planned else None
            if stale is not None and remove_file(stale):
                removed.append(stale)
    except OSError as exc:
        raise PublishError(
            f"cannot write the site to {output}: {exc.strerror or exc}; "
            "check that the output folder exists, is writable and has free space"
        ) from exc
    return PublishResult(
        written,
        len(pages) - len(written),
        {page.path: page.key for page in pages},
        {page.path: page.key for page in due},
        removed,
    )
