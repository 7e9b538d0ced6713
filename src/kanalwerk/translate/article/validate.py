"""Checking a model's article strictly: tags, links, sections, language, no repeated headline.

Strict on purpose: a disallowed tag or an unknown link is rejected rather than
stripped, because it shows the model ignored the rules and may have ignored others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kanalwerk.errors import ArticleInvalid
from kanalwerk.sanitize import collapse_whitespace, html_to_text, sanitize_html
from kanalwerk.translate.language import detect_language

#: Tags the model may use in `body_html`; anything else makes the answer invalid.
ARTICLE_TAGS: frozenset[str] = frozenset(
    {"h2", "h3", "p", "ul", "ol", "li", "strong", "em", "blockquote", "a"}
)
#: Tolerated although not asked for: harmless line breaks.
TOLERATED_TAGS: frozenset[str] = frozenset({"br"})
MAX_TITLE_CHARS = 200
MAX_TEASER_CHARS = 800
#: A body with more text than this must be structured in `<h2>` sections.
MIN_CHARS_FOR_SECTIONS = 1500
#: A section's language is checked on its own from this many characters of text.
MIN_CHARS_FOR_SECTION_LANGUAGE = 160

_TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z][^<>]*>")
_BARE_URL = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""")
_QUOTES = {'"': '"', "„": "“", "“": "”", "«": "»", "»": "«", "'": "'", "‚": "‘"}
_ATTRIBUTION = re.compile(r"hinweis zur quelle", re.IGNORECASE)


