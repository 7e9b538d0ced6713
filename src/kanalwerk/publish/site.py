"""The static site: `index.html` and one page per article, rendered with Jinja2.

Autoescaping is on for every template. The one place raw HTML goes in is the article body,
through the `sanitized` filter, which runs nh3 again before marking it safe: the body was
sanitized by `compose`, but it may have come back from the store, and re-checking is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from kanalwerk.dates import format_date_de, format_datetime_de, iso_utc
from kanalwerk.models import Article, SiteInfo, source_name
from kanalwerk.publish.atom import newest_first
from kanalwerk.sanitize import http_url, sanitize_article_html

# Code points an HTML document must not contain: C0 and C1 controls other than whitespace,
# noncharacters and surrogates ("control-character-in-input-stream" and its kin). XML allows
# the C1 controls and most noncharacters, so `sanitize.strip_control_chars` keeps them.
_HTML_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)


def _html_document(html: str) -> bytes:
    """A rendered page as UTF-8, without the characters HTML forbids (from any feed field)."""
    return _HTML_FORBIDDEN.sub("", html).encode("utf-8")


def _sanitized(html: str) -> Markup:
    return Markup(sanitize_article_html(html))  # nh3 output is safe by construction


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kanalwerk", "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["datum"] = format_date_de
    env.filters["datum_zeit"] = format_datetime_de
    env.filters["iso"] = iso_utc
    env.filters["quelle"] = source_name
    env.filters["sanitized"] = _sanitized
    env.filters["http_url"] = http_url
    return env


def render_index(
    articles: Sequence[Article], site: SiteInfo, *, feed_url: str, limit: int | None = None
) -> bytes:
    """The front page: newest first, each with German title, date, teaser and source."""
    shown = newest_first(articles)
    if limit is not None:
        shown = shown[:limit]
    html = (
        environment()
        .get_template("index.html")
        .render(site=site, articles=shown, feed_url=feed_url, root="")
    )
    return _html_document(html)


def render_article(article: Article, site: SiteInfo, *, feed_url: str) -> bytes:
    """One article page, stored as `artikel/<slug>.html`."""
    html = (
        environment()
        .get_template("article.html")
        .render(site=site, article=article, feed_url=feed_url, root="../")
    )
    return _html_document(html)
