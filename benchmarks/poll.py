"""Polling throughput: kanalwerk's poll against a naive feedparser loop.

Generates N local feeds (half YouTube-format with long media:description, half RSS 2.0
with 2–8 KB content:encoded bodies, 15 items each), serves them from a separate process
on 127.0.0.1 with ETag support, and times

  (a) a naive loop of feedparser.parse(url), the yardstick,
  (b) kanalwerk's first full poll (fetch + parse + store, no translation),
  (c) its second poll, where every feed answers 304,
  (d) a poll of the same feeds from a server without validators (unchanged by hash).

Prints feeds/s, items/s, CPU seconds and peak RSS. Not run by CI.

All feeds come from one host, so "conc C" is C connections to it (max_connections and
max_per_host both C). kanalwerk's defaults allow 2 per host, which is the first run.

    python benchmarks/poll.py --feeds 1000
    python benchmarks/poll.py --feeds 1000 --concurrency 2,4,8,16,32
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import multiprocessing
import os
import random
import resource
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ITEMS_PER_FEED = 15
WORDS = [
    "model",
    "training",
    "data",
    "open",
    "source",
    "inference",
    "cost",
    "chip",
    "export",
    "policy",
    "research",
    "lab",
    "benchmark",
    "reasoning",
    "token",
    "context",
    "window",
    "developer",
    "community",
    "release",
    "paper",
    "efficiency",
    "performance",
    "market",
    "investor",
    "compute",
    "cluster",
    "latency",
    "agent",
    "tool",
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def youtube_feed(index: int, rng: random.Random) -> bytes:
    channel = f"UC{index:022d}"
    entries = []
    for i in range(ITEMS_PER_FEED):
        vid = f"v{index:05d}{i:05d}"
        desc = "\n\n".join(_sentence(rng, 40) for _ in range(rng.randint(8, 20)))
        entries.append(
            f"""<entry><id>yt:video:{vid}</id><yt:videoId>{vid}</yt:videoId>
<yt:channelId>{channel}</yt:channelId><title>{_sentence(rng, 8)}</title>
<link rel="alternate" href="https://www.youtube.com/watch?v={vid}"/>
<author><name>Channel {index}</name></author>
<published>2025-01-{(i % 28) + 1:02d}T10:00:00+00:00</published>
<updated>2025-01-{(i % 28) + 1:02d}T11:00:00+00:00</updated>
<media:group><media:title>{_sentence(rng, 8)}</media:title>
<media:content url="https://www.youtube.com/v/{vid}" type="application/x-shockwave-flash"/>
<media:thumbnail url="https://i.ytimg.com/vi/{vid}/hqdefault.jpg" width="480" height="360"/>
<media:description>{desc}</media:description></media:group></entry>"""
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
        'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">'
        f"<id>yt:channel:{channel}</id><yt:channelId>{channel}</yt:channelId>"
        f"<title>Channel {index}</title>"
        f'<link rel="alternate" href="https://www.youtube.com/channel/{channel}"/>'
        "<published>2020-01-01T00:00:00+00:00</published>" + "".join(entries) + "</feed>"
    ).encode()


def rss_feed(index: int, rng: random.Random) -> bytes:
    items = []
    for i in range(ITEMS_PER_FEED):
        size = rng.randint(2048, 8192)
        paragraphs: list[str] = []
        while sum(len(p) for p in paragraphs) < size:
            paragraphs.append(
                f"<p>{_sentence(rng, 20)} <a href='https://example.com/{i}'>link</a> "
                f"<em>{_sentence(rng, 5)}</em></p>"
            )
        day = (i % 28) + 1
        items.append(
            f"""<item><title>{_sentence(rng, 8)}</title>
<link>https://blog{index}.example.com/post/{i}</link>
<guid isPermaLink="false">blog{index}-{i}</guid>
<pubDate>{
                email.utils.format_datetime(
                    email.utils.parsedate_to_datetime(f"Mon, {day:02d} Jan 2025 10:00:00 +0000")
                )
            }</pubDate>
