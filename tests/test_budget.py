"""Daily budgets in translate mode, end to end.

`kanalwerk run --once` and `kanalwerk status` run as subprocesses against a loopback feed,
OpenAI-compatible API and LibreTranslate. Every item is one request: its title and one
segment per paragraph, so an item costs exactly `len(title) + sum(len(paragraph))`
characters, which is what the budgets below are computed from.
"""

from __future__ import annotations

import html
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kanalwerk.errors import Blame, BudgetExhausted, TranslationError
from kanalwerk.models import Article, StoredItem, Usage
from kanalwerk.store import Store
from kanalwerk.translate.base import Translation, TranslationRequest
from kanalwerk.translate.meter import MeteredTranslator
from tests.cli import run_cli
from tests.fake_libretranslate import FakeLibreTranslate
from tests.fake_openai import FakeOpenAI
from tests.servers import LocalServer, Resource

OPENAI_KEY = "sk-budget-secret-2718"


@dataclass(frozen=True)
class Post:
    title: str
    paragraphs: tuple[str, ...]

    @property
    def cost(self) -> int:
        """Characters the item sends: its title and every paragraph."""
        return len(self.title) + sum(len(p) for p in self.paragraphs)

    @property
    def segments(self) -> list[str]:
        return [self.title, *self.paragraphs]


SOLAR = Post(
    "Solar power in winter",
    ("Engineers explain why solar panels still produce useful power on cloudy winter days.",),
)
BATTERIES = Post(
    "Cheap batteries for homes",
    ("A new factory promises home batteries at half the price of current models.",),
)
ALPS = Post(
    "Trains across the Alps",
    (
        "The new tunnel under the mountains cuts the journey between the two cities by "
        "almost an hour, and the railway expects twice as many passengers next year.",
    ),
)
WIND = Post("Wind at sea", ("Offshore wind is steady.",))
HEAT = Post("Heat pumps", ("Sales doubled this spring.",))


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")


