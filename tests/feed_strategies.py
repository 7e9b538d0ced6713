"""Hypothesis strategies for whole feed documents: RSS 2.0, Atom and JSON Feed.

A `GenFeed` is a small model of a feed (titles, bodies, dates, guids, links) that renders
itself as bytes in any of the three formats and several encodings. Text is drawn from all
of Unicode (astral characters, combining marks, right-to-left text, C0 and C1 controls,
noncharacters), and bodies mix ordinary markup with hostile markup.

Every hostile fragment carries `MARK` in the part a sanitizer must drop: a script's body,
an `on*=` attribute's value, a `javascript:` URL. Such fragments are only placed where the
format says the text is HTML, so `MARK` anywhere in the output means something got through.
Where a format says the text is plain (an RSS or JSON title, Atom `type="text"`), the same
fragments carry `INERT` instead: showing them as text is right.

Lone surrogates are left to the tests that pin them: a JSON Feed that carries one as an
escape is easy to write, but the text strategies here stay within Unicode scalar values.
"""

from __future__ import annotations

import email.utils
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from hypothesis import strategies as st

MARK = "xssmarkq"
XHTML = "http://www.w3.org/1999/xhtml"
INERT = "inert"

Kind = Literal["rss", "atom", "json"]
FORMATS: tuple[Kind, ...] = ("rss", "atom", "json")

# --- text --------------------------------------------------------------------------

# Characters XML 1.0 forbids outright; a feed with them raw is malformed.
_XML_ILLEGAL = {chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]} | {
    "\ufffe",
    "\uffff",
}

_INTERESTING = (
    "ä ö ü ß Ä ẞ",  # German
    "😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🇩🇪 👩‍💻",  # astral, flags, ZWJ sequences
    "e\u0301 \u0345",  # combining marks
    "שלום مرحبا \u202e\u2066",  # right-to-left text and direction overrides
    "\u00a0\u2028\u2029\u200b\ufeff",  # odd spaces and separators
    "\x85\x9f\x7f",  # C1 controls and DEL
    "\ufdd0\U0001fffe\U0010ffff",  # noncharacters
    "a\x00b\x01c\x0bd\x1b[31m",  # C0 controls, an ANSI escape
    "\r\n\t",
)

plain_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(_INTERESTING),
    st.sampled_from(["", " ", "DeepSeek R1", "KI-Modell übertrifft GPT", "Tom & Jerry"]),
)

# A reference past the last code point, U+10FFFF.
HUGE_REF = "&#1114112;"

# Entity and character references as they appear inside HTML (and XML) text.
ENTITIES = (
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&#39;",
    "&nbsp;",
    "&eacute;",
    "&copy;",
    "&#x1F600;",
    "&#128512;",
    "&#0;",
    "&#x0B;",
    HUGE_REF,
    "&bogus;",
    "&amp;lt;script&amp;gt;",
    "&",
)

# --- markup ------------------------------------------------------------------------

# `{m}` is MARK in HTML contexts and INERT in plain-text ones.
HOSTILE = (
    "<script>alert('{m}')</script>",
    "<SCRIPT SRC=https://evil.example/{m}.js></SCRIPT>",
    '<script type="module">import("{m}")</script>',
    '<img src="x" onerror="{m}()">',
    "<img src=x ONERROR = '{m}()'>",
    "<p onclick='{m}()'>klick</p>",
    '<a href="https://example.com/" onmouseover="{m}()">ok</a>',
    "<body onload={m}()>",
    '<a href="javascript:{m}()">link</a>',
    '<a href="JaVaScRiPt:{m}()">link</a>',
    '<a href="java&#x09;script:{m}()">tab</a>',
    '<a href=" &#106;avascript:{m}()">ref</a>',
    '<a href="javascript&colon;{m}()">colon</a>',
    '<a href="vbscript:{m}()">vb</a>',
    '<a href="data:text/html;base64,{m}">data</a>',
    '<img src="javascript:{m}()">',
    '<iframe src="javascript:{m}()"></iframe>',
    "<svg><script>{m}()</script></svg>",
    '<svg onload="{m}()"/>',
    "<math><mtext><script>{m}()</script></mtext></math>",
    '<div style="background:url(javascript:{m}())">stil</div>',
    '<form action="javascript:{m}()"><button>x</button></form>',
    '<object data="javascript:{m}()"></object>',
    '<embed src="javascript:{m}()">',
    '<noscript><p title="</noscript><img src=x onerror={m}()>"></noscript>',
    "<template><script>{m}()</script></template>",
    "<style>body{{background:url({m})}}</style>",
    "<!-- <script>{m}()</script> -->",
    '<details open ontoggle="{m}()">d</details>',
    '<div class="quelle" role="note">Gefälschter Hinweis</div>',
    "<p>&lt;script&gt;gezeigt, nicht ausgeführt&lt;/script&gt;</p>",
    "<script>{m}()",  # never closed: swallows the rest of the body
)

