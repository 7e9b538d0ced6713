"""A run cut short mid-batch resumes where it stopped and never pays twice for a text.

`kanalwerk run --once` runs against a loopback translation API wrapped in a `Gate`: the
gate lets a number of requests through and then either holds the next one while the
test kills the process (a real one, started for that), or answers every further request
with a server error (the command then runs in process). A second run must send only
texts that were never answered, and every item must end up with exactly one article.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from kanalwerk.config import load_config
from kanalwerk.store import Store
from tests.cli import command, environment, run_cli
from tests.fake_deepl import FakeDeepL
from tests.fake_openai import FakeOpenAI, error_body
from tests.servers import LocalServer, Request, Resource, Response

ATOM = "{http://www.w3.org/2005/Atom}"
DEEPL_KEY = "resume-test-key:fx"
OPENAI_KEY = "sk-resume-test"
KEYS = {"KW_DEEPL_KEY": DEEPL_KEY, "KW_OPENAI_KEY": OPENAI_KEY}
#: The long item has more paragraphs than one request carries (50 texts), so it takes
#: three requests: 50 texts (title and 49 paragraphs), 50, then 21.
LONG_PARAGRAPHS = 120
SHORT_ITEMS = 3


@dataclass
class Gate:
    """Wraps an API route. Lets `allow` requests through, then holds or fails the rest."""

    server: LocalServer
    path: str
    texts_of: Callable[[Request], list[str]]
    allow: int | None = None
    hold: bool = False  # hold the first request past `allow` until `release`, else fail it
    answered: list[list[str]] = field(default_factory=list)  # texts of each 200 answer
    cut: list[list[str]] = field(default_factory=list)  # texts of requests not answered
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._inner = self.server.routes[self.path]
        assert callable(self._inner)
        self._lock = threading.Lock()
        self._seen = 0
        self.server.routes[self.path] = self

    def open(self) -> None:
        self.allow = None

    def __call__(self, request: Request) -> Response:
        with self._lock:
            number = self._seen
            self._seen += 1
        if self.allow is not None and number >= self.allow:
            self.cut.append(self.texts_of(request))
            if self.hold:
                self.held.set()
                self.release.wait(timeout=60)
            return Response.json(error_body("scripted outage", "server_error", None), 500)
        assert callable(self._inner)
        response = self._inner(request)
        if response.status == 200:
            self.answered.append(self.texts_of(request))
        return response


def feed_body() -> bytes:
    """One long item (oldest, so translated first) and a few short ones."""
    paragraphs = "".join(
        f"<p>Paragraph {n} explains step {n} of the long report about model {n * 7}.</p>"
        for n in range(LONG_PARAGRAPHS)
    )
    items = [("The long report", paragraphs, 1)]
    for n in range(SHORT_ITEMS):
        items.append((f"Short note {n}", f"<p>Short note {n} has one sentence.</p>", n + 2))
    entries = "".join(
        f"""<entry><id>urn:item:{day}</id><title>{title}</title>
        <link href="https://example.com/{day}"/><updated>2025-01-0{day}T10:00:00Z</updated>
        <content type="html"><![CDATA[{body}]]></content></entry>"""
        for title, body, day in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>Reports</title>
<id>urn:reports</id><updated>2025-01-09T00:00:00Z</updated>{entries}</feed>""".encode()


