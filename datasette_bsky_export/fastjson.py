"""The JSON fast page: whole pages of posts printed by orjson.

Rows come with TEXT as ``str``. A page takes this path (``fastpage.encode``)
only when, besides the checks ``fastpage`` shares with CSV (times, flags, counts):

* strings are ``str`` (strict UTF-8) and orjson's escapes are Go's, except
  for U+2028/U+2029, which are escaped over the whole output afterwards;
* embed_data/labels are absent, ``null``, or BLOBs of JSON whose orjson
  compact form, with the escapes Go's Marshal adds (``\u003c \u003e
  \u0026 \u2028 \u2029``), is the stored value byte for byte — so orjson
  prints the same tokens, with the indentation Go's json.Indent gives them.
  An embed that had HTML escapes is printed on its own, escapes put back.
"""

import itertools
import re
from typing import Any, Iterator, Sequence

import orjson

from . import exact, fastpage, postrow

_INDENT = orjson.OPT_INDENT_2
_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))
_HTML_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))
_LINE_SEPARATOR = re.compile(b"\xe2\x80[\xa8\xa9]")  # faster than `in` for 3 bytes


def _escape_line_separators(out):
    if _LINE_SEPARATOR.search(out):
        for char, escape in _LINE_SEPARATORS:
            out = out.replace(char, escape)
    return out


def _go_escape(out):
    """The escapes Go's Marshal adds to valid JSON (orjson writes these raw)."""
    for char, escape in _HTML_ESCAPES:
        if char in out:
            out = out.replace(char, escape)
    return _escape_line_separators(out)


def _raw_json(value):
    """What to give orjson for a raw JSON column value, or fastpage.Exact.

    orjson decodes it; orjson's compact form, with the escapes Go's Marshal
    adds, must then be the value itself, byte for byte. Then orjson's
    indented form has the same tokens in Go's layout."""
    if value == b"null":
        return None
    if type(value) is not bytes or len(value) > fastpage.VALUE_LIMIT:
        raise fastpage.Exact
    try:
        decoded = orjson.loads(value)
        compact = orjson.dumps(decoded)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # e.g. nested too deep for orjson
        raise fastpage.Exact from None
    if compact == value:
        # The page dump escapes U+2028/U+2029 everywhere, so none may be raw here.
        if _LINE_SEPARATOR.search(value):
            raise fastpage.Exact
        return decoded  # printed in place, at its depth, by the page dump
    if _go_escape(compact) != value:
        raise fastpage.Exact
    # Go's escapes for <>& must stay: print it here and put them back.
    out = orjson.dumps(decoded, option=_INDENT).replace(b"\n", b"\n    ")
    for char, escape in _HTML_ESCAPES:
        if char in out:
            out = out.replace(char, escape)
    return orjson.Fragment(out)


_ABSENT = object()  # an omitted embed_data/labels


_UTC_SUFFIX = re.compile(r" \+0000 UTC(?: m=[^\n]*+)?(?=\n)")


def _json_times(columns):
    """The RFC 3339 forms of all the times of these page columns, in one list,
    or None unless every one takes the fast path. Once the suffix is "Z", the
    only space left on a line is the one between date and time."""
    joined = fastpage.joined_times(columns, str)
    if joined is None:
        return None
    return _UTC_SUFFIX.sub("Z", joined).replace(" ", "T").split("\n")


def _raw_json_column(column):
    return [_raw_json(v) if v is not None and v != b"" else _ABSENT for v in column]


def _json_columns(rows):
    """The columns of ``rows`` (a PostRow of columns), times as RFC 3339 and
    raw JSON as what orjson prints, when every row is for the fast path;
    else None."""
    c = postrow.page_columns(rows)
    strings = (c.uri, c.cid, c.did, c.text, c.reply_parent, c.embed_type)
    if not (
        fastpage.all_of_type(strings, str)
        and fastpage.all_of_type(
            (c.has_media, c.like_count, c.repost_count, c.reply_count, c.quote_count, c.is_reply),
            int,
        )
        and set(c.has_media) <= fastpage.FLAGS
        and set(c.is_reply) <= fastpage.FLAGS
        and fastpage.all_small(strings)
    ):
        return None
    times = _json_times((c.created_at, c.indexed_at, c.archived_at))
    if times is None:
        return None
    n = len(rows)
    try:
        return c._replace(
            created_at=times[:n],
            indexed_at=times[n : 2 * n],
            archived_at=times[2 * n : 3 * n],
            embed_data=_raw_json_column(c.embed_data),
            labels=_raw_json_column(c.labels),
        )
    except fastpage.Exact:
        return None


def _json_page(rows):
    """The posts of ``rows`` when every one is for the fast path, else None.
    Go's omitempty (see postrow): reply_parent and embed_type only when not
    empty, embed_data and labels only when not NULL or empty."""
    c = _json_columns(rows)
    if c is None:
        return None
    page = []
    for u, ci, d, t, ca, ia, hm, lc, rc, rpc, qc, ir, rp, et, ed, lb, aa in zip(
        c.uri,
        c.cid,
        c.did,
        c.text,
        c.created_at,
        c.indexed_at,
        c.has_media,
        c.like_count,
        c.repost_count,
        c.reply_count,
        c.quote_count,
        c.is_reply,
        c.reply_parent,
        c.embed_type,
        c.embed_data,
        c.labels,
        c.archived_at,
    ):
        post = {
            "uri": u,
            "cid": ci,
            "did": d,
            "text": t,
            "created_at": ca,
            "indexed_at": ia,
            "has_media": hm == 1,
            "like_count": lc,
            "repost_count": rc,
            "reply_count": rpc,
            "quote_count": qc,
            "is_reply": ir == 1,
        }
        if rp:
            post["reply_parent"] = rp
        if et:
            post["embed_type"] = et
        if ed is not _ABSENT:
            post["embed_data"] = ed
        if lb is not _ABSENT:
            post["labels"] = lb
        post["archived_at"] = aa
        page.append(post)
    try:
        out = orjson.dumps(page, option=_INDENT)
    except orjson.JSONEncodeError:  # nested deeper than orjson prints
        return None
    return memoryview(_escape_line_separators(out))[2:-2]  # without "[\n" and "\n]"


def json_parts(
    rows: Sequence[Sequence[Any]], fast_path: bool = True, lead: bytes = b""
) -> Iterator[bytes]:
    """``lead``, then the posts of ``rows`` as legacy JSON array items joined
    by ``,\\n``: an iterator of bytes pieces. Every row is checked before it
    returns (RowError); big posts are printed as the iterator is read."""
    pieces = []
    for part in fastpage.encode(rows, fast_path, _json_page, exact.json_pieces):
        # a fast page: one copy of it, its separator first; a post: its pieces
        pieces += [(lead + part,)] if type(part) is memoryview else [(lead,), part]
        lead = b",\n"
    return itertools.chain.from_iterable(pieces)
