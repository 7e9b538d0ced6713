"""The service files in contrib/: the systemd unit as systemd reads it, the Dockerfile as
Docker reads it, and the container's health check against a real status.json.

No container engine runs here, so the image itself is not built: the Dockerfile is
parsed (dockerfile-parse) and its promises checked, and its HEALTHCHECK command is run.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from kanalwerk.config import load_config
from kanalwerk.health import RoundFacts, write_health
from tests.cli import run_cli
from tests.once import run_setup

CONTRIB = Path(__file__).resolve().parents[1] / "contrib"
UNIT = CONTRIB / "kanalwerk.service"
INSTALLED = "/usr/local/bin/kanalwerk"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The unit as shipped; only ExecStart's program is this installation's script."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    script = Path(sys.executable).with_name("kanalwerk")
    assert script.is_file()
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={INSTALLED} run --config " in text
    unit = tmp_path / "kanalwerk.service"
    unit.write_text(text.replace(INSTALLED, str(script)), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # not even a warning (an unknown key, say)


def test_the_unit_runs_hardened_as_its_own_user() -> None:
    s = unit_settings()
    assert s["User"] == ["kanalwerk"] and s["Group"] == ["kanalwerk"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # the daemon re-reads feeds.yaml
    assert s["Restart"] == ["on-failure"]
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    assert s["ReadWritePaths"] == ["/var/lib/kanalwerk /srv/kanalwerk"]
    assert s["CapabilityBoundingSet"] == [""]


def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(CONTRIB / "Dockerfile"))


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def test_the_dockerfile_runs_the_daemon_as_a_user_with_volumes() -> None:
    parser = dockerfile()
    assert parser.baseimage.startswith("python:3.11")
    [user] = instructions(parser, "USER")
    assert user not in ("root", "0")
    order = [i["instruction"] for i in parser.structure]
    assert order.index("USER") < order.index("ENTRYPOINT")
    [volume] = instructions(parser, "VOLUME")
    assert json.loads(volume) == ["/config", "/data", "/output"]
    [entry] = instructions(parser, "ENTRYPOINT")
    assert json.loads(entry) == ["kanalwerk", "run", "--config", "/config/feeds.yaml"]
    copied = " ".join(instructions(parser, "COPY"))
    ignored = (CONTRIB.parent / ".dockerignore").read_text(encoding="utf-8")
    for name in ("pyproject.toml", "README.md", "src"):
        assert name in copied and f"!{name}" in ignored


def health_command() -> str:
    [check] = instructions(dockerfile(), "HEALTHCHECK")
    options, command = check.split(" CMD ", 1)
    assert "--interval=" in options and "--start-period=" in options
    return command.strip()


def test_the_health_check_reads_status_json(tmp_path: Path) -> None:
    """The HEALTHCHECK command, run on status.json files a real run wrote."""
    command = health_command()
    assert "/data/status.json" in command
    status = tmp_path / "data" / "status.json"
    argv = shlex.split(command.replace("/data/status.json", str(status)))
    assert argv[0] == "python"
    argv[0] = sys.executable

    def healthy(max_age: int) -> bool:
        env = {"KANALWERK_HEALTH_MAX_AGE": str(max_age)}
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        return done.returncode == 0

    assert not healthy(3600)  # no round yet
    with run_setup(tmp_path) as setup:
        setup.write("/en.rss")
        assert run_cli(setup.config, "run", "--once").returncode == 0
        assert status == setup.health and status.is_file()
        assert healthy(3600)
        success = json.loads(status.read_text(encoding="utf-8"))["last_success_unix"]
        # A failed round keeps the last success: healthy while that is recent enough.
        write_health(load_config(setup.config), RoundFacts(channels=1, failed=1))
        assert json.loads(status.read_text(encoding="utf-8"))["last_success_unix"] == success
        assert healthy(3600)
        assert not healthy(-1)  # any age is too old
