"""`full_text:` on a channel, and the extra it needs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.errors import ConfigError

CONFIG = """\
site: {title: T, base_url: 'https://example.org/', author: A}
channels:
  - name: Summaries
    url: https://blog.example/feed.xml
    full_text: true
  - name: Whole posts
    url: https://other.example/feed.xml
"""


def test_full_text_is_off_unless_a_channel_asks(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    summaries, whole = load_config(path).channels
    assert summaries.full_text and not whole.full_text


def test_full_text_without_the_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # as if not installed
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "feeds.yaml:5: channels[0].full_text: needs trafilatura" in message
    assert "pip install 'kanalwerk[fulltext]'" in message
