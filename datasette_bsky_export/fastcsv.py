"""The CSV fast page: whole pages of records formatted in one pass.

Rows come with TEXT as ``bytearray``, the bytes the legacy wrote. A page takes
this path (``fastpage.encode``) only when, besides the checks ``fastpage`` shares with
JSON (times, flags, counts): uri, cid, did, reply_parent and embed_type are
plain ASCII needing no quotes; text is quoted by Go's rule; MediaFiles comes
from orjson, whose decoding of valid JSON equals Go's.
"""

import itertools
import operator
from typing import Any, Iterator, Sequence

import orjson

from . import exact, fastpage, gocsv, postrow

_CSV_BOOL = (b"false", b"true")
# A time that passed fastpage.joined_times, in RFC 3339 seconds: "%.10sT%sZ" of it and
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
    if not isinstance(embed, (bytes, bytearray)) or len(embed) > fastpage.VALUE_LIMIT:
        raise fastpage.Exact
    try:
        hashes = exact.media_hashes(orjson.loads(embed)).encode()
    except orjson.JSONDecodeError:
        raise fastpage.Exact from None
    if hashes.translate(None, _PLAIN):  # anything to quote?
        return gocsv.field(hashes.decode()).encode()
    return hashes


def _csv_columns(rows, quote):
    """The columns of ``rows`` (a PostRow of columns) with text quoted and
    MediaFiles in embed_data, when every row is for the fast path; else None."""
    c = postrow.page_columns(rows)
    # archived_at is not written, but the legacy reads it: a bad one must fail
    if not (
        fastpage.all_of_type(
            (c.has_media, c.like_count, c.repost_count, c.reply_count, c.quote_count, c.is_reply),
            int,
        )
        and set(c.has_media) <= fastpage.FLAGS
        and set(c.is_reply) <= fastpage.FLAGS
        and fastpage.joined_times((c.created_at, c.indexed_at, c.archived_at), bytearray)
        is not None
        and set(map(type, c.text)) <= {bytes, bytearray}
        and fastpage.all_small((c.text,))
    ):
        return None
    short = (c.uri, c.cid, c.did, c.reply_parent, c.embed_type)
    try:  # TEXT or BLOB strings are written alike; NULL or numbers are not for here
        if not fastpage.all_small(short):
            return None
        joined = b"\n".join([*itertools.chain.from_iterable(short), b""])
        media = [_media(e) if h else b"" for h, e in zip(c.has_media, c.embed_data)]
    except (TypeError, fastpage.Exact):
        return None
    if joined.count(b"\n") != len(short) * len(rows) or joined.translate(None, _PLAIN + b"\n"):
        return None
    text = [b'"' + t.replace(b'"', b'""') + b'"' if quote(t) else t for t in c.text]
    return c._replace(text=text, embed_data=media)


def _csv_page(rows, quote=gocsv.needs_quotes_utf8):
    """The records of ``rows`` when every one is for the fast path, else None."""
    c = _csv_columns(rows, quote)
    if c is None:
        return None
    flag = _CSV_BOOL.__getitem__
    return b"".join(
        map(
            _CSV_LINE.__mod__,
            zip(
                c.uri,
                c.cid,
                c.did,
                c.text,
                c.created_at,
                map(_HMS, c.created_at),
                c.like_count,
                c.repost_count,
                c.reply_count,
                c.quote_count,
                map(flag, c.is_reply),
                c.reply_parent,
                map(flag, c.has_media),
                c.embed_data,  # MediaFiles
                c.embed_type,
                c.indexed_at,
                map(_HMS, c.indexed_at),
            ),
        )
    )


def csv_parts(rows: Sequence[Sequence[Any]], fast_path: bool = True) -> Iterator[bytes]:
    """The records of ``rows`` as legacy CSV, each line ending ``\\n``, as
    ``fastjson.json_parts`` gives posts."""
    parts = fastpage.encode(rows, fast_path, _csv_page, exact.csv_pieces)
    return itertools.chain.from_iterable((part,) if type(part) is bytes else part for part in parts)