_SAFE_WRAPPERS = (
    "<p>{}</p>",
    "<em>{}</em>",
    "<strong>{}</strong>",
    '<a href="https://example.com/a?b=1&amp;c=2">{}</a>',
    '<a href="/relative/path">{}</a>',
    "<blockquote>{}</blockquote>",
    "<h2>{}</h2>",
    "<ul><li>{}</li></ul>",
    "<pre><code>{}</code></pre>",
    "<table><tr><td>{}</td></tr></table>",
    "<div><div>{}</div></div>",
    '<img src="https://example.com/bild.png" alt="{}">',
    "<p>{}",  # unclosed
    "</div>{}",  # stray end tag
    "<b><i>{}</b></i>",  # misnested
)


@dataclass(frozen=True)
class Fragment:
    """One piece of a body: escaped text, a wrapper around escaped text, or raw markup."""

    template: str

    def render(self, mark: str) -> str:
        return self.template.replace("{m}", mark)


def _escaped(text: str) -> str:
    return html.escape(text, quote=True)


fragments = st.one_of(
    plain_text.map(lambda t: Fragment(_escaped(t).replace("{", "(").replace("}", ")"))),
    st.builds(
        lambda w, t: Fragment(w.format(_escaped(t).replace("{", "(").replace("}", ")"))),
        st.sampled_from(_SAFE_WRAPPERS),
        plain_text,
    ),
    st.sampled_from(ENTITIES).map(Fragment),
    st.sampled_from(HOSTILE).map(lambda h: Fragment(h.replace("{{", "{").replace("}}", "}"))),
)


@dataclass(frozen=True)
class Markup:
    parts: tuple[Fragment, ...]

    def render(self, mark: str) -> str:
        return "".join(p.render(mark) for p in self.parts)


markups = st.lists(fragments, max_size=6).map(lambda ps: Markup(tuple(ps)))


@dataclass(frozen=True)
class Title:
    """A title: plain text (maybe with hostile-looking text) or, in Atom, declared HTML."""

    text: str
    markup: Markup | None = None  # set: the title is HTML (Atom type="html")

    def plain(self) -> str:
        return self.text


_C1_CONTROLS = str.maketrans({chr(c): None for c in range(0x80, 0xA0)})


def titles(html: bool = True) -> st.SearchStrategy[Title]:
    """Titles; without `html`, only plain-text ones and no C1 controls in them.

    (feedparser reads C1 controls as the windows-1252 characters they usually stand for.)
    """
    plain = st.one_of(
        plain_text.map(Title),
        st.builds(lambda a, b: Title(a + b), plain_text, st.sampled_from(ENTITIES)),
        st.sampled_from(
            [
                "The <dialog> element",
                "The &lt;dialog&gt; element",
                "<script>alert(1)</script> in a title",
                "Fish & Chips <b>bold</b>",
                "x" * 300,
            ]
        ).map(Title),
    )
    if not html:
        return plain.map(lambda t: Title(t.text.translate(_C1_CONTROLS)))
    return st.one_of(plain, markups.map(lambda m: Title("", m)))


