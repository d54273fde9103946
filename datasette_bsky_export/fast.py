"""Page encoders: a fast path for common pages, the exact path for the rest.

A page goes through the fast path only when every value in it is in a form
whose output is known to equal the exact path's (and so the legacy's); the
checks run once per page, column by column. A page that fails them is split
in halves, down to single rows, which go through ``posts.json_pieces`` /
``posts.csv_pieces``. A value longer than VALUE_LIMIT sends its row to the
exact path, which prints big values in pieces.

JSON (rows with TEXT as ``str``, printed by orjson):

* strings are ``str`` (strict UTF-8) and orjson's escapes are Go's, except
  for U+2028/U+2029, which are escaped over the whole output afterwards;
* flags are the integers 0/1 and counts are integers;
* times have the form Go's ``Time.String()`` writes in UTC, on a real date,
  with a fraction already trimmed;
* embed_data/labels are absent, ``null``, or BLOBs of JSON whose orjson
  compact form, with the escapes Go's Marshal adds (``\u003c \u003e
  \u0026 \u2028 \u2029``), is the stored value byte for byte — so orjson
  prints the same tokens, with the indentation Go's json.Indent gives them.
  An embed that had HTML escapes is printed on its own, escapes put back.

CSV (rows with TEXT as ``bytearray``, the bytes the legacy wrote): uri, cid,
did, reply_parent and embed_type are plain ASCII needing no quotes; text is
quoted by Go's rule; times, flags and counts are checked as for JSON;
MediaFiles comes from orjson, whose decoding of valid JSON equals Go's.
"""

import itertools
import operator
import re

import orjson

from . import gocsv, posts

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
_INDENT = orjson.OPT_INDENT_2
_FLAGS = {0, 1}
# Values longer than this (str characters, bytes) go to the exact path, which
# prints big values in pieces: a fast page holds no big value, and orjson
# neither reserves 8x a big string nor decodes a big embed into objects.
VALUE_LIMIT = 1 << 16


class _Exact(Exception):
    """This row is not for the fast path."""


def _joined_times(columns, kind):
    """The times of these page columns, each followed by a newline, when
    every one takes the fast path (one regex pass over them all); else None."""
    values = [v for column in columns for v in column]
    if set(map(type, values)) != {kind}:
        return None
    newline = "\n" if kind is str else b"\n"
    joined = newline.join(values) + newline
    if joined.count(newline) == len(values) and (_TIMES if kind is str else _TIMES_BYTES).fullmatch(
        joined
    ):
        return joined
    return None


def _all_of_type(columns, kind):
    return all(set(map(type, column)) == {kind} for column in columns)


def _all_small(columns):
    """No value longer than VALUE_LIMIT (TypeError for a value without length)."""
    return max(map(len, itertools.chain.from_iterable(columns)), default=0) <= VALUE_LIMIT


# ---------------------------------------------------------------------------
# JSON

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
    """What to give orjson for a raw JSON column value, or _Exact.

    orjson decodes it; orjson's compact form, with the escapes Go's Marshal
    adds, must then be the value itself, byte for byte. Then orjson's
    indented form has the same tokens in Go's layout."""
    if value == b"null":
        return None
    if type(value) is not bytes or len(value) > VALUE_LIMIT:
        raise _Exact
    try:
        decoded = orjson.loads(value)
        compact = orjson.dumps(decoded)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # e.g. nested too deep for orjson
        raise _Exact from None
    if compact == value:
        # The page dump escapes U+2028/U+2029 everywhere, so none may be raw here.
        if _LINE_SEPARATOR.search(value):
            raise _Exact
        return decoded  # printed in place, at its depth, by the page dump
    if _go_escape(compact) != value:
        raise _Exact
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
    joined = _joined_times(columns, str)
    if joined is None:
        return None
    return _UTC_SUFFIX.sub("Z", joined).replace(" ", "T").split("\n")


def _raw_json_column(column):
    return [_raw_json(v) if v is not None and v != b"" else _ABSENT for v in column]


