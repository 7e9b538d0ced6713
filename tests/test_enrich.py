"""The enrich step: best source first, the reasons of the others kept, chosen once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from kanalwerk.config import Config, load_config
from kanalwerk.enrich import Candidate, Missing, enrich_pending
from kanalwerk.models import Item, SourceText
from kanalwerk.store import Store, migrations
from tests.old_stores import before, store_at
from tests.test_store import raw


class Answers:
    """A source that answers from a table and records whom it was asked about."""

    def __init__(self, answers: Mapping[str, SourceText | Missing]) -> None:
        self.answers = answers
        self.asked: list[list[str]] = []

    def find(self, candidates: Sequence[Candidate]) -> Mapping[int, SourceText | Missing]:
        self.asked.append([c.stored.guid for c in candidates])
        return {
            c.stored.id: self.answers[c.stored.guid]
            for c in candidates
            if c.stored.guid in self.answers
        }


def config(tmp_path: Path) -> Config:
    path = tmp_path / "feeds.yaml"
    text = """
site: {title: T, base_url: "https://blog.example.org/", author: R}
output: site/
store: sqlite:///k.db
channels:
  - {name: Blog, url: "https://blog.example.net/feed"}
  - {name: Videos, youtube: UCvJJ_dzjViJCoLf5uKUTwoA}
"""
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def stored_texts(store: Store) -> dict[str, SourceText | None]:
    return {s.guid: s.source_text for s in store.pending_items(max_attempts=5)}


def test_the_first_source_with_text_wins_and_the_others_reasons_are_kept(
    tmp_path: Path, store: Store
) -> None:
    cfg = config(tmp_path)
    store.sync_channels([(c.id, c.name, cfg.poll_url(c)) for c in cfg.channels])
    store.add_items(
        "blog",
        [
            Item("post-1", None, "One", content_html="<p>Feed one</p>"),
            Item("post-2", None, "Two", content_html="<p>Feed two</p>"),
            Item("post-3", None, "Three", content_html="<p>Feed three</p>"),
        ],
    )
    store.add_items(
        "videos", [Item("yt:video:v1", None, "V", summary_html="<p>Desc</p>", video_id="v1")]
    )
    said = SourceText("transcript", "<p>Said</p>")
    written = SourceText("fulltext", "<p>Whole text</p>")
    first = Answers(
        {"post-1": said, "post-2": Missing("no transcript"), "yt:video:v1": Missing("disabled")}
    )
    second = Answers({"post-1": written, "post-2": Missing("too little text"), "post-3": written})

    report = enrich_pending(cfg, store, [first, second], language=lambda s: "en")

    assert second.asked == [["post-2", "post-3", "yt:video:v1"]]  # post-1 was settled
    assert stored_texts(store) == {
        "post-1": said,
        "post-2": SourceText("feed", "<p>Feed two</p>", "no transcript; too little text"),
        "post-3": written,
        "yt:video:v1": SourceText("description", "<p>Desc</p>", "disabled"),
    }
    assert report.kinds == {"transcript": 1, "feed": 1, "fulltext": 1, "description": 1}
    assert report.fell_back == 2

    # Chosen once: the next step asks nobody about these items again.
    again = enrich_pending(cfg, store, [first, second], language=lambda s: "en")
    assert again.total == 0
    assert len(first.asked) == 1 and len(second.asked) == 1


def test_items_of_a_channel_no_longer_configured_are_left_alone(
    tmp_path: Path, store: Store
) -> None:
    cfg = config(tmp_path)
    store.sync_channels([("gone", "Gone", "https://gone.example/feed")])
    store.add_items("gone", [Item("g-1", None, "G", content_html="<p>G</p>")])
    source = Answers({})

    assert enrich_pending(cfg, store, [source], language=lambda s: "en").total == 0
    assert source.asked == []
    assert stored_texts(store) == {"g-1": None}


def test_after_the_source_text_migration_waiting_items_get_theirs_at_the_next_step(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k.db"
    store_at(f"sqlite:///{path}", before(migrations._m0007_source_texts))
    now = "2025-01-01 00:00:00"
    raw(
        path,
        "INSERT INTO channels (id, name, error_count, created_at) VALUES ('blog', 'Blog', 0, ?)",
        (now,),
    )
    for guid, state in (("waiting", "new"), ("done", "published")):
        raw(
            path,
            "INSERT INTO items (channel_id, guid, title, content_html, state, attempts, "
            "first_seen, updated_at) VALUES ('blog', ?, 'T', '<p>Body</p>', ?, 0, ?, ?)",
            (guid, state, now, now),
        )

    with Store.open(f"sqlite:///{path}") as store:
        assert stored_texts(store) == {"waiting": None}
        enrich_pending(config(tmp_path), store, [], language=lambda s: "en")
        assert stored_texts(store) == {"waiting": SourceText("feed", "<p>Body</p>")}
    assert raw(path, "SELECT guid, source_kind FROM items ORDER BY guid") == [
        ("done", None),
        ("waiting", "feed"),
    ]
