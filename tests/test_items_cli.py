"""`kanalwerk items`: one line per item, filtered by channel and state."""

from __future__ import annotations

from pathlib import Path

from tests.cli import run_cli
from tests.selection_feeds import Post, rss, write_config
from tests.servers import LocalServer, Resource


def two_channels(tmp_path: Path, server: LocalServer) -> Path:
    server.routes["/a.rss"] = Resource(rss([Post(f"A{n}", n) for n in range(5)]))
    server.routes["/b.rss"] = Resource(rss([Post("B0", 10, categories=("Werbung",))]))
    return write_config(
        tmp_path,
        f"  - name: Alpha Blog\n    url: {server.url('/a.rss')}\n    language: de\n"
        f"  - name: Beta\n    url: {server.url('/b.rss')}\n    language: de\n"
        "    exclude: {category: [Werbung]}\n",
    )


def test_items_lists_id_channel_state_date_title_and_reason(
    tmp_path: Path, server: LocalServer
) -> None:
    config = two_channels(tmp_path, server)
    assert run_cli(config, "run", "--once").returncode == 0

    every = run_cli(config, "items")
    assert every.returncode == 0, every.stderr
    lines = every.stdout.splitlines()
    assert len(lines) == 6
    assert lines[0].split("  ")[1:] == [
        "beta",
        "skipped",
        "2025-01-01",
        "B0",
        "(exclude: category matches 'Werbung')",
    ]
    assert lines[1].split("  ")[1:] == ["alpha-blog", "published", "2025-01-01", "A4"]
    assert all(line.split("  ")[0].isdigit() for line in lines)

    by_name = run_cli(config, "items", "--channel", "alpha blog", "--skipped")
    assert [line.split("  ")[4:] for line in by_name.stdout.splitlines()] == [
        ["A1", "(backfill)"],
        ["A0", "(backfill)"],
    ]
    published = run_cli(config, "items", "--state", "published", "--channel", "alpha-blog")
    assert [line.split("  ")[4] for line in published.stdout.splitlines()] == ["A4", "A3", "A2"]


def test_items_refuses_unknown_channels_and_states(tmp_path: Path, server: LocalServer) -> None:
    config = two_channels(tmp_path, server)
    unknown = run_cli(config, "items", "--channel", "gamma")
    assert unknown.returncode == 1
    assert "no channel 'gamma'" in unknown.stderr and "alpha-blog, beta" in unknown.stderr
    bad_state = run_cli(config, "items", "--state", "gone")
    assert bad_state.returncode == 2 and "unknown state 'gone'" in bad_state.stderr
    both = run_cli(config, "items", "--skipped", "--state", "new")
    assert both.returncode == 2


def test_items_before_the_first_run_lists_nothing_and_creates_no_store(
    tmp_path: Path, server: LocalServer
) -> None:
    config = two_channels(tmp_path, server)
    result = run_cli(config, "items")
    assert (result.returncode, result.stdout) == (0, "")
    assert not (tmp_path / "kanalwerk.db").exists()