# --- dates -------------------------------------------------------------------------

_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


# Offsets that push these instants past the ends of datetime's range when made UTC.
EDGE_DATES = (
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),
)


_DATETIMES = st.one_of(
    st.datetimes(datetime(1990, 1, 1), datetime(2035, 1, 1), timezones=_OFFSETS),
    st.datetimes(timezones=_OFFSETS),
    st.sampled_from(EDGE_DATES),
)


@dataclass(frozen=True)
class Date:
    value: datetime | None
    garbage: str | None = None

    def rfc822(self) -> str | None:
        if self.garbage is not None:
            return self.garbage
        if self.value is None:
            return None
        if self.value.year < 1000:  # email.utils needs four-digit years
            return self.value.strftime("%a, %d %b ") + f"{self.value.year:04d}" + " 00:00:00 GMT"
        return email.utils.format_datetime(self.value)

    def rfc3339(self) -> str | None:
        if self.garbage is not None:
            return self.garbage
        return self.value.isoformat() if self.value is not None else None


_GARBAGE_DATES = (
    "",
    "gestern",
    "2024-13-45T25:61:61Z",
    "Mon, 32 Foo 2024 99:99:99 +9999",
    "0000-00-00T00:00:00Z",
    "1e309",
    "2024-01-01T00:00:00+99:00",
)


DATES = st.one_of(
    _DATETIMES.map(Date),
    st.just(Date(None)),
    st.sampled_from(_GARBAGE_DATES).map(lambda g: Date(None, g)),
)


# When a rebuilt feed says it was built.
_REBUILT = Date(datetime(2026, 3, 1, 12, 30, tzinfo=UTC))


# --- guids and links ---------------------------------------------------------------

ABSOLUTE_GUIDS = st.one_of(
    st.integers(0, 10**6).map(lambda n: f"https://example.com/p/{n}"),
    st.uuids().map(lambda u: f"urn:uuid:{u}"),
    st.integers(0, 999).map(lambda n: f"tag:example.com,2024:{n}"),
    plain_text.map(lambda t: "urn:x-test:" + t.strip()),
    st.just(f"javascript:{MARK}()"),
)

RELATIVE_GUIDS = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["/p?id=3", "../x", "?page=2", "#frag", "12345", "a b c"]),
    plain_text,
)


GUIDS = st.one_of(ABSOLUTE_GUIDS, RELATIVE_GUIDS, st.none())


LINKS = st.one_of(
    st.none(),
    st.integers(0, 99).map(lambda n: f"https://example.com/post/{n}"),
    st.sampled_from(
        [
            "/relativ/1",
            f"javascript:{MARK}()",
            f" JAVASCRIPT:{MARK}()",
            f"data:text/html,{MARK}",
            "https://example.com/ä?q=ü#frag",
            "https://example.com/mit leerzeichen",
            "https://example.com/<b>|{x}`^",
            "https://",
            "mailto:someone@example.com",
        ]
    ),
)

# The original feed's id; readers may show or follow it (atom:source/id). Some script
# IRIs are caught only by a check of the whole IRI, not of its prefix.
FEED_IDS = st.one_of(
    st.none(),
    st.just("urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6"),
    st.just("urn:x-test:ein feed"),
    st.sampled_from(
        [
            f"javascript:{MARK}()",
            f"JavaScript:{MARK}()",
            f" vbscript:{MARK}()",
            f"data:text/html,{MARK}",
            f"java\tscript:{MARK}()",
            f"java\nscript:{MARK}()",
            f"\x01javascript:{MARK}()",
            f"\x0ejavascript:{MARK}()",
        ]
    ),
)


# --- items and feeds ---------------------------------------------------------------


