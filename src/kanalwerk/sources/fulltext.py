"""The full text of an article whose feed only carries a summary (`full_text: true`).

The item's page is fetched like a feed (User-Agent, size cap, per-host limits, the
private-address guard, since the link comes from the feed) once robots.txt allows it,
and trafilatura extracts the article: its text with headings, lists, tables, links and
images. That HTML is as untrusted as the feed's and is sanitized before it is kept.

trafilatura is pure Python over lxml and can take very long on pathological pages, and
a thread cannot be stopped; so extraction runs in a worker process that is killed after
`EXTRACTION_SECONDS`. Too little text (less than the feed's own, or under
`MIN_CHARACTERS`) keeps the feed's text, with the reason.

trafilatura is the optional extra `kanalwerk[fulltext]`; the config refuses
`full_text: true` without it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.pool
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from kanalwerk.addresses import checked_addresses
from kanalwerk.errors import PrivateAddressRefused
from kanalwerk.fetch import FetchSettings, fetch_all
from kanalwerk.models import FetchResult, FetchState, SourceText
from kanalwerk.sanitize import collapse_whitespace, cut_html, html_to_text, sanitize_html
from kanalwerk.sources.base import Candidate, Missing
from kanalwerk.sources.robots import Robots

__all__ = [
    "EXTRACTION_SECONDS",
    "MIN_CHARACTERS",
    "Extractor",
    "FullText",
    "FullTextSource",
    "Page",
    "full_texts",
]

log = logging.getLogger(__name__)

#: Fewer characters of text than this on the page: the extraction missed the article.
MIN_CHARACTERS = 400
#: One page's extraction may take this long before its worker process is killed.
EXTRACTION_SECONDS = 20.0
#: A new worker process may take this long to start and import trafilatura.
STARTUP_SECONDS = 60.0
#: Pages fetched before their texts are extracted: bounds the bodies held in memory.
BATCH = 8
HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class Page:
    """An item whose page is wanted: its id, its link, and the feed's text of it."""

    item_id: int
    url: str | None
    feed_html: str  # sanitized


@dataclass(frozen=True)
class FullText:
    """The page's article as sanitized HTML, or why the feed's text is kept."""

    html: str | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.html is None) == (self.reason is None):
            raise ValueError("FullText has either html or a reason")


class FullTextSource:
    """The linked page's full text for channels with `full_text: true` (an enrich `Source`).

    Built for one enrich step, so robots.txt is read once per site for all its items.
    Videos are left out: their page is a player, their text a transcript.
    """

    def __init__(self, settings: FetchSettings, extractor: Extractor | None = None) -> None:
        self._settings = settings
        self._extractor = extractor
        self._robots = Robots(settings)

    def find(self, candidates: Sequence[Candidate]) -> Mapping[int, SourceText | Missing]:
        pages = [
            Page(
                c.stored.id,
                c.stored.item.link,
                c.stored.item.content_html or c.stored.item.summary_html,
            )
            for c in candidates
            if c.channel.full_text and not c.stored.item.video_id
        ]
        found = full_texts(pages, self._settings, extractor=self._extractor, robots=self._robots)
        return {
            item_id: SourceText("fulltext", text.html)
            if text.html is not None
            else Missing(text.reason or "")
            for item_id, text in found.items()
        }


def full_texts(
    pages: Sequence[Page],
    settings: FetchSettings,
    *,
    extractor: Extractor | None = None,
    robots: Robots | None = None,
) -> dict[int, FullText]:
    """Each page's full text or the reason there is none, by item id. Never raises for
    one page's problems; `robots` may be kept across calls of one run."""
    if not pages:
        return {}
    own = extractor is None
    extractor = extractor or Extractor()
    try:
        return asyncio.run(_full_texts(pages, settings, extractor, robots or Robots(settings)))
    finally:
        if own:
            extractor.close()


