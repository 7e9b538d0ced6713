"""Argos Translate model packages: index, download, verify, install, list, remove.

A `.argosmodel` file is a zip with one top folder holding `model/` (a CTranslate2 model),
`sentencepiece.model` and `metadata.json`. Packages unpack into
`<data dir>/packages/translate-<from>_<to>-<version>/`. Installing unpacks into a hidden
staging folder next to the target and renames it into place, so a crash or a bad file
never leaves a half-installed package that the engine would try to load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from kanalwerk.errors import Blame, ModelDownloadFailed, TranslationError

log = logging.getLogger(__name__)

INDEX_ENV = "KANALWERK_PACKAGE_INDEX"
DATA_DIR_ENV = "KANALWERK_DATA_DIR"
PIVOT = "en"

#: Real models are 30-400 MB; these caps only stop a hostile or broken file.
MAX_DOWNLOAD_BYTES = 2 << 30
MAX_UNPACKED_BYTES = 4 << 30
MAX_MEMBERS = 10_000
#: Hidden leftovers of an interrupted install older than this are removed.
STALE_SECONDS = 3600
#: How long a pair the index could not supply is not asked for again (see `Unavailable`).
UNAVAILABLE_SECONDS = 3600.0

Progress = Callable[[int, int | None], None]

_CODE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._]{0,31}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_HIDDEN_PREFIXES = (".install-", ".old-", ".download-", ".remove-")
_HINT = "install it from a file with `kanalwerk models install FILE`"


@dataclass(frozen=True)
class PackageInfo:
    """A package offered by the index."""

    from_code: str
    to_code: str
    version: str
    name: str
    links: tuple[str, ...]
    size: int | None = None
    sha256: str | None = None
    from_name: str = ""
    to_name: str = ""

    @property
    def pair(self) -> str:
        return f"{self.from_code}→{self.to_code}"


@dataclass(frozen=True)
class InstalledPackage:
    """An unpacked package folder whose metadata has been checked."""

    from_code: str
    to_code: str
    version: str
    path: Path
    target_prefix: str = ""
    from_name: str = ""
    to_name: str = ""

    @property
    def name(self) -> str:
        """`en_de-1.9`: pair and version, as used in the engine's model id."""
        return f"{self.from_code}_{self.to_code}-{self.version}"

    @property
    def pair(self) -> str:
        return f"{self.from_code}→{self.to_code}"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def sentencepiece_model(self) -> Path:
        return self.path / "sentencepiece.model"


# --- locations ------------------------------------------------------------------------