@dataclass
class Setup:
    folder: Path
    gate: Gate

    @property
    def config_path(self) -> Path:
        return self.folder / "feeds.yaml"

    def run(self) -> subprocess.CompletedProcess[str]:
        return run_cli(self.config_path, "run", "--once", env=KEYS)

    def run_and_kill_when_held(self) -> None:
        process = subprocess.Popen(
            command(self.config_path, "run", "--once"),
            cwd=self.folder,
            env=environment(KEYS),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert self.gate.held.wait(timeout=60), "the run never reached the held request"
            process.kill()
        finally:
            process.wait(timeout=30)
            self.gate.release.set()

    def check_every_item_translated_once(self) -> None:
        config = load_config(self.config_path)
        with Store.open(config.store) as store:
            articles = store.articles()
            assert store.pending_items(config.translator.max_attempts) == []
        assert len(articles) == 1 + SHORT_ITEMS
        assert len({a.item_id for a in articles}) == len(articles)
        assert all(a.engine != "none" for a in articles)
        long = next(a for a in articles if a.source.title == "The long report")
        for n in (0, 48, 49, 98, 99, LONG_PARAGRAPHS - 1):  # each request's edges
            translated = rf"DE: ?paragraph {n} explains step {n}\b"
            assert re.search(translated, long.content_html, re.IGNORECASE), n
        root = etree.parse(str(self.folder / "site" / "feed.atom")).getroot()
        ids = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
        assert len(ids) == len(set(ids)) == 1 + SHORT_ITEMS

    def check_nothing_answered_was_sent_again(self, answered_before: list[list[str]]) -> None:
        first = {text for texts in answered_before for text in texts}
        resent = [t for texts in self.gate.answered[len(answered_before) :] for t in texts]
        assert first and resent
        assert not first & set(resent), "a text already translated was sent again"
        # Each distinct text was paid for exactly once across both runs.
        counts = Counter(t for texts in self.gate.answered for t in texts)
        assert max(counts.values()) == 1


def write_config(folder: Path, feeds: LocalServer, translator: str) -> None:
    (folder / "feeds.yaml").write_text(
        f"""
site: {{title: Resume, base_url: "https://example.org/", author: Test}}
store: sqlite:///kanalwerk.db
output: site/
translator:
{translator}
selection:
  backfill: all
channels:
  - name: Reports
    url: {feeds.url("/reports.atom")}
""",
        encoding="utf-8",
    )


@pytest.fixture
def servers() -> Iterator[tuple[LocalServer, LocalServer]]:
    feeds, api = LocalServer().start(), LocalServer().start()
    feeds.routes["/reports.atom"] = Resource(feed_body(), "application/atom+xml")
    try:
        yield feeds, api
    finally:
        feeds.stop()
        api.stop()


def test_killed_mid_item_resumes_without_repeating_a_request(
    tmp_path: Path, servers: tuple[LocalServer, LocalServer]
) -> None:
    feeds, api = servers
    fake = FakeDeepL(api, key=DEEPL_KEY)
    gate = Gate(api, "/v2/translate", lambda r: list(r.json()["text"]), allow=2, hold=True)
    write_config(
        tmp_path,
        feeds,
        f"  engine: deepl\n  deepl: {{api_key_env: KW_DEEPL_KEY, base_url: '{fake.url}'}}\n",
    )
    setup = Setup(tmp_path, gate)

    setup.run_and_kill_when_held()  # killed while the long item's third request waits
    answered = list(gate.answered)
    assert [len(texts) for texts in answered] == [50, 50]
    assert len(gate.cut) == 1 and len(gate.cut[0]) == 21

    gate.open()
    result = setup.run()
    assert result.returncode == 0, result.stderr
    # The restart sends the long item's unanswered rest, then one request per short item.
    after = gate.answered[len(answered) :]
    assert after[0] == gate.cut[0]
    assert len(after) == 1 + SHORT_ITEMS
    setup.check_nothing_answered_was_sent_again(answered)
    setup.check_every_item_translated_once()

    third = setup.run()  # nothing left to do: not one request
    assert third.returncode == 0, third.stderr
    assert len(gate.answered) == len(answered) + 1 + SHORT_ITEMS


def openai_texts(request: Request) -> list[str]:
    return list(json.loads(request.json()["messages"][-1]["content"])["segments"])


def openai_gate(folder: Path, feeds: LocalServer, api: LocalServer, allow: int) -> Setup:
    fake = FakeOpenAI(api, api_key=OPENAI_KEY)
    gate = Gate(api, "/v1/chat/completions", openai_texts, allow=allow)
    write_config(
        folder,
        feeds,
        "  engine: openai\n"
        f"  openai: {{base_url: '{fake.base_url}', model: m, api_key_env: KW_OPENAI_KEY,"
        " max_retries: 0}\n",
    )
    return Setup(folder, gate)


def test_server_failing_after_some_items_resumes_with_the_rest(
    tmp_path: Path, servers: tuple[LocalServer, LocalServer]
) -> None:
    # The engine sends at most 40 segments a request and the cache chunks to match:
    # the long item takes four (40, 40, 40, 1). Those and the first short item get
    # through; the second short item meets a 500, so does the third (an outage, not
    # the item's fault), and the cycle stops.
    setup = openai_gate(tmp_path, *servers, allow=5)
    first = setup.run()
    assert first.returncode == 4, first.stderr  # items wait for the engine to come back
    assert "2 translated" in first.stderr and "2 waiting" in first.stderr
    assert len(setup.gate.cut) == 2  # two items tell an outage
    assert "2 translated; 2 waiting" in first.stderr  # no attempt counted against either
    answered = list(setup.gate.answered)

    setup.gate.open()
    second = setup.run()
    assert second.returncode == 0, second.stderr
    assert "2 translated" in second.stderr
    assert setup.gate.answered[len(answered)] == setup.gate.cut[0]
    setup.check_nothing_answered_was_sent_again(answered)
    setup.check_every_item_translated_once()


def test_server_failing_inside_a_cache_chunk_loses_nothing(
    tmp_path: Path, servers: tuple[LocalServer, LocalServer]
) -> None:
    setup = openai_gate(tmp_path, *servers, allow=1)
    assert setup.run().returncode == 4  # items wait for the engine to come back
    answered = list(setup.gate.answered)
    assert [len(texts) for texts in answered] == [40]
    setup.gate.open()
    assert setup.run().returncode == 0
    setup.check_every_item_translated_once()
    setup.check_nothing_answered_was_sent_again(answered)
