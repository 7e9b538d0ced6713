"""`kanalwerk status` and `status --json`: documented keys, only reads, says why items wait.

Runs are real: feeds and LibreTranslate on 127.0.0.1, the CLI in process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import kanalwerk.sources.youtube as youtube
from kanalwerk.config import load_config
from kanalwerk.store import Store, migrations
from kanalwerk.translate.chain import Suspensions
from kanalwerk.translate.factory import translator_settings
from tests.cli import run_cli
from tests.old_stores import store_at
from tests.once import Setup, rss, run_setup
from tests.servers import Resource

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with run_setup(tmp_path) as ready:
        ready.write("/en.rss")
        yield ready


def documented_keys(section: str) -> set[str]:
    """The keys the README's table under `section` lists (first column, in backticks)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(section)
    table = text[start : text.index("\n\n", text.index("| ", start))]
    return set(re.findall(r"^\| `([^`]+)`", table, re.M))


def flat_keys(data: dict[str, Any], channel: dict[str, Any], engine: dict[str, Any]) -> set[str]:
    keys = set(data)
    keys |= {f"channels[].{k}" for k in channel}
    keys |= {f"channels[].items.{k}" for k in ("new", "published", "total")}
    keys |= {f"engines[].{k}" for k in engine}
    keys |= {f"engines[].budget.{k}" for k in engine["budget"]}
    keys |= {f"pending.{k}" for k in data["pending"]}
    keys |= {f"store.{k}" for k in data["store"]}
    keys |= {f"usage_today.{k}" for k in data["usage_today"]}
    keys |= {f"daemon.{k}" for k in data["daemon"]}
    return keys


def test_status_json_has_the_documented_keys(setup: Setup) -> None:
    assert run_cli(setup.config, "run", "--once").returncode == 0
    data = setup.status()
    assert data["version"] == 1
    assert data["store"] == {"url": f"sqlite:///{setup.folder}/data/k.db", "state": "ok",
                             "message": None}  # fmt: skip
    [channel] = data["channels"]
    assert channel["name"] == "Feed 0" and channel["id"] == "feed-0"
    assert channel["url"] == setup.feeds.url("/en.rss")
    assert channel["items"] == {"published": 2, "total": 2}
    assert channel["http_status"] == 200 and channel["error"] is None
    fetched = datetime.fromisoformat(channel["last_fetch"])
    # Two posts this week: quiet, about four polls per gap (README: when channels are polled).
    assert datetime.fromisoformat(channel["next_poll"]) == fetched + timedelta(days=7) / 2 / 4
    assert channel["next_poll_reason"] == "quiet"
    assert channel["next_poll_why"] == "quiet: 2 posts in 7 days" and channel["failing"] is False
    assert channel["backoff"] is None and channel["handle_lookup"] is None
    [engine] = data["engines"]
    assert engine["name"] == "libretranslate" and engine["requests"] == 2
    assert engine["budget"] == {"daily_characters": None, "daily_tokens": None, "spent": False}
    assert data["pending"] == {"items": 0, "reasons": []}
    assert data["daemon"]["last_round_ok"] is True  # run --once wrote status.json

    # Every key is in the README's table, and the table names no key that is not there.
    channel["items"].setdefault("new", 0)
    assert flat_keys(data, channel, engine) == documented_keys("### status --json")


def test_status_never_changes_the_store(setup: Setup) -> None:
    assert run_cli(setup.config, "run", "--once").returncode == 0
    database = setup.folder / "data" / "k.db"
    before = (database.read_bytes(), database.stat().st_mtime_ns)
    files = sorted(p.name for p in database.parent.iterdir())
    setup.write("/en.rss", more="  - name: Later\n    url: http://127.0.0.1:9/later.xml\n")
    assert run_cli(setup.config, "status").returncode == 0
    data = setup.status()
    assert [c["name"] for c in data["channels"]] == ["Feed 0", "Later"]
    assert data["channels"][1]["last_fetch"] is None
    assert data["channels"][1]["next_poll_reason"] == "never-fetched"
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before
    assert sorted(p.name for p in database.parent.iterdir()) == files