def default_data_dir() -> Path:
    """`$KANALWERK_DATA_DIR`, else `$XDG_DATA_HOME/kanalwerk`, else `~/.local/share/kanalwerk`."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "kanalwerk"
    return Path.home() / ".local" / "share" / "kanalwerk"


def packages_dir(data_dir: Path | None = None) -> Path:
    """Where packages live: `<data dir>/packages`; `data_dir` replaces the default data dir."""
    return (data_dir if data_dir is not None else default_data_dir()) / "packages"


def resolve_index_url(configured: str) -> str:
    """The environment beats `feeds.yaml`, so an offline mirror needs no config edit."""
    return os.environ.get(INDEX_ENV) or configured


def folder_name(from_code: str, to_code: str, version: str) -> str:
    return f"translate-{from_code}_{to_code}-{version}"


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[._]", version))


# --- index ----------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    if url.startswith("file:"):
        return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    if "://" not in url:
        return Path(url).expanduser()
    return None


def _index_entry(entry: Any) -> PackageInfo | None:
    if not isinstance(entry, dict) or entry.get("type", "translate") != "translate":
        return None
    from_code, to_code = entry.get("from_code"), entry.get("to_code")
    version = entry.get("package_version")
    if not (isinstance(from_code, str) and _CODE.fullmatch(from_code)):
        return None
    if not (isinstance(to_code, str) and _CODE.fullmatch(to_code)):
        return None
    if not (isinstance(version, str) and _VERSION.fullmatch(version)):
        return None
    links = entry.get("links")
    size, sha256 = entry.get("size"), entry.get("sha256")
    return PackageInfo(
        from_code=from_code,
        to_code=to_code,
        version=version,
        name=str(entry.get("code") or f"translate-{from_code}_{to_code}"),
        links=tuple(x for x in links if isinstance(x, str)) if isinstance(links, list) else (),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None,
        sha256=sha256.lower() if isinstance(sha256, str) and _SHA256.fullmatch(sha256) else None,
        from_name=str(entry.get("from_name") or ""),
        to_name=str(entry.get("to_name") or ""),
    )


def parse_index(data: Any) -> list[PackageInfo]:
    """Translation packages of an argospm index; other entries (sbd, broken ones) are skipped."""
    if not isinstance(data, list):
        raise ValueError("the index is not a JSON list of packages")
    return [info for info in map(_index_entry, data) if info is not None]


def load_index(url: str, *, client: httpx.Client | None = None) -> list[PackageInfo]:
    """Read the package index from an http(s) URL, a `file://` URL or a plain path."""
    hint = (
        f"set {INDEX_ENV} to a reachable copy of the index, or install a model from a file "
        "with `kanalwerk models install FILE`"
    )
    path = _local_path(url)
    try:
        if path is not None:
            body = path.read_bytes()
        else:
            own = client is None
            http = client or httpx.Client(timeout=30.0, follow_redirects=True)
            try:
                response = http.get(url)
                if response.status_code != 200:
                    raise TranslationError(
                        f"could not load the model index from {url} "
                        f"(HTTP {response.status_code}); {hint}",
                        blame=Blame.ENGINE,
                    )
                body = response.content
            finally:
                if own:
                    http.close()
        return parse_index(json.loads(body))
    except (OSError, httpx.HTTPError) as exc:
        raise TranslationError(
            f"could not load the model index from {url} ({exc}); {hint}", blame=Blame.ENGINE
        ) from exc
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise TranslationError(
            f"the model index at {url} is not valid ({exc}); {hint}", blame=Blame.ENGINE
        ) from exc


# --- installed packages ---------------------------------------------------------------


def _bad_package(where: str, problem: str) -> TranslationError:
    return TranslationError(
        f"{where} is not a usable Argos model package: {problem}", blame=Blame.ENGINE
    )


def read_package(path: Path, *, where: str | None = None) -> InstalledPackage:
    """Check an unpacked package folder and read its metadata."""
    where = where or str(path)
    try:
        metadata = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _bad_package(where, f"metadata.json is unreadable ({exc})") from exc
    if not isinstance(metadata, dict):
        raise _bad_package(where, "metadata.json is not a JSON object")
    kind = metadata.get("type", "translate")
    if kind != "translate":
        raise _bad_package(where, f"it is a {kind!r} package, not a translation model")
    from_code, to_code = metadata.get("from_code"), metadata.get("to_code")
    for key, code in (("from_code", from_code), ("to_code", to_code)):
        if not (isinstance(code, str) and _CODE.fullmatch(code)):
            raise _bad_package(where, f"metadata.json has no valid {key} (got {code!r})")
    assert isinstance(from_code, str) and isinstance(to_code, str)
    if from_code == to_code:
        raise _bad_package(where, f"it translates {from_code} into itself")
    version = metadata.get("package_version") or "0"
    if not (isinstance(version, str) and _VERSION.fullmatch(version)):
        raise _bad_package(where, f"metadata.json has an invalid package_version {version!r}")
    prefix = metadata.get("target_prefix") or ""
    if not isinstance(prefix, str):
        raise _bad_package(where, "metadata.json has a target_prefix that is not a string")
    if not (path / "sentencepiece.model").is_file():
        raise _bad_package(
            where, "sentencepiece.model is missing (other tokenizers are unsupported)"
        )
    if not (path / "model" / "model.bin").is_file():
        raise _bad_package(where, "model/model.bin is missing")
    return InstalledPackage(
        from_code=from_code,
        to_code=to_code,
        version=version,
        path=path,
        target_prefix=prefix,
        from_name=str(metadata.get("from_name") or ""),
        to_name=str(metadata.get("to_name") or ""),
    )


def installed_packages(data_dir: Path | None = None) -> list[InstalledPackage]:
    """Usable installed packages, sorted by pair and version; broken folders are skipped."""
    root = packages_dir(data_dir)
    if not root.is_dir():
        return []
    found: list[InstalledPackage] = []
    for path in root.iterdir():
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            found.append(read_package(path))
        except TranslationError as exc:
            log.warning("skipping %s", exc)
    found.sort(key=lambda p: (p.from_code, p.to_code, _version_key(p.version)))
    return found


def _newest(
    packages: Iterable[InstalledPackage], from_code: str, to_code: str
) -> InstalledPackage | None:
    matching = [p for p in packages if p.from_code == from_code and p.to_code == to_code]
    return max(matching, key=lambda p: _version_key(p.version), default=None)


def find_route(
    from_code: str, to_code: str, installed: Iterable[InstalledPackage]
) -> list[InstalledPackage]:
    """A direct package, else two that pivot through English, else an empty list."""
    packages = list(installed)
    direct = _newest(packages, from_code, to_code)
    if direct is not None:
        return [direct]
    if PIVOT in (from_code, to_code):
        return []
    first, second = _newest(packages, from_code, PIVOT), _newest(packages, PIVOT, to_code)
    return [first, second] if first is not None and second is not None else []


def remove_package(from_code: str, to_code: str, data_dir: Path | None = None) -> bool:
    """Remove every installed version of a pair; False when none was installed."""
    root = packages_dir(data_dir)
    removed = False
    for package in installed_packages(data_dir):
        if package.from_code == from_code and package.to_code == to_code:
            trash = root / f".remove-{uuid.uuid4().hex}"
            os.replace(package.path, trash)  # gone from listings at once, even if rmtree dies
            shutil.rmtree(trash, ignore_errors=True)
            log.info("removed the %s model %s", package.pair, package.version)
            removed = True
    return removed


def _clean_stale(root: Path) -> None:
    cutoff = time.time() - STALE_SECONDS
    for path in root.iterdir():
        if not path.name.startswith(_HIDDEN_PREFIXES):
            continue
        try:
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            continue


# --- install from a file --------------------------------------------------------------


def _member_parts(info: zipfile.ZipInfo, where: str) -> tuple[str, ...]:
    name = info.filename
    if "\\" in name or name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise _bad_package(where, f"the archive holds an absolute or Windows path {name!r}")
    parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
    if not parts or ".." in parts:
        raise _bad_package(where, f"the archive holds an unsafe path {name!r}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _bad_package(where, f"the archive holds a symbolic link {name!r}")
    return parts


def _check_layout(
    archive: zipfile.ZipFile, where: str
) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Every member's path below the one top folder, after the safety checks."""
    infos = archive.infolist()
    if not infos:
        raise _bad_package(where, "the archive is empty")
    if len(infos) > MAX_MEMBERS:
        raise _bad_package(where, f"the archive holds more than {MAX_MEMBERS} files")
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise _bad_package(where, "the archive unpacks to more than 4 GiB")
    members = [(info, _member_parts(info, where)) for info in infos]
    tops = {parts[0] for _, parts in members}
    if len(tops) != 1:
        raise _bad_package(where, f"expected one top folder, found {', '.join(sorted(tops))}")
    inner: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    for info, parts in members:
        if len(parts) == 1:
            if not info.is_dir():
                raise _bad_package(where, f"{parts[0]!r} is a file, not the package folder")
            continue
        inner.append((info, parts[1:]))
    files = {"/".join(parts) for info, parts in inner if not info.is_dir()}
    for required in ("metadata.json", "sentencepiece.model", "model/model.bin"):
        if required not in files:
            raise _bad_package(where, f"{required} is missing")
    if not any(re.fullmatch(r"model/[^/]*vocabulary[^/]*", f) for f in files):
        raise _bad_package(where, "the model has no vocabulary file")
    return inner