async def _full_texts(
    pages: Sequence[Page], settings: FetchSettings, extractor: Extractor, robots: Robots
) -> dict[int, FullText]:
    found: dict[int, FullText] = {}
    linked = []
    for page in pages:
        if page.url is None:
            found[page.item_id] = FullText(None, "the item links to no page")
        else:
            linked.append(page)
    if not settings.allow_private_addresses:
        linked = await _public_only(linked, found, settings.connect_timeout)
    await robots.load(p.url for p in linked if p.url is not None)
    allowed = []
    for page in linked:
        assert page.url is not None
        verdict = robots.verdict(page.url)
        if verdict.allowed:
            allowed.append(page)
        else:
            found[page.item_id] = FullText(None, verdict.reason)
    for start in range(0, len(allowed), BATCH):
        batch = allowed[start : start + BATCH]
        states = [FetchState(str(p.item_id), p.url or "") for p in batch]
        results = await fetch_all(states, settings, untrusted=True)
        loop = asyncio.get_running_loop()
        for page, result in zip(batch, results, strict=True):
            found[page.item_id] = await loop.run_in_executor(
                None, _full_text, page, result, extractor
            )
    return found


async def _public_only(pages: list[Page], found: dict[int, FullText], timeout: float) -> list[Page]:
    """The pages whose host is public. The fetches are guarded anyway; asking first
    gives the plain reason instead of robots.txt's failure to load."""
    verdicts: dict[str, str | None] = {}
    public = []
    for page in pages:
        assert page.url is not None
        try:
            url = httpx.URL(page.url)
        except httpx.InvalidURL:
            public.append(page)  # the fetch reports it
            continue
        if url.host not in verdicts:
            try:
                async with asyncio.timeout(timeout):
                    await checked_addresses(url.host, url.port or 80)
                verdicts[url.host] = None
            except PrivateAddressRefused as exc:
                verdicts[url.host] = f"the link was not followed: {exc}"
            except (OSError, UnicodeError, TimeoutError):
                verdicts[url.host] = None  # the fetch reports it
        reason = verdicts[url.host]
        if reason is None:
            public.append(page)
        else:
            found[page.item_id] = FullText(None, reason)
    return public


def _full_text(page: Page, result: FetchResult, extractor: Extractor) -> FullText:
    if not result.ok or result.content is None:
        return FullText(None, f"the page could not be fetched: {result.error}")
    content_type = result.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in HTML_TYPES:
        return FullText(None, f"the page is no HTML page ({content_type})")
    try:
        extracted = extractor.extract(result.content, result.final_url)
    except TimeoutError:
        return FullText(None, f"extracting the text took longer than {extractor.seconds:g}s")
    except Exception as exc:  # a page trafilatura cannot take: the feed's text stays
        log.warning("%s: extracting the text failed: %r", result.final_url, exc)
        return FullText(None, f"extracting the text failed ({type(exc).__name__})")
    html = sanitize_html(cut_html(extracted or ""), base_url=result.final_url)
    length = _characters(html)
    feed_length = _characters(page.feed_html)
    if length < MIN_CHARACTERS:
        return FullText(None, f"too little text on the page ({length} characters)")
    if length <= feed_length:
        return FullText(
            None, f"the page has no more text than the feed ({length} to {feed_length} characters)"
        )
    return FullText(html)


def _characters(html: str) -> int:
    return len(collapse_whitespace(html_to_text(html)))


# --- extraction in a worker process -------------------------------------------------


def extract_article(body: bytes, url: str) -> str | None:
    """trafilatura's article HTML for a page (runs in the worker process)."""
    import trafilatura

    return trafilatura.extract(
        body,
        url=url,
        output_format="html",
        include_formatting=True,
        include_links=True,
        include_images=True,
        include_tables=True,
        include_comments=False,
        with_metadata=False,
    )


class Extractor:
    """Runs `function` in one worker process, killed and replaced when it overruns.

    The process starts on first use (from a fork server: the daemon has threads), is
    warmed up with an empty page, and is reused for later pages, so trafilatura is
    imported once per run.
    """

    def __init__(
        self,
        seconds: float = EXTRACTION_SECONDS,
        function: Callable[[bytes, str], str | None] = extract_article,
    ) -> None:
        self.seconds = seconds
        self._function = function
        self._pool: multiprocessing.pool.Pool | None = None

    def extract(self, body: bytes, url: str) -> str | None:
        """`function(body, url)`; TimeoutError after `seconds`, the worker then killed."""
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = context.Pool(processes=1)
            # Start-up and imports (a second for trafilatura) don't count against a page.
            self._pool.apply_async(self._function, (b"", "")).get(timeout=STARTUP_SECONDS)
        pending = self._pool.apply_async(self._function, (body, url))
        try:
            return pending.get(timeout=self.seconds)
        except multiprocessing.TimeoutError:
            self.close()
            raise TimeoutError(f"{url}: extraction took longer than {self.seconds:g}s") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
