"""Engine state: suspensions survive a restart, and `kanalwerk status` shows usage and limits.

The chain is driven in-process against a real SQLite store; `kanalwerk run --once` and
`kanalwerk status` run in process against a loopback DeepL and LibreTranslate.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.errors import Blame, QuotaExceeded, TranslationError
from kanalwerk.store import Store
from kanalwerk.translate.base import Translation, TranslationRequest
from kanalwerk.translate.chain import (
    SUSPENSIONS_KEY,
    ChainTranslator,
    Suspension,
    Suspensions,
)
from kanalwerk.translate.factory import translator_settings
from tests.cli import run_cli
from tests.fake_deepl import FakeDeepL
from tests.fake_libretranslate import FakeLibreTranslate
from tests.fake_openai import FakeOpenAI, is_article_request
from tests.servers import LocalServer, Resource

DEEPL_KEY = "status-secret-0815:fx"
OPENAI_KEY = "sk-status-secret-4711"
NOW = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
MIDNIGHT = datetime(2025, 3, 5, tzinfo=UTC)


# --- suspensions in the store ------------------------------------------------------


class Engine:
    """A scripted engine: raises `error` if set, else answers with its name."""

    def __init__(self, name: str, error: TranslationError | None = None):
        self.engine = name
        self.model: str | None = None
        self.error = error
        self.calls = 0

    def translate(self, request: TranslationRequest) -> Translation:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return Translation(tuple(f"{self.engine}:{t}" for t in request.texts), self.engine, None)

    def close(self) -> None:
        pass


def chain(store: Store, first: Engine, second: Engine, now: datetime) -> ChainTranslator:
    engines = [("deepl", lambda: first), ("libretranslate", lambda: second)]
    return ChainTranslator(engines, clock=lambda: now, store=store)


REQUEST = TranslationRequest(("Hello",), "en", "de")


def test_quota_suspension_survives_a_restart(store: Store) -> None:
    spent = Engine("deepl", QuotaExceeded("DeepL character quota exceeded", until=MIDNIGHT))
    backup = Engine("libretranslate")
    assert chain(store, spent, backup, NOW).translate(REQUEST).engine == "libretranslate"
    assert spent.calls == 1

    # A new process: a new chain over the same store skips the spent engine at once.
    restarted_deepl, restarted_backup = Engine("deepl"), Engine("libretranslate")
    again = chain(store, restarted_deepl, restarted_backup, NOW + timedelta(hours=1))
    assert again.translate(REQUEST).texts == ("libretranslate:Hello",)
    assert restarted_deepl.calls == 0
    assert Suspensions(store, clock=lambda: NOW).active() == {
        "deepl": Suspension(MIDNIGHT, "DeepL character quota exceeded")
    }

    # After midnight the engine is asked again.
    tomorrow = chain(store, restarted_deepl, restarted_backup, MIDNIGHT + timedelta(minutes=1))
    assert tomorrow.translate(REQUEST).engine == "deepl"
    assert Suspensions(store, clock=lambda: MIDNIGHT).active() == {}


def test_broken_engines_are_not_remembered_across_restarts(store: Store) -> None:
    bad_key = Engine("deepl", TranslationError("bad key", blame=Blame.ENGINE, status=403))
    chain(store, bad_key, Engine("libretranslate"), NOW).translate(REQUEST)
    fixed = Engine("deepl")
    assert chain(store, fixed, Engine("libretranslate"), NOW).translate(REQUEST).engine == "deepl"


@pytest.mark.parametrize("stored", ["not json", "[1, 2]", '{"deepl": {"until": "soon"}}'])
def test_unreadable_suspensions_are_ignored(store: Store, stored: str) -> None:
    store.set_meta(SUSPENSIONS_KEY, stored)
    first = Engine("deepl")
    assert chain(store, first, Engine("libretranslate"), NOW).translate(REQUEST).engine == "deepl"


# --- kanalwerk status ---------------------------------------------------------------


@dataclass
class Setup:
    folder: Path
    feeds: LocalServer
    deepl: FakeDeepL
    libre: FakeLibreTranslate

    def kanalwerk(
        self, *args: str, key: str | None = DEEPL_KEY
    ) -> subprocess.CompletedProcess[str]:
        env = {"KW_OPENAI_KEY": OPENAI_KEY, "KW_DEEPL_KEY": key}  # no key: unset
        done = run_cli(self.folder / "k.yaml", *args, env=env)
        assert DEEPL_KEY not in done.stdout + done.stderr  # keys are never shown
        assert OPENAI_KEY not in done.stdout + done.stderr
        return done

    def feed(self, *titles: str) -> None:
        items = "".join(
            f"<item><title>{t}</title><guid>{t}</guid><link>https://e.com/{n}</link>"
            f"<description>{t} is a long enough English sentence for the test.</description>"
            "</item>"
            for n, t in enumerate(titles)
        )
        body = '<rss version="2.0"><channel><title>F</title><link>https://e.com/</link>'
        body += f"<language>en</language>{items}</channel></rss>"
        self.feeds.routes["/f.rss"] = Resource(body.encode())


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    feeds, deepl_server, libre_server = (LocalServer().start() for _ in range(3))
    try:
        deepl = FakeDeepL(deepl_server, key=DEEPL_KEY, character_limit=2000)
        libre = FakeLibreTranslate(libre_server)
        (tmp_path / "k.yaml").write_text(
            f"""
