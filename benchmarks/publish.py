"""Publishing cost: a full publish of a big store, one new article, and a quiet cycle.

Builds a SQLite store with N articles (seeded; several channels; German bodies of about
5 KB of HTML with links, lists and quotes, composed with the attribution box as the
pipeline composes them) directly through the Store API, then measures with
`Pipeline.publish`, as the daemon publishes:

  full   every page of an empty output folder
  one    after one new article is stored: seconds and files written
  next   the same for the article after it: the templates are loaded by then
  quiet  nothing changed: nothing may be rendered or written

Each measurement runs in a fresh interpreter, so its peak RSS (`ru_maxrss`) is its own;
"cpu s" is the processor time of all its threads (on a busy machine the truer figure),
without the worker processes a full publish of thousands of pages starts;
the RSS before the timed call is shown as "base". Seconds are the `publish` call alone;
"one" and "quiet" are timed in a process that has published once already, as a daemon's
cycles are. Targets (issue 10): 10,000 articles in under 10 s, one new article
in under 0.3 s with at most 10 files written, peak RSS under 200 MB. Not run by CI.

    python benchmarks/publish.py
    python benchmarks/publish.py --articles 1000 --profile one
    python benchmarks/publish.py --keep ../bench-stores   # build once, measure again later
    python benchmarks/publish.py --articles 10000 --series 120   # files per new article
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kanalwerk.compose import compose_article
from kanalwerk.config import Config, load_config
from kanalwerk.models import Item
from kanalwerk.pipeline import Pipeline
from kanalwerk.store import Store

CHANNELS = ("CNBC", "Tech Notes", "Ada Lindqvist", "Daily AI", "Open Models", "Heise Digest")
PHASES = ("full", "one", "next", "quiet")
START = datetime(2023, 1, 1, 6, 0, tzinfo=UTC)
WORDS = [
    "Modell",
    "Daten",
    "Rechenzentrum",
    "Forschung",
    "Sprache",
    "Entwicklung",
    "Nutzer",
    "Sicherheit",
    "Chip",
    "Training",
    "Anbieter",
    "Markt",
    "Software",
    "Netz",
    "Gesetz",
    "Studie",
    "Ergebnis",
    "Version",
    "Quelle",
    "Bericht",
    "schneller",
    "größer",
    "offen",
    "neue",
    "erste",
    "deutlich",
    "weiterhin",
    "bereits",
    "laut",
    "etwa",
    "jedoch",
    "außerdem",
    "zeigt",
    "meldet",
    "erklärt",
    "plant",
    "veröffentlicht",
    "verbessert",
    "kostet",
    "braucht",
    "liefert",
]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def _body(rng: random.Random, n: int) -> str:
    """About 5 KB of the HTML an article body carries."""
    parts: list[str] = []
    while sum(map(len, parts)) < 4600:
        kind = rng.random()
        if kind < 0.6:
            text = " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))
            link = f'<a href="https://quelle.example/{n}/{len(parts)}">{rng.choice(WORDS)}</a>'
            parts.append(f"<p>{text} Mehr dazu: {link}.</p>")
        elif kind < 0.8:
            items = "".join(f"<li>{_sentence(rng)}</li>" for _ in range(rng.randint(2, 5)))
            parts.append(f"<ul>{items}</ul>")
        elif kind < 0.9:
            parts.append(f"<blockquote><p>{_sentence(rng)}</p></blockquote>")
        else:
            parts.append(f"<h2>{_sentence(rng)[:-1]}</h2>")
    return "".join(parts)


def _write_config(folder: Path) -> Path:
    channels = "".join(
        f"  - name: {name}\n    url: https://feeds{i}.example/feed.xml\n"
        for i, name in enumerate(CHANNELS)
    )
    path = folder / "feeds.yaml"
    path.write_text(
        "site:\n  title: KI-Nachrichten auf Deutsch\n  base_url: https://blog.example.org/\n"
        f"  author: Redaktion\noutput: {folder / 'site'}\n"
        f"store: sqlite:///{folder / 'kanalwerk.db'}\nchannels:\n{channels}",
        encoding="utf-8",
    )
    return path


def add_articles(config: Config, store: Store, first: int, count: int) -> None:
    """Items `first`…`first + count - 1`, round-robin over the channels, stored as articles."""
    rng = random.Random(first)
    site = config.site.info()
    by_channel: dict[str, list[Item]] = {}
    for n in range(first, first + count):
        channel = config.channels[n % len(config.channels)]
        link = f"https://feeds.example/{channel.id}/{n}"
        by_channel.setdefault(channel.id, []).append(
            Item(
                guid=link,
                link=link,
                title=f"Original headline number {n}",
                published=START + timedelta(minutes=37 * n),
                thumbnail=f"https://img.example/{n}.jpg" if n % 3 == 0 else None,
            )
        )
    for channel_id, items in by_channel.items():
        store.add_items(channel_id, items)
    for stored in store.pending_items(max_attempts=3):
        n = int(stored.guid.rsplit("/", 1)[1])
        store.save_article(
            compose_article(
                stored,
                title_de=f"{_sentence(rng)[:60].rstrip('.')} ({n})",
                body_html_de=_body(rng, n),
                teaser_de=" ".join(_sentence(rng) for _ in range(2)),
                engine="openai",
                model="deepseek-chat",
                site=site,
            )
        )


def _measure(config_path: Path, phase: str, profile: bool) -> None:
    """In a fresh interpreter: one timed `publish`, reported as JSON on stdout.

    The others first publish once untimed, as a daemon's earlier cycles did (the queries
    compiled); "one" then stores one new article, "next" two, timing the second publish.
    """
    config = load_config(config_path)
    with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
        if phase != "full":
            pipeline.publish()
        if phase == "next":
            add_articles(config, store, len(store.published_entries().entries) + 1, 1)
            pipeline.publish()
        if phase in ("one", "next"):
            add_articles(config, store, len(store.published_entries().entries) + 1, 1)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        profiler = cProfile.Profile() if profile else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        result = pipeline.publish()
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(35)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    written = [] if result is None else result.written
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "written": len(written),
                "files": sorted(str(p.relative_to(config.output)) for p in written)[:12],
                "rendered": 0 if result is None else len(result.rendered),
                "base_mb": base,
                "peak_mb": peak,
            }
        )
    )


def _series(config_path: Path, count: int) -> None:
    """In a fresh interpreter: `count` new articles one after another, each published as a
    daemon would; prints how many files each wrote and the seconds they took."""
    config = load_config(config_path)
    files: list[int] = []
    seconds: list[float] = []
    with Store.open(config.store) as store, Pipeline(config, store) as pipeline:
        pipeline.publish()
        for _ in range(count):
            add_articles(config, store, len(store.published_entries().entries) + 1, 1)
            started = time.perf_counter()
            result = pipeline.publish()
            seconds.append(time.perf_counter() - started)
            files.append(0 if result is None else len(result.written))
    counts = Counter(files)
    shown = ", ".join(f"{n} files: {counts[n]}x" for n in sorted(counts))
    seconds.sort()
    print(f"  {count} new articles one by one: {shown}")
    print(
        f"  seconds: median {statistics.median(seconds):.3f}, "
        f"90th percentile {seconds[int(len(seconds) * 0.9)]:.3f}, max {seconds[-1]:.3f}"
    )


def _run(config_path: Path, phase: str, profile: bool) -> dict[str, object]:
    args = [sys.executable, __file__, "--measure", str(config_path), "--phase", phase]
    if profile:
        args.append("--profile-this")
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    if profile:
        print(done.stderr, file=sys.stderr)
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


def _built(folder: Path, count: int) -> tuple[Path, str]:
    """The config of a store of `count` articles in `folder`, built unless one is there.

    The output folder and the record of published pages start empty either way.
    """
    config_path = _write_config(folder)
    config = load_config(config_path)
    marker = folder / "articles"
    if marker.exists() and marker.read_text(encoding="utf-8") == str(count):
        with Store.open(config.store) as store:
            store.record_published_pages({}, list(store.published_pages()))
        shutil.rmtree(config.output, ignore_errors=True)
        return config_path, "store kept from an earlier run"
    for old in folder.glob("kanalwerk.db*"):
        old.unlink()
    shutil.rmtree(config.output, ignore_errors=True)
    started = time.perf_counter()
    with Store.open(config.store) as store, Pipeline(config, store):
        add_articles(config, store, 1, count)
    marker.write_text(str(count), encoding="utf-8")
    return config_path, f"store built in {time.perf_counter() - started:.1f} s"


def bench(count: int, profile: str | None, keep: Path | None, series: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kanalwerk-publish-") as tmp:
        folder = Path(tmp) if keep is None else keep / str(count)
        folder.mkdir(parents=True, exist_ok=True)
        config_path, built = _built(folder, count)
        config = load_config(config_path)
        print(f"\n{count:,} articles ({len(CHANNELS)} channels), {built}")
        rows = [(phase, _run(config_path, phase, profile == phase)) for phase in PHASES]
        files = sum(1 for p in Path(config.output).rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in Path(config.output).rglob("*") if p.is_file())
        print(f"  output: {files:,} files, {size / 1e6:.1f} MB")
        print(
            f"  {'':6} {'seconds':>8} {'cpu s':>8} {'written':>8} {'rendered':>9}"
            f" {'base MB':>8} {'peak MB':>8}"
        )
        for name, row in rows:
            print(
                f"  {name:6} {row['seconds']:8.3f} {row['cpu']:8.3f} {row['written']:8}"
                f" {row['rendered']:8}"
                f" {row['base_mb']:8.0f} {row['peak_mb']:8.0f}"
            )
        print(f"  one new article wrote: {', '.join(rows[1][1]['files'])}")  # type: ignore[arg-type]
        if series:
            args = [
                sys.executable,
                __file__,
                "--measure",
                str(config_path),
                "--series",
                str(series),
            ]
            print(subprocess.run(args, check=True, capture_output=True, text=True).stdout, end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--articles", default="1000,10000", help="comma-separated store sizes (1000,10000)"
    )
    parser.add_argument(
        "--profile",
        choices=PHASES,
        help="print a cProfile of that measurement (cumulative time) to stderr",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the stores in this folder and reuse them on later runs (the few articles"
        " each run adds stay)",
    )
    parser.add_argument(
        "--series",
        type=int,
        default=0,
        metavar="N",
        help="then publish N new articles one by one: files written and seconds of each",
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=PHASES, default="full", help=argparse.SUPPRESS)
    parser.add_argument("--profile-this", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None and args.series:
        _series(args.measure, args.series)
        return
    if args.measure is not None:
        _measure(args.measure, args.phase, args.profile_this)
        return
    for count in (int(n) for n in args.articles.split(",")):
        bench(count, args.profile, args.keep, args.series)


if __name__ == "__main__":
    main()
