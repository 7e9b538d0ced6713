"""Properties of the whole spine over generated feeds: fetch → parse → store → compose → publish.

Hypothesis writes RSS 2.0, Atom and JSON Feed documents (see `tests/feed_strategies.py`)
with random titles, markup, dates, guids and encodings, hostile markup included. A loopback
server shared by the module serves each one, and one `run --once` cycle in process turns
it into files. Most channels say `language: de`, the product's own path for German feeds:
items are published as they are and no engine is asked. The others say `language: en` and
go through a loopback LibreTranslate fake that upper-cases text and keeps the markup.

The properties: every output file is well-formed; nothing from a `<script>`, an `on*=`
attribute or a `javascript:` URL reaches the output; entry ids are stable across runs and
across a permanent redirect of the feed; a second run changes no file, whether the feed
answers 304, sends the same body again or a rebuilt one with the same items.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from hypothesis import Phase, example, given, settings
from lxml import etree

from kanalwerk.config import Config, load_config
from kanalwerk.pipeline import CycleReport, Pipeline
from kanalwerk.store import Store
from tests.cli import run_cycle
from tests.fake_libretranslate import FakeLibreTranslate
from tests.feed_strategies import (
    EDGE_DATES,
    HUGE_REF,
    MARK,
    Date,
    Fragment,
    GenFeed,
    GenItem,
    Kind,
    Markup,
    Title,
    feeds,
    hostile_feeds,
    plain_title_feeds,
)
from tests.servers import LocalServer, Resource, Response

ATOM = "{http://www.w3.org/2005/Atom}"
_paths = itertools.count()

# Each example runs whole cycles, so shrinking a failure takes minutes: it is off unless
# KANALWERK_SHRINK=1 asks for a minimal example. KANALWERK_EXAMPLES=200 searches longer.
# CI runs the same examples every time, so a submission is not failed by an unlucky draw.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
_EXAMPLES = int(os.environ.get("KANALWERK_EXAMPLES", "0"))


def examples(default: int) -> settings:
    """Settings for a property whose examples cost one to three whole cycles each."""
    return settings(PROPERTY_SETTINGS, max_examples=_EXAMPLES or default)


PROPERTY_SETTINGS = settings(
    deadline=None,
    phases=[*_PHASES, Phase.shrink] if os.environ.get("KANALWERK_SHRINK") == "1" else _PHASES,
    derandomize=bool(os.environ.get("CI")),
)


# --- running the product --------------------------------------------------------------


@dataclass
class Site:
    """One generated feed served at its own path, and the folder kanalwerk works in."""

    folder: Path
    server: LocalServer
    feed: GenFeed
    path: str

    @property
    def output(self) -> Path:
        return self.folder / "site"

    def config(self) -> Config:
        return load_config(self.folder / "feeds.yaml")

    def serve(self, path: str, feed: GenFeed, *, validators: bool = True) -> None:
        self.server.routes[path] = Resource(
            feed.render(), feed.content_type, etag=validators, last_modified=validators
        )

    def move(self) -> str:
        """Answer the feed's path with a 301 to a new one, which serves the same items.

        The new body differs in a comment and has no validators, so it is read again.
        """
        new_path = self.path.replace("/a/", "/b/c/")
        self.serve(new_path, self.feed.moved(), validators=False)
        location = self.server.url(new_path)
        self.server.routes[self.path] = lambda _r: Response(301, b"", {"Location": location})
        return new_path

    def run(self) -> CycleReport:
        report = run_cycle(self.config())
        # The engine is a loopback fake that never fails: no item may wait or fail.
        assert (report.translate.pending, report.translate.failed) == (0, 0), report.translate
        return report

    def republish(self) -> None:
        """Render every file again from the store, as `kanalwerk publish --force` does."""
        config = self.config()
        with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
            pipeline.publish(force=True)


def start(server: LocalServer, feed: GenFeed, folder: Path) -> Site:
    path = f"/{next(_paths)}/a/feed.xml"
    site = Site(folder, server, feed, path)
    site.serve(path, feed)
    if "/translate" not in server.routes:
        FakeLibreTranslate(server)
    (folder / "feeds.yaml").write_text(
        f"""
site: {{title: "Generiert <&>", base_url: "https://blog.example.org/", author: Redaktion}}
store: sqlite:///kanalwerk.db
output: site/
translator: {{engine: libretranslate, libretranslate: {{url: "{server.base_url}"}}}}
selection:
  backfill: all
