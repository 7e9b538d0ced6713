"""Page keys built from cached entry digests: cheap, and still changing with every field."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kanalwerk.models import SourceRef
from kanalwerk.publish.pages import Entry, new_plan, page_key, versions

SOURCE = SourceRef(
    title="Original",
    link="https://example.org/1",
    channel_name="Kanal",
    feed_title="Kanal-Feed",
    feed_url="https://example.org/feed.xml",
    feed_link="https://example.org/",
    feed_id="yt:channel:1",
    author="Ada",
)
ENTRY = Entry(
    item_id=1,
    entry_id="tag:blog.example,2025:1",
    slug="erster-beitrag",
    channel_id="kanal",
    title="Erster Beitrag",
    summary="Ein Anriss.",
    published=datetime(2025, 1, 27, 8, 0, tzinfo=UTC),
    updated=datetime(2025, 1, 27, 9, 0, tzinfo=UTC),
    source=SOURCE,
    thumbnail="https://img.example/1.jpg",
)


def test_digest_is_the_key_of_the_version_and_computed_once() -> None:
    entry = dataclasses.replace(ENTRY)
    assert entry.digest == page_key(entry.version)
    assert entry.digest is entry.digest
    assert versions([entry, ENTRY]) == (entry.digest, ENTRY.digest)
    assert entry.digest == ENTRY.digest  # equal entries, equal digests


def _changed(name: str) -> Any:
    value = getattr(ENTRY, name)
    if isinstance(value, datetime):
        return value + timedelta(seconds=1)
    return None if name == "thumbnail" else f"{value}x"


@pytest.mark.parametrize(
    "name",
    [
        f.name
        for f in dataclasses.fields(Entry)
        if f.name not in ("item_id", "source", "seq", "channel_seq")
    ],
)
def test_digest_changes_with_every_field_a_page_shows(name: str) -> None:
    changed = dataclasses.replace(ENTRY, **{name: _changed(name)})
    assert changed.digest != ENTRY.digest


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(SourceRef)])
def test_digest_changes_with_every_field_of_the_source(name: str) -> None:
    source = dataclasses.replace(SOURCE, **{name: f"{getattr(SOURCE, name)}x"})
    assert dataclasses.replace(ENTRY, source=source).digest != ENTRY.digest


def test_keys_are_remembered_for_two_plans_and_computed_for_unhashable_parts() -> None:
    parts = ("article", "layout", ENTRY.digest, (None, ("slug", "Titel")))
    first = page_key(*parts)
    assert page_key(*parts) is first  # remembered: the same string object
    new_plan()
    assert page_key(*parts) is first  # asked for again in the next plan: kept
    new_plan()
    new_plan()
    again = page_key(*parts)  # not asked for in the plan before: forgotten, made again
    assert again == first and again is not first
    assert page_key(*parts) == _sha(repr(parts))
    listed = ("list", [ENTRY.digest])
    assert page_key(*listed) == _sha(repr(listed))  # a list: computed, not remembered
    assert page_key(*listed) != page_key("list", (ENTRY.digest,))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