<dc:creator><![CDATA[Author {index}]]></dc:creator>
<description><![CDATA[{_sentence(rng, 30)}]]></description>
<content:encoded><![CDATA[{"".join(paragraphs)}]]></content:encoded></item>"""
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Blog {index}</title><link>https://blog{index}.example.com/</link>"
        "<description>A blog</description><language>en-us</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def generate(n: int, seed: int = 1) -> dict[str, bytes]:
    rng = random.Random(seed)
    feeds = {}
    for i in range(n):
        if i % 2 == 0:
            feeds[f"/yt/{i}.xml"] = youtube_feed(i, rng)
        else:
            feeds[f"/rss/{i}.xml"] = rss_feed(i, rng)
    return feeds


def serve(n: int, port_conn: Any, validators: bool) -> None:
    """Child process: serve the generated feeds until terminated."""
    feeds = generate(n)
    etags = {p: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for p, b in feeds.items()}
    stamp = email.utils.formatdate(1_700_000_000, usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = feeds.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = etags[self.path]
            if validators and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if validators:
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", stamp)
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    httpd = Server(("127.0.0.1", 0), Handler)
    port_conn.send(httpd.server_address[1])
    httpd.serve_forever()


@dataclass
class Figures:
    label: str
    feeds: int
    items: int
    wall: float
    cpu: float

    def line(self) -> str:
        return (
            f"{self.label:<34} {self.wall:7.2f} s wall  {self.cpu:7.2f} s CPU  "
            f"{self.feeds / self.wall:8.1f} feeds/s  {self.items / self.wall:9.1f} items/s"
        )


SERVER_PIDS: set[int] = set()
TICKS = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children = [int(c) for c in handle.read().split()]
        except OSError:
            continue
        for child in children:
            found.append(child)
            found += _descendants(child)
    return found


def _proc_cpu(pid: int) -> float:
    """utime + stime + reaped children's, from /proc (seconds)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


