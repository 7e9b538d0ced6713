"""One kanalwerk at a time per store: a lock file held for the whole run.

The store is what two runs must not share (they would poll, pay for and publish the
same items twice), so the lock follows the store, not the config file: two config
files naming one database are refused just like one config started twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from kanalwerk.errors import AlreadyRunning, StoreError

#: What `run` tells the user to do when another run holds the lock.
RUN_INSTEAD = "stop it first, or give this config a store of its own"
#: What `publish` says: the running daemon publishes after each cycle.
PUBLISH_INSTEAD = "let it publish (it does after every cycle), or stop it first"


def lock_path(store_url: str) -> Path:
    """`<database>.lock` beside a SQLite file; else one per server and database.

    A database on a server has no folder of ours, so its lock lives in the temp folder
    under a name made from the URL (without user and password); it guards this machine.
    """
    from kanalwerk.store.store import sqlite_file

    url = sa.make_url(store_url)
    file = sqlite_file(url)
    if file is not None:
        file = file.resolve()
        return file.with_name(f"{file.name}.lock")
    database = url.database or ""
    where = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{database}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"kanalwerk-{digest}.lock"


@contextlib.contextmanager
def single_instance(store_url: str, *, instead: str = RUN_INSTEAD) -> Iterator[None]:
    """Hold the store's lock for the block; raise `AlreadyRunning` if another run has it.

    `instead` tells the user what to do about the other run (the message ends with it).

    The lock sits beside an SQLite file, so a new store's folder is created here, on
    purpose: opening the store right after would create it anyway. A lock file that
    cannot be made is a `StoreError` naming it.
    """
    from kanalwerk.store.store import mask_url

    path = lock_path(store_url)
    store = mask_url(store_url)
    handle = _open_lock_file(path, store)
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunning(
                f"another kanalwerk is already running on the store {store} (lock {path}); "
                + instead
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def held_if_free(store_url: str) -> Iterator[bool]:
    """The store's lock for the block when no other run holds it (True); else False.

    For editorial decisions: they are one transaction each, safe beside a running
    daemon, which publishes them at its next round; without one they publish at once.
    """
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(single_instance(store_url))
        except AlreadyRunning:
            held = False
        else:
            held = True
        yield held


def _open_lock_file(path: Path, store: str) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a+")  # held for the whole run: the caller closes it
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError):  # mkdir met a file where a folder should be
            reason = f"{exc.filename} is a file, not a folder"
        raise StoreError(
            f"cannot create the lock file {path} for the store {store}: {reason}; its "
            "folder must exist (or be creatable) and be writable, so point `store:` in "
            "feeds.yaml at a file in such a folder"
        ) from exc
