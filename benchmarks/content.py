"""Article mode on long sources: what each source character costs, written whole or condensed.

Generates N items (seeded) whose text is a 20,000-character transcript in paragraphs of
spoken English, serves them as RSS feeds on 127.0.0.1, polls them into a fresh SQLite
store with `Pipeline.poll` and writes them with `Pipeline.translate` in article mode,
as `kanalwerk run --once` does, against the loopback OpenAI-compatible server of the
tests. Its notes keep sentences spread over each part within the length asked for
(`tests.fake_openai.default_notes`), as a model told the length would.

Each setting runs three times on its own store:
  first    every item written;
  re-run   every item put back in the queue: the article cache must answer, 0 sent;
  reduce   again, with another article prompt: the notes cache answers every part,
           only the articles are written anew.

Source characters are the visible text of each item as the writer reads it. "Source
sent" is what the meter counts: the parts in notes requests, the notes in article
requests (the budget's figure). "All sent" adds the instructions and headers around
them (every message's characters). Tokens are the server's count (4 characters each).
Not run by CI.

    python benchmarks/content.py
    python benchmarks/content.py --items 20 --chars 40000 --max-source-chars 12000
"""

from __future__ import annotations

import argparse
import html
import os
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kanalwerk.config import Config, load_config
from kanalwerk.pipeline import Pipeline
from kanalwerk.store import Store
from kanalwerk.translate.article.prompt import source_text

REPO = Path(__file__).resolve().parents[1]
ITEMS_PER_FEED = 10

WORDS = (
    "model", "training", "data", "open", "source", "inference", "cost", "chip", "export",
    "policy", "research", "lab", "benchmark", "reasoning", "token", "context", "window",
    "developer", "community", "release", "paper", "efficiency", "performance", "market",
    "investor", "compute", "cluster", "latency", "robot", "tool", "startup", "regulator",
)  # fmt: skip
GLUE = (
    "the", "a", "of", "to", "in", "and", "for", "with", "on", "that", "is", "was", "will",
    "can", "new", "more", "than", "so", "you", "know", "we", "really",
)  # fmt: skip
NAMES = ("DeepSeek", "OpenAI", "Nvidia", "Meta", "Mistral", "Anthropic", "Google", "Alibaba")


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS if rng.random() < 0.4 else GLUE) for _ in range(rng.randint(8, 22))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(NAMES))
    if rng.random() < 0.2:
        words.append(f"{rng.randint(2, 900)} {rng.choice(['million', 'percent', 'GPUs'])}")
    return " ".join(words).capitalize() + "."


