"""Long sources in article mode: split into parts, condensed into notes (map), written (reduce).

The writer talks to the loopback chat API of `tests.fake_openai`, whose notes are made
from the part it was sent (the marker words in it), and whose article is made from the
notes it was sent, so what reaches the article has really travelled through both steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kanalwerk.config import OpenAIConfig
from kanalwerk.errors import ArticleInvalid, BudgetExhausted
from kanalwerk.models import Usage
from kanalwerk.store import Store
from kanalwerk.translate.article.base import ArticleRequest, describe_written
from kanalwerk.translate.article.condense import notes_text, parse_notes, split_parts
from kanalwerk.translate.article.prompt import source_text
from kanalwerk.translate.article.writer import OpenAIArticleWriter
from kanalwerk.translate.cache import StoreCache
from kanalwerk.translate.meter import Meter
from tests.fake_openai import FakeOpenAI, Fault, is_article_request, is_notes_request
from tests.servers import LocalServer

KEY = "sk-test-0123456789"
MARKER = re.compile(r"\bMarker\d{4}\b")
LIMIT = 2000


def paragraph(i: int) -> str:
    return (
        f"In segment {i} the host talks about Marker{i:04d}, which costs {i * 3} dollars. "
        f"It ships in {2020 + i % 7} and runs on {i % 5 + 1} GPUs. "
        "The guest adds that this matters for small teams who build products on open models."
    )


def source_html(paragraphs: int) -> str:
    return "".join(f"<p>{paragraph(i)}</p>" for i in range(paragraphs))


def markers(text: str) -> list[str]:
    return MARKER.findall(text)


def echo_markers(text: str, target: int) -> list[str]:
    """Notes naming each marker of the part, in order: derived from what was sent."""
    return [f"The host covers {m}." for m in markers(text)]


def article_from_notes(body: dict[str, Any]) -> dict[str, str]:
    """One German section per part of notes, naming the part's first and last marker."""
    user = str(body["messages"][1]["content"])
    sections = []
    for number, block in re.findall(r"Teil (\d+) von \d+:\n(.*?)(?=\n\n|\Z)", user, re.S):
        found = markers(block)
        sections.append(
            f"<h2>Abschnitt {number}</h2><p>In diesem Teil geht es um {found[0]} bis "
            f"{found[-1]}. Die Vorlage nennt dazu Preise, Termine und die Zahl der "
            "Grafikkarten, die der Artikel der Reihe nach wiedergibt.</p>"
        )
    return {
        "title": "Offene Modelle für kleine Teams",
        "teaser": "Eine lange Sendung über offene Modelle, ihre Kosten und ihre Termine.",
        "body_html": "".join(sections),
    }


def req(paragraphs: int = 50, **changes: Any) -> ArticleRequest:
    fields: dict[str, Any] = {
        "title": "Open models for small teams",
        "source_html": source_html(paragraphs),
        "source_lang": "en",
        "channel_name": "Podcast",
        "link": "https://podcast.example.com/42",
        "is_video": False,
    }
    fields.update(changes)
    return ArticleRequest(**fields)


@pytest.fixture
def fake(server: LocalServer) -> FakeOpenAI:
    return FakeOpenAI(
        server, api_key=KEY, write_notes=echo_markers, write_article=article_from_notes
    )


class Writers:
    """Builds writers on one store; closes them at the end."""

    def __init__(self, fake: FakeOpenAI, store: Store):
        self.fake, self.store = fake, store
        self.made: list[OpenAIArticleWriter] = []

    def __call__(self, meter: Meter | None = None, **settings: Any) -> OpenAIArticleWriter:
        config = OpenAIConfig(
            base_url=self.fake.base_url,
            model="m",
            article_max_source_chars=LIMIT,
            **settings,
        )
        writer = OpenAIArticleWriter(
            config, api_key=KEY, cache=StoreCache(self.store), meter=meter, sleep=lambda _: None
        )
        self.made.append(writer)
        return writer


@pytest.fixture
def writers(fake: FakeOpenAI, store: Store) -> Iterator[Writers]:
    made = Writers(fake, store)
    yield made
    for writer in made.made:
        writer.close()


def kinds(fake: FakeOpenAI) -> list[str]:
    return ["notes" if is_notes_request(b) else "article" for b in fake.bodies]


# --- splitting ----------------------------------------------------------------------


