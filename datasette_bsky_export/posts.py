"""Rows of the ``posts`` table to legacy JSON objects and CSV records.

A row is the tuple of ``COLUMNS`` as Python's sqlite3 returns it, where TEXT
arrives as ``str`` (or ``bytearray`` when the page holds invalid UTF-8) and
BLOB as ``bytes``. Two paths render it:

* the exact path reads each value the way Go's database/sql read it into the
  legacy ``Post`` struct and prints it the way Go printed it; it handles every
  row and names the column of any row the legacy would reject;
* the fast path handles the common row (valid UTF-8 text, integer flags and
  counts, Go-written times and embeds) with orjson, and is used only where its
  output is proven identical: anything it is not sure of goes to the exact
  path, row by row.
"""

import itertools
import re

from . import gocsv, gojson, gotime, pieces

COLUMNS = (
    "uri",
    "cid",
    "did",
    "text",
    "created_at",
    "indexed_at",
    "has_media",
    "like_count",
    "repost_count",
    "reply_count",
    "quote_count",
    "is_reply",
    "reply_parent",
    "embed_type",
    "embed_data",
    "labels",
    "archived_at",
)
CSV_HEADER = (
    "URI,CID,DID,Text,CreatedAt,LikeCount,RepostCount,ReplyCount,QuoteCount,"
    "IsReply,ReplyParent,HasMedia,MediaFiles,EmbedType,IndexedAt\n"
)
URI, CREATED_AT = 0, 4
_STRINGS = ("uri", "cid", "did", "text", "reply_parent", "embed_type")
_COUNTS = ("like_count", "repost_count", "reply_count", "quote_count")
_TIMES = ("created_at", "indexed_at", "archived_at")
_BOOLS = ("has_media", "is_reply")
_RAW_JSON = ("embed_data", "labels")


class RowError(ValueError):
    """A row the legacy exporter rejects: names the post, column and problem."""

    def __init__(self, uri, column, problem):
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


def short_repr(value):
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


def reads_true(value):
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
    [(c, _as_string) for c in _STRINGS]
    + [(c, _as_int) for c in _COUNTS]
    + [(c, _as_time) for c in _TIMES]
    + [(c, _as_bool) for c in _BOOLS]
    + [(c, _as_raw_json) for c in _RAW_JSON]
)
_CONVERTERS = tuple(_CONVERT[c] for c in COLUMNS)


def scan(row):
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


# Strings printed from their bytes, never decoded whole, when big (not the
# uri: errors name it). No check applies to them but "not NULL".
_BIG = tuple(COLUMNS.index(c) for c in ("cid", "did", "text", "reply_parent", "embed_type"))


def _scan_big(row):
    """``scan(row)``, and the big TEXT or BLOB strings of ``row`` by column,
    their values in the post left empty."""
    big = {
        COLUMNS[i]: row[i]
        for i in _BIG
        if isinstance(row[i], (bytes, bytearray)) and len(row[i]) > pieces.SIZE
    }
    if big:
        row = [("" if column in big else v) for column, v in zip(COLUMNS, row)]
    return scan(row), big


def _json_string(value):
    if type(value) is not str:  # already pieces
        return value
    if len(value) <= pieces.SIZE:
        return gojson.json_string(value)
    return gojson.json_string_pieces(pieces.texts(value))


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
            if size > pieces.SIZE:
                gojson.validate(raw, max_depth)
                return itertools.chain(start, lines)
    except gojson.InvalidJSON as e:
        raise RowError(post["uri"], column, "invalid JSON: %s" % e) from None
    return "".join(start)


_BOOL = ("false", "true")


def json_pieces(row):
    """One post as the legacy prints it inside the array, without the
    separator (``  {\\n    "uri": ...\\n  }``), as bytes pieces: a list of
    one bytes, or for a post with big values an iterator that makes them as
    it is read (memory: the row and a piece). The whole row is checked here:
    RowError now, never while iterating."""
    post, big = _scan_big(row)
    for column, data in big.items():
        post[column] = gojson.json_string_pieces(pieces.texts(data))
    members = [(c, _json_string(post[c])) for c in ("uri", "cid", "did", "text")]
    members += [(c, _json_time(post, c)) for c in ("created_at", "indexed_at")]
    members.append(("has_media", _BOOL[post["has_media"]]))
    members += [(c, "%d" % post[c]) for c in _COUNTS]
    members.append(("is_reply", _BOOL[post["is_reply"]]))
    members += [(c, _json_string(post[c])) for c in ("reply_parent", "embed_type") if post[c]]
    members += [(c, _json_raw(post, c)) for c in _RAW_JSON if post[c] is not None]
    members.append(("archived_at", _json_time(post, "archived_at")))
    parts = []
    for column, value in members:
        parts += [',\n    "%s": ' % column, value]
    parts[0] = '  {\n    "uri": '
    parts.append("\n  }")
    return pieces.encoded(parts)


def exact_json(row):
    """``json_pieces`` joined (bytes)."""
    return b"".join(json_pieces(row))


_SURROGATES = re.compile("[\ud800-\udfff]")


def _fullsizes(images, urls):
    if type(images) is list:
        for image in images:
            if type(image) is dict:
                url = image.get("fullsize")
                if type(url) is str:
                    urls.append(url)


def media_hashes(embed):
    """MediaFiles hashes from a decoded embed: images[].fullsize, then
    media.images[].fullsize, then external.thumb; each the text after the
    last '/', cut at the first '@', skipped when empty or without '/'."""
    if type(embed) is not dict:
        return ""
    urls = []
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


def media_files(has_media, embed_data):
    """The MediaFiles CSV field (str; Go's decoder turns bad UTF-8 into U+FFFD)."""
    if not has_media or embed_data is None:
        return ""
    embed = gojson.unmarshal(embed_data, _MEDIA_SHAPE)
    return _SURROGATES.sub("\ufffd", media_hashes(embed))


def csv_pieces(row):
    """One post as a legacy CSV record with its newline, as ``json_pieces``
    gives a post: bytes pieces, the row checked here."""
    post, big = _scan_big(row)
    for column, data in big.items():
        post[column] = gocsv.field_pieces(data, pieces.texts(data))
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
    return pieces.encoded(parts)


def exact_csv(row):
    """``csv_pieces`` joined (bytes)."""
    return b"".join(csv_pieces(row))


def check(row, fmt):
    """Raise RowError if the legacy would reject ``row`` in format ``fmt``."""
    (json_pieces if fmt == "json" else csv_pieces)(row)
