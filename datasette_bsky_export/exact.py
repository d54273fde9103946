"""The exact path: one row printed as the legacy printed it, JSON or CSV.

Each row is read by ``goscan.scan`` (RowError for a row the legacy rejects)
and printed the way Go's encoding/json and encoding/csv printed the legacy
``Post``; big strings and deep embeds are printed in pieces, the whole row
checked first. The fast path (``fastpage``) hands over every row it is not sure
of.
"""

import itertools
import re
from typing import Any, Iterable, Sequence

from . import bigvalues, gocsv, gojson, gotime
from .goscan import RowError, scan
from .postrow import COLUMNS, COUNTS, OMITEMPTY_STRINGS, RAW_JSON

_BIG = tuple(COLUMNS.index(c) for c in ("cid", "did", "text", "reply_parent", "embed_type"))


def _scan_big(row):
    """``scan(row)``, and the big TEXT or BLOB strings of ``row`` by column,
    their values in the post left empty."""
    big = {
        COLUMNS[i]: row[i]
        for i in _BIG
        if isinstance(row[i], (bytes, bytearray)) and len(row[i]) > bigvalues.SIZE
    }
    if big:
        row = [("" if column in big else v) for column, v in zip(COLUMNS, row)]
    return scan(row), big


def _json_string(value):
    if type(value) is not str:  # already pieces
        return value
    if len(value) <= bigvalues.SIZE:
        return gojson.json_string(value)
    return gojson.json_string_pieces(bigvalues.texts(value))


def _json_time(post, column):
    try:
        return '"%s"' % gotime.rfc3339_nano(post[column])
    except gotime.BadTime as e:
        raise RowError(post["uri"], column, str(e)) from None


def _json_raw(post, column):
    """The value re-indented: str, or when the output is big (deep nesting
    makes hundreds of MB of indentation) its pieces, all checked first."""
    # The legacy indents each post as one value: the post object is one more
    # level of nesting under Go's limit.
    raw, max_depth = post[column], gojson.MAX_DEPTH - 1
    lines = gojson.indented(raw, 2, max_depth)
    start, size = [], 0
    try:
        for line in lines:
            start.append(line)
            size += len(line)
            if size > bigvalues.SIZE:
                gojson.validate(raw, max_depth)
                return itertools.chain(start, lines)
    except gojson.InvalidJSON as e:
        raise RowError(post["uri"], column, "invalid JSON: %s" % e) from None
    return "".join(start)


_BOOL = ("false", "true")


def json_pieces(row: Sequence[Any]) -> Iterable[bytes]:
    """One post as the legacy prints it inside the array, without the
    separator (``  {\\n    "uri": ...\\n  }``), as bytes pieces: a list of
    one bytes, or for a post with big values an iterator that makes them as
    it is read (memory: the row and a piece). The whole row is checked here:
    RowError now, never while iterating."""
    post, big = _scan_big(row)
    for column, data in big.items():
        post[column] = gojson.json_string_pieces(bigvalues.texts(data))
    members = [(c, _json_string(post[c])) for c in ("uri", "cid", "did", "text")]
    members += [(c, _json_time(post, c)) for c in ("created_at", "indexed_at")]
    members.append(("has_media", _BOOL[post["has_media"]]))
    members += [(c, "%d" % post[c]) for c in COUNTS]
    members.append(("is_reply", _BOOL[post["is_reply"]]))
    # Go's omitempty (see postrow): an empty string, or a NULL or empty raw
    # JSON (scanned as None), is left out of the post.
    members += [(c, _json_string(post[c])) for c in OMITEMPTY_STRINGS if post[c]]
    members += [(c, _json_raw(post, c)) for c in RAW_JSON if post[c] is not None]
    members.append(("archived_at", _json_time(post, "archived_at")))
    parts = []
    for column, value in members:
        parts += [',\n    "%s": ' % column, value]
    parts[0] = '  {\n    "uri": '
    parts.append("\n  }")
    return bigvalues.encoded(parts)


_SURROGATES = re.compile("[\ud800-\udfff]")


def _fullsizes(images, urls):
    if type(images) is list:
        for image in images:
            if type(image) is dict:
                url = image.get("fullsize")
                if type(url) is str:
                    urls.append(url)


def media_hashes(embed: Any) -> str:
    """MediaFiles hashes from a decoded embed: images[].fullsize, then
    media.images[].fullsize, then external.thumb; each the text after the
    last '/', cut at the first '@', skipped when empty or without '/'."""
    if type(embed) is not dict:
        return ""
    urls: list[str] = []
    _fullsizes(embed.get("images"), urls)
    media = embed.get("media")
    if type(media) is dict:
        _fullsizes(media.get("images"), urls)
    external = embed.get("external")
    if type(external) is dict and type(external.get("thumb")) is str:
        urls.append(external["thumb"])
    names = [url[url.rfind("/") + 1 :].partition("@")[0] for url in urls if "/" in url]
    return ";".join(filter(None, names))


# What media_hashes reads of an embed (gojson.unmarshal keeps only this).
_MEDIA_SHAPE = {
    "images": [{"fullsize": str}],
    "media": {"images": [{"fullsize": str}]},
    "external": {"thumb": str},
}


def media_files(has_media: bool, embed_data: str | None) -> str:
    """The MediaFiles CSV field (str; Go's decoder turns bad UTF-8 into U+FFFD)."""
    if not has_media or embed_data is None:
        return ""
    embed = gojson.unmarshal(embed_data, _MEDIA_SHAPE)
    return _SURROGATES.sub("\ufffd", media_hashes(embed))


def csv_pieces(row: Sequence[Any]) -> Iterable[bytes]:
    """One post as a legacy CSV record with its newline, as ``json_pieces``
    gives a post: bytes pieces, the row checked here."""
    post, big = _scan_big(row)
    for column, data in big.items():
        post[column] = gocsv.field_pieces(data, bigvalues.texts(data))
    fields = (
        post["uri"],
        post["cid"],
        post["did"],
        post["text"],
        gotime.rfc3339(post["created_at"]),
        str(post["like_count"]),
        str(post["repost_count"]),
        str(post["reply_count"]),
        str(post["quote_count"]),
        _BOOL[post["is_reply"]],
        post["reply_parent"],
        _BOOL[post["has_media"]],
        media_files(post["has_media"], post["embed_data"]),
        post["embed_type"],
        gotime.rfc3339(post["indexed_at"]),
    )
    parts = []
    for field in fields:
        parts += [",", gocsv.field(field) if type(field) is str else field]
    parts[0] = ""
    parts.append("\n")
    return bigvalues.encoded(parts)