def transcript(rng: random.Random, chars: int) -> str:
    """Paragraphs of 3–9 sentences until `chars` characters of text."""
    paragraphs: list[str] = []
    total = 0
    while total < chars:
        paragraph = " ".join(sentence(rng) for _ in range(rng.randint(3, 9)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def feeds(items: int, chars: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    out: dict[str, bytes] = {}
    for feed in range(-(-items // ITEMS_PER_FEED)):
        entries = []
        for n in range(min(ITEMS_PER_FEED, items - feed * ITEMS_PER_FEED)):
            link = f"https://talks.example.com/{feed}/{n}"
            entries.append(
                f"<item><title>Talk {feed}.{n}: {rng.choice(NAMES)} and open models</title>"
                f"<link>{link}</link><guid>{link}</guid>"
                f"<pubDate>Mon, 27 Jan 2025 {n:02d}:{feed % 60:02d}:00 +0000</pubDate>"
                f"<description>{html.escape(transcript(rng, chars))}</description></item>"
            )
        out[f"/talks{feed}.xml"] = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Talks {feed}</title><link>https://talks.example.com/</link>"
            f"<description>Talks</description>{''.join(entries)}</channel></rss>"
        ).encode()
    return out


def write_config(folder: Path, feed_urls: list[str], api: Any, max_chars: int, prompt: str) -> Path:
    lines = [
        "site: {title: Benchmark, base_url: 'https://example.org/', author: Bench}",
        "output: output/",
        "store: sqlite:///kanalwerk.db",
        "translator:",
        "  engine: openai",
        "  mode: article",
        "  openai:",
        f"    base_url: '{api.base_url}'",
        "    model: bench-model",
        "    api_key_env: null",
        f"    article_max_source_chars: {max_chars}",
    ]
    if prompt:
        lines.append(f"    article_prompt: '{prompt}'")
    lines.append("channels:")
    for number, url in enumerate(feed_urls):
        lines.append(f"  - {{name: 'Talks {number}', url: '{url}', language: en, backfill: all}}")
    config = folder / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


@dataclass(frozen=True)
class Run:
    label: str
    written: int
    wall: float
    notes_requests: int
    article_requests: int
    meter_chars: int  # source characters sent, as the budget counts them
    message_chars: int  # every message's characters: instructions and headers too
    prompt_tokens: int
    completion_tokens: int


def write_all(label: str, config: Config, store: Store, api: Any) -> Run:
    from tests.fake_openai import is_notes_request

    first = api.requests
    tokens_before = dict(api.usage_total)
    today = datetime.now(UTC).date()
    meter_before = store.usage_for(today, "openai").characters
    t0 = time.perf_counter()
    with Pipeline(config, store) as pipeline:
        report = pipeline.translate()
    wall = time.perf_counter() - t0
    if report.failed or report.pending:
        raise SystemExit(f"{label}: {report.failed} failed, {report.pending} pending: {report}")
    bodies = api.bodies[first:]
    notes = sum(1 for body in bodies if is_notes_request(body))
    return Run(
        label,
        report.translated,
        wall,
        notes,
        len(bodies) - notes,
        store.usage_for(today, "openai").characters - meter_before,
        sum(len(m["content"]) for body in bodies for m in body["messages"]),
        api.usage_total["prompt_tokens"] - tokens_before["prompt_tokens"],
        api.usage_total["completion_tokens"] - tokens_before["completion_tokens"],
    )


def requeue_all(database: Path) -> None:
    """Put every item back in the queue, as if never written."""
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE items SET state = 'new', attempts = 0")
    conn.close()


def setting(max_chars: int, feed_urls: list[str], api: Any, expected: int) -> tuple[int, list[Run]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = load_config(write_config(folder, feed_urls, api, max_chars, ""))
        with Store.open(config.store) as store:
            with Pipeline(config, store) as polling:
                polled = polling.poll()
            if polled.failed or polled.new_items != expected:
                raise SystemExit(f"poll stored {polled.new_items} items: {polled.outcomes}")
            source = sum(
                len(source_text(s.item.content_html or s.item.summary_html))
                for s in store.pending_items(5)
            )
            runs = [write_all("first", config, store, api)]
            requeue_all(folder / "kanalwerk.db")
            runs.append(write_all("re-run", config, store, api))
            requeue_all(folder / "kanalwerk.db")
            other = "Schreibe über {title} ({kind}, {channel}) einen deutschen Artikel.{glossary}"
            config = load_config(write_config(folder, feed_urls, api, max_chars, other))
            runs.append(write_all("reduce", config, store, api))
    return source, runs


def report(max_chars: int, source: int, runs: list[Run], items: int) -> None:
    print(f"\narticle_max_source_chars {max_chars:,}: {source:,} source characters")
    header = (
        f"{'run':8} {'items':>5} {'notes':>6} {'article':>7} {'req/item':>8} "
        f"{'source sent':>12} {'per src ch':>10} {'all sent':>11} {'per src ch':>10} "
        f"{'prompt tok':>11} {'per src tok':>11} {'out tok':>9} {'wall s':>7} {'ms/item':>8}"
    )
    print(header)
    for run in runs:
        requests = run.notes_requests + run.article_requests
        print(
            f"{run.label:8} {run.written:5d} {run.notes_requests:6d} {run.article_requests:7d} "
            f"{requests / items:8.2f} {run.meter_chars:12,d} {run.meter_chars / source:10.3f} "
            f"{run.message_chars:11,d} {run.message_chars / source:10.3f} "
            f"{run.prompt_tokens:11,d} {run.prompt_tokens / (source / 4):11.3f} "
            f"{run.completion_tokens:9,d} {run.wall:7.2f} {1000 * run.wall / items:8.1f}"
        )
    first, again = runs[0], runs[1]
    ok = first.meter_chars <= 1.3 * source and again.meter_chars == 0
    print(
        f"target: each source character sent at most 1.3 times (map + reduce), 0 on a re-run: "
        f"{first.meter_chars / source:.3f} and {again.meter_chars} -> {'met' if ok else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--chars", type=int, default=20_000, help="transcript length")
    parser.add_argument(
        "--max-source-chars",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[24_000, 8_000],
        help="comma list: article_max_source_chars to run (24000 is the default)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # the loopback servers live in tests/

    from tests.fake_openai import FakeOpenAI
    from tests.servers import LocalServer, Resource

    served = feeds(args.items, args.chars, args.seed)
    print(
        f"{args.items} items with {args.chars:,}-character transcripts in {len(served)} feeds, "
        f"seed {args.seed}, {os.cpu_count()} cores"
    )
    feed_server, api_server = LocalServer().start(), LocalServer().start()
    try:
        for path, body in served.items():
            feed_server.routes[path] = Resource(body)
        api = FakeOpenAI(api_server, api_key=None)
        urls = [feed_server.url(path) for path in served]
        for max_chars in args.max_source_chars:
            source, runs = setting(max_chars, urls, api, args.items)
            report(max_chars, source, runs, args.items)
    finally:
        feed_server.stop()
        api_server.stop()


if __name__ == "__main__":
    main()
