"""Safe first use of a sqlite database file that several processes may open at once.

Tools such as MLflow and Optuna create and migrate their sqlite database on first use. Two
processes doing that at the same moment break each other (one creates tables the other is
migrating), and a process killed half-way leaves a database no later command can open.
:func:`create_once` makes the first use safe: under an inter-process file lock the database
is built completely in a temporary file of the same folder and then renamed into place, so
the file either does not exist or is complete. :func:`schema_state` tells a complete
database from one an earlier, unprotected creation left half-done.

A process killed in the middle of any write leaves a *hot* rollback journal
(``NAME-journal``) beside the database. The database is fine -- sqlite rolls the journal back
on the next read-write open -- but a read-only open cannot, and fails with "attempt to write a
readonly database". :func:`recover_journal` does that rollback (under the same lock as the
creation) before :func:`schema_state` reads the database, so such a store is never refused.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

__all__ = ["sqlite_file", "create_once", "recover_journal", "schema_state"]


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (None for other URLs and in-memory databases)."""
    if not isinstance(url, str) or not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def _usable(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _lock(path: Path, timeout: float):  # noqa: ANN202 - filelock.FileLock (imported lazily)
    from filelock import FileLock

    return FileLock(str(path.with_name(f".{path.name}.lock")), timeout=timeout)


def _journal(path: Path) -> Path:
    return Path(f"{path}-journal")


def create_once(path: str | Path, create: Callable[[Path], None], timeout: float = 600.0) -> bool:
    """Creates the database ``path`` with ``create`` unless it exists; safe across processes.

    ``create(tmp)`` must build the complete database in the file ``tmp``. It runs under an
    exclusive lock (``.<name>.lock`` next to the database) while no database exists; the
    result is renamed to ``path`` atomically. A process killed during ``create`` leaves only
    its temporary file (removed by the next creation), never a partial ``path``.

    Returns:
        True when this call created the database.
    """
    path = Path(path)
    if _usable(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path, timeout):
        if _usable(path):
            return False
        # left by a killed creation: the temporary database and its -journal/-wal/-shm files
        for stale in path.parent.glob(f".{path.name}.*.tmp*"):
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            create(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            for suffix in ("-journal", "-wal", "-shm"):
                Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    return True


def recover_journal(path: str | Path, timeout: float = 600.0) -> bool:
    """Rolls back the hot rollback journal a killed writer left beside the database ``path``.

    sqlite does the rollback itself on a read-write open, which this makes (and closes) under
    the database's creation lock; a journal another live process is still using is not hot,
    and sqlite leaves it alone. Nothing happens without a journal file.

    Returns:
        True when a journal was there and the database was opened read-write to recover it.
    """
    path = Path(path)
    if not _journal(path).is_file() or not path.is_file():
        return False
    with _lock(path, timeout):
        if not _journal(path).is_file():
            return False
        with closing(sqlite3.connect(f"file:{path.resolve()}?mode=rw", uri=True, timeout=30)) as con:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the first read rolls back
    return True


def schema_state(path: str | Path, version_table: str = "alembic_version", count_table: str | None = None
                 ) -> tuple[str | None, int | None, int]:
    """``(recorded schema version, rows of count_table, number of tables)`` of a database.

    A hot journal left by a killed writer is rolled back first (:func:`recover_journal`);
    the database is then read read-only. The version is None when ``version_table`` is absent
    or empty; the count is None when ``count_table`` is absent (or not asked for).
    """
    recover_journal(path)
    uri = f"file:{Path(path).resolve()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = None
        if version_table in tables:
            row = con.execute(f"SELECT version_num FROM {version_table}").fetchone()  # noqa: S608 - fixed names
            version = row[0] if row else None
        count = None
        if count_table is not None and count_table in tables:
            count = int(con.execute(f"SELECT COUNT(*) FROM {count_table}").fetchone()[0])  # noqa: S608
        return version, count, len(tables)