@dataclass
class Setup:
    folder: Path
    feeds: LocalServer
    api: FakeOpenAI
    libre: FakeLibreTranslate

    def configure(self, budget: str, *, fallback: Sequence[str] = ()) -> None:
        """`engine: openai` with `fallback` and the `budget` mapping (flow-style YAML)."""
        (self.folder / "k.yaml").write_text(
            f"""
site: {{title: T, base_url: "https://example.org/", author: A}}
store: sqlite:///k.db
output: site/
translator:
  engine: openai
  fallback: [{", ".join(fallback)}]
  budget: {budget}
  openai: {{base_url: "{self.api.base_url}", model: m, api_key_env: KW_OPENAI_KEY}}
  libretranslate: {{url: "{self.libre.url}"}}
selection:
  backfill: all
channels:
  - name: Feed
    url: {self.feeds.url("/f.rss")}
""",
            encoding="utf-8",
        )

    def feed(self, *posts: Post) -> None:
        """The feed with `posts`, oldest first (items are translated in that order)."""
        items = ""
        for n, post in enumerate(posts):
            body = "".join(f"<p>{html.escape(p)}</p>" for p in post.paragraphs)
            items += (
                f"<item><title>{post.title}</title><guid>{post.title}</guid>"
                f"<link>https://e.com/{n}</link>"
                f"<pubDate>Mon, {n + 1:02d} Jan 2025 10:00:00 +0000</pubDate>"
                f"<description>{html.escape(body)}</description></item>"
            )
        body = '<rss version="2.0"><channel><title>F</title><link>https://e.com/</link>'
        body += f"<language>en</language>{items}</channel></rss>"
        self.feeds.routes["/f.rss"] = Resource(body.encode())

    def kanalwerk(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        """The command's result, its exit status `code` (`run --once`: 4 when items wait)."""
        done = run_cli(self.folder / "k.yaml", *args, env={"KW_OPENAI_KEY": OPENAI_KEY})
        assert done.returncode == code, done.stderr
        assert OPENAI_KEY not in done.stdout + done.stderr
        return done

    def store(self) -> Store:
        return Store.open(f"sqlite:///{self.folder / 'k.db'}")

    def articles(self) -> dict[str, Article]:
        with self.store() as store:
            return {a.source.title: a for a in store.articles()}

    def engines(self) -> dict[str, str]:
        """Source title → engine that translated it."""
        return {title: a.engine for title, a in self.articles().items()}

    def pending(self) -> dict[str, StoredItem]:
        with self.store() as store:
            return {s.item.title: s for s in store.pending_items(max_attempts=5)}

    def usage(self, engine: str) -> Usage:
        with self.store() as store:
            return store.usage_for(datetime.now(UTC).date(), engine)

    def openai_segments(self) -> list[list[str]]:
        return [self.api.segments(i) for i in range(self.api.requests)]

    def libre_segments(self) -> list[list[str]]:
        return [list(call["q"]) for call in self.libre.calls]

    def published_text(self) -> str:
        return "".join(
            p.read_text(encoding="utf-8") for p in (self.folder / "site").rglob("*") if p.is_file()
        )


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    feeds, api_server, libre_server = (LocalServer().start() for _ in range(3))
    try:
        api = FakeOpenAI(api_server, api_key=OPENAI_KEY)
        yield Setup(tmp_path, feeds, api, FakeLibreTranslate(libre_server))
    finally:
        for server in (feeds, api_server, libre_server):
            server.stop()


def test_budget_hands_over_to_the_fallback_and_stays_spent_until_midnight(setup: Setup) -> None:
    # Room for SOLAR, BATTERIES and a little more: ALPS does not fit, WIND and HEAT would.
    room = max(WIND.cost, HEAT.cost)
    assert ALPS.cost > room
    limit = SOLAR.cost + BATTERIES.cost + room
    setup.configure(f"{{openai: {{daily_characters: {limit}}}}}", fallback=["libretranslate"])
    setup.feed(SOLAR, BATTERIES, ALPS, WIND)

    first = setup.kanalwerk("run", "--once")
    assert "4 translated" in first.stderr
    assert re.search(
        rf"WARNING .*openai: daily budget of {limit:,} characters reached "
        rf"\({SOLAR.cost + BATTERIES.cost:,} used, {ALPS.cost:,} more needed\)",
        first.stderr,
    ), first.stderr
    # Once over budget, openai is not asked again this day, not even for WIND, which fits.
    assert setup.openai_segments() == [SOLAR.segments, BATTERIES.segments]
    assert setup.libre_segments() == [ALPS.segments, WIND.segments]
    assert setup.engines() == {
        SOLAR.title: "openai",
        BATTERIES.title: "openai",
        ALPS.title: "libretranslate",
        WIND.title: "libretranslate",
    }
    assert setup.usage("openai").characters == SOLAR.cost + BATTERIES.cost
    assert setup.pending() == {}

    status = setup.kanalwerk("status").stdout
    used = SOLAR.cost + BATTERIES.cost
    assert re.search(
        rf"^  openai: 2 request\(s\), {used:,} of {limit:,} characters", status, re.M
    ), status
    suspended = (
        rf"^    suspended until {tomorrow()} 00:00 UTC: "
        rf"openai: daily budget of {limit:,} characters reached"
    )
    assert re.search(suspended, status, re.M), status

    # A new process the same day: the stored suspension keeps openai out, budget or not.
    setup.feed(SOLAR, BATTERIES, ALPS, WIND, HEAT)
    second = setup.kanalwerk("run", "--once")
    assert "1 translated" in second.stderr
    assert "daily budget" not in second.stderr  # skipped as suspended, not asked and refused
    assert setup.api.requests == 2
    assert setup.libre_segments()[-1] == HEAT.segments
    assert setup.engines()[HEAT.title] == "libretranslate"
    assert re.search(suspended, setup.kanalwerk("status").stdout, re.M)


def test_without_fallback_items_over_budget_wait_without_burning_attempts(setup: Setup) -> None:
    setup.configure(f"{{openai: {{daily_characters: {SOLAR.cost}}}}}")
    setup.feed(SOLAR, BATTERIES, ALPS)

    first = setup.kanalwerk("run", "--once", code=4)
    assert "1 translated" in first.stderr and "2 waiting" in first.stderr
    assert f"openai: daily budget of {SOLAR.cost:,} characters reached" in first.stderr
    assert setup.openai_segments() == [SOLAR.segments]
    assert setup.engines() == {SOLAR.title: "openai"}
    waiting = setup.pending()
    assert set(waiting) == {BATTERIES.title, ALPS.title}
    assert all(s.attempts == 0 and s.last_error is None for s in waiting.values())
    published = setup.published_text()
    assert "DE: " + SOLAR.paragraphs[0] in published
    for post in (BATTERIES, ALPS):
        assert post.title not in published and post.paragraphs[0] not in published

    second = setup.kanalwerk("run", "--once", code=4)
    assert "0 translated" in second.stderr and "2 waiting" in second.stderr
    assert f"openai: suspended until {tomorrow()} 00:00 UTC" in second.stderr
    assert "out of budget or quota" in second.stderr  # said as what it is
    assert "items wait until" in first.stderr  # no fallback to hand over to
    assert "ERROR" not in first.stderr + second.stderr  # expected, so a warning
    assert setup.api.requests == 1
    assert {t: s.attempts for t, s in setup.pending().items()} == {
        BATTERIES.title: 0,
        ALPS.title: 0,
    }
    assert setup.engines() == {SOLAR.title: "openai"}
    status = setup.kanalwerk("status").stdout
    assert "items 3, pending 2, published 1, failed 0" in status
    assert f"suspended until {tomorrow()} 00:00 UTC: openai: daily budget" in status


def test_star_budget_is_a_separate_pot_per_engine(setup: Setup) -> None:
    # Each engine can take any one of the items, none two of them.
    limit = max(SOLAR.cost, BATTERIES.cost, ALPS.cost)
    assert SOLAR.cost + BATTERIES.cost > limit and BATTERIES.cost + ALPS.cost > limit
    setup.configure(f'{{"*": {{daily_characters: {limit}}}}}', fallback=["libretranslate"])
    setup.feed(SOLAR, BATTERIES, ALPS)

    run = setup.kanalwerk("run", "--once", code=4)
    assert "2 translated" in run.stderr and "1 waiting" in run.stderr
    assert f"openai: daily budget of {limit:,} characters reached" in run.stderr
    assert f"libretranslate: daily budget of {limit:,} characters reached" in run.stderr
    # openai spent its own pot on SOLAR; libretranslate still had a full one for BATTERIES.
    assert setup.openai_segments() == [SOLAR.segments]
    assert setup.libre_segments() == [BATTERIES.segments]
    assert setup.engines() == {SOLAR.title: "openai", BATTERIES.title: "libretranslate"}
    assert {t: s.attempts for t, s in setup.pending().items()} == {ALPS.title: 0}

    status = setup.kanalwerk("status").stdout
    for name, used in (("openai", SOLAR.cost), ("libretranslate", BATTERIES.cost)):
        line = rf"^  {name}: 1 request\(s\), {used:,} of {limit:,} characters"
        assert re.search(line, status, re.M), status
        assert f"suspended until {tomorrow()} 00:00 UTC: {name}: daily budget" in status


def test_token_budget_counts_the_tokens_the_api_reports(setup: Setup) -> None:
    setup.configure("{openai: {daily_tokens: 1000000}}", fallback=["libretranslate"])
    setup.feed(SOLAR)
    setup.kanalwerk("run", "--once")
    first = setup.api.usage_total["prompt_tokens"] + setup.api.usage_total["completion_tokens"]
    assert setup.api.requests == 1 and first > 0

    # Room for one token more than SOLAR took: BATTERIES may start, ALPS may not.
    limit = first + 1
    setup.configure(f"{{openai: {{daily_tokens: {limit}}}}}", fallback=["libretranslate"])
    setup.feed(SOLAR, BATTERIES, ALPS)
    run = setup.kanalwerk("run", "--once")
    spent = setup.api.usage_total["prompt_tokens"] + setup.api.usage_total["completion_tokens"]
    assert spent > limit
    assert f"openai: daily budget of {limit:,} tokens reached ({spent:,} used)" in run.stderr
    assert setup.openai_segments() == [SOLAR.segments, BATTERIES.segments]
    assert setup.libre_segments() == [ALPS.segments]
    assert setup.engines()[ALPS.title] == "libretranslate"
    used = setup.usage("openai")
    assert used.prompt_tokens + used.completion_tokens == spent

    status = setup.kanalwerk("status").stdout
    line = rf"^  openai: 2 request\(s\), [\d,]+ characters, {spent:,} of {limit:,} tokens today$"
    assert re.search(line, status, re.M), status


def test_cache_hits_do_not_count_against_the_budget(setup: Setup) -> None:
    shared = SOLAR.paragraphs[0]
    before = Post("Winter energy report", (shared, "Wind turbines did better than expected."))
    after = Post("Winter energy update", (shared, "Storage prices kept falling."))
    new_text = len(after.title) + len(after.paragraphs[1])
    # Exactly enough for `before` and the parts of `after` that were never translated.
    limit = before.cost + new_text
    assert before.cost + after.cost > limit
    setup.configure(f"{{openai: {{daily_characters: {limit}}}}}")
    setup.feed(before)
    setup.kanalwerk("run", "--once")
    assert setup.usage("openai").characters == before.cost

    setup.feed(before, after)
    run = setup.kanalwerk("run", "--once")
    assert "1 translated" in run.stderr and "daily budget" not in run.stderr
    assert setup.openai_segments() == [before.segments, [after.title, after.paragraphs[1]]]
    assert setup.usage("openai").characters == before.cost + new_text == limit
    article = setup.articles()[after.title]
    assert article.engine == "openai" and html.escape("DE: " + shared) in article.content_html
    assert setup.pending() == {}


def test_an_item_larger_than_the_whole_budget_does_not_stall_the_queue(setup: Setup) -> None:
    # ALPS could never be sent within this budget, on no day; WIND and HEAT fit.
    limit = WIND.cost + HEAT.cost
    assert ALPS.cost > limit
    setup.configure(f"{{openai: {{daily_characters: {limit}}}}}")
    setup.feed(ALPS, WIND, HEAT)

    run = setup.kanalwerk("run", "--once")
    assert "2 translated" in run.stderr and "1 failed" in run.stderr
    assert setup.openai_segments() == [WIND.segments, HEAT.segments]
    assert setup.engines() == {WIND.title: "openai", HEAT.title: "openai"}
    big = setup.pending()[ALPS.title]
    assert big.attempts == 1
    assert f"more than the daily budget of {limit:,}" in (big.last_error or "")
    assert "translator.budget" in (big.last_error or "")  # says what to change
    assert "suspended" not in setup.kanalwerk("status").stdout

    # With a fallback, the fallback takes it at once and openai keeps its budget.
    setup.configure(f"{{openai: {{daily_characters: {limit}}}}}", fallback=["libretranslate"])
    again = setup.kanalwerk("run", "--once")
    assert "1 translated" in again.stderr
    assert setup.libre_segments() == [ALPS.segments]
    assert setup.engines()[ALPS.title] == "libretranslate"


class Counting:
    """An engine that answers every text and reports its characters as used."""

    engine = "deepl"
    model: str | None = None

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    def translate(self, request: TranslationRequest) -> Translation:
        self.sent.append(request.texts)
        used = Usage(requests=1, characters=sum(len(t) for t in request.texts))
        return Translation(request.texts, self.engine, None, used)

    def close(self) -> None:
        pass


def test_oversized_request_fails_alone_but_a_zero_budget_suspends(tmp_path: Path) -> None:
    now = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'k.db'}") as store:
        engine = Counting()
        meter = MeteredTranslator(engine, store, daily_characters=10, clock=lambda: now)
        with pytest.raises(TranslationError) as oversized:
            meter.translate(TranslationRequest(("eleven char",), "en", "de"))
        assert not isinstance(oversized.value, BudgetExhausted)
        assert oversized.value.blame is Blame.ITEM and engine.sent == []
        assert meter.translate(TranslationRequest(("ten chars!",), "en", "de")).texts == (
            "ten chars!",
        )
        with pytest.raises(BudgetExhausted) as spent:
            meter.translate(TranslationRequest(("x",), "en", "de"))
        assert spent.value.until == datetime(2025, 3, 5, tzinfo=UTC)

        off = MeteredTranslator(Counting(), store, daily_characters=0, clock=lambda: now)
        with pytest.raises(BudgetExhausted):
            off.translate(TranslationRequest(("x",), "en", "de"))
