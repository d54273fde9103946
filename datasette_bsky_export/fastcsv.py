"""The CSV fast page: whole pages of records formatted in one pass.

Rows come with TEXT as ``bytearray``, the bytes the legacy wrote. A page takes
this path (``fast.encode``) only when, besides the checks ``fast`` shares with
JSON (times, flags, counts): uri, cid, did, reply_parent and embed_type are
plain ASCII needing no quotes; text is quoted by Go's rule; MediaFiles comes
from orjson, whose decoding of valid JSON equals Go's.
"""

import itertools
import operator

import orjson

from . import exact, fast, gocsv

_CSV_BOOL = (b"false", b"true")
# A time that passed fast.joined_times, in RFC 3339 seconds: "%.10sT%sZ" of it and
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
    if not isinstance(embed, (bytes, bytearray)) or len(embed) > fast.VALUE_LIMIT:
        raise fast.Exact
    try:
        hashes = exact.media_hashes(orjson.loads(embed)).encode()
    except orjson.JSONDecodeError:
        raise fast.Exact from None
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
        fast.all_of_type((has_media, likes, reposts, replies, quotes, is_reply), int)
        and set(has_media) <= fast.FLAGS
        and set(is_reply) <= fast.FLAGS
        and fast.joined_times((created, indexed, archived), bytearray) is not None
        and set(map(type, text)) <= {bytes, bytearray}
        and fast.all_small((text,))
    ):
        return None
    try:  # TEXT or BLOB strings are written alike; NULL or numbers are not for here
        if not fast.all_small((uri, cid, did, parent, embed_type)):
            return None
        short = b"\n".join([*uri, *cid, *did, *parent, *embed_type, b""])
        media = [_media(e) if h else b"" for h, e in zip(has_media, embed)]
    except (TypeError, fast.Exact):
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


def csv_parts(rows, fast_path=True):
    """The records of ``rows`` as legacy CSV, each line ending ``\\n``, as
    ``fastjson.json_parts`` gives posts."""
    parts = fast.encode(rows, fast_path, _csv_page, exact.csv_pieces)
    return itertools.chain.from_iterable((part,) if type(part) is bytes else part for part in parts)


def csv_records(rows, fast_path=True):
    """``csv_parts`` joined (bytes)."""
    return b"".join(csv_parts(rows, fast_path))
