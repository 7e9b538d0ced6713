"""Markup-preserving segmentation: HTML → engine-sized texts → HTML again.

Each block's inline content becomes one segment, so a sentence with a link in it is
translated as one sentence. Inline tags are swapped for short placeholders (`<x1>…</x1>`
for elements with content, `<x2/>` for images, line breaks and protected content such
as `code`) whose real markup is kept aside; engines only ever see placeholders. `pre`
and other protected content never leave this module.

`Segmented.render` puts the markup back and is tolerant of engines that drop, repeat,
invent or reorder placeholders: the result is always balanced HTML, and protected
content and images are never lost.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal

VOID_TAGS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
        "param", "source", "track", "wbr",
    }
)  # fmt: skip

#: Elements that stay inside a segment (as placeholders). Anything else is a block.
INLINE_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "br", "cite", "code", "data", "del",
        "dfn", "em", "font", "i", "img", "ins", "kbd", "label", "mark", "q", "rp", "rt", "ruby",
        "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u",
        "var", "wbr",
    }
)  # fmt: skip

#: Never translated: kept verbatim, as a void placeholder when inline.
PROTECTED_TAGS = frozenset(
    {"code", "kbd", "samp", "var", "script", "style", "pre", "svg", "math", "textarea"}
)
_RAW_TEXT_TAGS = frozenset({"script", "style"})

#: Starting one of these closes an open element of the same family (`<li>a<li>b`).
_IMPLIED_END: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "li": (frozenset({"li"}), frozenset({"ul", "ol"})),
    "dt": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "dd": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "tr": (frozenset({"tr", "td", "th"}), frozenset({"table", "thead", "tbody", "tfoot"})),
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "option": (frozenset({"option"}), frozenset({"select", "datalist"})),
}

_ASCII_WS = "[ \t\n\r\f]"
_LEADING_WS = re.compile(f"^{_ASCII_WS}*")
_TRAILING_WS = re.compile(f"{_ASCII_WS}*$")
_WS_RUN = re.compile(f"{_ASCII_WS}+")
#: A placeholder as engines may write it back: `<x1>`, `</x1>`, `<x2/>`, `< x2 / >`.
_PLACEHOLDER = re.compile(r"<\s*(/?)\s*x(\d+)\s*(/?)\s*>", re.IGNORECASE)
#: Any other tag-like text an engine invents; removed on render.
_STRAY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_NO_IMAGE_LOSS_EXEMPT = frozenset({"br", "wbr"})
#: Deepest element kept; real articles nest a dozen levels, hostile ones thousands.
MAX_DEPTH = 64


# --- a tiny DOM -------------------------------------------------------------------------


@dataclass
class _Text:
    data: str


@dataclass
class _Element:
    tag: str
    attrs: list[tuple[str, str | None]]
    children: list[_Element | _Text] = field(default_factory=list)
    parent: _Element | None = field(default=None, repr=False)
    depth: int = 0


_Node = _Element | _Text


class _TreeBuilder(HTMLParser):
    """Builds a forgiving tree: stray end tags are ignored, unclosed elements closed.

    Elements nested deeper than `MAX_DEPTH` are left out (their text is kept), so the
    recursive walks below stay far from Python's recursion limit whatever a feed holds.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("#root", [])
        self._open = self.root
        self._too_deep: list[str] = []  # open tags left out, innermost last

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open.depth >= MAX_DEPTH:
            if tag not in VOID_TAGS:
                self._too_deep.append(tag)
            return
        self._imply_end(tag)
        element = _Element(tag, attrs, parent=self._open, depth=self._open.depth + 1)
        self._open.children.append(element)
        if tag not in VOID_TAGS:
            self._open = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open.depth >= MAX_DEPTH:
            return
        self._imply_end(tag)
        element = _Element(tag, attrs, parent=self._open, depth=self._open.depth + 1)
        self._open.children.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._too_deep:
            innermost = len(self._too_deep) - 1 - self._too_deep[::-1].index(tag)
            del self._too_deep[innermost:]
            return
        node: _Element | None = self._open
        while node is not None and node is not self.root:
            if node.tag == tag:
                assert node.parent is not None
                self._open = node.parent
                return
            node = node.parent

    def handle_data(self, data: str) -> None:
        children = self._open.children
        if children and isinstance(children[-1], _Text):
            children[-1].data += data
        else:
            children.append(_Text(data))

    def _imply_end(self, tag: str) -> None:
        if tag not in INLINE_TAGS and self._has_open("p"):
            self.handle_endtag("p")
        rule = _IMPLIED_END.get(tag)
        if rule is None:
            return
        closes, scope = rule
        node: _Element | None = self._open
        while node is not None and node is not self.root and node.tag not in scope:
            if node.tag in closes:
                assert node.parent is not None
                self._open = node.parent
                return
            node = node.parent

    def _has_open(self, tag: str) -> bool:
        node: _Element | None = self._open
        while node is not None and node is not self.root:
            if node.tag == tag:
                return True
            if node.tag not in INLINE_TAGS:
                return False
            node = node.parent
        return False


