from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.translate import packages
from kanalwerk.translate.packages import (
    InstalledPackage,
    PackageInfo,
    download_and_install,
    ensure_package,
    find_route,
    install_from_file,
    installed_packages,
    load_index,
    remove_package,
)
from tests.servers import LocalServer, Request, Resource, Response
from tests.tiny_model import TinyModels, session_models


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return session_models(tmp_path_factory)


def _entries(root: Path) -> list[str]:
    """Everything in the packages folder, hidden leftovers included."""
    where = root / "packages"
    return sorted(p.name for p in where.iterdir()) if where.exists() else []


def _rezip(
    source: Path,
    dest: Path,
    *,
    drop: str = "",
    rename: dict[str, str] | None = None,
    extra: dict[str, bytes] | None = None,
    metadata: dict[str, object] | None = None,
) -> Path:
    """Copy a package zip with members dropped, renamed, added or metadata replaced."""
    rename = rename or {}
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w") as out:
        for info in src.infolist():
            if drop and info.filename.endswith(drop):
                continue
            data = src.read(info)
            if metadata is not None and info.filename.endswith("/metadata.json"):
                data = json.dumps(metadata).encode()
            out.writestr(rename.get(info.filename, info.filename), data)
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return dest


def _top(source: Path) -> str:
    with zipfile.ZipFile(source) as archive:
        return archive.namelist()[0].split("/")[0]


# --- install from a file ---------------------------------------------------------------


def test_install_from_file_unpacks_and_lists(models: TinyModels, tmp_path: Path) -> None:
    package = install_from_file(models.en_de, tmp_path)
    assert (package.from_code, package.to_code, package.version) == ("en", "de", "1.0")
    assert package.path == tmp_path / "packages" / "translate-en_de-1.0"
    assert (package.model_dir / "model.bin").is_file()
    assert package.sentencepiece_model.is_file()
    assert (package.path / "README.md").is_file()
    assert package.name == "en_de-1.0"
    assert installed_packages(tmp_path) == [package]
    assert _entries(tmp_path) == ["translate-en_de-1.0"]  # no staging leftovers


def test_newer_version_replaces_older(models: TinyModels, tmp_path: Path) -> None:
    install_from_file(models.en_de, tmp_path)
    newer = install_from_file(models.en_de_prefixed, tmp_path)
    assert newer.version == "1.1" and newer.target_prefix == "__de__"
    assert installed_packages(tmp_path) == [newer]
    assert _entries(tmp_path) == ["translate-en_de-1.1"]


def test_reinstalling_same_version_swaps_in_place(models: TinyModels, tmp_path: Path) -> None:
    first = install_from_file(models.en_de, tmp_path)
    (first.path / "stray.txt").write_text("from the old copy")
    again = install_from_file(models.en_de, tmp_path)
    assert again.path == first.path and not (again.path / "stray.txt").exists()
    assert _entries(tmp_path) == ["translate-en_de-1.0"]


@pytest.mark.parametrize(
    "evil",
    [
        "{top}/../../evil.txt",
        "../evil.txt",
        "/tmp/evil.txt",
        "{top}/model/../../../evil.txt",
        "C:/evil.txt",
        "{top}\\..\\evil.txt",
    ],
)
def test_zip_slip_is_rejected(models: TinyModels, tmp_path: Path, evil: str) -> None:
    name = evil.format(top=_top(models.en_de))
    bad = _rezip(models.en_de, tmp_path / "bad.argosmodel", extra={name: b"pwned"})
    data = tmp_path / "data"
    with pytest.raises(TranslationError, match=r"unsafe|absolute|one top folder") as caught:
        install_from_file(bad, data)
    assert caught.value.blame is Blame.ENGINE
    assert not list(tmp_path.rglob("evil.txt"))
    assert _entries(data) == []


def test_symlink_member_is_rejected(models: TinyModels, tmp_path: Path) -> None:
    bad = tmp_path / "link.argosmodel"
    _rezip(models.en_de, bad)
    link = zipfile.ZipInfo(f"{_top(models.en_de)}/model/link")
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(TranslationError, match="symbolic link"):
        install_from_file(bad, tmp_path / "data")
    assert _entries(tmp_path / "data") == []


