"""Translation cost: characters sent per character of source, requests per item, local speed.

Generates N mixed items (seeded): YouTube videos with long plain-text descriptions and
per-channel boilerplate (subscribe links, channel blurb, hashtags), blog posts with
nested HTML (links, emphasis, nested lists, inline code, pre blocks, translate="no" spans,
figures) ending in a per-blog newsletter footer, and German posts that need no
translation. They are served as feeds on 127.0.0.1 and polled into a fresh SQLite store
by `Pipeline.poll`, as the daemon does, then

  (a) translated by `Pipeline.translate` with the stack of
      `factory.build_translator` (chain → cache → meter → openai engine) against a
      loopback OpenAI-compatible server that counts what it is asked to translate;
  (b) translated again after every item is put back in the queue, with a new translator
      on the same store: the cache must answer everything, so nothing is sent;
  (c) translated by the local engine on the tiny test model (no cache): throughput.

Source characters are what a reader would call the text of the items that need
translating: title plus the body's visible text, each block's whitespace collapsed,
without markup, code (code, pre, kbd, samp, var) or translate="no" parts. Characters sent
are the characters of the segment texts in the requests, placeholders and HTML escapes
included: what the meter counts and character-priced engines bill. The prompt and JSON
around them are shown separately as request bytes. Not run by CI.

    python benchmarks/translate.py
    python benchmarks/translate.py --items 1000 --threads 1,2 --beam-size 1,2
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import resource
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from kanalwerk.config import Config, load_config
from kanalwerk.pipeline import Pipeline, source_language
from kanalwerk.store import Store
from kanalwerk.translate.base import (
    Translation,
    TranslationRequest,
    Translator,
    TranslatorWrapper,
)
from kanalwerk.translate.factory import build_translator
from kanalwerk.translate.local import LocalTranslator, plan
from kanalwerk.translate.packages import install_from_file

REPO = Path(__file__).resolve().parents[1]
ITEMS_PER_FEED = 10
API_PATH = "/v1/chat/completions"

WORDS = (
    "model", "training", "data", "open", "source", "inference", "cost", "chip", "export",
    "policy", "research", "lab", "benchmark", "reasoning", "token", "context", "window",
    "developer", "community", "release", "paper", "efficiency", "performance", "market",
    "investor", "compute", "cluster", "latency", "robot", "tool", "startup", "regulator",
    "cloud", "server", "memory", "energy", "price", "growth", "revenue", "quarter", "analyst",
)  # fmt: skip
GLUE = (
    "the", "a", "of", "to", "in", "and", "for", "with", "on", "that", "is", "was", "will",
    "can", "new", "more", "than",
)  # fmt: skip
GERMAN = (
    "der", "die", "das", "und", "ist", "ein", "eine", "nicht", "mit", "von", "zu", "auf",
    "für", "sie", "wir", "neue", "Modell", "Markt", "Preis", "Forschung", "Daten", "Kosten",
    "heute", "gestern", "Unternehmen", "Regierung", "Chip", "Rechenzentrum",
)  # fmt: skip
SPECIAL = ("R&D", "AT&T", "Q&A", "“open weights”", "$5 billion", "3.5%", "x < y")
TAGS = ("AI", "DeepSeek", "OpenAI", "Nvidia", "Chips", "Tech", "Markets", "LLM")


# --- the items -----------------------------------------------------------------------


def _words(rng: random.Random, n: int, pool: Sequence[str] = WORDS) -> str:
    out = [rng.choice(GLUE) if rng.random() < 0.35 else rng.choice(pool) for _ in range(n)]
    if rng.random() < 0.06:
        out.insert(rng.randrange(len(out) + 1), rng.choice(SPECIAL))
    return " ".join(out)


def _sentence(rng: random.Random, lo: int = 8, hi: int = 24) -> str:
    text = _words(rng, rng.randint(lo, hi))
    if rng.random() < 0.3:
        text += ", " + _words(rng, rng.randint(3, 8))
    return text[0].upper() + text[1:] + rng.choice("....!?")


def _sentences(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(lo, hi)))


def _title(rng: random.Random) -> str:
    title = _words(rng, rng.randint(5, 11))
    if rng.random() < 0.15:
        title = rng.choice(("Q&A: ", "Live: ", "“Breaking”: ")) + title
    return title[0].upper() + title[1:]


def _youtube_boilerplate(name: str, handle: str, rng: random.Random) -> str:
    return (
        f"» Subscribe to {name}: https://www.youtube.com/@{handle}?sub_confirmation=1\n"
        f"» Follow {name} on X: https://x.com/{handle}\n"
        f"» Get the newsletter: https://{handle}.example.com/newsletter\n\n"
        f"{name} is the leading source for news about {_words(rng, 6)}. "
        f"{_sentences(rng, 2, 3)}\n\n"
        f"#AI #{handle} #{rng.choice(TAGS)}"
    )


def youtube_description(rng: random.Random, boilerplate: str) -> str:
    paragraphs = [_sentences(rng, 2, 6) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.3:  # one long run-on paragraph, as video descriptions often have
        paragraphs.append(_words(rng, rng.randint(80, 160)))
    if rng.random() < 0.4:
        minute = 0
        lines = ["Chapters:"]
        for _ in range(rng.randint(3, 8)):
            lines.append(f"{minute // 60:02d}:{minute % 60:02d} {_title(rng)}")
            minute += rng.randint(40, 400)
        paragraphs.append("\n".join(lines))
    if rng.random() < 0.3:
        paragraphs.append(f"Read more: https://news.example.com/{rng.randrange(10**6)}")
    return "\n\n".join([*paragraphs, boilerplate])


def _inline(rng: random.Random, host: str) -> str:
    """A paragraph's content with nested inline markup."""
    parts = [_sentence(rng)]
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        words = html.escape(_words(rng, rng.randint(2, 5)), quote=False)
        if kind < 0.3:
            parts.append(f'see <a href="https://{host}/{rng.randrange(999)}">{words}</a>')
        elif kind < 0.45:
            parts.append(f"<em>{words}</em>")
        elif kind < 0.55:
            parts.append(
                f'<strong>{words} <a href="https://{host}/x">{_words(rng, 2)}</a></strong>'
            )
        elif kind < 0.7:
            parts.append(f"call <code>{rng.choice(WORDS)}_{rng.choice(WORDS)}()</code> for")
        elif kind < 0.8:
            parts.append(f'<span translate="no">{rng.choice(TAGS)} Pro Max</span> now')
        parts.append(html.escape(_sentence(rng), quote=False))
    return " ".join(parts)