@dataclass(frozen=True)
class GenItem:
    title: Title
    body: Markup
    summary: Markup | None
    guid: str | None
    link: str | None
    published: Date
    updated: Date
    permalink: bool | None  # RSS isPermaLink
    # How the body is given: as HTML, as plain text (Atom type="text", JSON content_text; RSS
    # has no plain bodies and puts it in <description> instead of <content:encoded>), or as
    # inline XHTML (Atom type="xhtml"; elsewhere HTML).
    body_type: Literal["html", "text", "xhtml"]


def items(
    html_titles: bool,
    *,
    title: st.SearchStrategy[Title] | None = None,
    guid: st.SearchStrategy[str | None] = GUIDS,
    body_types: Sequence[Literal["html", "text", "xhtml"]] = ("html", "html", "text", "xhtml"),
) -> st.SearchStrategy[GenItem]:
    return st.builds(
        GenItem,
        title=titles(html_titles) if title is None else title,
        body=markups,
        summary=st.none() | markups,
        guid=guid,
        link=LINKS,
        published=DATES,
        updated=DATES,
        permalink=st.none() | st.booleans(),
        body_type=st.sampled_from(body_types),
    )


Encoding = Literal["utf-8", "utf-16", "iso-8859-1", "windows-1252", "us-ascii"]