def _extract(
    archive: zipfile.ZipFile,
    members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]],
    staging: Path,
) -> None:
    base = staging.resolve()
    for info, parts in members:
        dest = staging.joinpath(*parts)
        if not dest.resolve().is_relative_to(base):  # belt and braces after _member_parts
            raise ValueError(f"unsafe path {info.filename!r}")
        if info.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, dest.open("xb") as out:  # zipfile checks each CRC
            shutil.copyfileobj(src, out, 1 << 20)


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the staged folder to its final name; an older copy is swapped out first."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = target.with_name(f".old-{uuid.uuid4().hex}")
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def install_from_file(
    path: Path, data_dir: Path | None = None, *, expect: tuple[str, str] | None = None
) -> InstalledPackage:
    """Verify and unpack a `.argosmodel` file; other versions of its pair are removed.

    `expect` is the (from, to) pair the caller was promised, checked before installing.
    """
    path = Path(path)
    where = path.name
    root = packages_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale(root)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise _bad_package(where, f"it is not a zip file ({exc})") from exc
    with archive:
        members = _check_layout(archive, where)
        staging = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
        try:
            try:
                _extract(archive, members, staging)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise _bad_package(where, f"the archive is damaged ({exc})") from exc
            staged = read_package(staging, where=where)
            if expect is not None and (staged.from_code, staged.to_code) != expect:
                raise _bad_package(
                    where, f"it translates {staged.pair}, not {expect[0]}→{expect[1]}"
                )
            target = root / folder_name(staged.from_code, staged.to_code, staged.version)
            _move_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    package = read_package(target)
    for other in installed_packages(data_dir):
        same_pair = (other.from_code, other.to_code) == (package.from_code, package.to_code)
        if same_pair and other.path != package.path:
            trash = root / f".remove-{uuid.uuid4().hex}"
            os.replace(other.path, trash)
            shutil.rmtree(trash, ignore_errors=True)
    log.info("installed the %s model %s into %s", package.pair, package.version, package.path)
    return package