channels:
  - name: Kanal
    url: "{server.url(path)}"
    language: {feed.language}
""",
        encoding="utf-8",
    )
    return site


@contextmanager
def one_cycle(server: LocalServer, feed: GenFeed) -> Iterator[Site]:
    """`feed` served and run through one cycle in a folder of its own.

    A fresh folder per example: pytest's tmp_path would be shared by all of a test's examples.
    """
    with tempfile.TemporaryDirectory(prefix="kw-prop-") as folder:
        site = start(server, feed, Path(folder))
        site.run()
        yield site


# --- reading the output ---------------------------------------------------------------

_XML_PARSER = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)


def _html_parser() -> etree.HTMLParser:
    return etree.HTMLParser(recover=False, no_network=True)


# Code points HTML forbids in a document ("control-character-in-input-stream",
# "noncharacter-in-input-stream", surrogates); XML 1.0 forbids the C0 ones too.
_HTML_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(
        f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)
    )
    + "]"
)
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def output_files(output: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below `output` with its bytes and mtime."""
    return {
        str(p.relative_to(output)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(output.rglob("*"))
        if p.is_file()
    }


def feed_entries(output: Path) -> list[etree._Element]:
    root = etree.fromstring((output / "feed.atom").read_bytes(), _XML_PARSER)
    return list(root.findall(f"{ATOM}entry"))


def entry_ids(output: Path) -> list[str]:
    return [entry.findtext(f"{ATOM}id") or "" for entry in feed_entries(output)]


def assert_well_formed(output: Path) -> None:
    files = output_files(output)
    assert "feed.atom" in files and "index.html" in files, sorted(files)
    for name, (data, _) in files.items():
        if name.endswith((".atom", ".rss", ".xml")):
            etree.fromstring(data, _XML_PARSER)  # raises on any well-formedness error
        elif name.endswith(".json"):
            json.loads(data)
        elif name.endswith(".html"):
            text = data.decode("utf-8")  # strict: no undecodable bytes
            bad = _HTML_FORBIDDEN.search(text)
            assert bad is None, f"{name}: forbidden character {bad.group()!r}"
            etree.fromstring(data, _html_parser())
    for entry in feed_entries(output):
        for part in ("content", "summary"):
            element = entry.find(f"{ATOM}{part}")
            if element is not None and element.get("type") == "html" and element.text:
                fragment = f"<!doctype html><html><body>{element.text}</body></html>"
                etree.fromstring(fragment.encode(), _html_parser())
        assert_iris(entry)


# An absolute IRI (RFC 3987) as far as a reader's parser cares: a scheme, then no character
# that no IRI may contain (space, controls, `<>"{}|\^` and the backtick).
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\x00-\x20<>\"{}|\\^`\x7f-\x9f]*")


def assert_iris(entry: etree._Element) -> None:
    """atom:id is an IRI and link/@href an IRI reference (RFC 4287 §4.2.6, §4.2.7.1)."""
    ids = [entry.findtext(f"{ATOM}id"), entry.findtext(f"{ATOM}source/{ATOM}id")]
    hrefs = [link.get("href") for link in entry.iter(f"{ATOM}link")]
    for value in [*ids, *hrefs]:
        assert value is None or _IRI.fullmatch(value), f"feed.atom: not an IRI: {value!r}"


# --- what must not survive -------------------------------------------------------------

_URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "cite", "data", "poster", "background", "srcset"}
)
_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:")
_SCRIPT_ELEMENTS = frozenset({"script", "iframe", "object", "embed", "svg", "math", "style"})


def _scheme_text(url: str) -> str:
    """A URL as a browser reads its scheme: tabs and newlines dropped, controls trimmed."""
    return re.sub(r"[\t\n\r]", "", url).strip("\x00- ").lower()


def _script_url(url: str | None) -> bool:
    return url is not None and _scheme_text(url).startswith(_SCRIPT_SCHEMES)


def assert_no_script(root: etree._Element, where: str) -> None:
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        tag = etree.QName(element).localname.lower()
        assert tag not in _SCRIPT_ELEMENTS, f"{where}: <{tag}> survived"
        for name, value in element.attrib.items():
            local = etree.QName(name).localname.lower()
            assert not local.startswith("on"), f"{where}: {local}={value!r} survived"
            if local in _URL_ATTRIBUTES:
                assert not _script_url(value), f"{where}: {local}={value!r} survived"
            if tag == "meta" and local == "content":
                assert "url=" not in value.lower(), f"{where}: meta refresh {value!r}"