@pytest.mark.parametrize(
    "missing",
    ["metadata.json", "sentencepiece.model", "model/model.bin", "model/shared_vocabulary.json"],
)
def test_missing_files_are_rejected(models: TinyModels, tmp_path: Path, missing: str) -> None:
    bad = _rezip(models.en_de, tmp_path / "bad.argosmodel", drop="/" + missing)
    with pytest.raises(TranslationError, match=r"missing|vocabulary"):
        install_from_file(bad, tmp_path / "data")
    assert _entries(tmp_path / "data") == []


def test_two_top_folders_are_rejected(models: TinyModels, tmp_path: Path) -> None:
    bad = _rezip(models.en_de, tmp_path / "bad.argosmodel", extra={"other/readme.txt": b"x"})
    with pytest.raises(TranslationError, match="one top folder"):
        install_from_file(bad, tmp_path / "data")


def test_file_at_top_level_is_rejected(models: TinyModels, tmp_path: Path) -> None:
    top = _top(models.en_de)
    bad = _rezip(models.en_de, tmp_path / "bad.argosmodel", rename={f"{top}/": top})
    with pytest.raises(TranslationError, match="is a file, not the package folder"):
        install_from_file(bad, tmp_path / "data")


def test_not_a_zip_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.argosmodel"
    bad.write_bytes(b"this is not a zip file at all")
    with pytest.raises(TranslationError, match="not a zip file"):
        install_from_file(bad, tmp_path / "data")


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"from_code": "en", "to_code": "../x", "package_version": "1.0"}, "to_code"),
        ({"from_code": "en", "package_version": "1.0"}, "to_code"),
        ({"from_code": "en", "to_code": "en", "package_version": "1.0"}, "into itself"),
        ({"from_code": "en", "to_code": "de", "package_version": "1/0"}, "package_version"),
        ({"from_code": "en", "to_code": "de", "type": "sbd"}, "sbd"),
        ({"from_code": "en", "to_code": "de", "target_prefix": 3}, "target_prefix"),
    ],
)
def test_bad_metadata_is_rejected_and_nothing_left(
    models: TinyModels, tmp_path: Path, metadata: dict[str, object], problem: str
) -> None:
    bad = _rezip(models.en_de, tmp_path / "bad.argosmodel", metadata=metadata)
    with pytest.raises(TranslationError, match=problem):
        install_from_file(bad, tmp_path / "data")
    assert _entries(tmp_path / "data") == []


def _damage(source: Path, dest: Path) -> Path:
    """Same size, but the stored bytes of model.bin are corrupted: only the CRC can tell."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo(f"{_top(source)}/model/model.bin")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 100, start + 400):
        data[offset] ^= 0x5A
    dest.write_bytes(bytes(data))
    return dest


def test_damaged_archive_installs_nothing_and_keeps_old_version(
    models: TinyModels, tmp_path: Path
) -> None:
    good = install_from_file(models.en_de, tmp_path)
    before = (good.model_dir / "model.bin").read_bytes()
    bad = _damage(models.en_de, tmp_path / "damaged.argosmodel")
    with pytest.raises(TranslationError, match="damaged"):
        install_from_file(bad, tmp_path)
    assert _entries(tmp_path) == ["translate-en_de-1.0"]
    assert (good.model_dir / "model.bin").read_bytes() == before


def test_stale_staging_folders_are_ignored_and_cleaned(models: TinyModels, tmp_path: Path) -> None:
    root = tmp_path / "packages"
    stale = root / ".install-crashed"
    (stale / "model").mkdir(parents=True)
    (stale / "metadata.json").write_text('{"from_code": "en", "to_code": "de"}')
    old = time.time() - 2 * packages.STALE_SECONDS
    os.utime(stale, (old, old))
    fresh = root / ".install-running"
    fresh.mkdir()
    assert installed_packages(tmp_path) == []
    install_from_file(models.en_de, tmp_path)
    assert _entries(tmp_path) == [".install-running", "translate-en_de-1.0"]


_CRASH_DURING_INSTALL = """
import os, sys
from pathlib import Path
from kanalwerk.translate import packages
unpack = packages._extract
def crash(*args, **kwargs):
    unpack(*args, **kwargs)  # everything is unpacked, then the process dies hard
    os._exit(3)