def _list(rng: random.Random, host: str, depth: int = 0) -> str:
    tag = rng.choice(("ul", "ol"))
    items = []
    for _ in range(rng.randint(2, 5)):
        text = _inline(rng, host) if rng.random() < 0.4 else html.escape(_sentence(rng, 4, 12))
        if depth == 0 and rng.random() < 0.2:
            text += _list(rng, host, depth + 1)
        items.append(f"<li>{text}</li>")
    return f"<{tag}>{''.join(items)}</{tag}>"


def _pre(rng: random.Random) -> str:
    lines = [f"def {rng.choice(WORDS)}(x):"]
    lines += [f"    if x < {rng.randrange(99)} and y > 0: return x & 0xff" for _ in range(3)]
    return "<pre><code>" + html.escape("\n".join(lines), quote=False) + "</code></pre>"


def blog_body(rng: random.Random, host: str, footer: str) -> str:
    out = [f"<p>{_inline(rng, host)}</p>"]
    for _ in range(rng.randint(2, 4)):
        out.append(f"<h2>{html.escape(_title(rng), quote=False)}</h2>")
        for _ in range(rng.randint(1, 3)):
            out.append(f"<p>{_inline(rng, host)}</p>")
        roll = rng.random()
        if roll < 0.35:
            out.append(_list(rng, host))
        elif roll < 0.55:
            out.append(_pre(rng))
        elif roll < 0.7:
            out.append(f"<blockquote><p>{html.escape(_sentence(rng))}</p></blockquote>")
        elif roll < 0.8:
            out.append(
                f'<figure><img src="https://{host}/img/{rng.randrange(999)}.png" alt="chart">'
                f"<figcaption>{html.escape(_sentence(rng, 4, 10))}</figcaption></figure>"
            )
    return "".join(out) + footer