def _json_page(rows):
    """The posts of ``rows`` when every one is for the fast path, else None."""
    (
        uri,
        cid,
        did,
        text,
        created,
        indexed,
        has_media,
        likes,
        reposts,
        replies,
        quotes,
        is_reply,
        parent,
        embed_type,
        embed,
        labels,
        archived,
    ) = tuple(zip(*rows))[:17]
    if not (
        _all_of_type((uri, cid, did, text, parent, embed_type), str)
        and _all_of_type((has_media, likes, reposts, replies, quotes, is_reply), int)
        and set(has_media) <= _FLAGS
        and set(is_reply) <= _FLAGS
        and _all_small((uri, cid, did, text, parent, embed_type))
    ):
        return None
    times = _json_times((created, indexed, archived))
    if times is None:
        return None
    n = len(rows)
    created, indexed, archived = times[:n], times[n : 2 * n], times[2 * n : 3 * n]
    try:
        embed, labels = _raw_json_column(embed), _raw_json_column(labels)
    except _Exact:
        return None
    page = []
    for u, c, d, t, ca, ia, hm, lc, rc, rpc, qc, ir, rp, et, ed, lb, aa in zip(
        uri,
        cid,
        did,
        text,
        created,
        indexed,
        has_media,
        likes,
        reposts,
        replies,
        quotes,
        is_reply,
        parent,
        embed_type,
        embed,
        labels,
        archived,
    ):
        post = {
            "uri": u,
            "cid": c,
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


def _encode(rows, fast, page, exact):
    if not fast or not rows:
        return list(map(exact, rows))
    parts = []
    _split_encode(rows, page, exact, parts)
    return parts


def json_parts(rows, fast=True, lead=b""):
    """``lead``, then the posts of ``rows`` as legacy JSON array items joined
    by ``,\\n``: an iterator of bytes pieces. Every row is checked before it
    returns (RowError); big posts are printed as the iterator is read."""
    pieces = []
    for part in _encode(rows, fast, _json_page, posts.json_pieces):
        # a fast page: one copy of it, its separator first; a post: its pieces
        pieces += [(lead + part,)] if type(part) is memoryview else [(lead,), part]
        lead = b",\n"
    return itertools.chain.from_iterable(pieces)


def json_posts(rows, fast=True):
    """``json_parts`` joined (bytes)."""
    return b"".join(json_parts(rows, fast))


# ---------------------------------------------------------------------------
# CSV

_CSV_BOOL = (b"false", b"true")
# A time that passed _joined_times, in RFC 3339 seconds: "%.10sT%sZ" of it and
# its hours, minutes and seconds (_HMS).
_CSV_LINE = b"%s,%s,%s,%s,%.10sT%sZ,%d,%d,%d,%d,%s,%s,%s,%s,%s,%.10sT%sZ\n"
_HMS = operator.itemgetter(slice(11, 19))
# Bytes of uri, cid, did, reply_parent and embed_type that need no quoting
# wherever they stand: printable ASCII but space, '"', ',' and '\' (so never
# a leading space or exactly '\.').
_PLAIN = bytes(range(0x21, 0x7F)).translate(None, b'",\\')


def _media(embed):
    if embed is None or embed == b"null":
        return b""
    if not isinstance(embed, (bytes, bytearray)) or len(embed) > VALUE_LIMIT:
        raise _Exact
    try:
        hashes = posts.media_hashes(orjson.loads(embed)).encode()
    except orjson.JSONDecodeError:
        raise _Exact from None
    if hashes.translate(None, _PLAIN):  # anything to quote?
        return gocsv.field(hashes.decode()).encode()
    return hashes


def _csv_page(rows, quote=gocsv.needs_quotes_utf8):
    """The records of ``rows`` when every one is for the fast path, else None."""
    (
        uri,
        cid,
        did,
        text,
        created,
        indexed,
        has_media,
        likes,
        reposts,
        replies,
        quotes,
        is_reply,
        parent,
        embed_type,
        embed,
        _labels,
        archived,
    ) = tuple(zip(*rows))[:17]
    # archived_at is not written, but the legacy reads it: a bad one must fail
    if not (
        _all_of_type((has_media, likes, reposts, replies, quotes, is_reply), int)
        and set(has_media) <= _FLAGS
        and set(is_reply) <= _FLAGS
        and _joined_times((created, indexed, archived), bytearray) is not None
        and set(map(type, text)) <= {bytes, bytearray}
        and _all_small((text,))
    ):
        return None
    try:  # TEXT or BLOB strings are written alike; NULL or numbers are not for here
        if not _all_small((uri, cid, did, parent, embed_type)):
            return None
        short = b"\n".join([*uri, *cid, *did, *parent, *embed_type, b""])
        media = [_media(e) if h else b"" for h, e in zip(has_media, embed)]
    except (TypeError, _Exact):
        return None
    if short.count(b"\n") != 5 * len(rows) or short.translate(None, _PLAIN + b"\n"):
        return None
    text = [b'"' + t.replace(b'"', b'""') + b'"' if quote(t) else t for t in text]
    flag = _CSV_BOOL.__getitem__
    return b"".join(
        map(
            _CSV_LINE.__mod__,
            zip(
                uri,
                cid,
                did,
                text,
                created,
                map(_HMS, created),
                likes,
                reposts,
                replies,
                quotes,
                map(flag, is_reply),
                parent,
                map(flag, has_media),
                media,
                embed_type,
                indexed,
                map(_HMS, indexed),
            ),
        )
    )


def csv_parts(rows, fast=True):
    """The records of ``rows`` as legacy CSV, each line ending ``\\n``, as
    ``json_parts`` gives posts."""
    parts = _encode(rows, fast, _csv_page, posts.csv_pieces)
    return itertools.chain.from_iterable((part,) if type(part) is bytes else part for part in parts)


def csv_records(rows, fast=True):
    """``csv_parts`` joined (bytes)."""
    return b"".join(csv_parts(rows, fast))
