"""Polling throughput: kanalwerk's poll against a naive feedparser loop.

Generates N local feeds (half YouTube-format with long media:description, half RSS 2.0
with 2–8 KB content:encoded bodies, 15 items each), serves them from a separate process
on 127.0.0.1 with ETag support, and times

  (a) a naive loop of feedparser.parse(url), the yardstick,
  (b) kanalwerk's first full poll (fetch + parse + store, no translation),
  (c) its second poll, where every feed answers 304,
  (d) a poll of the same feeds from a server without validators (unchanged by hash).

Prints feeds/s, items/s, CPU seconds and peak RSS, and what the server saw: requests,
requests at once, connections open at once, connections in all. Not run by CI.

All feeds come from one host, so "conc C" is C connections to it (max_connections and
max_per_host both C; "default" leaves the config's defaults). `--latency-ms` makes the
server wait before each answer, as a round trip to a distant host would, holding up only
that request. `--protocol https` serves over TLS offering HTTP/1.1 only, `--protocol h2`
offering HTTP/2 (hypercorn, a throwaway CA from trustme). `--reader 10` times the
`reader` library (10 worker threads) on the same feeds.

    python benchmarks/poll.py --feeds 1000
    python benchmarks/poll.py --feeds 1000 --concurrency 2,4,8,16,32
    python benchmarks/poll.py --polls-only --latency-ms 0,50 --concurrency 2,default --reader 10
    python benchmarks/poll.py --polls-only --latency-ms 0,50 --concurrency default --protocol h2
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


# Counters shared with the feed server process (one slot each, under the array's lock).
REQUESTS, IN_FLIGHT, PEAK_IN_FLIGHT, OPEN, PEAK_OPEN, CONNECTIONS = range(6)


class Counters:
    """What the server saw: requests, requests at once, connections open at once, in all.

    "Open" is a connection with a request in flight on it for the HTTPS (hypercorn)
    server, which cannot see idle connections; the threaded server counts every
    connection from accept to close.
    """

    def __init__(self) -> None:
        # Made for spawn: the kanalwerk child is spawned, the server forked (fine either way).
        self.array = multiprocessing.get_context("spawn").Array("l", 6)

    def clear(self) -> None:
        """All to zero, for a new server."""
        with self.array.get_lock():
            for i in range(6):
                self.array[i] = 0

    def reset(self) -> None:
        """Start counting afresh; connections kept open from an earlier poll stay counted."""
        with self.array.get_lock():
            self.array[REQUESTS] = self.array[CONNECTIONS] = 0
            self.array[PEAK_IN_FLIGHT] = self.array[IN_FLIGHT]
            self.array[PEAK_OPEN] = self.array[OPEN]

    def snapshot(self) -> dict[str, int]:
        with self.array.get_lock():
            return {
                "requests": self.array[REQUESTS],
                "peak_requests": self.array[PEAK_IN_FLIGHT],
                "peak_connections": self.array[PEAK_OPEN],
                "connections": self.array[CONNECTIONS],
            }


def _enter(array: Any, current: int, peak: int) -> None:
    with array.get_lock():
        array[current] += 1
        array[peak] = max(array[peak], array[current])


def _leave(array: Any, current: int) -> None:
    with array.get_lock():
        array[current] -= 1


class Answers:
    """The feeds with their validators; the answer (status, headers, body) for a request."""

    def __init__(self, n: int, validators: bool) -> None:
        self.feeds = generate(n)
        self.validators = validators
        self.etags = {
            p: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for p, b in self.feeds.items()
        }
        self.stamp = email.utils.formatdate(1_700_000_000, usegmt=True)

    def answer(
        self, path: str, if_none_match: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        body = self.feeds.get(path)
        if body is None:
            return 404, [("Content-Length", "0")], b""
        etag = self.etags[path]
        if self.validators and if_none_match == etag:
            return 304, [("ETag", etag)], b""
        headers = [
            ("Content-Type", "application/xml; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        if self.validators:
            headers += [("ETag", etag), ("Last-Modified", self.stamp)]
        return 200, headers, body


def serve(n: int, port_conn: Any, validators: bool, latency: float, array: Any) -> None:
    """Child process: serve the generated feeds over HTTP/1.1 until terminated.

    One thread per connection, so the latency (a sleep before each answer) holds up only
    the connection it is on, as a round trip does.
    """
    answers = Answers(n, validators)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            _enter(array, OPEN, PEAK_OPEN)
            with array.get_lock():
                array[CONNECTIONS] += 1

        def finish(self) -> None:
            _leave(array, OPEN)
            super().finish()

        def do_GET(self) -> None:
            _enter(array, IN_FLIGHT, PEAK_IN_FLIGHT)
            with array.get_lock():
                array[REQUESTS] += 1
            try:
                if latency:
                    time.sleep(latency)
                status, headers, body = answers.answer(self.path, self.headers.get("If-None-Match"))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            finally:
                _leave(array, IN_FLIGHT)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    httpd = Server(("127.0.0.1", 0), Handler)
    port_conn.send(httpd.server_address[1])
    httpd.serve_forever()


def serve_tls(
    n: int, port_conn: Any, validators: bool, latency: float, array: Any, tls: TLSFiles
) -> None:
    """Child process: the same feeds over HTTPS from hypercorn, offering HTTP/2 or not.

    The latency is an `asyncio.sleep`, so it holds up only its own request (or stream).
    """
    import asyncio

    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    answers = Answers(n, validators)
    busy: dict[int, int] = {}  # client port -> requests in flight on that connection
    seen: set[int] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        port = scope["client"][1]
        _enter(array, IN_FLIGHT, PEAK_IN_FLIGHT)
        with array.get_lock():
            array[REQUESTS] += 1
            if port not in seen:
                seen.add(port)
                array[CONNECTIONS] += 1
            busy[port] = busy.get(port, 0) + 1
            if busy[port] == 1:
                array[OPEN] += 1
                array[PEAK_OPEN] = max(array[PEAK_OPEN], array[OPEN])
        try:
            if latency:
                await asyncio.sleep(latency)
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            status, pairs, body = answers.answer(scope["path"], headers.get("if-none-match"))
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in pairs],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            with array.get_lock():
                busy[port] -= 1
                if busy[port] == 0:
                    array[OPEN] -= 1
            _leave(array, IN_FLIGHT)

    config = Config()
    config.bind = [f"127.0.0.1:{tls.port}"]
    config.certfile, config.keyfile = tls.cert, tls.key
    config.alpn_protocols = ["h2", "http/1.1"] if tls.http2 else ["http/1.1"]
    config.accesslog = config.errorlog = None
    config.backlog = 256
    port_conn.send(tls.port)
    asyncio.run(hypercorn_serve(app, config))  # type: ignore[arg-type]


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA and a certificate for 127.0.0.1 (trustme), and where to serve."""

    ca: str
    cert: str
    key: str
    port: int
    http2: bool

    @classmethod
    def make(cls, folder: Path, *, http2: bool) -> TLSFiles:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        paths = [str(folder / name) for name in ("ca.pem", "cert.pem", "key.pem")]
        ca.cert_pem.write_to_path(paths[0])
        cert.private_key_and_cert_chain_pem.write_to_path(paths[1])
        cert.private_key_pem.write_to_path(paths[2])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return cls(paths[0], paths[1], paths[2], port=port, http2=http2)


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