@dataclass(frozen=True)
class GenFeed:
    kind: Kind
    title: Title
    feed_id: str | None
    home: str | None
    items: tuple[GenItem, ...]
    encoding: Encoding = "utf-8"
    cdata: bool = False
    raw_controls: bool = False  # leave XML-illegal characters in (a malformed feed)
    header_charset: Literal["none", "match", "wrong"] = "none"
    bom: bool = False  # JSON Feed: a UTF-8 byte order mark
    ascii_json: bool = False
    trailer: str = field(default="")  # appended after the document (changes its hash)
    # The channel's `language:`. German items are published as they are; English ones go
    # through the translation engine (a fake one that upper-cases text and keeps markup).
    language: Literal["de", "en"] = "de"
    rebuilt: bool = False  # a later build: new feed date, and JSON laid out differently

    def moved(self) -> GenFeed:
        """The same feed with a different body hash: it must parse to the same items."""
        return replace(self, trailer=" ")

    def rebuild(self) -> GenFeed:
        """The same items as a publisher's next build writes them: a new lastBuildDate (RSS),
        feed `updated` (Atom), other whitespace (JSON). Nothing a reader shows changes."""
        return replace(self, rebuilt=True)

    @property
    def content_type(self) -> str:
        base = {
            "rss": "application/rss+xml",
            "atom": "application/atom+xml",
            "json": "application/feed+json",
        }[self.kind]
        if self.header_charset == "match":
            return f"{base}; charset={self.encoding}"
        if self.header_charset == "wrong":
            return f"{base}; charset={'utf-8' if self.encoding != 'utf-8' else 'iso-8859-1'}"
        return base

    def render(self) -> bytes:
        if self.kind == "json":
            return self._json()
        text = self._rss() if self.kind == "rss" else self._atom()
        if self.trailer:
            text += "<!-- moved -->\n"
        data = text.encode(self.encoding, errors="xmlcharrefreplace")
        return data

    def text(self) -> str:
        """The document as served, decoded (a UTF-16 body holds no ASCII bytes to search)."""
        encoding = "utf-8" if self.kind == "json" else self.encoding
        return self.render().decode(encoding, errors="replace")

    # XML helpers

    def _x(self, text: str) -> str:
        """Character data for an XML element (escaped, or CDATA where the encoding allows)."""
        if not self.raw_controls:
            text = "".join(c for c in text if c not in _XML_ILLEGAL)
        if self.cdata and self.encoding in ("utf-8", "utf-16"):
            return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
        return html.escape(text, quote=False)

    def _raw(self, markup: str) -> str:
        """Markup written into the XML document as it is."""
        if not self.raw_controls:
            markup = "".join(c for c in markup if c not in _XML_ILLEGAL)
        return markup

    def _attr(self, text: str) -> str:
        """An attribute value. Tab, newline and CR go in as character references: written
        as they are, XML reads each as a space, and `java<newline>script:` would reach the
        parser as the harmless relative `java script:` instead of the attack it stands for."""
        if not self.raw_controls:
            text = "".join(c for c in text if c not in _XML_ILLEGAL)
        escaped = html.escape(text, quote=True)
        return escaped.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")

    def _declaration(self) -> str:
        return f'<?xml version="1.0" encoding="{self.encoding}"?>\n'

    def _rss(self) -> str:
        out = [
            self._declaration(),
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
            "<channel>",
            f"<title>{self._x(_plain_title(self.title))}</title>",
        ]
        if self.home is not None:
            out.append(f"<link>{self._x(self.home)}</link>")
        out.append("<description>Generated</description>")
        if self.rebuilt:
            out.append(f"<lastBuildDate>{_REBUILT.rfc822()}</lastBuildDate>")
        for item in self.items:
            out.append("<item>")
            out.append(f"<title>{self._x(_plain_title(item.title))}</title>")
            if item.link is not None:
                out.append(f"<link>{self._x(item.link)}</link>")
            if item.guid is not None:
                attr = (
                    ""
                    if item.permalink is None
                    else f' isPermaLink="{"true" if item.permalink else "false"}"'
                )
                out.append(f"<guid{attr}>{self._x(item.guid)}</guid>")
            if (date := item.published.rfc822()) is not None:
                out.append(f"<pubDate>{self._x(date)}</pubDate>")
            body = self._x(item.body.render(MARK))
            if item.body_type == "text":
                out.append(f"<description>{body}</description>")
            else:
                if item.summary is not None:
                    summary = self._x(item.summary.render(MARK))
                    out.append(f"<description>{summary}</description>")
                out.append(f"<content:encoded>{body}</content:encoded>")
            out.append("</item>")
        out += ["</channel>", "</rss>\n"]
        return "\n".join(out)

    def _atom_text(self, name: str, title: Title) -> str:
        if title.markup is not None:
            return f'<{name} type="html">{self._x(title.markup.render(MARK))}</{name}>'
        return f'<{name} type="text">{self._x(title.plain())}</{name}>'

    def _atom(self) -> str:
        out = [
            self._declaration(),
            '<feed xmlns="http://www.w3.org/2005/Atom">',
            self._atom_text("title", self.title),
            f"<id>{self._x(self.feed_id or 'urn:x-test:feed')}</id>",
            f"<updated>{_REBUILT.rfc3339() if self.rebuilt else '2025-01-01T00:00:00Z'}</updated>",
        ]
        if self.home is not None:
            out.append(f'<link rel="alternate" href="{self._attr(self.home)}"/>')
        for item in self.items:
            out.append("<entry>")
            out.append(self._atom_text("title", item.title))
            if item.guid is not None:
                out.append(f"<id>{self._x(item.guid)}</id>")
            if item.link is not None:
                out.append(f'<link rel="alternate" href="{self._attr(item.link)}"/>')
            if (date := item.published.rfc3339()) is not None:
                out.append(f"<published>{self._x(date)}</published>")
            if (date := item.updated.rfc3339()) is not None:
                out.append(f"<updated>{self._x(date)}</updated>")
            if item.summary is not None:
                out.append(f'<summary type="html">{self._x(item.summary.render(MARK))}</summary>')
            if item.body_type == "html":
                out.append(f'<content type="html">{self._x(item.body.render(MARK))}</content>')
            elif item.body_type == "xhtml":
                # Raw markup inside the document: not always well-formed XML, on purpose.
                xhtml = self._raw(item.body.render(MARK))
                out.append(f'<content type="xhtml"><div xmlns="{XHTML}">{xhtml}</div></content>')
            else:
                out.append(f'<content type="text">{self._x(item.body.render(INERT))}</content>')
            out.append("</entry>")
        out.append("</feed>\n")
        return "\n".join(out)

    def _json(self) -> bytes:
        entries = []
        for item in self.items:
            entry: dict[str, object] = {"title": _plain_title(item.title)}
            if item.guid is not None:
                entry["id"] = item.guid
            if item.link is not None:
                entry["url"] = item.link
            if item.body_type != "text":
                entry["content_html"] = item.body.render(MARK)
            else:
                entry["content_text"] = item.body.render(INERT)
            if item.summary is not None:
                entry["summary"] = item.summary.render(INERT)
            if (date := item.published.rfc3339()) is not None:
                entry["date_published"] = date
            if (date := item.updated.rfc3339()) is not None:
                entry["date_modified"] = date
            entries.append(entry)
        document: dict[str, object] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": _plain_title(self.title),
            "items": entries,
        }
        if self.home is not None:
            document["home_page_url"] = self.home
        if self.feed_id is not None:
            document["feed_url"] = self.feed_id
        if self.trailer:
            document["_moved"] = True
        indent = 1 if self.rebuilt else None
        text = json.dumps(document, ensure_ascii=self.ascii_json, indent=indent)
        data = text.encode("utf-8", "surrogatepass")
        return (b"\xef\xbb\xbf" if self.bom else b"") + data