site: {{title: T, base_url: "https://example.org/", author: A}}
store: sqlite:///k.db
output: site/
translator:
  engine: deepl
  fallback: [libretranslate]
  budget:
    deepl: {{daily_characters: 100000}}
    libretranslate: {{daily_characters: 5000}}
  deepl: {{api_key_env: KW_DEEPL_KEY, base_url: "{deepl.url}"}}
  libretranslate: {{url: "{libre.url}"}}
channels:
  - name: Feed
    url: {feeds.url("/f.rss")}
""",
            encoding="utf-8",
        )
        setup = Setup(tmp_path, feeds, deepl, libre)
        setup.feed("First post")
        yield setup
    finally:
        for server in (feeds, deepl_server, libre_server):
            server.stop()


def test_status_shows_usage_budget_and_deepl_account(setup: Setup) -> None:
    assert setup.kanalwerk("run", "--once").returncode == 0
    sent = setup.deepl.character_count
    assert sent > 0 and len(setup.deepl.calls) == 1

    status = setup.kanalwerk("status")
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert re.search(rf"^  deepl: 1 request\(s\), {sent:,} of 100,000 characters", out, re.M)
    assert re.search(r"^  libretranslate: 0 request\(s\), 0 of 5,000 characters", out, re.M)
    assert "suspended" not in out
    account = f"DeepL account: {sent:,} of 2,000 characters used this billing period"
    assert account + f" ({2000 - sent:,} left)" in out
    assert len(setup.deepl.server.requests_to("/v2/usage")) == 1


def test_spent_quota_is_shown_and_survives_a_restart(setup: Setup) -> None:
    setup.deepl.character_count = setup.deepl.character_limit  # the month's quota is gone
    first = setup.kanalwerk("run", "--once")
    assert first.returncode == 0, first.stderr
    assert len(setup.deepl.calls) == 1  # asked once, answered 456
    assert len(setup.libre.calls) == 1  # the fallback translated the item

    setup.feed("First post", "Second post")
    second = setup.kanalwerk("run", "--once")
    assert second.returncode == 0, second.stderr
    assert "1 translated" in second.stderr
    assert len(setup.deepl.calls) == 1  # the restarted run did not ask DeepL again
    assert len(setup.libre.calls) == 2

    status = setup.kanalwerk("status")
    assert status.returncode == 0, status.stderr
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    expected = rf"^    suspended until {tomorrow} 00:00 UTC: DeepL character quota exceeded"
    assert re.search(expected, status.stdout, re.M), status.stdout
    assert re.search(r"^  libretranslate: 2 request\(s\), \d+ of 5,000", status.stdout, re.M)
    assert "DeepL account: 2,000 of 2,000 characters used this billing period (0 left)" in (
        status.stdout
    )


def test_deepl_account_failures_are_one_line(setup: Setup) -> None:
    setup.deepl.fail_next(503)
    outage = setup.kanalwerk("status")
    assert outage.returncode == 0, outage.stderr
    assert re.search(r"^DeepL account: usage unavailable: .*HTTP 503", outage.stdout, re.M)

    wrong = setup.kanalwerk("status", key="someone-elses-key:fx")
    assert wrong.returncode == 0, wrong.stderr
    line = next(x for x in wrong.stdout.splitlines() if x.startswith("DeepL account"))
    assert "KW_DEEPL_KEY" in line and "403" in line
    assert "someone-elses-key" not in wrong.stdout + wrong.stderr

    setup.deepl.server.stop()
    down = setup.kanalwerk("status")
    assert down.returncode == 0, down.stderr
    assert re.search(r"^DeepL account: usage unavailable: ", down.stdout, re.M)


def test_no_deepl_key_means_no_account_request(setup: Setup) -> None:
    status = setup.kanalwerk("status", key=None)
    assert status.returncode == 0, status.stderr
    assert "DeepL account" not in status.stdout
    assert "deepl: 0 request(s)" in status.stdout
    assert setup.deepl.server.requests_to("/v2/usage") == []
    assert "openai" not in status.stdout  # neither configured nor writing articles


def article_mode_config(setup: Setup, api: FakeOpenAI, *, engine: str, prices: bool) -> None:
    priced = "price_per_million_input: 1000, price_per_million_output: 3000, " if prices else ""
    (setup.folder / "k.yaml").write_text(
        f"""
site: {{title: T, base_url: "https://example.org/", author: A}}
store: sqlite:///k.db
output: site/
translator:
  engine: {engine}
  mode: article
  budget:
    libretranslate: {{daily_characters: 5000}}
  openai: {{{priced}base_url: "{api.base_url}", model: m, api_key_env: KW_OPENAI_KEY}}
  deepl: {{api_key_env: KW_DEEPL_KEY, base_url: "{setup.deepl.url}"}}
  libretranslate: {{url: "{setup.libre.url}"}}