def _blog_footer(name: str, host: str) -> str:
    return (
        f"<hr><p><em>Thanks for reading {name}!</em> If you liked this post, "
        f'<a href="https://{host}/subscribe">subscribe to the newsletter</a> and forward it '
        "to a friend. Questions or corrections? Reply to this email or write to "
        f'<a href="mailto:editor@{host}">editor@{host}</a>.</p>'
        f"<p>You receive this because you signed up at {host}. "
        f'<a href="https://{host}/unsubscribe">Unsubscribe</a> at any time.</p>'
    )


def german_body(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(3, 6)):
        text = " ".join(_words(rng, rng.randint(10, 20), GERMAN) + "." for _ in range(3))
        paragraphs.append(f"<p>{text[0].upper()}{text[1:]}</p>")
    return "".join(paragraphs)


def _stamp(index: int) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=17 * index)


def youtube_feed(number: int, indexes: Sequence[int], rng: random.Random) -> bytes:
    channel = f"UC{number:022d}"
    name = f"Channel {number}"
    boilerplate = _youtube_boilerplate(name, f"channel{number}", rng)
    entries = []
    for index in indexes:
        vid = f"v{index:09d}"
        when = _stamp(index).isoformat()
        description = html.escape(youtube_description(rng, boilerplate), quote=False)
        entries.append(
            f"""<entry><id>yt:video:{vid}</id><yt:videoId>{vid}</yt:videoId>
<yt:channelId>{channel}</yt:channelId><title>{html.escape(_title(rng))}</title>
<link rel="alternate" href="https://www.youtube.com/watch?v={vid}"/>
<author><name>{name}</name></author><published>{when}</published><updated>{when}</updated>
<media:group><media:title>x</media:title>
<media:thumbnail url="https://i.ytimg.com/vi/{vid}/hqdefault.jpg" width="480" height="360"/>
<media:description>{description}</media:description></media:group></entry>"""
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
        'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">'
        f"<id>yt:channel:{channel}</id><yt:channelId>{channel}</yt:channelId>"
        f'<title>{name}</title><link rel="alternate" '
        f'href="https://www.youtube.com/channel/{channel}"/>' + "".join(entries) + "</feed>"
    ).encode()