@dataclass(frozen=True)
class Served:
    """How the feeds are served: latency per request, protocol, and the server's counters."""

    latency: float  # seconds added before each answer
    protocol: str  # "http" (HTTP/1.1), "https" (HTTP/1.1 over TLS) or "h2" (TLS offering h2)
    counters: Counters
    tls: TLSFiles | None = None

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"


def start_server(n: int, validators: bool, served: Served) -> tuple[multiprocessing.Process, int]:
    parent, child = multiprocessing.Pipe()
    args: tuple[Any, ...] = (n, child, validators, served.latency, served.counters.array)
    target: Callable[..., None] = serve
    if served.tls is not None:
        target, args = serve_tls, (*args, served.tls)
    proc = multiprocessing.Process(target=target, args=args, daemon=True)
    proc.start()
    assert proc.pid is not None
    SERVER_PIDS.add(proc.pid)
    port = int(parent.recv())
    for _ in range(100):  # hypercorn binds after it has said its port
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                break
        except ConnectionRefusedError:
            time.sleep(0.05)
    served.counters.clear()
    return proc, port


def naive(paths: list[str], base: str) -> int:
    import feedparser

    items = 0
    for path in paths:
        items += len(feedparser.parse(f"{base}{path}").entries)
    return items


def reader_polls(paths: list[str], base: str, workers: int) -> tuple[float, float]:
    """The `reader` library on the same feeds: wall time of its first and its 304 update."""
    from reader import make_reader

    with tempfile.TemporaryDirectory() as tmp:
        reader = make_reader(str(Path(tmp) / "reader.sqlite"))
        for path in paths:
            reader.add_feed(f"{base}{path}")
        walls = []
        for _ in range(2):
            started = time.perf_counter()
            reader.update_feeds(workers=workers, scheduled=False)
            walls.append(time.perf_counter() - started)
        reader.close()
    return walls[0], walls[1]


