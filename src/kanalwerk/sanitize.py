"""Allow-list HTML sanitizing with nh3, safe links, and HTML → plain text.

Every piece of feed HTML is untrusted. It passes through `sanitize_html` before it is stored;
the article made from it through `sanitize_article_html` when `compose` builds it and again
when the store saves it, under the `POLICY` the store records. A body recorded under another
policy (an older version's wider allow-list) is cleaned again before the store hands it out,
so the publisher can write the bodies it gets as they are.
Feed HTML keeps no `class` or `role` at all: only our own article HTML
(`sanitize_article_html`) may carry the attribution box's class, so a feed cannot forge it.

nh3's time grows with the square of nesting depth, so markup is bounded first: nesting
deeper than `MAX_DEPTH` is flattened (the text stays, the extra tags go).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from html.parser import HTMLParser
from importlib.metadata import version
from typing import Any
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

# The attribution box (`compose`) is a `<div class="quelle" role="note">`. Only our own
# article HTML may keep it; feed HTML keeps no class and no role at all.
ARTICLE_CLASSES: dict[str, set[str]] = {"div": {"quelle"}}
ARTICLE_ATTRIBUTE_VALUES: dict[str, dict[str, set[str]]] = {"div": {"role": {"note"}}}

URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {"script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math"}
)

MAX_DEPTH = 64
"""Deepest element nesting kept; real articles stay far below, hostile ones go to 100,000."""

MAX_ITEM_HTML_CHARS = 500_000
"""An item body longer than this is cut before sanitizing (see `bound_item_html`)."""

# Characters XML 1.0 forbids (C0 controls except tab/newline/CR, U+FFFE/U+FFFF); lone
# surrogates are replaced instead, so text stays encodable without losing its place.
# nh3 passes some of them through; lxml refuses them when the feed is written.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def byte_flags(flagged: Iterable[int]) -> bytes:
    """A `bytes.translate` table mapping the `flagged` byte values to 1, all others to 0."""
    wanted = set(flagged)
    return bytes(1 if b in wanted else 0 for b in range(256))


# The C0 controls `_XML_ILLEGAL` matches; its other two, U+FFFE and U+FFFF, are found by
# their bytes: their lead byte 0xEF also starts the variation selectors of most emoji.
_XML_CONTROLS = byte_flags([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


def strip_control_chars(text: str) -> str:
    """`text` fit for XML 1.0 and UTF-8: illegal controls removed, lone surrogates → U+FFFD.

    Almost no text holds any: a check at C speed on its UTF-8 bytes skips the patterns,
    which match code point by code point, milliseconds per page on a big site. A lone
    surrogate cannot be encoded: that text always goes through them.
    """
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        if (
            b"\x01" not in encoded.translate(_XML_CONTROLS)
            and b"\xef\xbf\xbe" not in encoded
            and b"\xef\xbf\xbf" not in encoded
        ):
            return text
    return _XML_ILLEGAL.sub("", _SURROGATE.sub("\ufffd", text))


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def clean_text(text: str) -> str:
    """Plain text (a title, a name) made safe to store: no HTML parsing, whitespace folded.

    Plain text is never parsed as HTML again: `The <dialog> element` stays as it is and
    is escaped where it is written out.
    """
    return collapse_whitespace(strip_control_chars(text))


# --- links --------------------------------------------------------------------------

# What a browser's URL parser (WHATWG) ignores: leading and trailing C0 controls and
# spaces, and tabs and newlines anywhere. `java\tscript:` is `javascript:` to a browser.
_EDGE_JUNK = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile("[\t\n\r]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_INNER_JUNK = re.compile("[\x00-\x20\x7f\ud800-\udfff\ufffe\uffff]")


def _browser_view(url: str) -> str:
    return _TAB_NEWLINE.sub("", url.strip(_EDGE_JUNK))


@functools.lru_cache(maxsize=4096)  # pure; publishing asks for the same addresses often
def http_url(url: str | None) -> str | None:
    """`url` as a browser reads it if that is an absolute http(s) URL with a host, else None.

    For links that are not inside sanitized HTML (an item's link, a feed's home page, a
    thumbnail, `atom:source`): autoescaping stops markup, not a `javascript:` or `data:`
    scheme. The scheme is read after the characters browsers skip, never by prefix. A
    space after the host is percent-encoded, as browsers do; other controls are refused.
    """
    if url is None:
        return None
    view = _browser_view(url)
    scheme = _SCHEME.match(view)
    if scheme is None or scheme.group(1).lower() not in ("http", "https"):
        return None
    try:
        parts = urlsplit(view)
        host = parts.hostname
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if not host or " " in parts.netloc:
        return None
    encoded = view.replace(" ", "%20")
    if _INNER_JUNK.search(encoded) or "\\" in encoded:
        return None
    return encoded


# Schemes that run code or read local files when a reader makes a link of the id.
_UNSAFE_ID_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})


def feed_id_iri(value: str | None) -> str | None:
    """A feed's id if it is an IRI fit for `atom:source/id`, else None.

    Any RFC 3987 scheme is fine (YouTube's `yt:channel:…`, `tag:`, `urn:`), read after
    what browsers skip; http(s) needs a host. An id is only text, but some readers make
    a link of it, so a scheme that runs code or reads files, whitespace and controls are
    refused.
    """
    if value is None:
        return None
    view = _browser_view(value)
    scheme = _SCHEME.match(view)
    if scheme is None or _INNER_JUNK.search(view):
        return None
    name = scheme.group(1).lower()
    if name in ("http", "https"):
        return http_url(view)
    return None if name in _UNSAFE_ID_SCHEMES else view


# --- HTML ---------------------------------------------------------------------------


def _cleaner_settings(*, article: bool) -> dict[str, Any]:
    """What `nh3.Cleaner` is given besides the base URL: also what `POLICY` digests."""
    return {
        "tags": set(ALLOWED_TAGS),
        "clean_content_tags": set(DROPPED_WITH_CONTENT),
        "attributes": ALLOWED_ATTRIBUTES,
        "link_rel": LINK_REL,
        "url_schemes": set(URL_SCHEMES),
        "allowed_classes": ARTICLE_CLASSES if article else {},
        "tag_attribute_values": ARTICLE_ATTRIBUTE_VALUES if article else {},
        "strip_comments": True,
    }


@functools.lru_cache(maxsize=256)
def _cleaner(base_url: str | None, *, article: bool) -> nh3.Cleaner:
    # Cached: building a Cleaner costs as much as cleaning a long post, and the base is
    # usually the feed's own URL, shared by all its items.
    # Without a usable base, relative URLs would point into *our* site once published,
    # so they are dropped instead of passed through.
    relative: nh3.UrlRelative = (
        ("rewrite_with_base", base_url) if base_url and http_url(base_url) else "deny"
    )
    return nh3.Cleaner(**_cleaner_settings(article=article), url_relative=relative)


def sanitize_html(html: str, *, base_url: str | None = None) -> str:
    """Reduce untrusted `html` (a feed's, an engine's) to the article allow-list.

    Scripts, styles and embeds vanish with their content, event handlers, `style=`,
    `class=` and `role=` go, links keep only http/https/mailto, nesting deeper than
    `MAX_DEPTH` is flattened, and relative URLs are resolved against `base_url` (the
    original item's link). Without an absolute `base_url` relative URLs are removed.
    """
    return _sanitize(html, base_url, article=False)


def sanitize_article_html(html: str, *, base_url: str | None = None) -> str:
    """Like `sanitize_html`, for our own article HTML: keeps the attribution box's class.

    Only for HTML that `compose` built around a body that went through `sanitize_html`.
    """
    return _sanitize(html, base_url, article=True)


def _sanitize(html: str, base_url: str | None, *, article: bool) -> str:
    if not html:
        return ""
    bounded = flatten_deep_nesting(strip_control_chars(html))
    return strip_control_chars(_cleaner(base_url, article=article).clean(bounded)).strip()


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip
# An opening tag of the key's kind ends an open element of these kinds (HTML's optional
# end tags), so long lists without `</li>` do not count as deep nesting.
_ENDS_OPEN = {
    "li": frozenset({"li"}),
    "dt": frozenset({"dt", "dd"}),
    "dd": frozenset({"dt", "dd"}),
    "tr": frozenset({"tr", "td", "th"}),
    "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}),
    "p": frozenset({"p"}),
    "option": frozenset({"option"}),
}


def flatten_deep_nesting(html: str, max_depth: int = MAX_DEPTH) -> str:
    """`html` with every tag that would nest deeper than `max_depth` removed (text kept).

    A linear scan of the tags, not a full HTML parse: it only has to bound the depth the
    sanitizer sees, so a cheap approximation of the tree is enough.
    """
    if html.count("<") <= max_depth:
        return html
    out: list[str] = []
    stack: list[str] = []
    dropped: Counter[str] = Counter()
    pos = 0
    for match in _TAG.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        keep = True
        if closing:
            if dropped[name]:
                dropped[name] -= 1
                keep = False
            elif name in stack:
                while stack.pop() != name:
                    pass
        elif name not in _VOID and not match.group(0).endswith("/>"):
            ends = _ENDS_OPEN.get(name)
            while ends and stack and stack[-1] in ends:
                stack.pop()
            if len(stack) >= max_depth:
                dropped[name] += 1
                keep = False
            else:
                stack.append(name)
        if not keep:
            out.append(html[pos : match.start()])
            pos = match.end()
    out.append(html[pos:])
    return "".join(out)


def cut_html(html: str, limit: int = MAX_ITEM_HTML_CHARS) -> str:
    """At most `limit` characters of `html`, cut before a tag rather than inside one."""
    if len(html) <= limit:
        return html
    cut = html[:limit]
    tag_start = cut.rfind("<")
    if tag_start > cut.rfind(">"):
        cut = cut[:tag_start]
    return cut


# --- what a stored article body was sanitized by -----------------------------------


def _canonical(value: object) -> object:
    """`value` with sets sorted and dicts as sorted pairs: a `repr` equal in every run."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, dict):
        return sorted((key, _canonical(item)) for key, item in value.items())
    if isinstance(value, tuple | list):
        return [_canonical(item) for item in value]
    return value


def article_policy() -> str:
    """`POLICY` as the settings are now (a test changes a setting and asks again)."""
    settings = {
        "cleaner": _cleaner_settings(article=True),
        "url_relative": "deny",  # stored bodies are checked without a base URL
        "max_depth": MAX_DEPTH,
        "depth_scan": (_TAG.pattern, _VOID, _ENDS_OPEN),
        "controls": (_XML_ILLEGAL.pattern, _SURROGATE.pattern),
    }
    text = repr(_canonical(settings)).encode("utf-8", "surrogatepass")
    return f"nh3 {version('nh3')} {hashlib.sha256(text).hexdigest()[:16]}"


POLICY: str = article_policy()
"""What `sanitize_article_html` does with a body: nh3's version and a digest of every
setting it uses. The store records it with each article body and cleans again a body
recorded under another one, so a body an older allow-list let through is never published.
"""


# --- HTML → text --------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td", "th", "caption",
        "figure", "figcaption", "section", "article", "aside", "header", "footer",
        "details", "summary", "main", "nav", "address", "fieldset", "form", "legend",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
_LINE_BREAK = "\n"


class _TextExtractor(HTMLParser):
    """Collects text nodes; block boundaries become line breaks.

    With `links`, an http(s) link's URL follows its text and list items start with "- ".
    """

    def __init__(self, skip: frozenset[str], *, links: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = _SKIP_TAGS | skip
        self._skipping = 0
        self._links = links
        self._open_links: list[tuple[str | None, int]] = []  # (URL, first part of its text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._skip:
            self._skipping += 1
        elif self._links and tag == "li":
            self.parts.append(_LINE_BREAK + "- ")
        elif tag in _BLOCK_TAGS:
            self.parts.append(_LINE_BREAK)
        elif self._links and tag == "a" and not self._skipping:
            self._open_links.append((http_url(dict(attrs).get("href")), len(self.parts)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(_LINE_BREAK)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._skip:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_LINE_BREAK)
        elif tag == "a" and self._open_links:
            url, start = self._open_links.pop()
            text = collapse_whitespace("".join(self.parts[start:]))
            if url is not None and text != url:
                self.parts.append(f" ({url})" if text else url)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            # Line breaks in the source are only whitespace; ours come from the tags.
            self.parts.append(" ".join(data.split(_LINE_BREAK)))


def html_to_text(html: str, *, skip: frozenset[str] = frozenset(), links: bool = False) -> str:
    """Visible text of an HTML fragment, one line per block.

    The rules: tags are dropped; `script`, `style` and the like go with their content,
    and so do the elements named in `skip` (e.g. headings for a teaser); each block
    element (`p`, `div`, `li`, `h1`…, `br`…) ends a line; entities are decoded exactly
    once (`&amp;lt;` gives `&lt;`); whitespace within a line is folded to single spaces
    and empty lines are dropped. `collapse_whitespace` turns the result into one line.

    `links` is for a reader who must cite the source (the article writer): an http(s)
    link reads "text (URL)" (the URL alone when it is the text or there is none), and
    each list item starts with "- ".
    """
    if not html:
        return ""
    parser = _TextExtractor(skip, links=links)
    parser.feed(html)
    parser.close()
    lines = strip_control_chars("".join(parser.parts)).split(_LINE_BREAK)
    return _LINE_BREAK.join(line for line in map(collapse_whitespace, lines) if line)


# --- items --------------------------------------------------------------------------


def optional_text(value: str | None) -> str | None:
    """`clean_text`, with None for a missing or blank value."""
    return clean_text(value) or None if value else None


def sanitize_item(item: Item) -> Item:
    """A copy of `item` safe to store: bounded, sanitized HTML bodies; clean plain text.

    The title and author are plain text already (the parser made them so) and are only
    cleaned, never parsed as HTML again. The guid is kept as given, made encodable.
    """
    link = http_url(item.link)
    base = http_url(item.base_url) or link
    media = item.media_description
    return dataclasses.replace(
        item,
        guid=strip_control_chars(item.guid),
        link=link,
        thumbnail=http_url(item.thumbnail),
        title=clean_text(item.title),
        author=optional_text(item.author),
        content_html=sanitize_html(cut_html(item.content_html), base_url=base),
        summary_html=sanitize_html(cut_html(item.summary_html), base_url=base),
        language=optional_text(item.language),
        video_id=optional_text(item.video_id),
        yt_channel_id=optional_text(item.yt_channel_id),
        media_description=strip_control_chars(media) if media is not None else None,
        enclosures=tuple(
            dataclasses.replace(e, url=url, type=optional_text(e.type))
            for e in item.enclosures
            if (url := http_url(e.url))
        ),
        transcripts=tuple(
            dataclasses.replace(t, url=url, language=optional_text(t.language))
            for t in item.transcripts
            if (url := http_url(t.url))
        ),
    )
