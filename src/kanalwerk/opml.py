"""OPML, the list format feed readers exchange subscriptions in: read 1.0/2.0, write 2.0.

Reading flattens folders (nested `<outline>`s) into one list of feeds, because a channel
list has no folders; writing gives every feed the attributes readers look for
(`type="rss"`, `text`, `title`, `xmlUrl`, `htmlUrl`).
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from xml.parsers import expat

from kanalwerk.errors import OpmlError
from kanalwerk.sanitize import strip_control_chars

__all__ = ["Subscription", "parse_opml", "render_opml"]


@dataclass(frozen=True)
class Subscription:
    """One feed of an OPML file."""

    title: str
    xml_url: str
    html_url: str | None = None


def parse_opml(data: bytes, *, name: str) -> list[Subscription]:
    """The feeds of an OPML document, in document order; folders are looked into.

    Raises OpmlError naming `name` (the file) when it is not OPML. Entity declarations are
    refused before the tree is built: an OPML file never needs them, and they are how XML
    bombs work. The parser finds them, so UTF-16 or any other encoding hides none.
    """
    _refuse_entities(data, name)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        problem = expat.ErrorString(exc.code) or "invalid XML"
        raise OpmlError(f"{name}:{line}:{column + 1}: not well-formed XML: {problem}") from None
    if root.tag != "opml":
        raise OpmlError(f"{name}: not an OPML file (its root element is <{root.tag}>, not <opml>)")
    body = root.find("body")
    if body is None:
        raise OpmlError(f"{name}: the OPML file has no <body> with <outline> elements")
    return list(_subscriptions(body))


def _refuse_entities(data: bytes, name: str) -> None:
    """OpmlError if the document declares an entity; other faults are left to the parse."""

    def refuse(*_args: object) -> None:
        raise OpmlError(f"{name}: not an OPML file kanalwerk reads (it declares XML entities)")

    scan = expat.ParserCreate()
    scan.EntityDeclHandler = refuse
    scan.UnparsedEntityDeclHandler = refuse
    with contextlib.suppress(expat.ExpatError):  # reported by the parse that follows
        scan.Parse(data, True)


def _subscriptions(parent: ET.Element) -> Iterator[Subscription]:
    for outline in parent.iter("outline"):
        attrs = {key.lower(): value.strip() for key, value in outline.attrib.items()}
        xml_url = attrs.get("xmlurl")
        if not xml_url:
            continue  # a folder, or a link that is not a feed
        title = attrs.get("title") or attrs.get("text") or xml_url
        yield Subscription(title=title, xml_url=xml_url, html_url=attrs.get("htmlurl") or None)


def render_opml(
    title: str, subscriptions: Sequence[Subscription], *, owner: str | None = None
) -> bytes:
    """An OPML 2.0 document listing `subscriptions` in the given order.

    It carries no date, so the same list always gives the same bytes.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    if owner:
        ET.SubElement(head, "ownerName").text = owner
    body = ET.SubElement(root, "body")
    for sub in subscriptions:
        text = strip_control_chars(sub.title)  # XML 1.0 cannot carry them
        attrs = {"type": "rss", "text": text, "title": text, "xmlUrl": sub.xml_url}
        if sub.html_url:
            attrs["htmlUrl"] = sub.html_url
        ET.SubElement(body, "outline", attrs)
    ET.indent(root, space="  ")
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
