"""The default, offline path end to end: engine `local`, model fetched on first use.

The model is a tiny random one built by the tests (its German is gibberish), served
from a loopback package index exactly as the public Argos index serves real ones.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from tests.cli import run_cli
from tests.servers import LocalServer, Resource
from tests.tiny_model import session_models

ATOM = "{http://www.w3.org/2005/Atom}"


def kanalwerk(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(folder / "feeds.yaml", *args, env=env)


def test_local_engine_downloads_model_on_first_use_and_publishes(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    server: LocalServer,
    data_dir: Path,
) -> None:
    model = session_models(tmp_path_factory).en_de
    server.routes["/models/en_de.argosmodel"] = Resource(
        model.read_bytes(), "application/octet-stream"
    )
    index = [
        {
            "package_version": "1.0",
            "argos_version": "1.9.0",
            "from_code": "en",
            "to_code": "de",
            "links": [server.url("/models/en_de.argosmodel")],
            "code": "translate-en_de",
        }
    ]
    server.routes["/index.json"] = Resource(json.dumps(index).encode(), "application/json")
    server.routes["/blog.atom"] = Resource((data_dir / "blog.atom").read_bytes())
    server.routes["/wordpress.rss"] = Resource((data_dir / "wordpress.rss").read_bytes())
    (tmp_path / "feeds.yaml").write_text(
        f"""
site: {{title: Offline-Test, base_url: "https://example.org/", author: Test}}
translator:
  local: {{package_index_url: "{server.url("/index.json")}"}}
channels:
  - name: Ada
    url: {server.url("/blog.atom")}
  - name: Tech Notes
    url: {server.url("/wordpress.rss")}
""",
        encoding="utf-8",
    )
    env = {"KANALWERK_DATA_DIR": str(tmp_path / "data")}

    result = kanalwerk(tmp_path, env, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert len(server.requests_to("/models/en_de.argosmodel")) == 1  # downloaded on first use

    root = etree.parse(str(tmp_path / "output" / "feed.atom")).getroot()
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 6
    for entry in entries:
        assert (entry.findtext(f"{ATOM}content") or "").startswith('<div class="quelle"')
    # Code is never sent to the engine, so it survives the gibberish model verbatim.
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "output" / "artikel").iterdir()]
    assert any("<pre><code>import feedparser" in page for page in pages)
    assert any("<code>&lt;guid isPermaLink=" in page for page in pages)

    listed = kanalwerk(tmp_path, env, "models", "list")
    assert listed.returncode == 0 and "en→de" in listed.stdout

    # A second run neither downloads again nor translates again.
    again = kanalwerk(tmp_path, env, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert len(server.requests_to("/models/en_de.argosmodel")) == 1
    assert "0 translated" in again.stderr

    removed = kanalwerk(tmp_path, env, "models", "remove", "en", "de")
    assert removed.returncode == 0, removed.stderr
    assert "en→de" not in kanalwerk(tmp_path, env, "models", "list").stdout


def test_models_install_from_file(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    model = session_models(tmp_path_factory).en_de
    env = {"KANALWERK_DATA_DIR": str(tmp_path / "data")}
    result = kanalwerk(tmp_path, env, "models", "install", str(model))
    assert result.returncode == 0, result.stderr
    assert "installed en→de" in result.stdout
    assert (tmp_path / "data" / "packages").is_dir()


def test_unreachable_model_index_leaves_items_waiting(
    tmp_path: Path, server: LocalServer, data_dir: Path
) -> None:
    server.routes["/blog.atom"] = Resource((data_dir / "blog.atom").read_bytes())
    (tmp_path / "feeds.yaml").write_text(
        f"""
site: {{title: Offline-Test, base_url: "https://example.org/", author: Test}}
translator:
  local: {{package_index_url: "{server.url("/no-index.json")}"}}
channels:
  - name: Ada
    url: {server.url("/blog.atom")}
""",
        encoding="utf-8",
    )
    env = {"KANALWERK_DATA_DIR": str(tmp_path / "data")}
    result = kanalwerk(tmp_path, env, "run", "--once")
    assert result.returncode == 4, result.stderr  # items wait: no model to translate them
    assert "3 waiting" in result.stderr
    assert "models install" in result.stderr  # tells the user how to fix it
    status = kanalwerk(tmp_path, env, "status")
    assert "pending 3" in status.stdout
