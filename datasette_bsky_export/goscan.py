"""The Go row scanner: rows of the ``posts`` table read the way the legacy
read them.

A row (``postrow``) is the tuple of ``COLUMNS`` as Python's sqlite3 returns
it, where TEXT arrives as ``str`` (or ``bytearray`` when the page holds
invalid UTF-8) and BLOB as ``bytes``. ``scan`` reads each value the way Go's database/sql read it
into the legacy ``Post`` struct, and names the column of any row the legacy
would reject (``RowError``). Two paths print rows:

* the exact path (``exact``) prints a scanned row the way Go printed it; it
  handles every row;
* the fast path (``fastpage``, ``fastjson``, ``fastcsv``) handles the common row
  (valid UTF-8 text, integer flags and counts, Go-written times and embeds)
  with orjson, and is used only where its output is proven identical:
  anything it is not sure of goes to the exact path, row by row.
"""

import re
from typing import Any, Sequence

from . import gojson, gotime
from .exceptions import ExportError
from .postrow import BOOLS, COLUMNS, COUNTS, RAW_JSON, STRINGS, TIMES, URI


class RowError(ExportError, ValueError):
    """A row the legacy exporter rejects: names the post, column and problem."""

    def __init__(self, uri: str | None, column: str, problem: str) -> None:
        self.uri, self.column, self.problem = uri, column, problem
        super().__init__(
            "post %s: column %s: %s"
            % (uri if uri is not None else "with NULL uri", column, problem)
        )


# ---------------------------------------------------------------------------
# Exact path: database/sql's conversions into the legacy struct.

_STORAGE = {int: "INTEGER", float: "REAL", bytes: "BLOB", str: "TEXT", bytearray: "TEXT"}
_PARSE_BOOL = {v: True for v in ("1", "t", "T", "TRUE", "true", "True")}
_PARSE_BOOL.update({v: False for v in ("0", "f", "F", "FALSE", "false", "False")})
_PARSE_INT = re.compile("[+-]?[0-9]+")


def _decode(value):
    return value.decode("utf-8", "surrogateescape")


def short_repr(value: Any) -> str:
    """repr() of a value for a message (bytes as the text they hold), cut to
    60 characters."""
    if isinstance(value, (bytes, bytearray)):
        value = _decode(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_string(value):
    """Scan into a Go string: any storage class but NULL."""
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray)):
        return _decode(value)
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return gojson.format_float(value)
    raise ValueError("is NULL; the legacy format needs a string here")


def _as_int(value):
    """Scan into a Go int (64-bit): integers, or text that ParseInt reads."""
    if type(value) is int:
        return value
    if value is None:
        raise ValueError("is NULL; the legacy format needs an integer here")
    text = gojson.format_float(value) if type(value) is float else _as_string(value)
    if _PARSE_INT.fullmatch(text):
        number = int(text)
        if -(2**63) <= number < 2**63:
            return number
    raise ValueError(
        "%s %s is not an integer" % (_STORAGE.get(type(value), "value"), short_repr(value))
    )


def _as_bool(value):
    """Scan into a Go bool: 0/1, or text that ParseBool reads."""
    if type(value) is int:
        if value in (0, 1):
            return value == 1
        raise ValueError("is %d; a boolean must be 0 or 1" % value)
    if isinstance(value, (str, bytes, bytearray)):
        text = value if type(value) is str else _decode(value)
        if text in _PARSE_BOOL:
            return _PARSE_BOOL[text]
        raise ValueError("%s %s is not a boolean" % (_STORAGE[type(value)], short_repr(value)))
    if value is None:
        raise ValueError("is NULL; the legacy format needs a boolean (0 or 1) here")
    raise ValueError("REAL %r is not a boolean (0 or 1)" % value)


def reads_true(value: Any) -> bool:
    """Whether the legacy reads this boolean column value as true (a value
    it rejects is not true)."""
    try:
        return _as_bool(value)
    except ValueError:
        return False


def _as_time(value):
    """Scan into a Go time.Time: only TEXT the driver could parse."""
    if type(value) is str or type(value) is bytearray:
        text = value if type(value) is str else _decode(value)
        try:
            return gotime.parse(text)
        except gotime.BadTime as e:
            raise ValueError("cannot read %s as a time: %s" % (short_repr(text), e)) from None
    if value is None:
        raise ValueError("is NULL; the legacy format needs a time here")
    raise ValueError(
        "is %s %s; times must be stored as text" % (_STORAGE[type(value)], short_repr(value))
    )


def _as_raw_json(value):
    """Scan into []byte: NULL and empty mean absent."""
    if value is None:
        return None
    return _as_string(value) or None


_CONVERT = dict(
    [(c, _as_string) for c in STRINGS]
    + [(c, _as_int) for c in COUNTS]
    + [(c, _as_time) for c in TIMES]
    + [(c, _as_bool) for c in BOOLS]
    + [(c, _as_raw_json) for c in RAW_JSON]
)
_CONVERTERS = tuple(_CONVERT[c] for c in COLUMNS)


def scan(row: Sequence[Any]) -> dict[str, Any]:
    """The legacy Post for ``row`` as a dict of Go-typed values."""
    uri = row[URI]
    uri = _as_string(uri) if uri is not None else None
    post = {}
    for column, convert, value in zip(COLUMNS, _CONVERTERS, row):
        try:
            post[column] = convert(value)
        except ValueError as e:
            raise RowError(uri, column, str(e)) from None
    return post