def rss_feed(number: int, indexes: Sequence[int], rng: random.Random, german: bool) -> bytes:
    host = f"blog{number}.example.com"
    name = f"{'Notizen' if german else 'Notes'} {number}"
    footer = _blog_footer(name, host)
    items = []
    for index in indexes:
        body = german_body(rng) if german else blog_body(rng, host, footer)
        title = _words(rng, 7, GERMAN).capitalize() if german else _title(rng)
        items.append(
            f"""<item><title>{html.escape(title)}</title>
<link>https://{host}/post/{index}</link><guid isPermaLink="false">{host}-{index}</guid>
<pubDate>{_stamp(index):%a, %d %b %Y %H:%M:%S +0000}</pubDate>
<content:encoded><![CDATA[{body}]]></content:encoded></item>"""
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{name}</title><link>https://{host}/</link><description>A blog</description>"
        f"<language>{'de-DE' if german else 'en-us'}</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


@dataclass(frozen=True)
class Corpus:
    feeds: dict[str, bytes]  # URL path → feed body
    kinds: Counter[str]


def generate(n: int, seed: int) -> Corpus:
    """About 40 % YouTube, 45 % blog posts, 15 % German posts, ten items per feed."""
    rng = random.Random(seed)
    german = round(n * 0.15)
    youtube = round(n * 0.40)
    kinds = ["yt"] * youtube + ["de"] * german + ["blog"] * (n - youtube - german)
    rng.shuffle(kinds)
    by_kind: dict[str, list[int]] = {}
    for index, kind in enumerate(kinds):
        by_kind.setdefault(kind, []).append(index)
    feeds: dict[str, bytes] = {}
    number = 0
    for kind in ("yt", "blog", "de"):
        indexes = by_kind.get(kind, [])
        for start in range(0, len(indexes), ITEMS_PER_FEED):
            chunk = indexes[start : start + ITEMS_PER_FEED]
            number += 1
            if kind == "yt":
                feeds[f"/youtube/{number}.xml"] = youtube_feed(number, chunk, rng)
            else:
                name = "german" if kind == "de" else "blog"
                feeds[f"/{name}/{number}.xml"] = rss_feed(number, chunk, rng, kind == "de")
    return Corpus(feeds, Counter(kinds))


# --- measuring ---------------------------------------------------------------------------

_UNTRANSLATED = frozenset({"code", "pre", "kbd", "samp", "var", "script", "style"})
_INLINE = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "i", "img",
        "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time",
        "u", "var", "wbr",
    }
)  # fmt: skip
_VOID = frozenset({"br", "hr", "img", "wbr"})
_PLACEHOLDER = re.compile(r"</?x\d+/?>")