def _parse(markup: str) -> _Element:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


def _escape(text: str) -> str:
    """Text → HTML as html5 serializers write it (so sanitized input round-trips)."""
    return html.escape(text, quote=False).replace("\xa0", "&nbsp;")


def _escape_attribute(value: str) -> str:
    escaped = html.escape(value, quote=False).replace('"', "&quot;")
    return escaped.replace("\xa0", "&nbsp;")


def _start_tag(element: _Element) -> str:
    parts = [element.tag]
    for name, value in element.attrs:
        parts.append(name if value is None else f'{name}="{_escape_attribute(value)}"')
    return "<" + " ".join(parts) + ">"


def _end_tag(element: _Element) -> str:
    return "" if element.tag in VOID_TAGS else f"</{element.tag}>"


def _serialize(node: _Node, raw: bool = False) -> str:
    if isinstance(node, _Text):
        return node.data if raw else _escape(node.data)
    inner_raw = node.tag in _RAW_TEXT_TAGS
    inner = "".join(_serialize(child, inner_raw) for child in node.children)
    return _start_tag(node) + inner + _end_tag(node)


def _is_protected(element: _Element) -> bool:
    if element.tag in PROTECTED_TAGS:
        return True
    for name, value in element.attrs:
        if name == "translate" and (value or "").strip().lower() == "no":
            return True
        if name == "class" and "notranslate" in (value or "").split():
            return True
    return False


def _has_block(element: _Element) -> bool:
    for child in element.children:
        if isinstance(child, _Element) and (
            child.tag not in INLINE_TAGS or (not _is_protected(child) and _has_block(child))
        ):
            return True
    return False


# --- segments -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placeholder:
    kind: Literal["pair", "void"]
    open: str  # start tag, or the whole verbatim markup for a void placeholder
    close: str = ""
    keep: bool = False  # must survive even if the engine drops it (code, images)


@dataclass(frozen=True)
class _Slot:
    """Where one translated segment goes, with the markup its placeholders stand for."""

    lead: str
    trail: str
    placeholders: tuple[tuple[int, _Placeholder], ...]


@dataclass(frozen=True)
class Segmented:
    """Texts to send to an engine, and how to put their translations back."""

    texts: tuple[str, ...]
    parts: tuple[str | _Slot, ...] = field(repr=False)

    def render(self, translated: Sequence[str]) -> str:
        """The document with each segment replaced by its translation, in order."""
        if len(translated) != len(self.texts):
            raise ValueError(f"expected {len(self.texts)} translations, got {len(translated)}")
        out: list[str] = []
        pending = iter(translated)
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(part.lead + _restore(next(pending), part) + part.trail)
        return "".join(out)


def _translatable(text: str) -> bool:
    """True when the text has words to translate (not just numbers, symbols or a URL)."""
    text = html.unescape(_PLACEHOLDER.sub(" ", text))
    return any(ch.isalpha() for ch in _URL.sub(" ", text))


class _RunBuilder:
    """Turns a run of inline nodes into one segment text plus its placeholder table."""

    def __init__(self) -> None:
        self.placeholders: list[tuple[int, _Placeholder]] = []
        self._out: list[str] = []

    def _next_id(self) -> int:
        return len(self.placeholders) + 1

    def add(self, node: _Node) -> None:
        if isinstance(node, _Text):
            self._out.append(_escape(node.data))
            return
        number = self._next_id()
        if _is_protected(node):
            self.placeholders.append((number, _Placeholder("void", _serialize(node), keep=True)))
            self._out.append(f"<x{number}/>")
        elif node.tag in VOID_TAGS or not node.children:
            keep = node.tag not in _NO_IMAGE_LOSS_EXEMPT
            self.placeholders.append((number, _Placeholder("void", _serialize(node), keep=keep)))
            self._out.append(f"<x{number}/>")
        else:
            self.placeholders.append(
                (number, _Placeholder("pair", _start_tag(node), _end_tag(node)))
            )
            self._out.append(f"<x{number}>")
            for child in node.children:
                self.add(child)
            self._out.append(f"</x{number}>")

    def text(self) -> str:
        return "".join(self._out)