packages._extract = crash
packages.install_from_file(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_crash_during_install_leaves_no_package(models: TinyModels, tmp_path: Path) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH_DURING_INSTALL, str(models.en_de), str(tmp_path)],
        check=False,
        timeout=60,
    )
    assert crashed.returncode == 3
    assert installed_packages(tmp_path) == []
    leftovers = _entries(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].startswith(".install-")
    stale = tmp_path / "packages" / leftovers[0]
    old = time.time() - 2 * packages.STALE_SECONDS
    os.utime(stale, (old, old))
    install_from_file(models.en_de, tmp_path)
    assert _entries(tmp_path) == ["translate-en_de-1.0"]


def test_remove_package(models: TinyModels, tmp_path: Path) -> None:
    install_from_file(models.en_de, tmp_path)
    install_from_file(models.fr_en, tmp_path)
    assert remove_package("en", "de", tmp_path) is True
    assert [p.name for p in installed_packages(tmp_path)] == ["fr_en-1.0"]
    assert remove_package("en", "de", tmp_path) is False
    assert _entries(tmp_path) == ["translate-fr_en-1.0"]


def test_broken_installed_folder_is_skipped(models: TinyModels, tmp_path: Path) -> None:
    package = install_from_file(models.en_de, tmp_path)
    (package.path / "metadata.json").write_text("{broken")
    assert installed_packages(tmp_path) == []


# --- locations and routes --------------------------------------------------------------


def test_default_data_dir_follows_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KANALWERK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert packages.packages_dir() == tmp_path / "xdg" / "kanalwerk" / "packages"
    monkeypatch.setenv("KANALWERK_DATA_DIR", str(tmp_path / "own"))
    assert packages.packages_dir() == tmp_path / "own" / "packages"
    assert packages.packages_dir(tmp_path / "arg") == tmp_path / "arg" / "packages"
    monkeypatch.delenv("KANALWERK_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/path")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert packages.default_data_dir() == tmp_path / "home" / ".local" / "share" / "kanalwerk"


def test_index_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANALWERK_PACKAGE_INDEX", raising=False)
    assert packages.resolve_index_url("https://mirror.test/i.json") == "https://mirror.test/i.json"
    monkeypatch.setenv("KANALWERK_PACKAGE_INDEX", "/srv/index.json")
    assert packages.resolve_index_url("https://mirror.test/i.json") == "/srv/index.json"


def _pkg(from_code: str, to_code: str, version: str = "1.0") -> InstalledPackage:
    return InstalledPackage(
        from_code, to_code, version, Path(f"/p/{from_code}_{to_code}-{version}")
    )


def test_find_route() -> None:
    installed = [
        _pkg("en", "de", "1.0"),
        _pkg("en", "de", "1.10"),
        _pkg("en", "de", "1.9"),
        _pkg("fr", "en"),
        _pkg("de", "en"),
        _pkg("es", "fr"),
    ]
    assert find_route("en", "de", installed) == [_pkg("en", "de", "1.10")]
    assert find_route("fr", "de", installed) == [_pkg("fr", "en"), _pkg("en", "de", "1.10")]
    assert find_route("es", "de", installed) == []  # es→fr does not lead anywhere
    assert find_route("de", "fr", installed) == []  # no en→fr
    assert find_route("en", "fr", installed) == []  # never pivots through its own end
    assert find_route("de", "en", installed) == [_pkg("de", "en")]


# --- index -----------------------------------------------------------------------------