class _VisibleText(HTMLParser):
    """Text a reader sees, block by block, without code and translate="no" parts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = [""]
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _INLINE:
            self.blocks.append("")
        if tag in _VOID:
            return
        if self._skip or tag in _UNTRANSLATED or ("translate", "no") in attrs:
            self._skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()
        if tag not in _INLINE:
            self.blocks.append("")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.blocks[-1] += data


def source_chars(title: str, body_html: str) -> int:
    parser = _VisibleText()
    parser.feed(body_html)
    parser.close()
    return len(" ".join(title.split())) + sum(len(" ".join(b.split())) for b in parser.blocks)


@dataclass
class Sent:
    """What reached the engine server: segment texts, split into their parts."""

    requests: int = 0
    segments: int = 0
    chars: int = 0
    placeholder_chars: int = 0
    escape_chars: int = 0  # extra characters of &amp; &lt; &gt; &nbsp; … over the plain text
    body_bytes: int = 0
    prompt_chars: int = 0

    @property
    def text_chars(self) -> int:
        return self.chars - self.placeholder_chars - self.escape_chars

    def add_texts(self, texts: Sequence[str]) -> None:
        for text in texts:
            self.segments += 1
            self.chars += len(text)
            bare = _PLACEHOLDER.sub("", text)
            self.placeholder_chars += len(text) - len(bare)
            self.escape_chars += len(bare) - len(html.unescape(bare))


class Recording(TranslatorWrapper):
    """A translator in front of the pipeline's: keeps each request as the pipeline made it.

    `spans` holds, per request, the range of engine-server requests it caused.
    """

    def __init__(self, inner: Translator, server_count: Callable[[], int]):
        super().__init__(inner)
        self._server_count = server_count
        self.requests: list[TranslationRequest] = []
        self.spans: list[tuple[int, int]] = []

    def translate(self, request: TranslationRequest) -> Translation:
        self.requests.append(request)
        start = self._server_count()
        try:
            return self._inner.translate(request)
        finally:
            self.spans.append((start, self._server_count()))


@dataclass
class Run:
    label: str
    translated: int
    wall: float
    sent: Sent
    asked: Sent  # every text the pipeline asked for, before the cache
    meter_chars: int
    requests: list[TranslationRequest]  # the pipeline's, one per item
    per_request: list[Sent]  # what each of them sent to the server


def server_figures(api: Any, server: Any, start: int, end: int | None = None) -> Sent:
    sent = Sent()
    bodies = api.bodies[start:end]
    raw = server.requests_to(API_PATH)[start:end]
    for body, request in zip(bodies, raw, strict=True):
        messages = body["messages"]
        sent.requests += 1
        sent.add_texts(json.loads(messages[-1]["content"])["segments"])
        sent.prompt_chars += len(messages[0]["content"])
        sent.body_bytes += len(request.body)
    return sent


def write_config(folder: Path, feeds: Any, api: Any) -> Path:
    lines = [
        "site: {title: Benchmark, base_url: 'https://example.org/', author: Bench}",
        "output: output/",
        "store: sqlite:///kanalwerk.db",
        "translator:",
        "  engine: openai",
        f"  openai: {{base_url: '{api.base_url}', model: bench-model, api_key_env: null}}",
        "channels:",
    ]
    for path in sorted(feeds.routes):
        name = path.strip("/").replace("/", " ").removesuffix(".xml")
        lines.append(f"  - {{name: '{name}', url: '{feeds.url(path)}'}}")
    config = folder / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def translate_run(label: str, config: Config, store: Store, api: Any, server: Any) -> Run:
    """One `Pipeline.translate` as `kanalwerk run --once` does it, with a new translator."""
    first = api.requests
    today = datetime.now(UTC).date()
    meter_before = store.usage_for(today, "openai").characters
    recording: list[Recording] = []

    def recorded(config: Config, store: Store) -> Translator:
        recording.append(Recording(build_translator(config, store), lambda: int(api.requests)))
        return recording[-1]

    t0 = time.perf_counter()
    with Pipeline(config, store, translator_factory=recorded) as pipeline:
        report = pipeline.translate()
    wall = time.perf_counter() - t0
    if report.failed or report.pending:
        raise SystemExit(f"{label}: {report.failed} failed, {report.pending} pending: {report}")
    requests = recording[0].requests if recording else []
    spans = recording[0].spans if recording else []
    asked = Sent(requests=len(requests))
    for request in requests:
        asked.add_texts([t for t in request.texts if t.strip()])
    meter = store.usage_for(today, "openai").characters - meter_before
    sent = server_figures(api, server, first)
    per_request = [server_figures(api, server, a, b) for a, b in spans]
    return Run(label, report.translated, wall, sent, asked, meter, requests, per_request)


def requeue_all(database: Path) -> None:
    """Put every item back in the translation queue, as if never translated."""
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE items SET state = 'new', attempts = 0")
    conn.close()


def article_texts(store: Store) -> dict[int, tuple[str, str]]:
    return {a.item_id: (a.title, a.content_html) for a in store.articles()}


@dataclass(frozen=True)
class SourceItem:
    kind: str  # youtube, blog or german: the channel's kind
    german: bool  # the pipeline will not translate it
    title: str
    chars: int


@dataclass(frozen=True)
class Source:
    items: tuple[SourceItem, ...]  # in the order the pipeline takes them

    @property
    def todo(self) -> list[SourceItem]:
        return [i for i in self.items if not i.german]

    @property
    def chars(self) -> int:
        return sum(i.chars for i in self.todo)


def measure_source(config: Config, store: Store) -> Source:
    items = []
    for stored in store.pending_items(config.translator.max_attempts):
        item = stored.item
        items.append(
            SourceItem(
                kind=stored.channel_id.split("-")[0],
                german=source_language(config, stored) == "de",
                title=item.title,
                chars=source_chars(item.title, item.content_html or item.summary_html),
            )
        )
    return Source(tuple(items))


def _asked_chars(request: TranslationRequest) -> int:
    return sum(len(t) for t in request.texts if t.strip())


def print_kinds(source: Source, run: Run) -> None:
    """First-run figures per kind of channel: requests line up with items in order."""
    todo = source.todo
    lined_up = len(todo) == len(run.requests) and all(
        r.texts[0] == html.escape(i.title, quote=False)
        for i, r in zip(todo, run.requests, strict=False)
    )
    if not lined_up:
        print("per-kind figures skipped: the pipeline's requests do not line up with the items")
        return
    print(
        f"\n{run.label} by kind   {'items':>6} {'source chars':>13} {'no cache':>9} "
        f"{'sent':>7} {'placeholders':>13} {'requests/item':>14}"
    )
    for kind in ("youtube", "blog"):
        pairs = [
            (i, r, s)
            for i, r, s in zip(todo, run.requests, run.per_request, strict=True)
            if i.kind == kind
        ]
        if not pairs:
            continue
        chars = sum(i.chars for i, _, _ in pairs)
        asked = sum(_asked_chars(r) for _, r, _ in pairs)
        sent = sum(s.chars for _, _, s in pairs)
        holders = sum(s.placeholder_chars for _, _, s in pairs)
        requests = sum(s.requests for _, _, s in pairs)
        print(
            f"{kind:<18} {len(pairs):>6} {chars:>13,} {asked / chars:>9.3f} {sent / chars:>7.3f} "
            f"{holders / chars:>13.3f} {requests / len(pairs):>14.2f}"
        )
    print("(ratios per source char; 'no cache' = every item's texts sent whole)")


def print_runs(source: Source, runs: Sequence[Run]) -> None:
    s = source.chars
    german = [i for i in source.items if i.german]
    print(
        f"\nsource: {len(source.items)} items, {len(source.todo)} to translate with {s:,} chars "
        "(title + visible body text, code and translate=no left out), "
        f"{len(german)} German with {sum(i.chars for i in german):,} chars (need no translation)"
    )
    print(f"{'':<44}" + "".join(f"{r.label:>14}" for r in runs))
    rows: list[tuple[str, Callable[[Run], str]]] = [
        ("items done (German ones composed as they are)", lambda r: f"{r.translated}"),
        ("wall time", lambda r: f"{r.wall:.2f} s"),
        ("texts the pipeline asked for (chars)", lambda r: f"{r.asked.chars:,}"),
        ("  plain text", lambda r: f"{r.asked.text_chars:,}"),
        ("  placeholders <x1>…</x1>, <x2/>", lambda r: f"{r.asked.placeholder_chars:,}"),
        ("  HTML escapes (&amp; …)", lambda r: f"{r.asked.escape_chars:,}"),
        ("answered by the cache (chars)", lambda r: f"{r.asked.chars - r.sent.chars:,}"),
        ("chars sent (segment texts in requests)", lambda r: f"{r.sent.chars:,}"),
        ("  plain text", lambda r: f"{r.sent.text_chars:,}"),
        ("  placeholders", lambda r: f"{r.sent.placeholder_chars:,}"),
        ("  HTML escapes", lambda r: f"{r.sent.escape_chars:,}"),
        ("chars counted by the meter", lambda r: f"{r.meter_chars:,}"),
        ("CHARS SENT PER SOURCE CHAR (goal ≤1.05, 0)", lambda r: f"{r.sent.chars / s:.3f}"),
        ("  same without the cache", lambda r: f"{r.asked.chars / s:.3f}"),
        ("segments sent", lambda r: f"{r.sent.segments:,}"),
        ("requests", lambda r: f"{r.sent.requests:,}"),
        ("REQUESTS PER ITEM TO TRANSLATE", lambda r: f"{r.sent.requests / len(source.todo):.2f}"),
        ("request bodies (prompt + JSON + texts)", lambda r: f"{r.sent.body_bytes:,} B"),
        ("  bytes per source char", lambda r: f"{r.sent.body_bytes / s:.2f}"),
        ("  system prompt chars per request", _prompt_per_request),
    ]
    for name, value in rows:
        print(f"{name:<44}" + "".join(f"{value(r):>14}" for r in runs))


def _prompt_per_request(run: Run) -> str:
    sent = run.sent
    return f"{sent.prompt_chars // sent.requests:,}" if sent.requests else "–"


# --- local engine --------------------------------------------------------------------------


def local_throughput(
    requests: Sequence[TranslationRequest],
    folder: Path,
    threads: Sequence[int],
    beams: Sequence[int],
) -> None:
    from tests.tiny_model import build_argosmodel

    if not requests:
        print("\n(c) local engine: skipped, no item to translate")
        return
    t0 = time.perf_counter()
    package = install_from_file(build_argosmodel(folder / "en_de.argosmodel"), folder / "data")
    built = time.perf_counter() - t0
    segments = sum(len(r.texts) for r in requests)
    chars = sum(len(t) for r in requests for t in r.texts)
    sentences: list[str] = []
    for r in requests:
        for text in r.texts:
            plan(text, r.fmt, sentences)
    print(
        f"\n(c) local engine, tiny model (2 layers, d_model 32, int8; built in {built:.1f} s): "
        f"{len(requests)} items, {segments:,} segments, {len(sentences):,} sentences, "
        f"{chars:,} chars, one request per item as the pipeline sends it, no cache. "
        "Decoding a tiny random model: shows kanalwerk's and CTranslate2's per-call costs, "
        "not the speed of a real model"
    )
    print(
        f"{'threads':>7} {'beam':>4} {'1st call':>8} {'wall':>8} {'CPU':>8} {'items/s':>8} "
        f"{'segments/s':>10} {'sentences/s':>11} {'chars/s':>10}"
    )
    warm = requests[0]
    for t in threads:
        for b in beams:
            engine = LocalTranslator([package], threads=t, beam_size=b)
            load0 = time.perf_counter()
            engine.translate(warm)
            load = time.perf_counter() - load0
            cpu0, wall0 = _cpu(), time.perf_counter()
            for request in requests:
                engine.translate(request)
            wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
            engine.close()
            print(
                f"{t:>7} {b:>4} {load:>7.2f}s {wall:>7.2f}s {cpu:>7.2f}s "
                f"{len(requests) / wall:>8.1f} {segments / wall:>10.0f} "
                f"{len(sentences) / wall:>11.0f} {chars / wall:>10.0f}"
            )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- main ----------------------------------------------------------------------------------


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=_ints, default=[1, 2], help="comma list, local engine")
    parser.add_argument("--beam-size", type=_ints, default=[2], help="comma list, local engine")
    parser.add_argument("--skip-local", action="store_true", help="skip (c)")
    args = parser.parse_args()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # the loopback servers and the tiny model live in tests/

    from tests.fake_openai import FakeOpenAI
    from tests.servers import LocalServer, Resource

    corpus = generate(args.items, args.seed)
    feed_bytes = sum(len(b) for b in corpus.feeds.values())
    print(
        f"{args.items} items ({corpus.kinds['yt']} YouTube, {corpus.kinds['blog']} blog, "
        f"{corpus.kinds['de']} German) in {len(corpus.feeds)} feeds, "
        f"{feed_bytes / 1e6:.1f} MB, seed {args.seed}, {os.cpu_count()} cores"
    )
    feeds, api_server = LocalServer().start(), LocalServer().start()
    try:
        for path, body in corpus.feeds.items():
            feeds.routes[path] = Resource(body)
        api = FakeOpenAI(api_server, api_key=None)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = load_config(write_config(folder, feeds, api))
            with Store.open(config.store) as store:
                t0 = time.perf_counter()
                with Pipeline(config, store) as polling:
                    polled = polling.poll()
                if polled.failed or polled.new_items != args.items:
                    raise SystemExit(f"poll stored {polled.new_items} items: {polled.outcomes}")
                print(f"polled and stored in {time.perf_counter() - t0:.2f} s")
                source = measure_source(config, store)
                first = translate_run("(a) first", config, store, api, api_server)
                before = article_texts(store)
                requeue_all(folder / "kanalwerk.db")
                again = translate_run("(b) re-run", config, store, api, api_server)
                same = article_texts(store) == before
            print_runs(source, [first, again])
            print(f"re-run articles identical to the first run's: {'yes' if same else 'NO'}")
            print_kinds(source, first)
            if not args.skip_local:
                local_throughput(first.requests, folder, args.threads, args.beam_size)
    finally:
        feeds.stop()
        api_server.stop()


if __name__ == "__main__":
    main()