def _plain_title(title: Title) -> str:
    """A title for a format without HTML titles: hostile fragments are inert text there."""
    if title.markup is not None:
        return title.markup.render(INERT)
    return title.plain()


def feeds(
    *,
    kinds: Sequence[Kind] = FORMATS,
    html_titles: bool = True,
    min_items: int = 0,
    max_items: int = 4,
) -> st.SearchStrategy[GenFeed]:
    """Feeds of `kinds` with `min_items` to `max_items` items; `html_titles=False` keeps
    titles plain."""
    return st.builds(
        GenFeed,
        kind=st.sampled_from(list(kinds)),
        title=titles(),
        feed_id=FEED_IDS,
        home=st.one_of(LINKS, FEED_IDS),
        items=st.lists(items(html_titles), min_size=min_items, max_size=max_items).map(tuple),
        encoding=st.sampled_from(["utf-8", "utf-8", "utf-16", "iso-8859-1", "windows-1252"]),
        cdata=st.booleans(),
        raw_controls=st.sampled_from([False, False, False, True]),
        header_charset=st.sampled_from(["none", "match", "match", "wrong"]),
        bom=st.booleans(),
        ascii_json=st.booleans(),
        language=st.sampled_from(["de", "de", "en"]),
    )


def hostile_feeds() -> st.SearchStrategy[GenFeed]:
    """Feeds that carry at least one hostile fragment, so there is something to remove."""
    return feeds().filter(lambda feed: MARK in feed.text().lower())


def plain_title_feeds(max_items: int = 4) -> st.SearchStrategy[GenFeed]:
    """Feeds whose every item's title is unambiguously plain text and must be shown as is.

    Atom `type="text"` or JSON Feed titles, each with a visible character; items kept apart
    by ids of their own (no fallback merges or names them); a German channel (published
    untranslated); a well-formed document (no inline XHTML, which may not be) whose
    charset, if the header gives one, is true.
    """
    title = titles(html=False).filter(lambda t: any(c.isalnum() for c in t.text))
    guid = st.one_of(
        st.integers(0, 10**6).map(lambda n: f"https://example.com/p/{n}"),
        st.uuids().map(lambda u: f"urn:uuid:{u}"),
        st.integers(0, 10**6).map(str),
    )
    return st.builds(
        GenFeed,
        kind=st.sampled_from(["atom", "json"]),
        title=titles(),
        feed_id=FEED_IDS,
        home=st.one_of(LINKS, FEED_IDS),
        items=st.lists(
            items(False, title=title, guid=guid, body_types=("html", "text")),
            min_size=1,
            max_size=max_items,
            unique_by=lambda item: item.guid,
        ).map(tuple),
        encoding=st.sampled_from(["utf-8", "utf-16", "iso-8859-1", "windows-1252"]),
        cdata=st.booleans(),
        header_charset=st.sampled_from(["none", "match"]),
        bom=st.booleans(),
        ascii_json=st.booleans(),
        language=st.just("de"),
    )
