"""An unexpected error reaches the user as one clear line; `-v` adds the traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanalwerk.pipeline import Pipeline
from tests.cli import run_cli

CONFIG = """\
site:
  title: Testblog
  base_url: https://blog.example.org/
  author: Redaktion
output: out/
store: sqlite:///k.db
translator:
  engine: local
channels:
  - name: Beispiel
    url: http://127.0.0.1:9/feed.xml
"""


@pytest.fixture
def broken_publish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose publish step hits a bug (an error no code path raises on purpose)."""

    def bug(self: Pipeline, *, force: bool = False) -> None:
        raise ZeroDivisionError("division by zero\x1b[2J")

    monkeypatch.setattr(Pipeline, "publish", bug)
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def test_an_unexpected_error_is_one_line_without_traceback(broken_publish: Path) -> None:
    result = run_cli(broken_publish, "publish")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1
    assert "ZeroDivisionError: division by zero" in lines[0]
    assert "-v" in lines[0]
    assert "\x1b" not in result.stderr  # shown escaped, like every other message


def test_with_verbose_the_traceback_is_logged(broken_publish: Path) -> None:
    result = run_cli(broken_publish, "-v", "publish")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "in bug" in result.stderr
