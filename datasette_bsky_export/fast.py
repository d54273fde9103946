"""Page encoders: a fast path for the common row, the exact path for the rest.

The fast path takes a row only when each of its values is in a form whose
output is known to equal the exact path's (and so the legacy's); anything
else goes, row by row, through ``posts.exact_json`` / ``posts.exact_csv``.

JSON (rows with TEXT as ``str``, printed by orjson):

* strings are ``str`` (strict UTF-8) and orjson's escapes are Go's, except
  for U+2028/U+2029, which are escaped over the whole output afterwards;
* flags are the integers 0/1 and counts are integers;
* times have the form Go's ``Time.String()`` writes in UTC, on a real date,
  with a fraction already trimmed;
* embed_data/labels are absent, ``null``, or BLOBs of JSON that orjson
  round-trips to the very same bytes once Go's ``\\u003c \\u003e \\u0026
  \\u2028 \\u2029`` escapes are undone — so orjson prints the same tokens,
  with the indentation Go's json.Indent gives them. An embed that had HTML
  escapes is printed on its own and the escapes put back.

CSV (rows with TEXT as ``bytearray``, the bytes the legacy wrote): string
fields of TEXT or BLOB are written raw, quoted by Go's rule; times, flags
and counts are checked as for JSON; MediaFiles comes from orjson, whose
decoding of valid JSON equals Go's.
"""

import datetime
import functools
import re

import orjson

from . import gocsv, posts

_TIME = (
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]) "
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]((?:\.[0-9]{0,8}[1-9])?)"
    r" \+0000 UTC(?: m=.*)?"
)
_FAST_TIME = re.compile(_TIME, re.S)
_FAST_TIME_BYTES = re.compile(_TIME.encode(), re.S)
_INDENT = orjson.OPT_INDENT_2
_SIX_INTS = (int,) * 6


class _Exact(Exception):
    """This row is not for the fast path."""


@functools.lru_cache(maxsize=4096)
def _real_date(date):
    try:
        datetime.date.fromisoformat(date if type(date) is str else date.decode())
        return True
    except ValueError:
        return False


def _times(column, pattern, late):
    """Per value of a time column: the fast-path match, or None."""
    kind = str if pattern is _FAST_TIME else bytearray
    if set(map(type, column)) == {kind}:
        matches = map(pattern.fullmatch, column)
    else:
        matches = [pattern.fullmatch(v) if type(v) is kind else None for v in column]
    return [m if m and (v[8:10] < late or _real_date(bytes(v[:10]) if late == b"29" else v[:10]))
            else None for v, m in zip(column, matches)]


def _json_times(column):
    return [m and "%sT%sZ" % (m.string[:10], m.string[11:m.end(1)])
            for m in _times(column, _FAST_TIME, "29")]


def _csv_times(column):
    return [m and b"%sT%sZ" % (m.string[:10], m.string[11:19])
            for m in _times(column, _FAST_TIME_BYTES, b"29")]


# ---------------------------------------------------------------------------
# JSON

_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))
_GO_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026")) + _LINE_SEPARATORS


def _has_line_separator(value):
    return (b"\xa8" in value or b"\xa9" in value) and (
        b"\xe2\x80\xa8" in value or b"\xe2\x80\xa9" in value)


def _go_escape(out):
    for char, escape in _GO_ESCAPES:
        if char in out:
            out = out.replace(char, escape)
    return out


def _raw_json(value):
    """What to give orjson for a raw JSON column value, or _Exact.

    orjson decodes it; orjson's compact form, with the escapes Go's Marshal
    adds, must then be the value itself, byte for byte. Then orjson's
    indented form has the same tokens in Go's layout."""
    if value == b"null":
        return None
    if type(value) is not bytes:
        raise _Exact
    try:
        decoded = orjson.loads(value)
        compact = orjson.dumps(decoded)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # e.g. nested too deep for orjson
        raise _Exact from None
    if compact == value:
        # The page dump escapes U+2028/U+2029 everywhere, so none may be raw here.
        if _has_line_separator(value):
            raise _Exact
        return decoded  # printed in place, at its depth, by the page dump
    if _go_escape(compact) != value:
        raise _Exact
    # Go's escapes for <>& must stay: print it here and put them back.
    out = orjson.dumps(decoded, option=_INDENT).replace(b"\n", b"\n    ")
    for char, escape in _GO_ESCAPES[:3]:
        out = out.replace(char, escape)
    return orjson.Fragment(out)


_JSON_TYPES = (str, str, str, str, str, str, int, int, int, int, int, int, str, str)


