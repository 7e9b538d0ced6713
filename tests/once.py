"""A config of RSS channels on 127.0.0.1 translated by a loopback LibreTranslate.

For the tests of `run --once` as cron and people see it: exit codes, status.json, logs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fake_libretranslate import FakeLibreTranslate
from tests.servers import LocalServer, Resource


def rss(*items: tuple[str, str]) -> bytes:
    """A feed of (title, language) items; each item declares its own language."""
    body = "".join(
        f"<item><title>{title}</title><guid>{title}</guid><link>https://e.com/{title}</link>"
        f"<dc:language>{lang}</dc:language>"
        f"<description>{title}: a sentence long enough to be an item.</description></item>"
        for title, lang in items
    )
    return (
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>F</title><link>https://e.com/</link>{body}</channel></rss>"
    ).encode()


@dataclass
class Setup:
    folder: Path
    feeds: LocalServer
    libre: FakeLibreTranslate

    @property
    def config(self) -> Path:
        return self.folder / "feeds.yaml"

    @property
    def health(self) -> Path:
        return self.folder / "data" / "status.json"

    def write(self, *paths: str, more: str = "", translator: str = "") -> None:
        """Channels `Feed 0`, `Feed 1`, … (ids feed-0, …) on `paths`, then `more` as given.

        `translator` adds lines to the translator section (e.g. a budget).
        """
        channels = "".join(
            f"  - name: Feed {n}\n    url: {self.feeds.url(path)}\n" for n, path in enumerate(paths)
        )
        self.config.write_text(
            f"""\
site: {{title: T, base_url: "https://example.org/", author: A}}
store: sqlite:///data/k.db
output: site/
schedule: {{interval: 1h, jitter: 0s}}
translator:
  engine: libretranslate
  libretranslate: {{url: "{self.libre.server.base_url}"}}
{translator}
channels:
{channels}{more}""",
            encoding="utf-8",
        )

    def status(self) -> dict[str, Any]:
        """`kanalwerk status --json`, parsed."""
        from tests.cli import run_cli

        result = run_cli(self.config, "status", "--json")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert isinstance(data, dict)
        return data

    def read_health(self) -> dict[str, Any]:
        data = json.loads(self.health.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data


@contextlib.contextmanager
def run_setup(tmp_path: Path) -> Iterator[Setup]:
    """Feeds `/en.rss` (two English items) and `/it.rss` (one Italian, no model for it)."""
    feeds, libre_server = LocalServer().start(), LocalServer().start()
    try:
        feeds.routes["/en.rss"] = Resource(rss(("One", "en"), ("Two", "en")))
        feeds.routes["/it.rss"] = Resource(rss(("Uno", "it")))
        setup = Setup(tmp_path, feeds, FakeLibreTranslate(libre_server))
        yield setup
    finally:
        feeds.stop()
        libre_server.stop()
