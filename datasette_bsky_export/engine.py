"""The streaming export engine: options in, legacy bytes out, a page at a time.

Knows nothing of HTTP or click. ``Export.step(conn)`` runs at most one page
query on whatever connection it is given and returns the next chunk, so
adapters can run each page on any thread or connection.
"""

import copy
import datetime
import itertools
import re
import sqlite3
from typing import Any, Iterator, Sequence

from . import fastcsv, fastjson, messages, postrow
from .exceptions import ExportError
from .goscan import RowError, short_repr
from .pager import DEFAULT_PAGE_SIZE, NO_FILTERS, FilterError, Filters, KeysetPager
from .postrow import PageKey

FORMATS = ("json", "csv")
MAX_PAGE_SIZE = 100_000
# Each page runs the filters again, a search's subquery included: all its
# matches are read for every page. Bigger pages make that a tenth as often
# (a search matching 28 % of 200,000 posts: 1.8 s with 250, 0.5 s with 2,500,
# a full ordered read 1.0 s), for about 4 MB of rows at a time.
FILTERED_PAGE_SIZE = 2_500
CSV_BOM = b"\xef\xbb\xbf"
_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_DID_LENGTH = 2048
GO_ZERO_DATE = datetime.date(1, 1, 1)  # the day of Go's zero time.Time


class OptionError(ExportError, ValueError):
    """Options that cannot make an export (bad format, date, table...);
    ``option`` names the one at fault (``start_date``), where one is."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


def parse_date(value: Any, name: str) -> datetime.date | None:
    """A ``YYYY-MM-DD`` option as a date, or OptionError (its option: ``name``
    with ``_`` for spaces)."""
    if value is None or value == "":
        return None
    option = name.replace(" ", "_")
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise OptionError(messages.NOT_A_DATE % (name, short_repr(value)), option)
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise OptionError(messages.NOT_A_REAL_DATE % (name, value), option) from None


class ExportOptions:
    """Validated export options; raises OptionError."""

    def __init__(
        self,
        fmt: str = "json",
        did: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        page_size: int | None = None,
        filters: Filters = NO_FILTERS,
    ) -> None:
        if fmt not in FORMATS:
            raise OptionError("unknown format %s: use json or csv" % short_repr(fmt), "format")
        if page_size is not None and (
            not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise OptionError("page size must be a whole number from 1 to %d" % MAX_PAGE_SIZE)
        if did is not None and not isinstance(did, str):
            raise OptionError("did must be text", "did")
        if did and (len(did) > MAX_DID_LENGTH or _CONTROL.search(did)):
            raise OptionError(
                "did must be at most %d characters, without control characters" % MAX_DID_LENGTH,
                "did",
            )
        self.format = fmt
        self.did = did or None
        self.start_date = parse_date(start_date, "start date")
        self.end_date = parse_date(end_date, "end date")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise OptionError(
                messages.END_BEFORE_START % (self.end_date, self.start_date), "end_date"
            )
        self.chosen_page_size = page_size
        self.filters = _checked(filters)

    def narrowed(self, filters: Filters) -> "ExportOptions":
        """These options with ``filters`` instead (OptionError)."""
        narrowed = copy.copy(self)
        narrowed.filters = _checked(filters)
        return narrowed

    @property
    def filtered(self) -> bool:
        """Whether filters narrow the selection beyond its DID and dates."""
        return bool(self.filters.where)

    @property
    def page_size(self) -> int:
        """Rows per page: as chosen, else ``DEFAULT_PAGE_SIZE``, or
        ``FILTERED_PAGE_SIZE`` for a filtered export."""
        if self.chosen_page_size is not None:
            return self.chosen_page_size
        return FILTERED_PAGE_SIZE if self.filtered else DEFAULT_PAGE_SIZE

    @property
    def start_bound(self) -> str | None:
        """The legacy's bound: Go's Time.String() of the day's first second.
        The legacy bounds only by a non-zero start time, and 0001-01-01
        00:00:00 UTC is Go's zero time: that start date sets no bound."""
        if self.start_date is None or self.start_date == GO_ZERO_DATE:
            return None
        return "%s 00:00:00 +0000 UTC" % self.start_date

    @property
    def end_bound(self) -> str | None:
        """The legacy's bound: the day's last second, never Go's zero time
        (0001-01-01 23:59:59 is not), so every end date bounds."""
        return None if self.end_date is None else "%s 23:59:59 +0000 UTC" % self.end_date

    def pager(self, after: PageKey | None = None, until: PageKey | None = None) -> KeysetPager:
        """The pager of the export, or of its range after ``after`` up to ``until``."""
        return KeysetPager(
            self.did,
            self.start_bound,
            self.end_bound,
            self.page_size,
            csv=self.format == "csv",
            after=after,
            until=until,
            filters=self.filters,
        )


def _checked(filters: Filters) -> Filters:
    try:
        return filters.check()
    except FilterError as e:
        raise OptionError(str(e)) from None


def check_posts_table(conn: sqlite3.Connection) -> None:
    """OptionError unless the database has a ``posts`` table with the legacy columns."""
    names = [r[1] for r in conn.execute("PRAGMA table_info(posts)")]
    if not names:
        raise OptionError("no posts table: this is not a bskyarchive archive")
    missing = [c for c in postrow.COLUMNS if c not in names]
    if missing:
        raise OptionError("the posts table lacks column(s): %s" % ", ".join(missing))


