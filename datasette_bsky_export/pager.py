"""Keyset paging of the ``posts`` table in the legacy order.

Pages follow ``created_at DESC, uri ASC`` (then ``rowid``, which only orders
the impossible-in-practice rows sharing both), each page starting strictly
after the last row of the one before. So a post inserted or deleted between
pages never shifts the others: no duplicate and no skip among the posts that
are there throughout, and every page is an index range scan, however deep.

``+did`` keeps SQLite on ``idx_posts_created_at`` (in created_at order)
instead of ``idx_posts_did``, which would sort all of a DID's posts for
every page.
"""

import sqlite3
from typing import Any, Iterator

from . import sqlitedb
from .postrow import COLUMNS, PageKey, page_key

_SELECT = "SELECT %s, rowid FROM posts"
# CSV never needs labels: any value scans into Go's []byte and is not written.
_CSV_COLUMNS = dict(zip(COLUMNS, COLUMNS), labels="NULL")
_ORDER = " ORDER BY created_at DESC, uri ASC, rowid ASC LIMIT ?"
# Small enough for a page's rows and their encoding to stay in the CPU's
# cache: on 1M posts, 250 exports 10-15 % faster than 1000 (and 100 is
# slower again, query by query).
DEFAULT_PAGE_SIZE = 250
_DECODE_ERROR = "Could not decode to UTF-8"


def _bind(value):
    """SQL for a key value as the page returned it. TEXT read as bytes (a page
    with invalid UTF-8) is bound back as TEXT, never as a BLOB."""
    if type(value) is bytearray:
        try:
            return "?", value.decode("utf-8")
        except UnicodeDecodeError:
            return "CAST(? AS TEXT)", bytes(value)
    return "?", value


def _after(key):
    """SQL and parameters for the rows after ``key`` (created_at, uri, rowid)."""
    created, uri, rowid = key
    if created is None:  # NULLs sort last in DESC order
        after, params_after = "created_at IS NULL AND (%s)", []
    else:
        sql, value = _bind(created)
        after = "created_at <= %s AND (created_at < %s OR %%s)" % (sql, sql)
        params_after = [value, value]
    if uri is None:  # NULL sorts first in ASC order
        tail = "uri IS NOT NULL OR (uri IS NULL AND rowid > ?)"
        params_tail = [rowid]
    else:
        sql, value = _bind(uri)
        tail = "uri > %s OR (uri = %s AND rowid > ?)" % (sql, sql)
        params_tail = [value, value, rowid]
    return after % tail, params_after + params_tail


def _until(key):
    """SQL and parameters for the rows up to ``key`` included; a key from
    range_keys (created_at and uri not NULL). ``created_at >= ?`` bounds the
    index scan, so a range's last page stops at the range's end."""
    created, uri, rowid = key
    created_sql, created = _bind(created)
    uri_sql, uri = _bind(uri)
    sql = (
        "created_at >= %s AND (created_at > %s OR uri IS NULL OR uri < %s"
        " OR (uri = %s AND rowid <= ?))"
    )
    return sql % (created_sql, created_sql, uri_sql, uri_sql), [created, created, uri, uri, rowid]