channels:
  - name: Feed
    url: {setup.feeds.url("/f.rss")}
""",
        encoding="utf-8",
    )


def test_status_shows_article_mode_usage_and_cost(setup: Setup) -> None:
    api_server = LocalServer().start()
    try:
        api = FakeOpenAI(api_server, api_key=OPENAI_KEY)
        article_mode_config(setup, api, engine="libretranslate", prices=True)
        setup.feed("First post", "Second post")
        run = setup.kanalwerk("run", "--once", key=None)
        assert run.returncode == 0, run.stderr
        assert "2 translated" in run.stderr
        assert [is_article_request(body) for body in api.bodies] == [True, True]
        assert setup.libre.calls == []

        prompt, completion = api.usage_total["prompt_tokens"], api.usage_total["completion_tokens"]
        tokens, cost = prompt + completion, (prompt * 1000 + completion * 3000) / 1_000_000
        assert cost > 0.001  # visible at four decimals
        status = setup.kanalwerk("status", key=None)
        assert status.returncode == 0, status.stderr
        out = status.stdout
        assert re.search(r"^  libretranslate: 0 request\(s\), 0 of 5,000 characters", out, re.M)
        written = re.search(
            rf"^  openai \(article mode\): 2 request\(s\), [1-9][\d,]* characters, "
            rf"{tokens:,} tokens, \${cost:.4f} today \(no daily budget\)$",
            out,
            re.M,
        )
        assert written, out
        assert re.search(rf"^translation today: 2 request\(s\), .*, {tokens} tokens$", out, re.M)

        # Without prices: the usage, no cost.
        article_mode_config(setup, api, engine="libretranslate", prices=False)
        unpriced = setup.kanalwerk("status", key=None).stdout
        assert re.search(
            rf"^  openai \(article mode\): .*, {tokens:,} tokens today ", unpriced, re.M
        )
        assert "$" not in unpriced

        # openai as the translation engine too: one line, without the note.
        article_mode_config(setup, api, engine="openai", prices=True)
        both = setup.kanalwerk("status", key=None).stdout
        expected = written.group(0).replace(" (article mode)", "")
        assert re.findall(r"^  openai.*$", both, re.M) == [expected]
    finally:
        api_server.stop()


def test_status_only_reads_the_store(setup: Setup) -> None:
    """A channel added to feeds.yaml is shown as never fetched; status writes nothing.

    Status runs beside a daemon without the run lock, so it must not write the store.
    """
    assert setup.kanalwerk("run", "--once").returncode == 0
    config = setup.folder / "k.yaml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f"  - name: Added later\n    url: {setup.feeds.url('/new.rss')}\n",
        encoding="utf-8",
    )
    database = setup.folder / "k.db"
    with Store.open(f"sqlite:///{database}") as store:
        before = store.channel_statuses()

    status = setup.kanalwerk("status", key=None)
    assert status.returncode == 0, status.stderr
    assert re.search(
        r"^Added later: last fetch never \(-\); items 0, pending 0", status.stdout, re.M
    )
    assert re.search(
        r"^Feed: last fetch \d{4}-\d\d-\d\d \d\d:\d\d UTC \(HTTP 200\)", status.stdout, re.M
    )
    with Store.open(f"sqlite:///{database}") as store:
        assert store.channel_statuses() == before


def test_status_before_the_first_run_creates_no_store(setup: Setup) -> None:
    status = setup.kanalwerk("status", key=None)
    assert status.returncode == 0, status.stderr
    assert re.search(r"^Feed: last fetch never \(-\); items 0", status.stdout, re.M)
    assert re.search(r"^  deepl: 0 request\(s\), 0 of 100,000 characters", status.stdout, re.M)
    assert not (setup.folder / "k.db").exists()


def test_status_drops_a_suspect_pause_a_settings_edit_lifted(setup: Setup) -> None:
    """Status shows what the next run would do: a suspect engine's pause ends with an edit."""
    assert setup.kanalwerk("run", "--once").returncode == 0
    path = setup.folder / "k.yaml"
    with Store.open(f"sqlite:///{setup.folder / 'k.db'}") as store:
        book = Suspensions(store, settings=translator_settings(load_config(path)))
        book.suspect("deepl", "deepl failed 3 items in a row")
        book.suspend("libretranslate", datetime.now(UTC) + timedelta(hours=2), "HTTP 429")
    before = setup.kanalwerk("status", key=None).stdout
    assert re.search(r"^    suspended until .*deepl failed 3 items in a row", before, re.M)
    assert re.search(r"^    suspended until .*HTTP 429", before, re.M)

    path.write_text(
        path.read_text(encoding="utf-8").replace("daily_characters: 100000", "daily_characters: 9"),
        encoding="utf-8",
    )
    after = setup.kanalwerk("status", key=None).stdout
    assert "items in a row" not in after  # the next run asks deepl again
    assert re.search(r"^    suspended until .*HTTP 429", after, re.M)  # the server's word stands