def test_parts_are_whole_paragraphs_about_equally_long_and_cover_the_text() -> None:
    text = source_text(source_html(40))
    parts = split_parts(text, LIMIT)

    assert len(parts) == -(-len(text) // LIMIT)  # as few as fit
    assert all(len(p) <= LIMIT for p in parts)
    assert max(len(p) for p in parts) - min(len(p) for p in parts) < len(paragraph(0)) + 2
    assert "\n\n".join(parts) == text  # nothing lost, nothing moved
    paragraphs = set(text.split("\n\n"))
    assert all(set(p.split("\n\n")) <= paragraphs for p in parts)
    assert split_parts(text, LIMIT) == parts  # the same source, the same parts


def test_a_paragraph_without_breaks_is_cut_after_sentences_else_between_words() -> None:
    sentences = " ".join(paragraph(i) for i in range(12))
    parts = split_parts(sentences, 700)
    assert all(len(p) <= 700 and p.endswith(".") for p in parts)
    assert " ".join(parts).split() == sentences.split()

    spoken = " ".join(f"word{i} and so on" for i in range(400))  # a transcript without stops
    parts = split_parts(spoken, 500)
    assert all(len(p) <= 500 for p in parts)
    assert " ".join(parts).split() == spoken.split()

    assert split_parts("x" * 1200, 500) == ["x" * 500, "x" * 500, "x" * 200]
    assert split_parts("  short  ", 500) == ["short"]
    assert split_parts("", 500) == []


def test_notes_are_read_from_the_answer_or_rejected_with_the_reason() -> None:
    assert parse_notes('{"notes": ["One.", "  - Two  words. "]}', 5000) == ("One.", "Two words.")
    assert parse_notes('{"notes": "Line one\\nLine two"}', 5000) == ("Line one", "Line two")
    assert parse_notes('{"notes": []}', 5000) == ()  # a part of sponsor talk says nothing
    for answer, reason in [
        (None, "no content"),
        ("Notes: one, two", "not JSON"),
        ('{"summary": "x"}', '"notes" list'),
        ('{"notes": [1, 2]}', '"notes" list'),
        ('{"notes": ["' + "y" * 950 + '"]}', "condense the text"),
    ]:
        with pytest.raises(ArticleInvalid, match=re.escape(reason)):
            parse_notes(answer, 1000)
    assert notes_text((("a", "b"), (), ("c",))) == "- a\n- b\n\n- c"


# --- map, then reduce -----------------------------------------------------------------


def test_a_long_source_is_condensed_part_by_part_and_written_from_all_notes(
    fake: FakeOpenAI, writers: Writers
) -> None:
    request = req(50)
    text = source_text(request.source_html)
    assert len(text) > 4 * LIMIT

    written = writers().write(request)

    parts = fake.notes_parts()
    assert kinds(fake) == ["notes"] * len(parts) + ["article"]
    assert parts == split_parts(text, LIMIT)
    assert parts[-1].endswith(text[-200:])  # the end of the source reached the model
    # The reduce request holds the notes of every part, the last one's included.
    user = fake.messages(-1)[1]["content"]
    last = f"Teil {len(parts)} von {len(parts)}:\n"
    assert last in user
    assert markers(user.split(last, 1)[1]) == markers(parts[-1])
    assert markers(user) == markers(text)
    assert "Transkript" not in user and "Inhalt des Beitrags, als Notizen" in user
    # The article's last section draws on the end of the source.
    last_section = written.body_html.rsplit("<h2>", 1)[1]
    assert markers(text)[-1] in last_section

    assert written.parts == len(parts)
    assert written.notes_usage.requests == len(parts)
    assert written.usage.requests == len(parts) + 1
    notes_sent = len(user.split("verdichtet.\n\n", 1)[1].split("\n\n[Die Notizen")[0])
    assert written.notes_usage.characters == len(text) - 2 * (len(parts) - 1)
    assert written.usage.characters - written.notes_usage.characters < notes_sent
    total = fake.usage_total["prompt_tokens"] + fake.usage_total["completion_tokens"]
    assert written.usage.prompt_tokens + written.usage.completion_tokens == total
    logged = describe_written(written, 0.27, 1.10)
    assert logged.startswith(f"notes on {len(parts)} part(s): {len(parts)} request(s), ")
    assert "; article: 1 request(s), " in logged and "; total $" in logged


def test_a_rerun_sends_nothing_and_a_new_article_prompt_reuses_the_notes(
    fake: FakeOpenAI, writers: Writers
) -> None:
    first = writers().write(req(50))
    paid = fake.requests

    again = writers().write(req(50))
    assert fake.requests == paid  # the article is cached
    assert (again.title, again.body_html) == (first.title, first.body_html)
    assert again.usage == Usage()

    writers(article_prompt="Schreib über {title}. JSON bitte.").write(req(50))
    assert kinds(fake)[paid:] == ["article"]  # every part's notes came from the cache


def test_the_budget_is_checked_before_each_part_and_a_later_day_pays_only_the_rest(
    fake: FakeOpenAI, writers: Writers, store: Store
) -> None:
    request = req(50)
    parts = split_parts(source_text(request.source_html), LIMIT)
    room = len(parts[0]) + len(parts[1]) + len(parts[2]) // 2

    def day(n: int) -> Meter:
        when = datetime(2025, 1, n, 12, tzinfo=UTC)
        return Meter(store, daily_characters=room, clock=lambda: when)

    with pytest.raises(BudgetExhausted, match=r"more needed for notes on part 3 of \d+"):
        writers(day(27)).write(request)
    assert fake.notes_parts() == parts[:2]
    assert store.usage_for(datetime(2025, 1, 27).date(), "openai").requests == 2

    written = writers(Meter(store, clock=lambda: datetime(2025, 1, 28, tzinfo=UTC))).write(request)
    assert fake.notes_parts() == parts  # each part paid for once, over two days
    assert kinds(fake)[-1] == "article"
    assert written.notes_usage.requests == len(parts) - 2
    assert written.parts == len(parts)


def test_the_article_step_counts_against_the_budget_too(
    fake: FakeOpenAI, writers: Writers, store: Store
) -> None:
    request = req(50)
    text = source_text(request.source_html)
    meter = Meter(store, daily_characters=len(text))  # room for the parts, not the notes
    with pytest.raises(BudgetExhausted, match="more needed for an article"):
        writers(meter).write(request)
    assert "article" not in kinds(fake)


def test_unusable_notes_are_asked_for_again_then_give_up_the_article(
    fake: FakeOpenAI, writers: Writers
) -> None:
    fake.fail_next(Fault.not_json())
    writers().write(req(50))
    assert "This answer cannot be used: the answer is not JSON" in fake.messages(1)[-1]["content"]
    assert kinds(fake).count("article") == 1

    fake.fail_next(Fault.not_json(), Fault.not_json())
    with pytest.raises(ArticleInvalid) as caught:
        writers().write(req(source_html=source_html(50).replace("host", "presenter")))
    assert "gave no usable notes on part 1 of 5: the answer is not JSON" in str(caught.value)
    assert caught.value.spent.startswith("2 request(s), ")


def test_notes_that_do_not_condense_are_rejected(fake: FakeOpenAI, writers: Writers) -> None:
    fake.write_notes = lambda text, target: [text]
    with pytest.raises(ArticleInvalid, match="condense the text"):
        writers().write(req(50))
    assert kinds(fake) == ["notes", "notes"]


def test_notes_still_too_long_are_condensed_once_more(fake: FakeOpenAI, writers: Writers) -> None:
    """Notes at a third of each part: 9,600 characters give 3,500, which need a second round."""

    def notes(text: str, target: int) -> list[str]:
        if text.startswith("- "):  # notes of notes: the markers alone
            return echo_markers(text, target)
        return [sentence for sentence in re.split(r"(?<=\.)\s+", text) if MARKER.search(sentence)]

    fake.write_notes = notes
    request = req(50)
    text = source_text(request.source_html)

    written = writers().write(request)

    first_round = split_parts(text, LIMIT)
    parts = fake.notes_parts()
    assert parts[: len(first_round)] == first_round
    second_round = parts[len(first_round) :]
    assert second_round and all("- In segment" in p for p in second_round)
    assert markers("".join(second_round)) == markers(text)
    assert written.parts == len(second_round)
    assert markers(fake.messages(-1)[1]["content"]) == markers(text)


def test_a_short_source_is_sent_whole_as_before(fake: FakeOpenAI, writers: Writers) -> None:
    request = req(3)
    fake.write_article = lambda body: {
        "title": "Kurz und bündig",
        "teaser": "Eine kurze Sendung.",
        "body_html": "<p>Die Sendung nennt Marker0000 bis Marker0002.</p>",
    }
    written = writers().write(request)
    assert [is_article_request(b) for b in fake.bodies] == [True]
    assert source_text(request.source_html) in fake.messages(0)[1]["content"]
    assert written.parts == 0 and written.notes_usage == Usage()
