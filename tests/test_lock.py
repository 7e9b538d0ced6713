"""The run lock: a lock file that cannot be made is a store problem the user can fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanalwerk.lock import single_instance
from tests.cli import run_cli
from tests.test_cli_errors import CONFIG


def config_with_store(folder: Path, store: str) -> Path:
    path = folder / "feeds.yaml"
    text = CONFIG.replace("store: sqlite:///k.db", f'store: "{store}"')
    assert text != CONFIG
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("under", ["afile", "afile/deeper"])
def test_a_lock_file_that_cannot_be_made_is_a_clear_error(tmp_path: Path, under: str) -> None:
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    database = tmp_path / under / "k.db"
    result = run_cli(config_with_store(tmp_path, f"sqlite:///{database}"), "run", "--once")
    assert result.returncode == 1
    assert "unexpected error" not in result.stderr
    assert "Traceback" not in result.stderr
    assert f"{database}.lock" in result.stderr
    assert "store:" in result.stderr  # says what to change
    assert (tmp_path / "afile").is_file()


def test_a_lock_in_a_folder_that_takes_no_files_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(config_with_store(tmp_path, "sqlite:////proc/k.db"), "run", "--once")
    assert result.returncode == 1
    assert "unexpected error" not in result.stderr
    assert "/proc/k.db.lock" in result.stderr


def test_publish_refuses_while_a_run_holds_the_lock(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    assert run_cli(config, "publish").returncode == 0  # the store exists, the site is written
    index = tmp_path / "out" / "index.html"
    index.unlink()
    with single_instance(f"sqlite:///{tmp_path / 'k.db'}"):
        result = run_cli(config, "publish")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "already running" in result.stderr
    assert "let it publish" in result.stderr  # says what to do instead
    assert not index.exists()  # nothing written beside the running daemon
    assert run_cli(config, "publish").returncode == 0  # once it is stopped, publish works
    assert index.exists()
