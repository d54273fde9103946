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

from .posts import COLUMNS

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


class KeysetPager:
    """Yields pages of raw rows (``COLUMNS`` then ``rowid``)."""

    def __init__(self, did=None, start=None, end=None, page_size=DEFAULT_PAGE_SIZE, csv=False):
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
        self.last = None  # (created_at, uri, rowid) of the last row returned
        self.done = False

    def count_sql(self):
        where = " WHERE " + " AND ".join(self.where) if self.where else ""
        return "SELECT count(*) FROM posts" + where, list(self.params)

    def page_sql(self):
        where = list(self.where)
        params = list(self.params)
        if self.last is not None:
            created, uri, rowid = self.last
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
            where.append(after % tail)
            params += params_after + params_tail
        sql = self.select + (" WHERE " + " AND ".join(where) if where else "") + _ORDER
        return sql, params + [self.page_size]

    def fetch(self, conn, text=str):
        """The next page of rows (empty when there are no more). TEXT comes
        as ``text`` (str or bytearray); as bytearray for a page holding
        invalid UTF-8. BLOBs come as bytes."""
        if self.done:
            return []
        sql, params = self.page_sql()
        factory = conn.text_factory
        try:
            conn.text_factory = text
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as e:
                if text is bytearray or _DECODE_ERROR not in str(e):
                    raise
                conn.text_factory = bytearray
                rows = conn.execute(sql, params).fetchall()
        finally:
            conn.text_factory = factory
        if len(rows) < self.page_size:
            self.done = True
        if rows:
            last = rows[-1]
            self.last = (last[4], last[0], last[-1])
        return rows