def cpu_now() -> float:
    """CPU of this process and every descendant but the feed server.

    Parse workers are children of a fork server, not of this process, so
    RUSAGE_CHILDREN alone would miss them; /proc sees the whole tree.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    for pid in _descendants(os.getpid()):
        if pid not in SERVER_PIDS:
            total += _proc_cpu(pid)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return total + kids.ru_utime + kids.ru_stime - SERVER_CPU[0]


SERVER_CPU = [0.0]


class WorkerMemory:
    """Samples, while the poll runs, the largest worker's peak RSS (VmHWM) and the peak
    total PSS of this process and all its descendants.

    RSS counts pages that the parse workers share with the fork server once per process;
    PSS splits shared pages between their users, so the sum is what the tree really holds.
    """

    def __init__(self) -> None:
        self.peak_kb = 0
        self.peak_tree_pss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            tree = 0
            for pid in [os.getpid(), *_descendants(os.getpid())]:
                if pid in SERVER_PIDS:
                    continue
                tree += _status_kb(f"/proc/{pid}/smaps_rollup", "Pss:")
                if pid != os.getpid():
                    self.peak_kb = max(self.peak_kb, _status_kb(f"/proc/{pid}/status", "VmHWM:"))
            self.peak_tree_pss_kb = max(self.peak_tree_pss_kb, tree)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _status_kb(path: str, key: str) -> int:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(label: str, feeds: int, fn: Callable[[], int]) -> Figures:
    cpu0, t0 = cpu_now(), time.perf_counter()
    items = fn()
    return Figures(label, feeds, items, time.perf_counter() - t0, cpu_now() - cpu0)


def start_server(n: int, validators: bool) -> tuple[multiprocessing.Process, int]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=serve, args=(n, child, validators), daemon=True)
    proc.start()
    assert proc.pid is not None
    SERVER_PIDS.add(proc.pid)
    port = int(parent.recv())
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    return proc, port


def naive(paths: list[str], port: int) -> int:
    import feedparser

    items = 0
    for path in paths:
        items += len(feedparser.parse(f"http://127.0.0.1:{port}{path}").entries)
    return items


def write_config(folder: Path, paths: list[str], port: int, concurrency: int) -> Path:
    lines = [
        "site: {title: Benchmark, base_url: 'https://example.org/', author: Bench}",
        "output: output/",
        f"fetch: {{max_connections: {concurrency}, max_per_host: {concurrency}}}",
        "channels:",
    ]
    for i, path in enumerate(paths):
        lines.append(f"  - {{name: feed {i}, url: 'http://127.0.0.1:{port}{path}'}}")
    config = folder / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def kanalwerk_poll(config_path: Path) -> tuple[Callable[[], int], Callable[[], None]]:
    from kanalwerk.config import load_config
    from kanalwerk.pipeline import Pipeline
    from kanalwerk.store import Store

    config = load_config(config_path)
    store = Store.open(config.store)
    pipeline = Pipeline(config, store)

    def run() -> int:
        report = pipeline.poll()
        failed = [o for o in report.outcomes if o.error]
        if failed:
            raise SystemExit(f"{len(failed)} channel(s) failed, e.g. {failed[0].error}")
        return report.new_items

    return run, store.close


def kanalwerk_phases(
    paths: list[str], port: int, concurrency: int, validators: bool, conn: Any
) -> None:
    """Child process: poll twice and send back the figures and this process's peak RSS.

    A process of its own, so that the feeds generated for the server and the naive
    loop's memory do not count as kanalwerk's.
    """
    n = len(paths)
    with WorkerMemory() as workers, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), paths, port, concurrency)
        run, close = kanalwerk_poll(config)
        try:
            if validators:
                first = timed(f"(b) kanalwerk first poll, conc {concurrency}", n, run)
                second = timed(f"(c) kanalwerk 304 poll, conc {concurrency}", n, run)
                figures = [first, second]
            else:
                run()
                figures = [timed("(d) no validators, unchanged by hash", n, run)]
        finally:
            close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send((figures, rss, workers.peak_kb / 1024, workers.peak_tree_pss_kb / 1024))


def in_child(paths: list[str], port: int, concurrency: int, validators: bool) -> tuple[Any, ...]:
    parent, child = multiprocessing.Pipe()
    context = multiprocessing.get_context("spawn")
    proc = context.Process(
        target=kanalwerk_phases, args=(paths, port, concurrency, validators, child)
    )
    proc.start()
    figures, rss, worker, tree = parent.recv()
    proc.join()
    return figures, rss, worker, tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument(
        "--concurrency", default="2,8", help="comma list of connections to the feed host"
    )
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    n = args.feeds
    feeds = generate(n)
    paths = list(feeds)
    total_bytes = sum(len(b) for b in feeds.values())
    del feeds
    print(
        f"{n} feeds, {n * ITEMS_PER_FEED} items, {total_bytes / 1e6:.1f} MB, {os.cpu_count()} cores"
    )

    peak_main = peak_worker = peak_tree = 0.0
    proc, port = start_server(n, validators=True)
    try:
        naive_figures: Figures | None = None
        if not args.skip_naive:
            naive_figures = timed("(a) naive feedparser.parse(url)", n, lambda: naive(paths, port))
            print(naive_figures.line())
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            (first, second), rss, worker, tree = in_child(paths, port, concurrency, True)
            peak_main, peak_worker = max(peak_main, rss), max(peak_worker, worker)
            peak_tree = max(peak_tree, tree)
            print(first.line())
            print(second.line())
            if naive_figures is not None:
                print(
                    f"    first poll is {naive_figures.wall / first.wall:.1f}x the naive rate; "
                    f"304 poll takes {second.wall / first.wall:.1%} of the first poll's time"
                )
    finally:
        stop_server(proc)

    proc, port = start_server(n, validators=False)
    try:
        (unchanged,), rss, worker, tree = in_child(paths, port, 8, False)
        peak_main, peak_worker = max(peak_main, rss), max(peak_worker, worker)
        peak_tree = max(peak_tree, tree)
        print(unchanged.line())
    finally:
        stop_server(proc)
    print(
        f"peak RSS: kanalwerk process {peak_main:.0f} MB; largest parse worker "
        f"{peak_worker:.0f} MB; peak PSS of kanalwerk and its workers together {peak_tree:.0f} MB"
    )


def stop_server(proc: multiprocessing.Process) -> None:
    """Stop the feed server and keep its CPU out of the figures."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc.terminate()
    proc.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    SERVER_CPU[0] += (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


if __name__ == "__main__":
    main()