class KeysetPager:
    """Yields pages of raw rows (``COLUMNS`` then ``rowid``): all of the
    export's, or with ``after``/``until`` keys those of one range."""

    def __init__(
        self,
        did: str | None = None,
        start: str | None = None,
        end: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        csv: bool = False,
        after: PageKey | None = None,
        until: PageKey | None = None,
    ) -> None:
        self.page_size = page_size
        self.select = _SELECT % ", ".join(_CSV_COLUMNS.values() if csv else COLUMNS)
        self.where = []
        self.params = []
        if did is not None:
            self.where.append("+did = ?")
            self.params.append(did)
        if start is not None:
            self.where.append("created_at >= ?")
            self.params.append(start)
        if end is not None:
            self.where.append("created_at <= ?")
            self.params.append(end)
        if until is not None:
            sql, params = _until(until)
            self.where.append(sql)
            self.params += params
        self.last = after  # (created_at, uri, rowid) of the last row returned
        self.done = False

    def count_sql(self) -> tuple[str, list[Any]]:
        where = " WHERE " + " AND ".join(self.where) if self.where else ""
        return "SELECT count(*) FROM posts" + where, list(self.params)

    def page_sql(self) -> tuple[str, list[Any]]:
        where = list(self.where)
        params = list(self.params)
        if self.last is not None:
            sql, after = _after(self.last)
            where.append(sql)
            params += after
        sql = self.select + (" WHERE " + " AND ".join(where) if where else "") + _ORDER
        return sql, params + [self.page_size]

    def fetch(self, conn: sqlite3.Connection, text: type = str) -> list[Any]:
        """The next page of rows (empty when there are no more). TEXT comes
        as ``text`` (str or bytearray); as bytearray for a page holding
        invalid UTF-8. BLOBs come as bytes."""
        if self.done:
            return []
        sql, params = self.page_sql()
        try:
            with sqlitedb.text_factory(conn, text):
                rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if text is bytearray or _DECODE_ERROR not in str(e):
                raise
            with sqlitedb.text_factory(conn, bytearray):
                rows = conn.execute(sql, params).fetchall()
        if len(rows) < self.page_size:
            self.done = True
        if rows:
            self.last = page_key(rows[-1])
        return rows


def _window(select, start, end, upto=None, above=None):
    """``select`` over the posts within the date bounds whose created_at is
    at most ``upto`` and more than ``above`` (each when given)."""
    where, params = [], []
    for op, value in ((">= ?", start), ("<= ?", end)):
        if value is not None:
            where.append("created_at " + op)
            params.append(value)
    for op, value in (("<=", upto), (">", above)):
        if value is not None:
            sql, value = _bind(value)
            where.append("created_at %s %s" % (op, sql))
            params.append(value)
    return select + (" WHERE " + " AND ".join(where) if where else ""), params


def range_keys(
    conn: sqlite3.Connection, every: int, start: str | None = None, end: str | None = None
) -> Iterator[PageKey]:
    """Keys (created_at, uri, rowid) that cut the posts within the date
    bounds into ranges of ``every`` rows in the legacy order: a range is the
    rows after one key up to the next one included, so created_at ties may
    straddle a cut and still land on exactly one side.

    Counts on idx_posts_created_at alone (table rows are read only for the
    ties of a cut), in one read transaction, open until the generator is
    exhausted or closed: the keys come from one snapshot, strictly ascending.
    A DID filter is not applied: its ranges hold fewer posts. A cut at a row
    whose uri is NULL is left out."""
    conn.execute("BEGIN")
    try:
        created, taken = None, 0  # the last cut's created_at; its ties in ranges so far
        while True:
            sql, params = _window("SELECT created_at FROM posts", start, end, created)
            row = _one(
                conn,
                sql + " ORDER BY created_at DESC LIMIT 1 OFFSET ?",
                params + [taken + every - 1],
            )
            if row is None or row[0] is None:
                return
            if row[0] != created:
                sql, params = _window("SELECT count(*) FROM posts", start, end, created, row[0])
                taken -= _one(conn, sql, params)[0]
                created = row[0]
            taken += every
            sql, value = _bind(created)
            found = _one(
                conn,
                "SELECT created_at, uri, rowid FROM posts WHERE created_at = %s "
                "ORDER BY uri, rowid LIMIT 1 OFFSET ?" % sql,
                [value, taken - 1],
            )
            key = None if found is None else PageKey._make(found)
            if key is not None and key.uri is not None:
                yield key
    finally:
        conn.rollback()


def _one(conn, sql, params):
    """The first row of a query, TEXT as bytearray (any bytes a key may hold)."""
    with sqlitedb.text_factory(conn, bytearray):
        return conn.execute(sql, params).fetchone()
