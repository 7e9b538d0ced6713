"""Allow-list HTML sanitizing with nh3, and HTML → plain text.

Every piece of feed HTML is untrusted. It passes through `sanitize_html` before it is stored
and again before it is published, so a mistake in one stage cannot put script on our pages.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3

from kanalwerk.models import Item

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "a", "em", "strong", "b", "i", "u", "s", "del", "ins",
        "blockquote", "q", "cite", "code", "pre", "kbd", "samp", "var",
        "ul", "ol", "li", "dl", "dt", "dd",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr",
        "img", "figure", "figcaption",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
        "sup", "sub", "abbr", "span", "small", "mark", "details", "summary",
        "div", "wbr",
    }
)  # fmt: skip
"""Article markup. `div` is kept (as a tag, without attributes) so block structure survives."""

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"translate", "lang"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "q": {"cite"},
    "blockquote": {"cite"},
    "ol": {"start"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
}

# The attribution box (`compose`) is a `<div class="quelle" role="note">`; these keep it intact
# through the final sanitizing pass without allowing arbitrary classes or roles.
ALLOWED_CLASSES: dict[str, set[str]] = {"div": {"quelle"}}
ALLOWED_ATTRIBUTE_VALUES: dict[str, dict[str, set[str]]] = {"div": {"role": {"note"}}}

URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {"script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math"}
)

# Characters XML 1.0 forbids (C0 controls except tab/newline/CR, surrogates, U+FFFE/U+FFFF).
# nh3 passes some of them through; lxml refuses them when the feed is written.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def strip_control_chars(text: str) -> str:
    """Remove characters that are not allowed in XML 1.0 documents."""
    return _XML_ILLEGAL.sub("", text)


def _is_absolute_http(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def http_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL, else None.

    For links that are not inside sanitized HTML (an item's link, a feed's home page, a
    thumbnail): autoescaping stops markup, not a `javascript:` or `data:` scheme.
    """
    if url is None:
        return None
    url = url.strip()
    return url if _is_absolute_http(url) and not _XML_ILLEGAL.search(url) else None


@functools.lru_cache(maxsize=256)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    # Cached: building a Cleaner costs as much as cleaning a long post, and the base is
    # usually the feed's own URL, shared by all its items.
    # Without a usable base, relative URLs would point into *our* site once published,
    # so they are dropped instead of passed through.
    relative: nh3.UrlRelative = (
        ("rewrite_with_base", base_url) if base_url and _is_absolute_http(base_url) else "deny"
    )
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes=ALLOWED_ATTRIBUTES,
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
        allowed_classes=ALLOWED_CLASSES,
        tag_attribute_values=ALLOWED_ATTRIBUTE_VALUES,
        url_relative=relative,
        strip_comments=True,
    )


def sanitize_html(html: str, *, base_url: str | None = None) -> str:
    """Reduce `html` to the article allow-list.

    Scripts, styles and embeds vanish with their content, event handlers and `style=` go,
    links keep only http/https/mailto, and relative URLs are resolved against `base_url`
    (the original item's link). Without an absolute `base_url` relative URLs are removed.
    """
    if not html:
        return ""
    return strip_control_chars(_cleaner(base_url).clean(html)).strip()


_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td", "th", "caption",
        "figure", "figcaption", "section", "article", "aside", "header", "footer",
        "details", "summary", "main", "nav",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})


class _TextExtractor(HTMLParser):
    """Collects text nodes; block boundaries become spaces so words don't run together."""

    def __init__(self, skip: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = _SKIP_TAGS | skip
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._skip:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._skip:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def html_to_text(html: str, *, skip: frozenset[str] = frozenset()) -> str:
    """Visible text of an HTML fragment: tags stripped, entities decoded, whitespace collapsed.

    Elements named in `skip` are left out with their content (e.g. headings for a teaser).
    """
    if not html:
        return ""
    parser = _TextExtractor(skip)
    parser.feed(html)
    parser.close()
    return collapse_whitespace(strip_control_chars("".join(parser.parts)))


def sanitize_item(item: Item) -> Item:
    """A copy of `item` safe to store: sanitized HTML bodies, plain-text title and author."""
    link = http_url(item.link)
    base = http_url(item.base_url) or link
    author = html_to_text(item.author) if item.author else ""
    return dataclasses.replace(
        item,
        link=link,
        thumbnail=http_url(item.thumbnail),
        title=html_to_text(item.title),
        author=author or None,
        content_html=sanitize_html(item.content_html, base_url=base),
        summary_html=sanitize_html(item.summary_html, base_url=base),
    )
