"""`feed.json`: JSON Feed 1.1, checked against the schema in tests/data/schemas."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kanalwerk.models import Article
from kanalwerk.publish.jsonfeed import render_json_feed
from tests.feed_docs import HUB, articles
from tests.test_publish import SITE

FEED_URL = SITE.base_url + "feed.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(
        (Path(__file__).parent / "data" / "schemas" / "jsonfeed-1.1.schema.json").read_text()
    )
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    checker: jsonschema.protocols.Validator = cls(schema)
    return checker


def render(published: list[Article], **kwargs: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        render_json_feed(published, SITE, feed_url=FEED_URL, **kwargs)
    )
    return data


def test_json_feed_fields() -> None:
    plain, pictured = articles(2)
    pictured = dataclasses.replace(pictured, thumbnail="https://img.example/bild 1.jpg")
    feed = render([plain, pictured])

    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == SITE.title
    assert feed["description"] == SITE.subtitle
    assert feed["home_page_url"] == SITE.base_url
    assert feed["feed_url"] == FEED_URL
    assert feed["language"] == "de"
    assert feed["authors"] == [{"name": "Redaktion"}]
    assert "hubs" not in feed

    first, second = feed["items"]  # newest first
    assert first["id"] == pictured.entry_id
    assert first["url"] == f"{SITE.base_url}artikel/{pictured.slug}.html"
    assert first["external_url"] == pictured.source.link
    assert first["title"] == pictured.title
    assert first["content_html"] == pictured.content_html
    assert first["summary"] == pictured.summary
    assert first["date_published"] == pictured.published.isoformat()
    assert first["date_modified"] == pictured.updated.isoformat()
    assert first["image"] == "https://img.example/bild%201.jpg"
    assert first["authors"] == [{"name": "Redaktion"}]
    assert first["language"] == "de"
    assert second["id"] == plain.entry_id
    assert "image" not in second


def test_json_feed_matches_the_schema(validator: jsonschema.protocols.Validator) -> None:
    published = articles(3)
    published[0] = dataclasses.replace(published[0], thumbnail="https://img.example/t.jpg")
    validator.validate(render(published))
    validator.validate(render(published, hub=HUB))
    validator.validate(render([]))


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda f: f.pop("version"), "'version' is a required property"),
        (lambda f: f["items"][0].pop("id"), "'id' is a required property"),
        (lambda f: f["items"][0].update(date_published="27.01.2025"), "does not match"),
        (lambda f: f.update(home_page="https://example.org/"), "'home_page' does not match"),
        (lambda f: f["items"][0].pop("content_html"), "is not valid under any"),
    ],
)
def test_the_schema_refuses_broken_feeds(
    validator: jsonschema.protocols.Validator, broken: Any, message: str
) -> None:
    feed = render(articles(1))
    broken(feed)
    with pytest.raises(jsonschema.ValidationError, match=message):
        validator.validate(feed)


def test_json_feed_declares_the_hub() -> None:
    feed = render(articles(1), hub=HUB)
    assert feed["hubs"] == [{"type": "WebSub", "url": HUB}]
    assert feed["feed_url"] == FEED_URL


def test_json_feed_is_stable_and_utf8() -> None:
    published = articles(3)
    data = render_json_feed(published, SITE, feed_url=FEED_URL)
    assert data == render_json_feed(list(reversed(published)), SITE, feed_url=FEED_URL)
    assert "Ausgewählte".encode() in data  # not \u-escaped
    empty = json.loads(render_json_feed([], SITE, feed_url=FEED_URL))
    assert empty["items"] == []


def test_json_feed_strips_what_xml_feeds_cannot_carry() -> None:
    article = dataclasses.replace(articles(1)[0], title="A \x01B\ud800")
    (item,) = render([article])["items"]
    assert item["title"] == "A B\ufffd"  # the same title as in feed.atom
