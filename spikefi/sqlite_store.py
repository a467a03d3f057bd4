"""Safe first use of a sqlite database file that several processes may open at once.

Tools such as MLflow and Optuna create and migrate their sqlite database on first use. Two
processes doing that at the same moment break each other (one creates tables the other is
migrating), and a process killed half-way leaves a database no later command can open.
:func:`create_once` makes the first use safe: under an inter-process file lock the database
is built completely in a temporary file of the same folder and then renamed into place, so
the file either does not exist or is complete. :func:`schema_state` tells a complete
database from one an earlier, unprotected creation left half-done.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

__all__ = ["sqlite_file", "create_once", "schema_state"]


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (None for other URLs and in-memory databases)."""
    if not isinstance(url, str) or not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def _usable(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def create_once(path: str | Path, create: Callable[[Path], None], timeout: float = 600.0) -> bool:
    """Creates the database ``path`` with ``create`` unless it exists; safe across processes.

    ``create(tmp)`` must build the complete database in the file ``tmp``. It runs under an
    exclusive lock (``.<name>.lock`` next to the database) while no database exists; the
    result is renamed to ``path`` atomically. A process killed during ``create`` leaves only
    its temporary file (removed by the next creation), never a partial ``path``.

    Returns:
        True when this call created the database.
    """
    from filelock import FileLock

    path = Path(path)
    if _usable(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(f".{path.name}.lock")), timeout=timeout):
        if _usable(path):
            return False
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed creation
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


def schema_state(path: str | Path, version_table: str = "alembic_version", count_table: str | None = None
                 ) -> tuple[str | None, int | None, int]:
    """``(recorded schema version, rows of count_table, number of tables)`` of a database, read-only.

    The version is None when ``version_table`` is absent or empty; the count is None when
    ``count_table`` is absent (or not asked for).
    """
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
