"""The streaming export engine: options in, legacy bytes out, a page at a time.

Knows nothing of HTTP or click. ``Export.step(conn)`` runs one page query on
whatever connection it is given and returns the next chunk, so adapters can
run each page on any thread or connection; ``iter_export`` is the plain loop.
"""

import datetime
import re

from . import fast, posts
from .pager import DEFAULT_PAGE_SIZE, KeysetPager

FORMATS = ("json", "csv")
MAX_PAGE_SIZE = 100_000
CSV_BOM = b"\xef\xbb\xbf"
_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_DID_LENGTH = 2048
GO_ZERO_DATE = datetime.date(1, 1, 1)  # the day of Go's zero time.Time


class OptionError(ValueError):
    """Options that cannot make an export (bad format, date, table...)."""


def parse_date(value, name):
    """A ``YYYY-MM-DD`` option as a date, or OptionError."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise OptionError("%s must be a date as YYYY-MM-DD, not %s" % (name, short_repr(value)))
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise OptionError("%s %s is not a real date" % (name, value)) from None


def short_repr(value):
    """repr() of a user-given value, cut to 40 characters for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class ExportOptions:
    """Validated export options; raises OptionError."""

    def __init__(self, fmt="json", did=None, start_date=None, end_date=None,
                 page_size=DEFAULT_PAGE_SIZE):
        if fmt not in FORMATS:
            raise OptionError("unknown format %s: use json or csv" % short_repr(fmt))
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise OptionError("page size must be a whole number from 1 to %d" % MAX_PAGE_SIZE)
        if did is not None and not isinstance(did, str):
            raise OptionError("did must be text")
        if did and (len(did) > MAX_DID_LENGTH or _CONTROL.search(did)):
            raise OptionError("did must be at most %d characters, without control characters"
                              % MAX_DID_LENGTH)
        self.format = fmt
        self.did = did or None
        self.start_date = parse_date(start_date, "start date")
        self.end_date = parse_date(end_date, "end date")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise OptionError(
                "end date %s is before start date %s" % (self.end_date, self.start_date)
            )
        self.page_size = page_size

    @property
    def start_bound(self):
        """The legacy's bound: Go's Time.String() of the day's first second.
        The legacy bounds only by a non-zero start time, and 0001-01-01
        00:00:00 UTC is Go's zero time: that start date sets no bound."""
        if self.start_date is None or self.start_date == GO_ZERO_DATE:
            return None
        return "%s 00:00:00 +0000 UTC" % self.start_date

    @property
    def end_bound(self):
        """The legacy's bound: the day's last second, never Go's zero time
        (0001-01-01 23:59:59 is not), so every end date bounds."""
        return self.end_date and "%s 23:59:59 +0000 UTC" % self.end_date

    def pager(self):
        return KeysetPager(self.did, self.start_bound, self.end_bound, self.page_size,
                           csv=self.format == "csv")


def check_table(conn):
    """OptionError unless the database has a ``posts`` table with the legacy columns."""
    names = [r[1] for r in conn.execute("PRAGMA table_info(posts)")]
    if not names:
        raise OptionError("no posts table: this is not a bskyarchive archive")
    missing = [c for c in posts.COLUMNS if c not in names]
    if missing:
        raise OptionError("the posts table lacks column(s): %s" % ", ".join(missing))


def count(conn, options):
    """How many posts the export will hold (one COUNT with the same filters)."""
    sql, params = options.pager().count_sql()
    return conn.execute(sql, params).fetchone()[0]


class Export:
    """One export as a sequence of byte chunks, one page per ``step``."""

    def __init__(self, options, fast_path=True):
        self.options = options
        self.fast_path = fast_path
        self.pager = options.pager()
        self.started = False
        self.finished = False
        self.posts = 0
        self.rows = []  # the raw rows of the last page, for adapters (media)

    def step(self, conn):
        """The next chunk, or None once the export is complete. Raises
        RowError on a row the legacy would reject."""
        if self.finished:
            return None
        csv = self.options.format == "csv"
        rows = self.rows = self.pager.fetch(conn, bytearray if csv else str)
        head = b""
        if not self.started:
            self.started = True
            head = CSV_BOM + posts.CSV_HEADER.encode() if csv else b"["
        if csv:
            body = fast.csv_records(rows, self.fast_path)
        else:
            body = fast.json_posts(rows, self.fast_path)
            if rows:
                head += b"\n" if self.posts == 0 else b",\n"
        self.posts += len(rows)
        if self.pager.done:
            self.finished = True
            if self.options.format == "json":
                body += b"\n]\n" if self.posts else b"]\n"
        return head + body


def iter_export(conn, options, fast_path=True):
    """All chunks of an export, in order."""
    export = Export(options, fast_path)
    while True:
        chunk = export.step(conn)
        if chunk is None:
            return
        yield chunk


def problems(conn, options):
    """Each row the export would reject (RowError), without stopping."""
    pager = options.pager()
    while not pager.done:
        for row in pager.fetch(conn):
            try:
                posts.check(row, options.format)
            except posts.RowError as e:
                yield e