def test_a_store_that_needs_migrating_is_reported_not_migrated(setup: Setup) -> None:
    database = setup.folder / "data" / "k.db"
    older = len(migrations.MIGRATIONS) - 1
    store_at(f"sqlite:///{database}", older)
    before = (database.read_bytes(), database.stat().st_mtime_ns)

    data = setup.status()
    assert data["store"]["state"] == "needs-migration"
    assert f"schema version {older}" in data["store"]["message"]
    assert data["channels"][0]["last_fetch"] is None
    text = run_cli(setup.config, "status")
    assert text.returncode == 0, text.stderr
    assert re.search(rf"^store: .*schema version {older}, .*migrates it", text.stdout, re.M)
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before

    assert run_cli(setup.config, "run", "--once").returncode == 0  # run migrates it
    assert setup.status()["store"]["state"] == "ok"


def test_status_says_why_items_wait(setup: Setup) -> None:
    """No model for a language, a spent budget, an engine resting: each named."""
    setup.feeds.routes["/it.rss"] = Resource(rss(("Uno", "it"), ("Due", "it")))
    setup.write("/en.rss", "/it.rss")
    first = run_cli(setup.config, "run", "--once")
    assert first.returncode == 4, first.stderr  # items wait: no engine can take them

    data = setup.status()
    assert data["pending"]["items"] == 2
    [reason] = data["pending"]["reasons"]
    assert reason["kind"] == "no-model" and reason["items"] == 2
    assert "cannot translate from 'it'" in reason["message"]
    text = run_cli(setup.config, "status").stdout
    assert "2 item(s) wait for translation" in text
    assert re.search(r"^  2 item\(s\): no model for their language: LibreTranslate", text, re.M)

    # Today's budget is what was used: the next run stops before asking the server.
    used = data["engines"][0]["characters"]
    budget = f"  budget: {{libretranslate: {{daily_characters: {used}}}}}"
    setup.write("/en.rss", "/it.rss", translator=budget)
    assert run_cli(setup.config, "run", "--once").returncode == 4
    data = setup.status()
    reasons = {r["kind"]: r for r in data["pending"]["reasons"]}
    assert set(reasons) == {"budget-spent", "engines-unavailable"}
    spent = reasons["budget-spent"]
    assert spent["engine"] == "libretranslate"
    assert f"daily budget of {used:,} characters reached" in spent["message"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert datetime.fromisoformat(spent["until"]).date() == tomorrow
    assert data["engines"][0]["budget"]["spent"] is True
    text = run_cli(setup.config, "status").stdout
    assert re.search(r"^  libretranslate budget spent until \d{4}-\d\d-\d\d 00:00", text, re.M)

    # An engine told to wait (HTTP 429), with the budget lifted, is said to rest.
    setup.write("/en.rss", "/it.rss")
    with Store.open(f"sqlite:///{setup.folder / 'data' / 'k.db'}") as store:
        book = Suspensions(store, settings=translator_settings(load_config(setup.config)))
        book.suspend("libretranslate", datetime.now(UTC) + timedelta(hours=2), "HTTP 429")
    resting = {r["kind"]: r for r in setup.status()["pending"]["reasons"]}
    assert resting["engine-resting"]["message"] == "HTTP 429"
    assert "budget-spent" not in resting


def test_a_failed_handle_look_up_is_shown(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local server stands in for YouTube and knows no such channel (404)."""
    monkeypatch.setattr(
        youtube,
        "resolve_handle",
        functools.partial(youtube.resolve_handle, base=setup.feeds.base_url),
    )
    setup.write("/en.rss", more='  - name: Lost\n    youtube: "@nosuchchannel"\n')
    run = run_cli(setup.config, "run", "--once")
    assert run.returncode == 3, run.stderr  # one channel could not be polled

    data = setup.status()
    [lookup] = data["handle_lookups"]
    assert lookup["channel"] == "lost" and lookup["handle"] == "@nosuchchannel"
    assert "YouTube has no channel @nosuchchannel" in lookup["error"]
    lost = next(c for c in data["channels"] if c["id"] == "lost")
    assert lost["handle_lookup"]["error"] == lookup["error"]
    text = run_cli(setup.config, "status").stdout
    assert re.search(r"^  @nosuchchannel could not be looked up \(.*\): YouTube has no", text, re.M)

    # Found later: the note goes away.
    page = f'<link rel="canonical" href="https://www.youtube.com/channel/UC{"x" * 22}">'
    setup.feeds.routes["/@nosuchchannel"] = Resource(page.encode(), "text/html")
    run_cli(setup.config, "run", "--once")
    assert setup.status()["handle_lookups"] == []