INDEX = [
    {
        "package_version": "1.9",
        "argos_version": "1.9.0",
        "from_code": "en",
        "from_name": "English",
        "to_code": "de",
        "to_name": "German",
        "links": ["https://example.invalid/translate-en_de-1_9.argosmodel", "ipfs://Qm"],
        "code": "translate-en_de",
    },
    {
        "package_version": "1.0",
        "from_code": "fr",
        "to_code": "en",
        "links": [],
        "sha256": "AB" * 32,
        "size": 1234,
    },
    {"type": "sbd", "package_version": "1.0", "from_code": "en", "links": []},
    {"package_version": "1.0", "from_code": "xx yy", "to_code": "de"},
    {"from_code": "es", "to_code": "en"},
    "not an object",
]


def test_load_index_over_http(server: LocalServer) -> None:
    server.routes["/index.json"] = Resource(json.dumps(INDEX).encode(), "application/json")
    infos = load_index(server.url("/index.json"))
    assert infos == [
        PackageInfo(
            "en",
            "de",
            "1.9",
            "translate-en_de",
            ("https://example.invalid/translate-en_de-1_9.argosmodel", "ipfs://Qm"),
            from_name="English",
            to_name="German",
        ),
        PackageInfo("fr", "en", "1.0", "translate-fr_en", (), size=1234, sha256="ab" * 32),
    ]


def test_load_index_from_path_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "index.json"
    path.write_text(json.dumps(INDEX))
    assert len(load_index(str(path))) == 2
    assert load_index(path.as_uri()) == load_index(str(path))