def assert_nothing_hostile(output: Path) -> None:
    for name, (data, _) in output_files(output).items():
        assert MARK.encode() not in data.lower(), f"{name} still holds {MARK!r}"
        if name.endswith(".html"):
            assert_no_script(etree.fromstring(data, etree.HTMLParser()), name)
    for entry in feed_entries(output):
        ids = [entry.findtext(f"{ATOM}id"), entry.findtext(f"{ATOM}source/{ATOM}id")]
        hrefs = [link.get("href") for link in entry.iter(f"{ATOM}link")]
        for value in ids + hrefs:
            assert not _script_url(value), f"feed.atom: {value!r}"
        for part in ("content", "summary"):
            element = entry.find(f"{ATOM}{part}")
            if element is not None and element.get("type") == "html" and element.text:
                assert_no_script(etree.fromstring(element.text, etree.HTMLParser()), "feed.atom")


# --- the properties --------------------------------------------------------------------
#
# The explicit examples are minimal cases the properties found, run every time: bugs 1, 3,
# 5 and 7 of issue 7, and a character reference past U+10FFFF that stopped the run.


def one_item(
    kind: Kind,
    *,
    title: str = "Eintrag",
    guid: str = "urn:x-test:1",
    feed_id: str | None = None,
    published: Date | None = None,
    body: str = "<p>Text</p>",
    body_type: Literal["html", "text", "xhtml"] = "html",
) -> GenFeed:
    """A feed of one item: what a minimal example usually needs."""
    item = GenItem(
        title=Title(title),
        body=Markup((Fragment(body),)),
        summary=None,
        guid=guid,
        link=None,
        published=published or Date(None),
        updated=Date(None),
        permalink=None,
        body_type=body_type,
    )
    return GenFeed(kind, Title("Kanal"), feed_id, None, (item,), ascii_json=True)


@examples(12)
@given(feed=feeds())
@example(feed=one_item("json", published=Date(EDGE_DATES[0])))  # 0001-01-01T00:00:00+01:00
@example(feed=one_item("rss", title="a\ud800b"))  # written as &#55296;
@example(feed=one_item("json", guid="a\ud800b"))  # written as \ud800
@example(feed=one_item("atom", body=f"<p>a {HUGE_REF}</p>", body_type="xhtml"))
def test_every_output_file_is_well_formed(shared_server: LocalServer, feed: GenFeed) -> None:
    with one_cycle(shared_server, feed) as site:
        assert_well_formed(site.output)


@examples(12)
@given(feed=hostile_feeds())
@example(feed=one_item("atom", feed_id=f"java\tscript:{MARK}()"))
@example(feed=replace(one_item("rss"), home=f"java\nscript:{MARK}()"))
@example(feed=one_item("json", feed_id=f"\x01javascript:{MARK}()"))
def test_nothing_from_scripts_or_event_handlers_survives(
    shared_server: LocalServer, feed: GenFeed
) -> None:
    with one_cycle(shared_server, feed) as site:
        assert_nothing_hostile(site.output)


@examples(8)
@given(feed=feeds(min_items=1))
def test_a_second_run_changes_no_file(shared_server: LocalServer, feed: GenFeed) -> None:
    """Run again after a 304, after the same body without validators (known by its hash)
    and after a rebuilt body with the same items (parsed and deduplicated again): no file
    changes, not even its mtime, and the engine is not asked again.
    """
    with one_cycle(shared_server, feed) as site:
        before = output_files(site.output)
        translated = len(site.server.requests_to("/translate"))

        assert site.run().poll.outcomes[0].status == 304
        assert output_files(site.output) == before

        site.serve(site.path, feed, validators=False)
        outcome = site.run().poll.outcomes[0]
        assert (outcome.status, outcome.not_modified) == (200, True), outcome
        assert output_files(site.output) == before

        site.serve(site.path, feed.rebuild(), validators=False)
        outcome = site.run().poll.outcomes[0]
        assert (outcome.status, outcome.not_modified, outcome.new_items) == (200, False, 0), outcome
        assert output_files(site.output) == before
        assert len(site.server.requests_to("/translate")) == translated

        site.republish()
        assert output_files(site.output) == before