def write_config(
    folder: Path, paths: list[str], base: str, concurrency: str, streams: int | None
) -> Path:
    lines = [
        "site: {title: Benchmark, base_url: 'https://example.org/', author: Bench}",
        "output: output/",
    ]
    fetch = []
    if concurrency != "default":
        fetch += [f"max_connections: {concurrency}", f"max_per_host: {concurrency}"]
    if streams is not None:
        fetch.append(f"max_streams_per_host: {streams}")
    if fetch:
        lines.append(f"fetch: {{{', '.join(fetch)}}}")
    lines.append("channels:")
    for i, path in enumerate(paths):
        lines.append(f"  - {{name: feed {i}, url: '{base}{path}'}}")
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

    def close() -> None:
        pipeline.close()
        store.close()

    return run, close


@dataclass(frozen=True)
class PollRun:
    """One kanalwerk run of the benchmark: which feeds, where, with which limits."""

    paths: list[str]
    base: str
    concurrency: str
    streams: int | None
    validators: bool
    counters: Counters


def kanalwerk_phases(run_spec: PollRun, conn: Any) -> None:
    """Child process: poll twice and send back the figures and this process's peak RSS.

    A process of its own, so that the feeds generated for the server and the naive
    loop's memory do not count as kanalwerk's.
    """
    paths, concurrency, counters = run_spec.paths, run_spec.concurrency, run_spec.counters
    n = len(paths)
    seen: list[dict[str, int]] = []
    with WorkerMemory() as workers, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), paths, run_spec.base, concurrency, run_spec.streams)
        run, close = kanalwerk_poll(config)
        try:
            if run_spec.validators:
                counters.reset()
                first = timed(f"(b) kanalwerk first poll, conc {concurrency}", n, run)
                seen.append(counters.snapshot())
                counters.reset()
                second = timed(f"(c) kanalwerk 304 poll, conc {concurrency}", n, run)
                seen.append(counters.snapshot())
                figures = [first, second]
            else:
                run()
                counters.reset()
                figures = [timed("(d) no validators, unchanged by hash", n, run)]
                seen.append(counters.snapshot())
        finally:
            close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send((figures, seen, rss, workers.peak_kb / 1024, workers.peak_tree_pss_kb / 1024))


