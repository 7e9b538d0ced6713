"""Atomic, change-only file writes.

Readers (web server, rsync) must never see a half-written file, and unchanged files keep
their mtime so caches and `If-Modified-Since` keep working.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

DEFAULT_MODE = 0o644  # published files must be readable by the web server


def _same_content(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


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


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` atomically; return False (and touch nothing) if unchanged.

    The temporary file lives in the target's folder so `os.replace` is a same-filesystem
    rename, and it is removed on any failure. The existing file's permissions are kept;
    new files get 0644 instead of `mkstemp`'s private 0600.
    """
    if _same_content(path, data):
        return False
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = DEFAULT_MODE
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the rename
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    _fsync_dir(path.parent)
    return True