def _fast_post(row, created, indexed, archived):
    if tuple(map(type, row[:14])) != _JSON_TYPES:
        raise _Exact
    (uri, cid, did, text, _c, _i, has_media, likes, reposts, replies,
     quotes, is_reply, parent, embed_type, embed, labels) = row[:16]
    if has_media >> 1 or is_reply >> 1:  # not 0/1 (negatives shift to -1)
        raise _Exact
    post = {
        "uri": uri, "cid": cid, "did": did, "text": text,
        "created_at": created, "indexed_at": indexed,
        "has_media": has_media == 1, "like_count": likes, "repost_count": reposts,
        "reply_count": replies, "quote_count": quotes, "is_reply": is_reply == 1,
    }
    if parent:
        post["reply_parent"] = parent
    if embed_type:
        post["embed_type"] = embed_type
    if embed is not None and embed != b"":
        post["embed_data"] = _raw_json(embed)
    if labels is not None and labels != b"":
        post["labels"] = _raw_json(labels)
    post["archived_at"] = archived
    return post


def _dump(batch):
    out = orjson.dumps(batch, option=_INDENT)[2:-2]  # drop "[\n" and "\n]"
    if b"\xe2\x80" in out:
        for char, escape in _LINE_SEPARATORS:
            out = out.replace(char, escape)
    return out


def json_posts(rows, fast=True):
    """The posts of ``rows`` as legacy JSON array items joined by ``,\\n``."""
    if not fast or not rows:
        return b",\n".join(map(posts.exact_json, rows))
    columns = tuple(zip(*rows))
    parts = []
    batch = []  # (row, post) of consecutive fast-path rows

    def flush():
        try:
            parts.append(_dump([post for _row, post in batch]))
        except orjson.JSONEncodeError:  # nested deeper than orjson prints
            parts.extend(posts.exact_json(row) for row, _post in batch)
        batch.clear()

    for row, created, indexed, archived in zip(
            rows, _json_times(columns[4]), _json_times(columns[5]), _json_times(columns[16])):
        if created and indexed and archived:
            try:
                batch.append((row, _fast_post(row, created, indexed, archived)))
                continue
            except _Exact:
                pass
        if batch:
            flush()
        parts.append(posts.exact_json(row))
    if batch:
        flush()
    return b",\n".join(parts)


# ---------------------------------------------------------------------------
# CSV

_CSV_BOOL = (b"false", b"true")
_QUOTE_BYTES = re.compile(rb'[,"\r\n]')
_LEADING_SPACE_BYTES = re.compile(  # gocsv.GO_SPACES in UTF-8
    rb"[\t\n\v\f\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
    rb"|\xe2\x81\x9f|\xe3\x80\x80"
)
# uri, cid, did, reply_parent, embed_type joined by commas, each empty or
# printable ASCII without '"' or ',' and not starting with a space or '\\':
# fields Go writes unquoted
_PLAIN_SHORT_FIELDS = re.compile(
    rb"(?:[!#-+\--\[\]-~][!#-+\--~]*)?(?:,(?:[!#-+\--\[\]-~][!#-+\--~]*)?){4}"
)


def _media(embed):
    if embed is None or embed == b"null":
        return b""
    if not isinstance(embed, (bytes, bytearray)):
        raise _Exact
    try:
        return gocsv.field(posts.media_hashes(orjson.loads(embed))).encode()
    except orjson.JSONDecodeError:
        raise _Exact from None


def _fast_record(row, created, indexed, quote=_QUOTE_BYTES.search,
                 space=_LEADING_SPACE_BYTES.match):
    (uri, cid, did, text, _c, _i, has_media, likes, reposts, replies,
     quotes, is_reply, parent, embed_type, embed) = row[:15]
    if ((type(has_media), type(is_reply), type(likes), type(reposts), type(replies),
         type(quotes)) != _SIX_INTS or has_media >> 1 or is_reply >> 1):
        raise _Exact
    try:
        if not _PLAIN_SHORT_FIELDS.fullmatch(b",".join((uri, cid, did, parent, embed_type))):
            raise _Exact
        if quote(text) or space(text) or text == b"\\.":
            text = b'"' + text.replace(b'"', b'""') + b'"'
    except TypeError:  # a NULL or a number where a string belongs
        raise _Exact from None
    return b"%s,%s,%s,%s,%s,%d,%d,%d,%d,%s,%s,%s,%s,%s,%s\n" % (
        uri, cid, did, text, created, likes, reposts, replies, quotes,
        _CSV_BOOL[is_reply], parent, _CSV_BOOL[has_media],
        _media(embed) if has_media else b"", embed_type, indexed,
    )


def csv_records(rows, fast=True):
    """The records of ``rows`` as legacy CSV (bytes, each line ending ``\\n``)."""
    if not fast or not rows:
        return b"".join(map(posts.exact_csv, rows))
    columns = tuple(zip(*rows))
    out = []
    # archived_at is not written, but the legacy reads it: a bad one must fail
    for row, created, indexed, archived in zip(
            rows, _csv_times(columns[4]), _csv_times(columns[5]), _times(columns[16], _FAST_TIME_BYTES, b"29")):
        if created and indexed and archived:
            try:
                out.append(_fast_record(row, created, indexed))
                continue
            except _Exact:
                pass
        out.append(posts.exact_csv(row))
    return b"".join(out)
