"""Article pages rendered by other processes: a full publish of a big site on every core.

Rendering is Python holding the GIL, so threads cannot share it out; processes can. When
thousands of article pages are due (a first publish, a template change, `kanalwerk
publish`), they go in chunks to a pool of worker processes. Each worker opens the store
itself, loads its chunk's bodies, renders and writes the pages atomically, and answers
with the paths whose bytes changed; meanwhile the publisher renders the lists and feeds.
A page is written by exactly one process, so nothing is written twice.

Workers are spawned (fresh interpreters, not copies of a daemon with threads, and
children of the publisher, so they notice when it is killed); where none can start (no
`/dev/shm` in some containers), or a worker
fails (it dies, or cannot reach the store), the publisher renders those pages itself.
The publisher puts its own pages (lists, feeds, the sitemap) in place only after the
workers' article pages, so no page links one that is not written yet. A publish with a
few pages due never starts a worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kanalwerk.errors import PublishError
from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.files import write_atomic
from kanalwerk.publish.pages import ArticleJob, Page
from kanalwerk.publish.site import render_article

log = logging.getLogger(__name__)

#: Article pages due from which a publish shares them out: below, starting processes
#: costs more than it saves.
PARALLEL_FROM = 2000
#: Article pages a worker renders per task: bodies for one query, tasks for every core.
CHUNK = 250
#: Workers at most, however many cores: the publisher and the disk need their share too.
MAX_WORKERS = 4
#: How often a worker looks whether the process that started it is still there.
PARENT_CHECK_SECONDS = 1.0


#: Loads full articles by item id, in that order (`Library.articles`).
ArticleLoader = Callable[[Sequence[int]], list[Article]]


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs besides its pages: how pages look, where they go, and how to
    reach the bodies: `loader` is called once in each worker, so it must pickle (a
    module-level function or a `functools.partial` of one, e.g. opening the store)."""

    loader: Callable[[], ArticleLoader]
    site: SiteInfo
    output: Path


def cores() -> int:
    """The cores this process may run on (its CPU set; a CPU quota is not seen)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has it
        return os.cpu_count() or 1


def shared_out(due: Sequence[Page], setup: WorkerSetup | None) -> list[Page]:
    """The pages of `due` to render in workers: none unless many article pages are due."""
    if setup is None or cores() < 2:
        return []
    jobs = [page for page in due if page.job is not None]
    return jobs if len(jobs) >= PARALLEL_FROM else []


class _Pool:
    """Chunks of article pages handed to worker processes."""

    def __init__(self, setup: WorkerSetup, pages: Sequence[Page]) -> None:
        context = multiprocessing.get_context("spawn")
        workers = min(MAX_WORKERS, cores(), -(-len(pages) // CHUNK))
        self._output = setup.output
        self._executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start, initargs=(setup, os.getpid())
        )
        self._tasks: list[tuple[Future[list[str]], Sequence[Page]]] = []
        try:
            for start in range(0, len(pages), CHUNK):
                chunk = pages[start : start + CHUNK]
                jobs = [(page.path, page.job) for page in chunk if page.job is not None]
                self._tasks.append((self._executor.submit(_render_chunk, jobs), chunk))
        except BaseException:
            self.close()
            raise

    def finish(self) -> tuple[list[Path], list[Page]]:
        """Wait for every chunk: the files the workers changed, and the pages of chunks a
        worker failed on (it died, or could not reach the store), for the publisher to
        render itself. Their pages written already are written again to the same bytes."""
        written: list[Path] = []
        left: list[Page] = []
        cause: BaseException | None = None
        for future, chunk in self._tasks:
            try:
                written += [self._output / path for path in future.result()]
            except Exception as exc:  # BrokenProcessPool, or what the worker raised
                cause = cause or exc
                left += chunk
        if cause is not None:
            log.warning(
                "a process writing article pages failed (%s: %s); writing %d of them here",
                type(cause).__name__,
                cause,
                len(left),
            )
        return written, left

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def article_workers(setup: WorkerSetup | None, pages: Sequence[Page]) -> Iterator[_Pool | None]:
    """Workers rendering `pages`, or None when there are none to share out or no pool starts
    here (the caller renders them itself then)."""
    if setup is None or not pages:
        yield None
        return
    try:
        pool = _Pool(setup, pages)
    except (OSError, ImportError, NotImplementedError) as exc:
        log.info("rendering %d article pages in this process: %s", len(pages), exc)
        yield None
        return
    try:
        yield pool
    finally:
        pool.close()


# --- in the worker ---------------------------------------------------------------------

_worker: tuple[ArticleLoader, WorkerSetup] | None = None


def _start(setup: WorkerSetup, publisher: int) -> None:
    """Reach the bodies once per worker (open the store, say), and leave with the publisher."""
    global _worker
    threading.Thread(target=_leave_with, args=(publisher,), daemon=True).start()
    _worker = (setup.loader(), setup)


def _leave_with(publisher: int) -> None:
    """Exit once the publisher that started this worker is gone, even before the worker
    was ready (killed with SIGKILL, it never shuts its pool down): a worker left behind
    would write pages a new publisher owns, or wait for work for ever."""
    while os.getppid() == publisher:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _render_chunk(jobs: Sequence[tuple[str, ArticleJob]]) -> list[str]:
    if _worker is None:
        raise PublishError("a publishing worker was given pages before it was started")
    load, setup = _worker
    found = {a.item_id: a for a in load([job.item_id for _, job in jobs])}
    written = []
    for path, job in jobs:
        article = found.get(job.item_id)
        if article is None:
            raise PublishError(
                f"article {job.item_id} left the store while its page was being written; "
                "publish again"
            )
        data = render_article(article, setup.site, older=job.older, newer=job.newer)
        if write_atomic(setup.output / path, data, durable=False):
            written.append(path)
    return written