# --- download -------------------------------------------------------------------------


def _download(
    client: httpx.Client, url: str, root: Path, info: PackageInfo, progress: Progress | None
) -> Path:
    fd, name = tempfile.mkstemp(prefix=".download-", suffix=".argosmodel", dir=root)
    temp = Path(name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response,
        ):
            if response.status_code != 200:
                raise ModelDownloadFailed(f"HTTP {response.status_code}")
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else info.size
            digest = hashlib.sha256()
            done = 0
            if progress:
                progress(0, total)
            for chunk in response.iter_bytes(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if done > MAX_DOWNLOAD_BYTES:
                    raise ModelDownloadFailed("the file is larger than 2 GiB")
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise ModelDownloadFailed(f"got {done} of {total} bytes")
        if info.sha256 and digest.hexdigest() != info.sha256:
            raise ModelDownloadFailed("the file does not match the index's SHA-256 checksum")
        return temp
    except httpx.HTTPError as exc:
        temp.unlink(missing_ok=True)
        raise ModelDownloadFailed(str(exc) or type(exc).__name__) from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def download_and_install(
    info: PackageInfo,
    data_dir: Path | None = None,
    *,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
) -> InstalledPackage:
    """Fetch a package by its first working link, verify it and install it."""
    links = [u for u in info.links if u.startswith(("https://", "http://", "file:"))]
    if not links:
        raise TranslationError(
            f"the index offers no http(s) link for the {info.pair} model; {_HINT}",
            blame=Blame.ENGINE,
        )
    root = packages_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(30.0, read=120.0), follow_redirects=True)
    try:
        for url in links:
            local = _local_path(url)
            try:
                file = local if local is not None else _download(http, url, root, info, progress)
            except ModelDownloadFailed as exc:
                failures.append(f"{url}: {exc}" if len(links) > 1 else str(exc))
                continue
            try:
                return install_from_file(file, data_dir, expect=(info.from_code, info.to_code))
            except TranslationError as exc:
                failures.append(f"{url}: {exc}" if len(links) > 1 else str(exc))
            finally:
                if local is None:
                    file.unlink(missing_ok=True)
    finally:
        if own:
            http.close()
    raise TranslationError(
        f"could not download the {info.pair} model from {links[0]} ({'; '.join(failures)}); "
        + _HINT,
        blame=Blame.ENGINE,
    )


