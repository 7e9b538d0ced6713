"""Publishing: `feed.atom`, `index.html`, `style.css` and `artikel/<slug>.html`.

Every file goes through `write_atomic`, so a publish run only touches files whose bytes
changed and a crash never leaves a half-written page behind.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kanalwerk.errors import PublishError
from kanalwerk.models import Article, SiteInfo
from kanalwerk.publish.atom import newest_first, render_atom
from kanalwerk.publish.files import remove_stale_temp_files, write_atomic
from kanalwerk.publish.site import render_article, render_index

__all__ = ["PublishResult", "missing_files", "publish"]

ARTICLE_DIR = "artikel"
FEED_FILE = "feed.atom"
INDEX_FILE = "index.html"
STYLE_FILE = "style.css"
_SAFE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,150}$")


@dataclass(frozen=True)
class PublishResult:
    written: list[Path]
    unchanged: int


def _stylesheet() -> bytes:
    return importlib.resources.files("kanalwerk").joinpath("templates", "style.css").read_bytes()


def _unique_by_slug(articles: Sequence[Article]) -> list[Article]:
    """One page per slug; the newest article wins if two ever share one."""
    seen: dict[str, Article] = {}
    for article in newest_first(articles):
        if not _SAFE_SLUG.match(article.slug):
            raise PublishError(
                f"article {article.entry_id} has an unusable slug {article.slug!r}; "
                "slugs may only contain a-z, 0-9 and '-' (compose the article again)"
            )
        seen.setdefault(article.slug, article)
    return list(seen.values())


def _page(output: Path, article: Article) -> Path:
    return output / ARTICLE_DIR / f"{article.slug}.html"


def missing_files(articles: Sequence[Article], output: Path) -> list[Path]:
    """The files a publish of `articles` writes that are not in `output` (someone deleted them).

    Asked on every quiet cycle, so the article folder is listed once, not each page looked up.
    """
    try:
        present = {entry.name for entry in os.scandir(output / ARTICLE_DIR) if entry.is_file()}
    except OSError:  # no folder yet: every page is missing
        present = set()
    missing = [output / name for name in (FEED_FILE, INDEX_FILE, STYLE_FILE)]
    missing = [path for path in missing if not path.is_file()]
    pages = {f"{article.slug}.html" for article in articles} - present
    return missing + [output / ARTICLE_DIR / name for name in sorted(pages)]


def publish(articles: Sequence[Article], site: SiteInfo, output: Path) -> PublishResult:
    """Write the feed and the site into `output`, rewriting only files that changed."""
    feed_url = site.base_url + FEED_FILE
    pages = _unique_by_slug(articles)
    planned: list[tuple[Path, bytes]] = [
        (output / FEED_FILE, render_atom(pages, site, feed_url=feed_url)),
        (output / INDEX_FILE, render_index(pages, site, feed_url=feed_url)),
        (output / STYLE_FILE, _stylesheet()),
    ]
    planned += [(_page(output, a), render_article(a, site, feed_url=feed_url)) for a in pages]

    written: list[Path] = []
    unchanged = 0
    try:
        (output / ARTICLE_DIR).mkdir(parents=True, exist_ok=True)
        for folder in (output, output / ARTICLE_DIR):
            remove_stale_temp_files(folder)
        # Article pages first, so the feed and index never link to a page not yet written.
        for path, data in planned[3:] + planned[:3]:
            if write_atomic(path, data):
                written.append(path)
            else:
                unchanged += 1
    except OSError as exc:
        raise PublishError(
            f"cannot write the site to {output}: {exc.strerror or exc}; "
            "check that the output folder exists, is writable and has free space"
        ) from exc
    return PublishResult(written=written, unchanged=unchanged)
