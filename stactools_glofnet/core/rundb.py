"""A cache kept as SQLite files on disk, so a run's process does not grow with what it remembers.

What the last run kept is one SQLite file, attached read-only as the schema ``stored``. What this
run uses or learns goes to a database of its own in a temporary directory, which :meth:`save`
puts in the file's place: the file holds only what the last run used, and stays the size of
its inputs. Used by the input digests (:mod:`~stactools_glofnet.core.digests`) and the
validation results (:mod:`~stactools_glofnet.validation.cache`).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

logger = logging.getLogger(__name__)


class RunDatabase:
    """This run's database, with the last run's file attached as ``stored`` once :meth:`attach` succeeds.

    ``tables`` are ``CREATE TABLE {schema}name ...`` statements, made in this run's database;
    ``version`` is the file's ``PRAGMA user_version``. Use :attr:`lock` around queries: the
    connection is shared by threads.
    """

    def __init__(self, path: Path | None, *, version: int, tables: Sequence[str], what: str) -> None:
        """Remember into ``path`` (nowhere when None); ``what`` names the cache in log messages."""
        self.path = path
        self.version = version
        self.what = what
        scratch = tempfile.mkdtemp(prefix="glofnet-rundb-")
        self.db = sqlite3.connect(
            os.path.join(scratch, "used.sqlite"), check_same_thread=False, isolation_level=None, uri=True
        )
        self._discard = weakref.finalize(self, _discard, self.db, scratch)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", f"user_version = {version}"):
            self.db.execute(f"PRAGMA {pragma}")
        for table in tables:
            self.db.execute(table.format(schema=""))
        self.stored = False
        self.lock = threading.Lock()

    def attach(self, probes: Sequence[str] = ()) -> bool:
        """Attach the file at :attr:`path` read-only as ``stored``: False when there is none, or
        (logged) when it is not a database of this version or a ``probes`` query fails on it."""
        if self.path is None or not self.path.is_file():
            return False
        attached = False
        try:
            self.db.execute("ATTACH DATABASE ? AS stored", (f"{self.path.resolve().as_uri()}?mode=ro",))
            attached = True
            (version,) = self.db.execute("PRAGMA stored.user_version").fetchone()
            if version != self.version:
                raise sqlite3.DatabaseError(f"version {version}, not {self.version}")
            for probe in probes:
                self.db.execute(probe).fetchall()
        except sqlite3.Error as error:
            if attached:
                self.db.execute("DETACH DATABASE stored")
            logger.warning("ignoring the unreadable %s %s: %s", self.what, self.path, error)
            return False
        self.stored = True
        return True

    def detach(self) -> None:
        """Forget the last run's file (it is replaced all the same by :meth:`save`)."""
        with self.lock:
            if self.stored:
                self.db.execute("DETACH DATABASE stored")
                self.stored = False

    def save(self) -> None:
        """Put what this run used or learned in the file's place, atomically; a failure is only
        logged (it costs working again next time). The file's first form, JSON, is removed."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}-", suffix=".tmp"
            )
            os.close(handle)
            try:
                with self.lock, closing(sqlite3.connect(temporary)) as copy:
                    self.db.backup(copy)
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            self.path.with_suffix(".json").unlink(missing_ok=True)
        except (OSError, sqlite3.Error) as error:
            logger.warning("could not save the %s %s: %s", self.what, self.path, error)

    def close(self) -> None:
        """Close the databases and remove this run's (also done when the object is collected)."""
        with self.lock:
            self._discard()


def _discard(db: sqlite3.Connection, scratch: str) -> None:
    db.close()
    shutil.rmtree(scratch, ignore_errors=True)
