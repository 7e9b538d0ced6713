"""The run lock: a lock file that cannot be made is a store problem the user can fix."""

from __future__ import annotations

from pathlib import Path

import pytest

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