def test_load_index_failures(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/broken.json"] = Resource(b"{not json", "application/json")
    server.routes["/object.json"] = Resource(b'{"a": 1}', "application/json")
    with pytest.raises(
        TranslationError, match=r"could not load .*HTTP 404.*KANALWERK_PACKAGE_INDEX"
    ) as e:
        load_index(server.url("/missing.json"))
    assert e.value.blame is Blame.ENGINE
    with pytest.raises(TranslationError, match="not valid"):
        load_index(server.url("/broken.json"))
    with pytest.raises(TranslationError, match="not valid"):
        load_index(server.url("/object.json"))
    with pytest.raises(TranslationError, match="could not load"):
        load_index(str(tmp_path / "nowhere.json"))


# --- download and first use ------------------------------------------------------------


def _serve(server: LocalServer, models: TinyModels, **extra: dict[str, object]) -> None:
    entries = []
    for pair, path in (("en_de", models.en_de), ("fr_en", models.fr_en)):
        from_code, to_code = pair.split("_")
        route = f"/models/{pair}.argosmodel"
        server.routes[route] = Resource(path.read_bytes(), "application/octet-stream")
        entries.append(
            {
                "package_version": "1.0",
                "from_code": from_code,
                "to_code": to_code,
                "links": [server.url(route)],
                "code": f"translate-{pair}",
                **extra.get(pair, {}),
            }
        )
    server.routes["/index.json"] = Resource(json.dumps(entries).encode(), "application/json")


def test_ensure_package_downloads_with_progress(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    _serve(server, models)
    seen: list[tuple[int, int | None]] = []
    route = ensure_package(
        "en",
        "de",
        index_url=server.url("/index.json"),
        data_dir=tmp_path,
        progress=lambda done, total: seen.append((done, total)),
    )
    size = models.en_de.stat().st_size
    assert [p.name for p in route] == ["en_de-1.0"]
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert _entries(tmp_path) == ["translate-en_de-1.0"]
    # installed now: no second download, not even the index
    requests = len(server.requests)
    assert (
        ensure_package("en", "de", index_url=server.url("/index.json"), data_dir=tmp_path) == route
    )
    assert len(server.requests) == requests


def test_ensure_package_pivots_through_english(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    _serve(server, models)
    route = ensure_package("fr", "de", index_url=server.url("/index.json"), data_dir=tmp_path)
    assert [p.name for p in route] == ["fr_en-1.0", "en_de-1.0"]
    assert len(server.requests_to("/models/fr_en.argosmodel")) == 1


def test_ensure_package_without_offer(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    _serve(server, models)
    with pytest.raises(TranslationError, match="no model translates ja into de") as caught:
        ensure_package("ja", "de", index_url=server.url("/index.json"), data_dir=tmp_path)
    assert caught.value.blame is Blame.ENGINE
    assert _entries(tmp_path) == []


def _info(url: str, **kwargs: object) -> PackageInfo:
    return PackageInfo("en", "de", "1.0", "translate-en_de", (url,), **kwargs)  # type: ignore[arg-type]


def test_truncated_download_is_rejected(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    body = models.en_de.read_bytes()

    def truncated(request: Request) -> Response:
        headers = {"Content-Length": str(len(body)), "Connection": "close"}
        return Response(200, body[: len(body) // 2], headers)

    server.routes["/cut.argosmodel"] = truncated
    with pytest.raises(TranslationError) as caught:
        download_and_install(_info(server.url("/cut.argosmodel")), tmp_path)
    message = str(caught.value)
    assert f"expected {len(body)}" in message  # the short read itself is named
    assert "could not download the en→de model from http://127.0.0.1" in message
    assert "kanalwerk models install FILE" in message
    assert caught.value.blame is Blame.ENGINE
    assert _entries(tmp_path) == []


def test_corrupt_download_is_rejected(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    damaged = _damage(models.en_de, tmp_path / "damaged.argosmodel")
    server.routes["/bad.argosmodel"] = Resource(damaged.read_bytes(), "application/octet-stream")
    with pytest.raises(TranslationError, match="damaged"):
        download_and_install(_info(server.url("/bad.argosmodel")), tmp_path / "data")
    assert _entries(tmp_path / "data") == []


def test_checksum_is_verified(server: LocalServer, models: TinyModels, tmp_path: Path) -> None:
    body = models.en_de.read_bytes()
    server.routes["/m.argosmodel"] = Resource(body, "application/octet-stream")
    with pytest.raises(TranslationError, match="SHA-256"):
        download_and_install(_info(server.url("/m.argosmodel"), sha256="0" * 64), tmp_path)
    assert _entries(tmp_path) == []
    good = hashlib.sha256(body).hexdigest()
    package = download_and_install(_info(server.url("/m.argosmodel"), sha256=good), tmp_path)
    assert package.name == "en_de-1.0"


def test_next_link_is_tried(server: LocalServer, models: TinyModels, tmp_path: Path) -> None:
    server.routes["/m.argosmodel"] = Resource(models.en_de.read_bytes(), "application/octet-stream")
    info = PackageInfo(
        "en",
        "de",
        "1.0",
        "translate-en_de",
        ("ipfs://Qm", server.url("/gone.argosmodel"), server.url("/m.argosmodel")),
    )
    assert download_and_install(info, tmp_path).name == "en_de-1.0"
    assert [r.path for r in server.requests] == ["/gone.argosmodel", "/m.argosmodel"]


def test_package_for_another_pair_is_rejected(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    server.routes["/m.argosmodel"] = Resource(models.fr_en.read_bytes(), "application/octet-stream")
    with pytest.raises(TranslationError, match="translates fr→en, not en→de"):
        download_and_install(_info(server.url("/m.argosmodel")), tmp_path)
    assert _entries(tmp_path) == []


def test_no_usable_link(tmp_path: Path) -> None:
    info = PackageInfo("en", "de", "1.0", "translate-en_de", ("ipfs://Qm",))
    with pytest.raises(TranslationError, match="no http"):
        download_and_install(info, tmp_path)


def test_download_uses_given_client(
    server: LocalServer, models: TinyModels, tmp_path: Path
) -> None:
    server.routes["/m.argosmodel"] = Resource(models.en_de.read_bytes(), "application/octet-stream")
    with httpx.Client(headers={"User-Agent": "kanalwerk-test"}) as client:
        download_and_install(_info(server.url("/m.argosmodel")), tmp_path, client=client)
    assert server.requests[0].headers["user-agent"] == "kanalwerk-test"


def test_file_links_install_without_http(models: TinyModels, tmp_path: Path) -> None:
    info = _info(models.en_de.as_uri())
    assert download_and_install(info, tmp_path).name == "en_de-1.0"
    assert models.en_de.exists()  # a local source file is never deleted
