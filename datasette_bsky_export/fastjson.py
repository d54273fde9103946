"""The JSON fast page: whole pages of posts printed by orjson.

Rows come with TEXT as ``str``. A page takes this path (``fast.encode``)
only when, besides the checks ``fast`` shares with CSV (times, flags, counts):

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

import orjson

from . import exact, fast

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
    """What to give orjson for a raw JSON column value, or fast.Exact.

    orjson decodes it; orjson's compact form, with the escapes Go's Marshal
    adds, must then be the value itself, byte for byte. Then orjson's
    indented form has the same tokens in Go's layout."""
    if value == b"null":
        return None
    if type(value) is not bytes or len(value) > fast.VALUE_LIMIT:
        raise fast.Exact
    try:
        decoded = orjson.loads(value)
        compact = orjson.dumps(decoded)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # e.g. nested too deep for orjson
        raise fast.Exact from None
    if compact == value:
        # The page dump escapes U+2028/U+2029 everywhere, so none may be raw here.
        if _LINE_SEPARATOR.search(value):
            raise fast.Exact
        return decoded  # printed in place, at its depth, by the page dump
    if _go_escape(compact) != value:
        raise fast.Exact
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
    joined = fast.joined_times(columns, str)
    if joined is None:
        return None
    return _UTC_SUFFIX.sub("Z", joined).replace(" ", "T").split("\n")


def _raw_json_column(column):
    return [_raw_json(v) if v is not None and v != b"" else _ABSENT for v in column]


def _json_columns(rows):
    """The 17 columns of ``rows``, times as RFC 3339 and raw JSON as what
    orjson prints, when every row is for the fast path; else None."""
    columns = tuple(zip(*rows))[:17]
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
    ) = columns
    if not (
        fast.all_of_type((uri, cid, did, text, parent, embed_type), str)
        and fast.all_of_type((has_media, likes, reposts, replies, quotes, is_reply), int)
        and set(has_media) <= fast.FLAGS
        and set(is_reply) <= fast.FLAGS
        and fast.all_small((uri, cid, did, text, parent, embed_type))
    ):
        return None
    times = _json_times((created, indexed, archived))
    if times is None:
        return None
    n = len(rows)
    created, indexed, archived = times[:n], times[n : 2 * n], times[2 * n : 3 * n]
    try:
        embed, labels = _raw_json_column(embed), _raw_json_column(labels)
    except fast.Exact:
        return None
    return (*columns[:4], created, indexed, *columns[6:14], embed, labels, archived)


def _json_page(rows):
    """The posts of ``rows`` when every one is for the fast path, else None."""
    columns = _json_columns(rows)
    if columns is None:
        return None
    page = []
    for u, c, d, t, ca, ia, hm, lc, rc, rpc, qc, ir, rp, et, ed, lb, aa in zip(*columns):
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


def json_parts(rows, fast_path=True, lead=b""):
    """``lead``, then the posts of ``rows`` as legacy JSON array items joined
    by ``,\\n``: an iterator of bytes pieces. Every row is checked before it
    returns (RowError); big posts are printed as the iterator is read."""
    pieces = []
    for part in fast.encode(rows, fast_path, _json_page, exact.json_pieces):
        # a fast page: one copy of it, its separator first; a post: its pieces
        pieces += [(lead + part,)] if type(part) is memoryview else [(lead,), part]
        lead = b",\n"
    return itertools.chain.from_iterable(pieces)


def json_posts(rows, fast_path=True):
    """``json_parts`` joined (bytes)."""
    return b"".join(json_parts(rows, fast_path))
