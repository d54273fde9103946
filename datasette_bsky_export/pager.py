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

import re
import sqlite3
from typing import Any, Iterator, NamedTuple

from . import sqlitedb
from .exceptions import ExportError
from .postrow import COLUMNS, PageKey, page_key

_SELECT = "SELECT %s, rowid FROM posts"
# CSV never needs labels: any value scans into Go's []byte and is not written.
_CSV_COLUMNS = dict(zip(COLUMNS, COLUMNS), labels="NULL")
_ORDER = " ORDER BY created_at DESC, uri ASC, rowid ASC LIMIT :_limit"
# Small enough for a page's rows and their encoding to stay in the CPU's
# cache: on 1M posts, 250 exports 10-15 % faster than 1000 (and 100 is
# slower again, query by query).
DEFAULT_PAGE_SIZE = 250
_DECODE_ERROR = "Could not decode to UTF-8"
# The legacy's index in the legacy order; a filtered page walks it (below).
ORDER_INDEX = "idx_posts_created_at"


class FilterError(ExportError, ValueError):
    """A filter clause that is not one SQL expression."""


class Filters(NamedTuple):
    """A selection's SQL beyond DID and dates: expressions on the posts
    table, all of which a post must satisfy, with their named parameters
    (Datasette's filters: ``"like_count" >= :p0``, a full-text search...)."""

    where: tuple[str, ...] = ()
    params: dict[str, Any] = {}

    def check(self) -> "Filters":
        """Itself, once each clause is one expression (FilterError): a
        clause must not close the parentheses it is put in, end the
        statement, or leave a string or comment open."""
        for clause in self.where:
            _one_expression(clause)
        for name in self.params:
            if name.startswith("_"):
                raise FilterError("filter parameter names must not start with _: %s" % name)
        return self


NO_FILTERS = Filters()

_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/|[();]|[^'"`\[();/-]+|/(?!\*)|-(?!-)""",
    re.DOTALL,
)


def _one_expression(clause: str) -> None:
    depth, end = 0, 0
    for match in _TOKEN.finditer(clause):
        if match.start() != end:
            break
        end = match.end()
        token = match.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0:
                raise FilterError("unbalanced ) in filter: %s" % clause)
        elif token == ";":
            raise FilterError("; in filter: %s" % clause)
    if end != len(clause):  # an open string, quoted name or comment
        raise FilterError("unclosed quote or comment in filter: %s" % clause)
    if depth:
        raise FilterError("unbalanced ( in filter: %s" % clause)


class _Params(dict):
    """Named parameters of a query (``:_k0``, ``:_k1``...)."""

    def add(self, value: Any) -> str:
        sql, value = _bind(value)
        name = "_k%d" % len(self)
        self[name] = value
        return sql % (":" + name)


def _bind(value):
    """SQL (with %s for the placeholder) for a key value as the page
    returned it. TEXT read as bytes (a page with invalid UTF-8) is bound
    back as TEXT, never as a BLOB."""
    if type(value) is bytearray:
        try:
            return "%s", value.decode("utf-8")
        except UnicodeDecodeError:
            return "CAST(%s AS TEXT)", bytes(value)
    return "%s", value


def _after(key, params):
    """SQL for the rows after ``key`` (created_at, uri, rowid)."""
    created, uri, rowid = key
    if created is None:  # NULLs sort last in DESC order
        after = "created_at IS NULL AND (%s)"
    else:
        c = params.add(created)
        after = "created_at <= %s AND (created_at < %s OR %%s)" % (c, c)
    if uri is None:  # NULL sorts first in ASC order
        tail = "uri IS NOT NULL OR (uri IS NULL AND rowid > %s)" % params.add(rowid)
    else:
        u = params.add(uri)
        tail = "uri > %s OR (uri = %s AND rowid > %s)" % (u, u, params.add(rowid))
    return after % tail


def _until(key, params):
    """SQL for the rows up to ``key`` included; a key from range_keys
    (created_at and uri not NULL). ``created_at >= ?`` bounds the index
    scan, so a range's last page stops at the range's end."""
    created, uri, rowid = key
    c, u, r = params.add(created), params.add(uri), params.add(rowid)
    sql = (
        "created_at >= %s AND (created_at > %s OR uri IS NULL OR uri < %s"
        " OR (uri = %s AND rowid <= %s))"
    )
    return sql % (c, c, u, u, r)


class KeysetPager:
    """Yields pages of raw rows (``COLUMNS`` then ``rowid``): all of the
    export's, or with ``after``/``until`` keys those of one range.

    ``filters`` narrow the selection further. A filtered page walks
    ``ORDER_INDEX`` (when the archive has it) whatever the filters: left to
    itself, SQLite takes an index of a filter (``has_media = 1``, a DID, a
    search's rowids) and sorts all its rows for every page, which grows with
    the square of the selection; in order, the whole export reads each row
    at most once, however few match."""

    def __init__(
        self,
        did: str | None = None,
        start: str | None = None,
        end: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        csv: bool = False,
        after: PageKey | None = None,
        until: PageKey | None = None,
        filters: Filters = NO_FILTERS,
    ) -> None:
        self.page_size = page_size
        self.select = _SELECT % ", ".join(_CSV_COLUMNS.values() if csv else COLUMNS)
        self.filters = filters.check()
        self.where = ["(\n%s\n)" % clause for clause in filters.where]
        self.params = _Params()
        if did is not None:
            self.where.append("+did = %s" % self.params.add(did))
        if start is not None:
            self.where.append("created_at >= %s" % self.params.add(start))
        if end is not None:
            self.where.append("created_at <= %s" % self.params.add(end))
        if until is not None:
            self.where.append(_until(until, self.params))
        self.last = after  # (created_at, uri, rowid) of the last row returned
        self.done = False
        self.index: str | None = None  # ORDER_INDEX, once seen, for filtered pages

    def _sql(self, select: str, where: list[str]) -> str:
        source = select
        if self.index:
            source += " INDEXED BY " + self.index
        return source + (" WHERE " + " AND ".join(where) if where else "")

    def count_sql(self) -> tuple[str, dict[str, Any]]:
        sql = "SELECT count(*) FROM posts" + (
            " WHERE " + " AND ".join(self.where) if self.where else ""
        )
        return sql, {**self.filters.params, **self.params}

    def page_sql(self) -> tuple[str, dict[str, Any]]:
        params = _Params(self.params)
        where = list(self.where)
        if self.last is not None:
            where.append(_after(self.last, params))
        params["_limit"] = self.page_size
        return self._sql(self.select, where) + _ORDER, {**self.filters.params, **params}

    def fetch(self, conn: sqlite3.Connection, text: type = str) -> list[Any]:
        """The next page of rows (empty when there are no more). TEXT comes
        as ``text`` (str or bytearray); as bytearray for a page holding
        invalid UTF-8. BLOBs come as bytes."""
        if self.done:
            return []
        if self.filters.where and self.index is None:
            self.index = order_index(conn)
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


def order_index(conn: sqlite3.Connection) -> str:
    """``ORDER_INDEX`` if the posts table has it as the legacy made it, else ""."""
    for row in conn.execute("SELECT name FROM pragma_index_info(?)", [ORDER_INDEX]):
        return ORDER_INDEX if row[0] == "created_at" else ""
    return ""


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
            where.append("created_at %s %s" % (op, sql % "?"))
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
    Neither a DID nor filters apply: their ranges hold fewer posts. A cut at a row
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
                "ORDER BY uri, rowid LIMIT 1 OFFSET ?" % (sql % "?"),
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