def in_child(run_spec: PollRun) -> tuple[Any, ...]:
    parent, child = multiprocessing.Pipe()
    context = multiprocessing.get_context("spawn")
    proc = context.Process(target=kanalwerk_phases, args=(run_spec, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return tuple(result)


def server_line(seen: dict[str, int]) -> str:
    return (
        f"    server saw {seen['requests']} requests, at most {seen['peak_requests']} at once, "
        f"at most {seen['peak_connections']} connections open at once, "
        f"{seen['connections']} new connections"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument(
        "--concurrency",
        default="2,8",
        help="comma list of connections to the feed host (max_connections and max_per_host); "
        "`default` uses the config's defaults",
    )
    parser.add_argument(
        "--latency-ms",
        default="0",
        help="comma list of milliseconds the server waits before each answer (a round trip)",
    )
    parser.add_argument(
        "--protocol",
        choices=["http", "https", "h2"],
        default="http",
        help="plain HTTP/1.1; HTTPS offering HTTP/1.1 only; HTTPS offering HTTP/2 (hypercorn)",
    )
    parser.add_argument(
        "--streams", type=int, help="fetch.max_streams_per_host (default: the config's)"
    )
    parser.add_argument(
        "--reader",
        default="",
        help="comma list of worker counts: also time the `reader` library on the same feeds",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--polls-only", action="store_true", help="only (b) and (c): no naive loop, no (d)"
    )
    args = parser.parse_args()
    n = args.feeds
    feeds = generate(n)
    paths = list(feeds)
    total_bytes = sum(len(b) for b in feeds.values())
    del feeds
    print(
        f"{n} feeds, {n * ITEMS_PER_FEED} items, {total_bytes / 1e6:.1f} MB, {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tls = None
        if args.protocol != "http":
            tls = TLSFiles.make(Path(tmp), http2=args.protocol == "h2")
            os.environ["SSL_CERT_FILE"] = tls.ca  # read by httpx in the kanalwerk child
            os.environ["REQUESTS_CA_BUNDLE"] = tls.ca  # and by requests, under reader
        for latency_ms in [float(v) for v in args.latency_ms.split(",")]:
            served = Served(latency_ms / 1000, args.protocol, Counters(), tls)
            print(f"--- {args.protocol}, {latency_ms:g} ms per request")
            run_benchmarks(args, paths, served)


def run_benchmarks(args: argparse.Namespace, paths: list[str], served: Served) -> None:
    n = len(paths)
    peak_main = peak_worker = peak_tree = 0.0
    proc, port = start_server(n, True, served)
    base = f"{served.scheme}://127.0.0.1:{port}"
    try:
        naive_figures: Figures | None = None
        if not (args.skip_naive or args.polls_only):
            naive_figures = timed("(a) naive feedparser.parse(url)", n, lambda: naive(paths, base))
            print(naive_figures.line())
        for workers in [int(w) for w in args.reader.split(",") if w]:
            served.counters.reset()
            first_wall, second_wall = reader_polls(paths, base, workers)
            print(
                f"{'(r) reader, ' + str(workers) + ' workers':<34} first {first_wall:7.2f} s wall"
                f"  304 poll {second_wall:7.2f} s wall"
            )
            print(server_line(served.counters.snapshot()) + " (both updates)")
        for concurrency in args.concurrency.split(","):
            (first, second), seen, rss, worker, tree = in_child(
                PollRun(paths, base, concurrency, args.streams, True, served.counters)
            )
            peak_main, peak_worker = max(peak_main, rss), max(peak_worker, worker)
            peak_tree = max(peak_tree, tree)
            print(first.line())
            print(server_line(seen[0]))
            print(second.line())
            print(server_line(seen[1]))
            if naive_figures is not None:
                print(
                    f"    first poll is {naive_figures.wall / first.wall:.1f}x the naive rate; "
                    f"304 poll takes {second.wall / first.wall:.1%} of the first poll's time"
                )
    finally:
        stop_server(proc)

    if not args.polls_only:
        proc, port = start_server(n, False, served)
        base = f"{served.scheme}://127.0.0.1:{port}"
        try:
            (unchanged,), seen, rss, worker, tree = in_child(
                PollRun(paths, base, "8", args.streams, False, served.counters)
            )
            peak_main, peak_worker = max(peak_main, rss), max(peak_worker, worker)
            peak_tree = max(peak_tree, tree)
            print(unchanged.line())
            print(server_line(seen[0]))
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
