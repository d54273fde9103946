"""SQLite helpers the engine's modules share: a read-only connection, a
connection's ``text_factory`` set for a block, ``IN`` queries over many
values in chunks, "locked"/"busy" told by the error's code, whether a
table exists."""

import contextlib
import os
import sqlite3
import urllib.parse
from typing import Any, Callable, Iterator, Sequence

BUSY_TIMEOUT = 5.0  # seconds a connection waits for a writer's lock
IN_CHUNK = 500  # values per IN (...), well under SQLite's limit on variables
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def connect_read_only(path: str, timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """A read-only connection to the SQLite file at ``path``."""
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)


@contextlib.contextmanager
def text_factory(conn: sqlite3.Connection, factory: Callable[[bytes], Any]) -> Iterator[None]:
    """``conn`` reads TEXT through ``factory`` within the block; its own
    factory is put back after."""
    saved, conn.text_factory = conn.text_factory, factory
    try:
        yield
    finally:
        conn.text_factory = saved


def rows_in(conn: sqlite3.Connection, sql: str, values: Sequence[Any]) -> list[Any]:
    """The rows of ``sql``, whose ``%s`` is an ``IN`` list, for all of
    ``values``: one query per IN_CHUNK of them, rows in query order."""
    rows = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        rows += conn.execute(sql % ",".join("?" * len(chunk)), chunk).fetchall()
    return rows


def is_busy(code: int | None) -> bool:
    """Whether an ``sqlite3.Error``'s ``sqlite_errorcode`` (extended or
    primary) says the database was locked or busy."""
    return code is not None and code & 0xFF in _BUSY_CODES


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database has a table (or virtual table) called ``name``."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, [name]).fetchone() is not None
