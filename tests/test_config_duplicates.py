"""The same feed configured under two names is a config error naming both channels.

Otherwise every item would be stored, translated and published once per name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kanalwerk.cli import main
from kanalwerk.config import load_config
from kanalwerk.errors import ConfigError

HEAD = """\
site:
  title: Testseite
  base_url: https://blog.example.net/
  author: Redaktion
channels:
"""


def config_text(first: str, second: str) -> str:
    return HEAD + f"  - name: Erster\n    {first}\n  - name: Zweiter\n    {second}\n"


def source_lines(text: str) -> list[int]:
    """The lines of the channels' url: or youtube: keys, in order."""
    keys = ("    url:", "    youtube:")
    return [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(keys)]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("url: https://example.org/feed.xml", "url: https://example.org/feed.xml"),
        ("url: https://Example.ORG/feed.xml", "url: HTTPS://example.org/feed.xml"),
        ("url: https://example.org:443/feed/", "url: https://example.org/feed"),
        ("url: http://example.org:80/feed", "url: http://example.org/feed/"),
        ("url: https://example.org", "url: https://example.org/"),
        ("url: https://example.org/feed#top", "url: https://example.org/feed"),
        ("youtube: UCvJJ_dzjViJCoLf5uKUTwoA", "youtube: UCvJJ_dzjViJCoLf5uKUTwoA"),
        (
            "youtube: UCvJJ_dzjViJCoLf5uKUTwoA",
            "youtube: https://www.youtube.com/channel/UCvJJ_dzjViJCoLf5uKUTwoA/videos",
        ),
        (
            "youtube: UCvJJ_dzjViJCoLf5uKUTwoA",
            "url: https://www.youtube.com/feeds/videos.xml?channel_id=UCvJJ_dzjViJCoLf5uKUTwoA",
        ),
        ('youtube: "@CNBC"', "youtube: https://www.youtube.com/@cnbc"),
    ],
)
def test_same_feed_twice_is_an_error_naming_both_lines(
    tmp_path: Path, first: str, second: str
) -> None:
    text = config_text(first, second)
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    first_line, second_line = source_lines(text)
    assert message.startswith(f"{path}:{second_line}: channels[1]."), message
    assert "'Erster'" in message and "'Zweiter'" in message
    assert f"line {first_line}" in message
    assert "keep one" in message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("url: https://example.org/feed.xml", "url: https://example.org/other.xml"),
        ("url: https://example.org/feed?lang=en", "url: https://example.org/feed?lang=de"),
        ("url: https://example.org/Feed", "url: https://example.org/feed"),
        ("url: https://example.org:8443/feed", "url: https://example.org/feed"),
        ("youtube: UCvJJ_dzjViJCoLf5uKUTwoA", "youtube: UCbfYPyITQ-7l4upoX8nvctg"),
        ('youtube: "@CNBC"', 'youtube: "@CNBCi"'),
    ],
)
def test_different_feeds_are_fine(tmp_path: Path, first: str, second: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(config_text(first, second), encoding="utf-8")
    assert len(load_config(path).channels) == 2


def test_check_command_fails_on_the_same_feed_twice(tmp_path: Path) -> None:
    text = config_text("url: https://example.org/feed/", "url: https://EXAMPLE.org/feed")
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 1, result.output
    assert "OK" not in result.output
    assert f"{path}:{line_of(text, 'EXAMPLE')}: channels[1].url:" in result.output
    assert "'Erster'" in result.output and "'Zweiter'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
