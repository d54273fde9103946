"""Fast page encoding: the checks and the page splitting that the JSON and
CSV fast pages (``fastjson``, ``fastcsv``) share.

A page goes through a fast path only when every value in it is in a form
whose output is known to equal the exact path's (and so the legacy's); the
checks run once per page, column by column. A page that fails them is split
in halves by ``encode``, down to single rows, which go through the exact path
(``exact.json_pieces`` / ``exact.csv_pieces``). A value longer than
VALUE_LIMIT sends its row to the exact path, which prints big values in
pieces.

Checks shared by both formats: times have the form Go's ``Time.String()``
writes in UTC, on a real date, with a fraction already trimmed (one regex
pass over all of a page's times); flags are the integers 0/1 and counts are
integers.
"""

import itertools
import re
from typing import Any, Callable, Iterable, Sequence

# Go's Time.String() of a UTC time on a real calendar day (leap years
# included), its fraction already trimmed; anything after " m=" is ignored.
# Atomic groups and possessive repeats keep one pass over a page cheap; the
# common days come first, 29 February (leap years only) last.
_DATE = (
    r"(?>[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
)
_TIME = (
    _DATE + r" (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.(?=[0-9]{1,9} )[0-9]++(?<=[1-9]))? \+0000 UTC(?: m=[^\n]*+)?"
)
# a page's time columns, each value followed by a newline
_TIMES = re.compile("(?:%s\n)*+" % _TIME)
_TIMES_BYTES = re.compile(_TIMES.pattern.encode())
FLAGS = {0, 1}
# Values longer than this (str characters, bytes) go to the exact path, which
# prints big values in pieces: a fast page holds no big value, and orjson
# neither reserves 8x a big string nor decodes a big embed into objects.
VALUE_LIMIT = 1 << 16


class Exact(Exception):
    """This row is not for the fast path."""


def joined_times(columns: Iterable[Sequence[Any]], kind: type) -> Any:
    """The times of these page columns, each followed by a newline, when
    every one takes the fast path (one regex pass over them all); else None."""
    values = [v for column in columns for v in column]
    if set(map(type, values)) != {kind}:
        return None
    newline: Any = "\n" if kind is str else b"\n"
    joined: Any = newline.join(values) + newline
    if joined.count(newline) == len(values) and (_TIMES if kind is str else _TIMES_BYTES).fullmatch(
        joined
    ):
        return joined
    return None


def all_of_type(columns: Iterable[Sequence[Any]], kind: type) -> bool:
    """Every value of these page columns is of type ``kind``."""
    return all(set(map(type, column)) == {kind} for column in columns)


def all_small(columns: Iterable[Sequence[Any]]) -> bool:
    """No value longer than VALUE_LIMIT (TypeError for a value without length)."""
    return max(map(len, itertools.chain.from_iterable(columns)), default=0) <= VALUE_LIMIT


def _split_encode(rows, page, exact, parts):
    """Append the encoding of rows: the fast page if it takes them all, else
    halves, down to single rows for the exact path (each an iterable of
    bytes pieces, checked)."""
    out = page(rows)
    if out is not None:
        parts.append(out)
    elif len(rows) == 1:
        parts.append(exact(rows[0]))
    else:
        half = len(rows) // 2
        _split_encode(rows[:half], page, exact, parts)
        _split_encode(rows[half:], page, exact, parts)


def encode(
    rows: Sequence[Sequence[Any]],
    fast_path: bool,
    page: Callable[[Sequence[Sequence[Any]]], Any],
    exact: Callable[[Sequence[Any]], Iterable[bytes]],
) -> list[Any]:
    """The encodings of ``rows``: ``page(rows)`` (bytes) where it takes them,
    else ``exact(row)`` (an iterable of bytes pieces) for single rows."""
    if not fast_path or not rows:
        return list(map(exact, rows))
    parts: list[Any] = []
    _split_encode(rows, page, exact, parts)
    return parts