class _Segmenter:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.parts: list[str | _Slot] = []

    def _literal(self, text: str) -> None:
        if text:
            self.parts.append(text)

    def _flush(self, run: list[_Node]) -> None:
        if not run:
            return
        builder = _RunBuilder()
        for node in run:
            builder.add(node)
        text = builder.text()
        lead = _LEADING_WS.match(text)
        trail = _TRAILING_WS.search(text)
        assert lead is not None and trail is not None
        core = text[lead.end() : trail.start()] if lead.end() < len(text) else ""
        if not _translatable(core):
            self._literal("".join(_serialize(node) for node in run))
            return
        self.texts.append(_WS_RUN.sub(" ", core))
        self.parts.append(_Slot(lead.group(0), trail.group(0), tuple(builder.placeholders)))

    def block(self, element: _Element) -> None:
        run: list[_Node] = []
        for child in element.children:
            if isinstance(child, _Text):
                run.append(child)
            elif child.tag == "br":
                self._flush(run)
                run = []
                self._literal(_serialize(child))
            elif child.tag in INLINE_TAGS and (_is_protected(child) or not _has_block(child)):
                run.append(child)
            else:
                self._flush(run)
                run = []
                if _is_protected(child):
                    self._literal(_serialize(child))
                else:
                    self._literal(_start_tag(child))
                    self.block(child)
                    self._literal(_end_tag(child))
        self._flush(run)


def segment_html(markup: str) -> Segmented:
    """Split sanitized HTML into translatable segments, one per block of inline content."""
    segmenter = _Segmenter()
    segmenter.block(_parse(markup))
    return Segmented(tuple(segmenter.texts), tuple(segmenter.parts))


# --- restoring ------------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, int] | str]:
    """Split an engine's answer into text and placeholder tokens ("open"/"close"/"void", n)."""
    tokens: list[tuple[str, int] | str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > last:
            tokens.append(text[last : match.start()])
        closing, number, slash = match.groups()
        kind = "close" if closing else "void" if slash else "open"
        tokens.append((kind, int(number)))
        last = match.end()
    if last < len(text):
        tokens.append(text[last:])
    return tokens


def _clean_text(text: str) -> str:
    """Engine text → safe HTML text: invented tags dropped, entities normalised."""
    return _escape(html.unescape(_STRAY_TAG.sub("", text)))


def _restore(translated: str, slot: _Slot) -> str:
    table = dict(slot.placeholders)
    out: list[str] = []
    stack: list[int] = []
    used: set[int] = set()
    for token in _tokens(translated.strip()):
        if isinstance(token, str):
            out.append(_clean_text(token))
            continue
        kind, number = token
        placeholder = table.get(number)
        if placeholder is None:
            continue
        if placeholder.kind == "void":
            if kind != "close" and number not in used:
                used.add(number)
                out.append(placeholder.open)
        elif kind == "open" and number not in used:
            used.add(number)
            stack.append(number)
            out.append(placeholder.open)
        elif kind == "close" and number in stack:
            while stack:
                top = stack.pop()
                _close(out, table[top])
                if top == number:
                    break
    while stack:
        _close(out, table[stack.pop()])
    text = "".join(out).strip()
    for number, placeholder in slot.placeholders:
        if placeholder.keep and number not in used:
            text = f"{text} {placeholder.open}" if text else placeholder.open
    return text


def _close(out: list[str], placeholder: _Placeholder) -> None:
    """Close an element; one the engine left empty is dropped instead."""
    if out and out[-1] == placeholder.open:
        out.pop()
    else:
        out.append(placeholder.close)


def placeholder_ok(source: str, translated: str) -> bool:
    """True when `translated` has exactly the placeholders of `source`, each pair in order."""

    def signature(text: str) -> Counter[tuple[str, int]] | None:
        counts: Counter[tuple[str, int]] = Counter()
        opened: set[int] = set()
        for token in _tokens(text):
            if isinstance(token, str):
                continue
            kind, number = token
            if kind == "open":
                opened.add(number)
            elif kind == "close" and number not in opened:
                return None
            counts[token] += 1
        return counts

    expected = signature(source)
    got = signature(translated)
    return expected is not None and got is not None and expected == got
