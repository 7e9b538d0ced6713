"""A full publish shares article pages out to worker processes: same files, one writer each."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest

from kanalwerk.publish import plan, publish, workers
from kanalwerk.publish.library import StoreLibrary
from kanalwerk.publish.pages import Page
from kanalwerk.publish.workers import _Pool as Pool  # before a fixture wraps it
from kanalwerk.store import article_loader
from tests.test_incremental import Site, add_article, site  # noqa: F401  (fixture)

ARTICLES = 9


@pytest.fixture
def shared_out_early(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Workers from the first article page on, two pages a task; counts the pools started."""
    monkeypatch.setattr(workers, "PARALLEL_FROM", 1)
    monkeypatch.setattr(workers, "CHUNK", 2)
    monkeypatch.setattr(workers, "cores", lambda: 2)
    started: list[int] = []
    real_pool = workers._Pool

    def counting_pool(setup: workers.WorkerSetup, pages: Sequence[Page]) -> workers._Pool:
        started.append(len(pages))
        return real_pool(setup, pages)

    monkeypatch.setattr(workers, "_Pool", counting_pool)
    return started


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_workers_write_the_article_pages_as_the_publisher_would(
    site: Site,  # noqa: F811
    shared_out_early: list[int],
    tmp_path: Path,
) -> None:
    for n in range(1, ARTICLES + 1):
        add_article(site.store, n)

    result = site.publish()

    assert shared_out_early == [ARTICLES]  # every article page, none of the others
    assert result is not None
    articles = sorted(
        str(p.relative_to(site.output)) for p in result.written if "artikel/" in str(p)
    )
    assert articles == [f"artikel/beitrag-{n}.html" for n in range(1, ARTICLES + 1)]
    library = StoreLibrary(site.store, site.config.site.info(), ["kanal-a", "kanal-b"])
    publish(library, tmp_path / "alone")  # no workers: the publisher renders all
    assert files(site.output) == files(tmp_path / "alone")
    assert site.publish() is None  # the keys recorded: nothing due on the next cycle


def test_without_a_pool_the_publisher_renders_the_pages_itself(
    site: Site,  # noqa: F811
    shared_out_early: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_semaphores(method: str | None = None) -> multiprocessing.context.BaseContext:
        raise OSError(38, "Function not implemented")  # as without /dev/shm

    monkeypatch.setattr(multiprocessing, "get_context", no_semaphores)
    for n in range(1, ARTICLES + 1):
        add_article(site.store, n)

    result = site.publish()

    assert shared_out_early == [ARTICLES]
    assert result is not None
    assert all((site.output / "artikel" / f"beitrag-{n}.html").is_file() for n in range(1, 10))


def test_a_few_pages_are_never_shared_out(site: Site) -> None:  # noqa: F811
    for n in range(1, ARTICLES + 1):
        add_article(site.store, n)
    library = StoreLibrary(site.store, site.config.site.info(), ["kanal-a", "kanal-b"])
    setup = workers.WorkerSetup(
        partial(article_loader, site.config.store), library.site, site.output
    )
    assert workers.shared_out(plan(library), setup) == []
    assert workers.shared_out(plan(library), None) == []


def test_chunks_a_worker_fails_on_are_written_by_the_publisher(
    site: Site,  # noqa: F811
    shared_out_early: list[int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for n in range(1, ARTICLES + 1):
        add_article(site.store, n)
    library = StoreLibrary(site.store, site.config.site.info(), ["kanal-a", "kanal-b"])
    gone = workers.WorkerSetup(
        partial(article_loader, f"sqlite:///{tmp_path / 'weg.db'}"), library.site, site.output
    )

    result = publish(library, site.output, workers=gone)

    assert shared_out_early == [ARTICLES]
    assert "writing 9 of them here" in caplog.text
    publish(library, tmp_path / "alone")
    assert files(site.output) == files(tmp_path / "alone")
    assert len(result.written) == len(files(site.output))


def test_lists_and_feeds_are_put_in_place_after_the_article_pages_they_link(
    site: Site,  # noqa: F811
    shared_out_early: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(1, ARTICLES + 1):
        add_article(site.store, n)
    seen_meanwhile: list[set[str]] = []
    real_finish = Pool.finish

    def finish(pool: Pool) -> tuple[list[Path], list[Page]]:
        answer = real_finish(pool)
        seen_meanwhile.append(set(files(site.output)))  # the articles are in place now
        return answer

    monkeypatch.setattr(Pool, "finish", finish)
    site.publish()

    (meanwhile,) = seen_meanwhile
    assert {f"artikel/beitrag-{n}.html" for n in range(1, ARTICLES + 1)} <= meanwhile
    assert not {"feed.atom", "index.html", "sitemap.xml", "quellen/index.html"} & meanwhile
    assert {"feed.atom", "index.html", "sitemap.xml"} <= set(files(site.output))


_ORPHANS = """
import sys, time
from functools import partial
from pathlib import Path
from kanalwerk.models import SiteInfo
from kanalwerk.publish import workers
from kanalwerk.publish.pages import ArticleJob, Page
from tests.worker_functions import nothing_to_load

site = SiteInfo("T", None, "https://blog.example.org/", "R", "H", "x", "y")
setup = workers.WorkerSetup(nothing_to_load, site, Path(sys.argv[1]))
pages = [Page("artikel/a.html", "k", bytes, job=ArticleJob(1, None, None))]
pool = workers._Pool(setup, pages)
time.sleep(0.5)
print(" ".join(str(pid) for pid in pool._executor._processes), flush=True)
time.sleep(60)
"""


def test_workers_leave_when_the_publisher_is_killed(tmp_path: Path) -> None:
    publisher = subprocess.Popen(
        [sys.executable, "-c", _ORPHANS, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert publisher.stdout is not None
        pids = [int(pid) for pid in publisher.stdout.readline().split()]
        assert pids and all(_alive(pid) for pid in pids)
    finally:
        publisher.kill()  # SIGKILL: no pool shutdown
        publisher.wait()
        if publisher.stdout is not None:
            publisher.stdout.close()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not status.exists() or status.read_text().split()[2] != "Z"