def normalise_url(url: str) -> str:
    """Compare URLs without caring about a trailing slash or the case of scheme and host."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def source_links(source_html: str, extra: Iterable[str | None] = ()) -> set[str]:
    """Normalised URLs the source links to or mentions in its text, plus `extra` ones."""
    found: set[str] = {normalise_url(url) for url in extra if url}

    class _Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            href = dict(attrs).get("href") if tag == "a" else None
            if href:
                found.add(normalise_url(href))

    parser = _Links(convert_charrefs=True)
    parser.feed(source_html)
    parser.close()
    for match in _BARE_URL.finditer(html_to_text(source_html) or source_html):
        found.add(normalise_url(match.group(0).rstrip(".,;:!?")))
    return found


@dataclass
class _Section:
    """An `<h2>` and what follows it up to the next one; the intro has no heading."""

    heading: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return collapse_whitespace("".join(self.heading))

    @property
    def content(self) -> str:
        return collapse_whitespace(" ".join(self.text))


class _BodyCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad_tags: list[str] = []
        self.links: list[str] = []
        self.paragraphs = 0
        self.anchor_without_href = False
        self.first_block: list[str] | None = None
        self._first_done = False
        self.sections: list[_Section] = [_Section()]
        self._heading: str | None = None  # "h2" or "h3" while inside one

    def _tag(self, tag: str) -> None:
        if tag not in ARTICLE_TAGS | TOLERATED_TAGS and tag not in self.bad_tags:
            self.bad_tags.append(tag)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag)
        if tag == "h2":
            self.sections.append(_Section())
        if tag in ("h2", "h3"):
            self._heading = tag
        if tag == "p":
            self.paragraphs += 1
        if tag in ("h2", "h3", "p") and self.first_block is None:
            self.first_block = []
        if tag == "a":
            href = dict(attrs).get("href")
            if href and href.strip():
                self.links.append(href.strip())
            else:
                self.anchor_without_href = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag)
        if tag == self._heading:
            self._heading = None
        if tag in ("h2", "h3", "p") and self.first_block is not None:
            self._first_done = True

    def handle_data(self, data: str) -> None:
        if self.first_block is not None and not self._first_done:
            self.first_block.append(data)
        section = self.sections[-1]
        if self._heading == "h2":
            section.heading.append(data)
        elif self._heading is None:  # a subheading is no content of its own
            section.text.append(data)


def _field(data: Mapping[str, Any], name: str) -> str:
    if name not in data:
        raise ArticleInvalid(f'the answer has no "{name}" field')
    value = data[name]
    if not isinstance(value, str):
        raise ArticleInvalid(f'the "{name}" field is not a string')
    if not value.strip():
        raise ArticleInvalid(f'the "{name}" field is empty')
    return value.strip()


def _plain(name: str, value: str) -> str:
    if _TAG_LIKE.search(value):
        raise ArticleInvalid(f"the {name} contains HTML tags; it must be plain text")
    text = collapse_whitespace(value)
    opening, closing = text[:1], text[-1:]
    inner = text[1:-1]
    if len(text) > 2 and _QUOTES.get(opening) == closing and not {opening, closing} & set(inner):
        text = inner.strip()  # a headline wrapped in quotes as a whole
    return text


def _comparable(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().casefold()


def _check_sections(sections: list[_Section], body_chars: int) -> None:
    """Sections as in a blog article: headed by `<h2>`, none empty, none in another language.

    A short article may be one block; a long one without a single `<h2>` is a wall of
    text. A section in English hides easily in a long German article, so each section
    long enough to tell is checked on its own (a short one full of names fools detection).
    """
    headed = sections[1:]
    if not headed and body_chars > MIN_CHARS_FOR_SECTIONS:
        raise ArticleInvalid(
            f"body_html has {body_chars:,} characters of text but no <h2> section; "
            "structure it in sections with <h2> headings"
        )
    for number, section in enumerate(headed, start=1):
        if not section.title:
            raise ArticleInvalid(f"section {number} has an empty <h2> heading")
        if not section.content:
            raise ArticleInvalid(
                f"the section „{section.title[:80]}“ is empty; every <h2> needs text after it"
            )
    for section in sections:
        text = f"{section.title}\n{section.content}"
        short = len(section.content) < MIN_CHARS_FOR_SECTION_LANGUAGE
        language = None if short else detect_language(text)
        if language is not None and language != "de":
            where = f"the section „{section.title[:80]}“" if section.title else "the introduction"
            raise ArticleInvalid(f"{where} is not in German (detected language: {language})")


def validate_article(
    data: object, *, source_html: str, link: str | None = None
) -> tuple[str, str, str]:
    """`(title, teaser, body_html)` from a model's parsed answer, or `ArticleInvalid` why not.

    Links must point to URLs in the source or to the original itself (`link`).

    Strict on purpose: a disallowed tag or an unknown link is rejected rather than
    stripped, because it shows the model ignored the rules and may have ignored others.
    """
    if not isinstance(data, dict):
        raise ArticleInvalid("the answer is not a JSON object")
    title = _plain("title", _field(data, "title"))
    teaser = _plain("teaser", _field(data, "teaser"))
    body = _field(data, "body_html")
    if not title:
        raise ArticleInvalid('the "title" field is empty')
    if len(title) > MAX_TITLE_CHARS:
        raise ArticleInvalid(
            f"the title has {len(title)} characters; at most {MAX_TITLE_CHARS} are allowed"
        )
    if len(teaser) > MAX_TEASER_CHARS:
        raise ArticleInvalid(
            f"the teaser has {len(teaser)} characters; write 1–3 sentences "
            f"(at most {MAX_TEASER_CHARS} characters)"
        )

    check = _BodyCheck()
    check.feed(body)
    check.close()
    if check.bad_tags:
        shown = ", ".join(f"<{tag}>" for tag in check.bad_tags)
        allowed = ", ".join(f"<{tag}>" for tag in sorted(ARTICLE_TAGS))
        raise ArticleInvalid(f"body_html uses {shown}, not allowed; use only {allowed}")
    if check.paragraphs == 0:
        raise ArticleInvalid("body_html has no <p> paragraph")
    if check.anchor_without_href:
        raise ArticleInvalid("body_html has an <a> without href")
    known = source_links(source_html, [link])
    for href in check.links:
        if normalise_url(href) not in known:
            raise ArticleInvalid(
                f"body_html links to {href[:200]}, which is not in the source (invented link); "
                "link only URLs that appear in the source"
            )
    body_text = html_to_text(body)
    if not body_text:
        raise ArticleInvalid("body_html has no text")
    if check.first_block is not None and _comparable("".join(check.first_block)) == _comparable(
        title
    ):
        raise ArticleInvalid("body_html repeats the headline; start with the article itself")
    if _ATTRIBUTION.search(body_text):
        raise ArticleInvalid("body_html contains a source note; kanalwerk adds it itself")
    language = detect_language(f"{title}\n{teaser}\n{body_text}")
    if language is not None and language != "de":
        raise ArticleInvalid(f"the article is not in German (detected language: {language})")
    _check_sections(check.sections, len(body_text))
    clean = sanitize_html(body)
    if not html_to_text(clean):
        raise ArticleInvalid("body_html has no text left after sanitizing")
    return title, teaser, clean
