"""Atomic, change-only file writes.

Readers (web server, rsync) must never see a half-written file, and unchanged files keep
their mtime so caches and `If-Modified-Since` keep working.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MODE = 0o644  # published files must be readable by the web server

#: `write_atomic`'s temp files: `.<target name>.<8 random characters>.tmp`.
_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")

#: A temp file younger than this may belong to a write in progress (`kanalwerk publish`
#: beside the daemon); ours live for one write, so an older one was left by a killed run.
STALE_TEMP_SECONDS = 60


def _existing_mode(path: Path, data: bytes) -> int | None:
    """The permissions of the file at `path`, or None when it already holds `data`."""
    try:
        info = path.stat()
        if info.st_size == len(data) and path.read_bytes() == data:
            return None
        return stat.S_IMODE(info.st_mode)
    except FileNotFoundError:
        return DEFAULT_MODE


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temp file beside `path`, named as `_TEMP_NAME` expects."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp_path = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_TEMP_SUFFIX}")
        try:
            return os.open(tmp_path, flags, 0o600), tmp_path
        except FileExistsError:
            continue


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself; not every platform can open a directory."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> bool:
    """Replace `path` with `data` atomically; return False (and touch nothing) if unchanged.

    The temporary file lives in the target's folder so `os.replace` is a same-filesystem
    rename, and it is removed on any failure. The existing file's permissions are kept;
    new files get 0644 (the temp file is private until then). With `durable=False` nothing
    is flushed to disk: for many files, followed by one `flush_to_disk` (an fsync costs
    milliseconds; thousands of them would dominate publishing a big site).
    """
    tmp_path = prepare_atomic(path, data, durable=durable)
    if tmp_path is None:
        return False
    commit_atomic(tmp_path, path, durable=durable)
    return True


def prepare_atomic(path: Path, data: bytes, *, durable: bool = True) -> Path | None:
    """The first half of `write_atomic`: `data` in a temp file beside `path`, not yet in
    place (`commit_atomic`); None when `path` holds `data` already."""
    mode = _existing_mode(path, data)
    if mode is None:
        return None
    fd, tmp_path = _create_temp(path)
    try:
        with open(fd, "wb") as tmp:
            tmp.write(data)
            if durable:
                tmp.flush()
                os.fsync(fd)
            os.fchmod(fd, mode)
    except BaseException:
        discard_temp(tmp_path)
        raise
    return tmp_path


def commit_atomic(tmp_path: Path, path: Path, *, durable: bool = True) -> None:
    """The second half of `write_atomic`: the prepared file takes the place of `path`."""
    try:
        os.replace(tmp_path, path)
    except BaseException:
        discard_temp(tmp_path)
        raise
    if durable:
        _fsync_dir(path.parent)


def discard_temp(tmp_path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        tmp_path.unlink()


class PageWriter:
    """`write_atomic(durable=False)` for many pages, or, with `hold`, their files prepared
    (`prepare_atomic`) and put in place all at once by `commit`, in the order written: for
    pages that link others still being written elsewhere. Prepared files not committed
    are removed when the writer is left.

    In the publishing thread itself: a writer thread lost more to waiting for the GIL
    between its system calls (the renderer holds it for its whole switch interval) than it
    won by writing beside the renderer.
    """

    def __init__(self, *, hold: bool = False) -> None:
        self.written: list[Path] = []  # in place
        self._hold = hold
        self._held: list[tuple[Path, Path]] = []  # temp file, target

    def write(self, path: Path, data: bytes) -> None:
        if not self._hold:
            if write_atomic(path, data, durable=False):
                self.written.append(path)
        elif (tmp_path := prepare_atomic(path, data, durable=False)) is not None:
            self._held.append((tmp_path, path))

    def commit(self) -> None:
        """Put the held files in place, in the order they were written."""
        held, self._held = self._held, []
        for done, (tmp_path, path) in enumerate(held):
            try:
                commit_atomic(tmp_path, path, durable=False)
            except BaseException:
                self._held = held[done + 1 :]  # removed on leaving the writer
                raise
            self.written.append(path)

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for tmp_path, _ in self._held:
            discard_temp(tmp_path)
        self._held.clear()


def flush_to_disk() -> None:
    """Write everything written so far to disk: one call after many non-durable writes."""
    if hasattr(os, "sync"):
        os.sync()


def scan_folder(folder: Path) -> set[str]:
    """The names of the files in `folder`, after deleting temp files a killed run left.

    One directory listing serves both jobs, so checking which pages are still on disk
    costs one `scandir` per folder instead of one `stat` per page. Only names
    `write_atomic` makes are deleted, and only once they are stale, so a user's own files
    and a write still in progress are safe.
    """
    try:
        with os.scandir(folder) as listing:
            names = {entry.name for entry in listing if entry.is_file()}
    except FileNotFoundError:
        return set()
    cutoff = time.time() - STALE_TEMP_SECONDS
    removed: list[str] = []
    # Temp names start with a dot: one cheap test per name, the pattern for those alone.
    for name in [n for n in names if n[:1] == "." and _TEMP_NAME.match(n)]:
        path = folder / name
        with contextlib.suppress(FileNotFoundError):
            if path.stat(follow_symlinks=False).st_mtime < cutoff:
                path.unlink()
                removed.append(name)
                names.discard(name)
    if removed:
        log.info("removed %d temp file(s) a stopped run left in %s", len(removed), folder)
    return names


def remove_file(path: Path) -> bool:
    """Delete the file at `path` if there is one; return whether there was.

    A folder of that name (made by hand where a page used to be) is left alone.
    """
    try:
        path.unlink()
    except (FileNotFoundError, IsADirectoryError):
        return False
    except PermissionError:
        if path.is_dir():  # what unlink raises for a folder on some systems
            return False
        raise
    return True
