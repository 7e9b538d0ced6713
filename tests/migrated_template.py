"""A migrated store to copy, so the tests' new stores need not run every migration."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import sqlalchemy as sa

from kanalwerk.store import Store, migrations
from kanalwerk.store.store import sqlite_file


class MigratedTemplate:
    """A store every migration has run on, copied to where a test opens a new store.

    Running the migrations costs some 35 ms a store, and most tests open several; a copy
    costs well under one. Only stores this process opens start from it (a `kanalwerk`
    process a test starts migrates its own), and only while the migrations are the ones
    it was made by: a test that opens a store with fewer or more of them, as the tests of
    old stores do, gets them run.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file = folder / "migrated.db"
        self.migrations = migrations.MIGRATIONS
        Store.open(f"sqlite:///{self.file}").close()
        left = [path.name for path in folder.iterdir() if path != self.file]
        if left:
            raise RuntimeError(f"the template store left {left} beside it; copy those too")

    def place(self, url: str) -> None:
        """Put a copy where `url` names a new SQLite file; leave anything else to `Store.open`.

        The copy is linked into place, so a store opened there at the same moment sees
        either no file or the whole copy, and a file that appeared meanwhile is kept.
        """
        if migrations.MIGRATIONS is not self.migrations:
            return
        try:
            path = sqlite_file(sa.make_url(url))
        except sa.exc.ArgumentError:
            return
        if path is None or path.exists() or path.is_symlink():
            return
        copy = self.folder / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.file, copy)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(copy, path)
        except OSError:
            pass  # Store.open reports the folder or file, as without the template
        finally:
            copy.unlink()