class Unavailable:
    """Pairs that could not be had from the index lately, and why.

    A feed in a language without a model would otherwise fetch the index (or try the
    download) again for each of its items, every cycle. The answer is remembered for
    `seconds` per index, data dir and pair; installed packages are still looked at first
    every time, so a model installed from a file is used at once.
    """

    def __init__(
        self,
        seconds: float = UNAVAILABLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.seconds = seconds
        self._clock = clock
        self._known: dict[tuple[str, str, str, str], tuple[float, TranslationError]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, str]) -> TranslationError | None:
        with self._lock:
            found = self._known.get(key)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._known[key]
                return None
            return found[1]

    def put(self, key: tuple[str, str, str, str], error: TranslationError) -> None:
        with self._lock:
            self._known[key] = (self._clock() + self.seconds, error)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


#: The process-wide memory `ensure_package` uses unless given another.
UNAVAILABLE = Unavailable()


def ensure_package(
    from_code: str,
    to_code: str,
    *,
    index_url: str,
    data_dir: Path | None = None,
    progress: Progress | None = None,
    client: httpx.Client | None = None,
    unavailable: Unavailable | None = None,
) -> list[InstalledPackage]:
    """The route for a pair, downloading what is missing from the index on first use.

    A pair the index could not supply (unreachable, not offered, download failed) fails
    again with the same error, without asking, until `unavailable` forgets it.
    """
    route = find_route(from_code, to_code, installed_packages(data_dir))
    if route:
        return route
    url = resolve_index_url(index_url)
    memory = UNAVAILABLE if unavailable is None else unavailable
    key = (url, str(packages_dir(data_dir)), from_code, to_code)
    known = memory.get(key)
    if known is not None:
        raise TranslationError(
            str(known), blame=known.blame, until=known.until, status=known.status
        )
    try:
        return _fetch_route(from_code, to_code, url, data_dir, progress, client)
    except TranslationError as exc:
        memory.put(key, exc)
        raise


def _fetch_route(
    from_code: str,
    to_code: str,
    url: str,
    data_dir: Path | None,
    progress: Progress | None,
    client: httpx.Client | None,
) -> list[InstalledPackage]:
    offered: dict[tuple[str, str], PackageInfo] = {}
    for info in load_index(url, client=client):
        key = (info.from_code, info.to_code)
        if key not in offered or _version_key(info.version) > _version_key(offered[key].version):
            offered[key] = info
    installed = installed_packages(data_dir)
    if (from_code, to_code) in offered:
        legs = [(from_code, to_code)]
    elif PIVOT not in (from_code, to_code):
        legs = [(from_code, PIVOT), (PIVOT, to_code)]
    else:
        legs = []
    have = {(p.from_code, p.to_code) for p in installed}
    missing = [leg for leg in legs if leg not in have]
    if not legs or any(leg not in offered for leg in missing):
        raise TranslationError(
            f"no model translates {from_code} into {to_code}, directly or through English, "
            f"in the index at {url}; {_HINT}",
            blame=Blame.ENGINE,
        )
    for leg in missing:
        log.info("downloading the %s model %s", offered[leg].pair, offered[leg].version)
        download_and_install(offered[leg], data_dir, client=client, progress=progress)
    return find_route(from_code, to_code, installed_packages(data_dir))