def check_filters(conn: sqlite3.Connection, options: ExportOptions) -> None:
    """OptionError unless SQLite compiles the export's page and count
    queries with its filters and their parameters (an unknown column or
    function, a syntax error or a parameter no filter gives in ``_where``).
    A full-text query's own syntax is only checked when it runs."""
    pager = options.pager()
    for sql, params in (pager.page_sql(), pager.count_sql()):
        try:
            conn.execute("EXPLAIN " + sql, params).fetchall()
        except (sqlite3.OperationalError, sqlite3.ProgrammingError) as e:
            raise filters_failed(e) from None


def filters_failed(error: sqlite3.Error) -> OptionError:
    """The OptionError for filters SQLite could not run (``error``)."""
    return OptionError("the filters cannot run: %s" % error)


def count(conn: sqlite3.Connection, options: ExportOptions) -> int:
    """How many posts the export will hold (one COUNT with the same filters)."""
    sql, params = options.pager().count_sql()
    return conn.execute(sql, params).fetchone()[0]


def page_text(fmt: str) -> type:
    """How the pages of a ``fmt`` export read TEXT (see KeysetPager.fetch)."""
    return bytearray if fmt == "csv" else str


def page_parts(
    rows: Sequence[Sequence[Any]], fmt: str, fast_path: bool = True, lead: bytes = b""
) -> Iterator[bytes]:
    """``lead``, then the posts of one page (CSV records, or JSON array items
    joined by ``,\\n``) as an iterator of bytes pieces. Every row is checked
    (RowError) before it returns; big posts are made as it is read."""
    if fmt == "json":
        return fastjson.json_parts(rows, fast_path, lead)
    parts = fastcsv.csv_parts(rows, fast_path)
    return itertools.chain((lead,), parts) if lead else parts


def head(fmt: str) -> bytes:
    """The bytes before the first post."""
    return CSV_BOM + postrow.CSV_HEADER.encode() if fmt == "csv" else b"["


def separator(fmt: str, posts_before: int) -> bytes:
    """The bytes before a page's posts, after ``posts_before`` posts."""
    if fmt == "csv":
        return b""
    return b"\n" if posts_before == 0 else b",\n"


def tail(fmt: str, total: int) -> bytes:
    """The bytes after the last of ``total`` posts."""
    if fmt == "csv":
        return b""
    return b"\n]\n" if total else b"]\n"


CHUNK_SIZE = 1 << 20  # bytes: small pieces of output are joined up to this size


class Export:
    """One export as a sequence of byte chunks, returned by ``step``."""

    def __init__(self, options: ExportOptions, fast_path: bool = True) -> None:
        self.options = options
        self.fast_path = fast_path
        self.pager = options.pager()
        self.started = False
        self.finished = False
        self.posts = 0
        self._pieces = iter(())  # what is left of the current page, bytes pieces
        self._next = None  # its next piece, read ahead

    def step(self, conn: sqlite3.Connection) -> bytes | None:
        """The next chunk (bytes), or None once the export is complete.

        A chunk is small pieces of output joined up to CHUNK_SIZE, or one
        bigger piece as it is (a fast-path page); a big post is made piece
        by piece (about 64 K characters each) over several steps. The
        next page query runs on ``conn`` only once the last page is all
        returned: RowError, for a row the legacy would reject, comes before
        any byte of its page. Between steps the export holds only what is
        left of the current page."""
        while self._next is None:
            if self.finished or (self.started and self.pager.done):
                self.finished = True
                return None
            self._pieces = self._page(conn)
            self._next = next(self._pieces, None)
        chunk, size = [self._next], len(self._next)
        self._next = None
        for piece in self._pieces:
            if size + len(piece) > CHUNK_SIZE:
                self._next = piece
                break
            chunk.append(piece)
            size += len(piece)
        self.finished = self._next is None and self.pager.done
        return b"".join(chunk)  # one piece: itself, no copy

    def _page(self, conn):
        """Fetch the next page: its output as an iterator of bytes pieces."""
        fmt = self.options.format
        rows = self.pager.fetch(conn, page_text(fmt))
        lead, self.started = (b"" if self.started else head(fmt)), True
        if rows:  # the head and the separator go with the page's first post
            lead += separator(fmt, self.posts)
            parts = [page_parts(rows, fmt, self.fast_path, lead)]
        else:
            parts = [[lead] if lead else []]
        self.posts += len(rows)
        end = tail(fmt, self.posts) if self.pager.done else b""
        if end:
            parts.append([end])
        return itertools.chain.from_iterable(parts)


def page_problems(rows: Sequence[Sequence[Any]], fmt: str) -> list[RowError]:
    """RowError of each row of a page that the export would reject, in
    order: the page is encoded as the export encodes it (the fast path's
    page checks), and split in halves down to single rows only where that
    fails."""
    try:
        page_parts(rows, fmt)  # checks every row
        return []
    except RowError as e:
        if len(rows) == 1:
            return [e]
    half = len(rows) // 2
    return page_problems(rows[:half], fmt) + page_problems(rows[half:], fmt)