@examples(8)
@given(feed=feeds(min_items=1))
@example(feed=one_item("rss", guid="12345"))
def test_entry_ids_survive_reruns_and_a_permanent_redirect(
    shared_server: LocalServer, feed: GenFeed
) -> None:
    """Run, move the feed with a 301 and run again: the same entries, once each.

    That a plain second run changes no file at all is a property of its own.
    """
    with one_cycle(shared_server, feed) as site:
        first = entry_ids(site.output)
        assert first, "no entry was published"
        assert len(set(first)) == len(first), first

        moved = site.move()
        outcome = site.run().poll.outcomes[0]
        assert outcome.error or not outcome.not_modified, "the moved feed was not read again"
        assert site.server.requests_to(moved)
        after = entry_ids(site.output)
        assert len(set(after)) == len(after), after
        assert sorted(after) == sorted(first)


def _shown_title(kind: Kind, text: str) -> str:
    """A plain title as a reader sees it: whitespace folded to one space, controls dropped.

    An XML document cannot carry most C0 controls, so the generator leaves them out; a
    JSON title can, and those Python counts as whitespace (U+000B, U+000C, U+001C..U+001F)
    separate words there like any other whitespace.
    """
    if kind != "json":
        text = _XML_FORBIDDEN.sub("", text)
    return " ".join(_XML_FORBIDDEN.sub("", " ".join(text.split())).split())


def expected_titles(feed: GenFeed) -> list[str] | None:
    """The titles a reader must see, when the feed says unambiguously that they are text."""
    if feed.language != "de" or feed.kind == "rss" or feed.header_charset == "wrong":
        return None  # translated; RSS leaves title markup to guesswork; a garbled charset
    if feed.raw_controls:
        return None  # a malformed feed, read leniently
    guids = [item.guid for item in feed.items]
    if None in guids or len(set(guids)) != len(guids):
        return None  # items merged or titled by fallbacks
    titles = [_shown_title(feed.kind, item.title.plain()) for item in feed.items]
    if any(item.title.markup is not None for item in feed.items) or "" in titles:
        return None
    return sorted(titles)


@examples(6)
@given(feed=plain_title_feeds())
@example(feed=one_item("atom", title="The <dialog> element"))
@example(feed=one_item("json", title="Tom &amp; Jerry"))
def test_plain_text_titles_are_published_as_written(
    shared_server: LocalServer, feed: GenFeed
) -> None:
    expected = expected_titles(feed)
    assert expected is not None, "the strategy drew a feed whose titles are ambiguous"
    with one_cycle(shared_server, feed) as site:
        published = sorted(e.findtext(f"{ATOM}title") or "" for e in feed_entries(site.output))
        assert published == expected


# --- regressions the properties found ------------------------------------------------


def test_pages_carry_no_characters_html_forbids(shared_server: LocalServer) -> None:
    """C1 controls and noncharacters are fine in XML but parse errors in HTML."""
    feed = GenFeed(
        kind="rss",
        title=Title("Kanal\x85"),
        feed_id=None,
        home=None,
        items=(
            GenItem(
                title=Title("Preis\ufdd0liste \x9f \U0001fffe"),
                body=Markup((Fragment("<p>a\x9fb\x7fc</p>"),)),
                summary=None,
                guid="https://example.com/p/1",
                link="https://example.com/p/1",
                published=Date(None),
                updated=Date(None),
                permalink=None,
                body_type="html",
            ),
        ),
    )
    with one_cycle(shared_server, feed) as site:
        pages = sorted(site.output.rglob("*.html"))
        assert len(pages) == 4  # article, index, the channel's page, quellen/index.html
        for page in pages:
            text = page.read_text(encoding="utf-8")
            assert _HTML_FORBIDDEN.search(text) is None, page.name
            assert "Preisliste" in text


def test_feed_links_and_ids_are_written_as_iris(shared_server: LocalServer) -> None:
    """Feeds write URLs with `<`, `{`, `|` or a backtick in them; Atom wants IRIs."""
    feed = replace(one_item("rss"), home="https://example.com/<feed>")
    link = "https://example.com/a{b}|c`d"
    feed = replace(feed, items=(replace(feed.items[0], link=link),))
    with one_cycle(shared_server, feed) as site:
        (entry,) = feed_entries(site.output)
        assert_iris(entry)
        hrefs = {link.get("rel"): link.get("href") for link in entry.iter(f"{ATOM}link")}
        assert hrefs["via"] == "https://example.com/a%7Bb%7D%7Cc%60d"
