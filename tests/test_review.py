"""Review before publishing: drafts wait, `pending` lists them, `approve`/`reject` decide.

The whole round trip goes through the command line against a served feed and a fake
translation API; feed.atom shows what was published.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.daemon import Daemon
from kanalwerk.lock import single_instance
from kanalwerk.pipeline import open_pipeline
from tests.editorial import Blog, Post, open_blog, text
from tests.test_daemon import poll_now

POSTS = [
    Post("a", "Alpha model released", "<p>The alpha model is out.</p>", day=1),
    Post("b", "Beta benchmark results", "<p>Beta scores well.</p>", day=2),
    Post("c", "Gamma dataset published", "<p>Gamma has ten million rows.</p>", day=3),
]


@pytest.fixture
def blog(tmp_path: Path) -> Iterator[Blog]:
    with open_blog(tmp_path) as made:
        made.configure(selection="selection:\n  review: true")
        made.serve(POSTS)
        yield made


def pending_lines(blog: Blog) -> list[list[str]]:
    result = blog.run("pending")
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


def test_review_round_trip_publishes_exactly_the_approved_draft(blog: Blog) -> None:
    blog.cycle()
    assert blog.entries() == {}  # translated, but waiting
    assert set(blog.states().values()) == {"draft"}
    requests = blog.api.requests
    assert requests > 0

    lines = pending_lines(blog)
    assert [fields[1:] for fields in lines] == [
        ["Lab Notes", f"DE: {p.title}", p.link] for p in reversed(POSTS)
    ]
    ids = {fields[3]: fields[0] for fields in lines}
    approved, rejected = ids[POSTS[0].link], ids[POSTS[1].link]

    shown = blog.run("show", approved)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "DE: Alpha model released"
    assert "DE: The alpha model is out." in shown.stdout
    assert "<p>" not in shown.stdout
    assert shown.stdout.rstrip().endswith(f"Original: {POSTS[0].link}")

    for command, item in (("approve", approved), ("reject", rejected)):
        result = blog.run(command, item)
        assert result.returncode == 0, result.stderr
    assert [fields[0] for fields in pending_lines(blog)] == [ids[POSTS[2].link]]

    blog.cycle()
    assert list(blog.entries()) == [POSTS[0].link]
    assert text(blog.entries()[POSTS[0].link], "title") == "DE: Alpha model released"
    assert blog.states() == {"a": "published", "b": "rejected", "c": "draft"}
    assert blog.api.requests == requests  # deciding costs no translation

    # The rejected one stays out; `--all` approves what is left.
    result = blog.run("approve", "--all")
    assert result.returncode == 0, result.stderr
    blog.cycle()
    assert set(blog.entries()) == {POSTS[0].link, POSTS[2].link}
    assert blog.states()["b"] == "rejected"
    assert pending_lines(blog) == []


def test_approve_of_an_unknown_id_changes_nothing(blog: Blog) -> None:
    blog.cycle()
    known = pending_lines(blog)[0][0]
    before = blog.states()

    result = blog.run("approve", known, "999")
    assert result.returncode == 1
    assert "no article with id 999" in result.stderr
    assert "Traceback" not in result.stderr
    assert blog.states() == before
    blog.cycle()
    assert blog.entries() == {}

    shown = blog.run("show", "999")
    assert shown.returncode == 1
    assert "no article with id 999" in shown.stderr


def test_decisions_beside_a_running_daemon_reach_the_site_at_its_next_round(blog: Blog) -> None:
    blog.cycle()
    lines = {fields[3]: fields[0] for fields in pending_lines(blog)}
    approved, rejected = lines[POSTS[0].link], lines[POSTS[1].link]
    config = load_config(blog.config)
    with single_instance(config.store), open_pipeline(config) as pipeline:  # a daemon's
        result = blog.run("approve", approved)
        assert result.returncode == 0, result.stderr
        assert "the running kanalwerk publishes them at its next round" in result.stdout
        assert blog.run("reject", rejected).returncode == 0
        assert blog.states() == {"a": "translated", "b": "rejected", "c": "draft"}
        assert blog.entries() == {}  # nothing is published behind the daemon's back
        assert blog.run("show", approved).returncode == 0

        poll_now(Daemon(pipeline), "lab-notes")  # the feed is unchanged: a 304
        assert list(blog.entries()) == [POSTS[0].link]

        result = blog.run("unpublish", approved)
        assert result.returncode == 0, result.stderr
        assert "at its next round" in result.stdout
        assert list(blog.entries()) == [POSTS[0].link]  # still there until the round
        poll_now(Daemon(pipeline), "lab-notes")
        assert blog.entries() == {}
    page = next((blog.output / "artikel").glob("*.html")).read_text(encoding="utf-8")
    assert "Dieser Beitrag wurde entfernt." in page


def test_review_per_channel_overrides_the_selection_default(blog: Blog) -> None:
    blog.configure(selection="selection:\n  review: true", channel="    review: false")
    blog.cycle()
    assert len(blog.entries()) == 3
    assert pending_lines(blog) == []


def test_approve_needs_an_id_or_all(blog: Blog) -> None:
    result = blog.run("approve")
    assert result.returncode == 2
    assert "--all" in result.stderr


def test_the_daemons_next_round_publishes_approved_drafts_for_good(blog: Blog) -> None:
    blog.cycle()
    item = pending_lines(blog)[0][0]
    assert blog.run("approve", item).returncode == 0

    with open_pipeline(load_config(blog.config)) as pipeline:
        poll_now(Daemon(pipeline), "lab-notes")  # the feed is unchanged: a 304
    assert list(blog.entries()) == [POSTS[2].link]

    result = blog.run("reject", item)  # published now: only unpublish takes it down
    assert result.returncode == 1
    assert f"kanalwerk unpublish {item}" in result.stderr
    assert list(blog.entries()) == [POSTS[2].link]


def test_review_and_update_values_are_checked_with_file_and_line(blog: Blog) -> None:
    blog.configure(selection="selection:\n  update: sometimes", channel="    review: maybe")
    result = blog.run("check")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(":14:" in line and "selection.update" in line for line in lines), result.stderr
    assert any(":18:" in line and "channels[0].review" in line for line in lines), result.stderr
