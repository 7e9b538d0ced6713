"""Hostile input: what a decompression bomb and deeply nested HTML cost kanalwerk.

(a) A feed sent as `Content-Encoding: gzip, gzip` whose body unpacks to N MiB of zeros
    (a few KB on the wire), served from 127.0.0.1: the fetch must stop at the
    `fetch.max_bytes` cap. Prints wall time, the Python heap's peak (tracemalloc) and
    the process's peak RSS.
(b) Sanitizing items of D nested `<div>`s and one flat item of about 1.1 MB: prints the
    time and the size of what is kept.

Not run by CI.

    python benchmarks/hostile.py
    python benchmarks/hostile.py --bomb-mib 4096 --depths 1000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kanalwerk.config import Config, FetchConfig, SiteConfig
from kanalwerk.fetch import fetch_all
from kanalwerk.models import FetchState
from kanalwerk.pipeline import fetch_settings
from kanalwerk.sanitize import sanitize_html


def gzip_of_zeros(mebibytes: int) -> bytes:
    """gzip of `mebibytes` MiB of zeros, built from one compressed MiB repeated."""
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return header + block * mebibytes + end + trailer


@contextmanager
def serve(body: bytes, encoding: str) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()


def bomb(mebibytes: int) -> None:
    inner = gzip_of_zeros(mebibytes)
    outer = zlib.compress(inner, 9, wbits=31)
    site = SiteConfig(title="Benchmark", base_url="https://blog.example.org/", author="B")
    config = Config.model_construct(site=site, fetch=FetchConfig(allow_private_addresses=True))
    settings = fetch_settings(config)
    with serve(outer, "gzip, gzip") as url:
        tracemalloc.start()
        started = time.perf_counter()
        result = asyncio.run(fetch_all([FetchState(channel_id="bomb", url=url)], settings))[0]
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"(a) gzip, gzip of {mebibytes} MiB of zeros, {len(outer):,} bytes on the wire, "
        f"cap {settings.max_bytes / 1e6:.0f} MB"
    )
    print(f"    error: {result.error}")
    print(f"    {elapsed:.2f} s, Python heap peak {peak / 2**20:.1f} MiB, RSS {rss:.0f} MiB")


def nesting(depths: list[int]) -> None:
    for depth in depths:
        html = "<div>" * depth + "text" + "</div>" * depth
        started = time.perf_counter()
        kept = sanitize_html(html)
        elapsed = time.perf_counter() - started
        print(
            f"(b) {depth:>7,} nested divs ({len(html) / 1e6:.2f} MB): "
            f"{elapsed * 1000:7.0f} ms, {len(kept):,} characters kept"
        )
    flat = "<p>" + "lorem ipsum dolor sit amet " * 40_000 + "</p>"
    started = time.perf_counter()
    kept = sanitize_html(flat)
    elapsed = time.perf_counter() - started
    print(
        f"(b) one flat paragraph ({len(flat) / 1e6:.2f} MB): "
        f"{elapsed * 1000:7.0f} ms, {len(kept):,} characters kept"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bomb-mib", type=int, default=1024, help="unpacked size of the bomb")
    parser.add_argument(
        "--depths", default="1000,20000,100000", help="nesting depths, comma-separated"
    )
    args = parser.parse_args()
    bomb(args.bomb_mib)
    nesting([int(d) for d in args.depths.split(",")])


if __name__ == "__main__":
    main()
