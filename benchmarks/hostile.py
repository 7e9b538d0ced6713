"""Hostile input: what a decompression bomb and deeply nested HTML cost kanalwerk.

(a) A feed sent as `Content-Encoding: gzip, gzip` whose body unpacks to N MiB of zeros
    (a few KB on the wire), served from 127.0.0.1: the fetch must stop at the
    `fetch.max_bytes` cap. Prints wall time, the Python heap's peak (tracemalloc) and
    the process's peak RSS.
(b) Sanitizing items of D nested `<div>`s and one flat item of about 1.1 MB: prints the
    time and the size of what is kept.

Not run by CI. It reuses the tests' local server and bomb builder.

    python benchmarks/hostile.py
    python benchmarks/hostile.py --bomb-mib 4096 --depths 1000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import resource
import sys
import time
import tracemalloc
from pathlib import Path

from kanalwerk.config import Config, FetchConfig, SiteConfig
from kanalwerk.fetch import fetch_all
from kanalwerk.models import FetchState
from kanalwerk.pipeline import fetch_settings
from kanalwerk.sanitize import sanitize_html

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for the tests' helpers
from tests.bombs import gzip_bomb
from tests.servers import LocalServer, Response


def bomb(mebibytes: int) -> None:
    outer = gzip.compress(gzip_bomb(mebibytes), 9)
    site = SiteConfig(title="Benchmark", base_url="https://blog.example.org/", author="B")
    config = Config.model_construct(site=site, fetch=FetchConfig(allow_private_addresses=True))
    settings = fetch_settings(config)
    server = LocalServer().start()
    server.routes["/feed.xml"] = lambda r: Response(
        200, outer, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip, gzip"}
    )
    url = server.url("/feed.xml")
    try:
        tracemalloc.start()
        started = time.perf_counter()
        result = asyncio.run(fetch_all([FetchState(channel_id="bomb", url=url)], settings))[0]
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        server.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"(a) gzip, gzip of {mebibytes} MiB of zeros, {len(outer):,} bytes on the wire, "
        f"cap {settings.max_bytes / 1e6:.0f} MB"
    )
    print(f"    error: {result.error}")
    print(f"    {elapsed:.2f} s, Python heap peak {peak / 2**20:.1f} MiB, RSS {rss:.0f} MiB")


def nesting(depths: list[int]) -> None:
    cases = [(f"{d:>7,} nested divs", "<div>" * d + "text" + "</div>" * d) for d in depths]
    cases.append(("one flat paragraph", "<p>" + "lorem ipsum dolor sit amet " * 40_000 + "</p>"))
    for label, html in cases:
        started = time.perf_counter()
        kept = sanitize_html(html)
        elapsed = time.perf_counter() - started
        print(
            f"(b) {label} ({len(html) / 1e6:.2f} MB): "
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
