"""The row of the ``posts`` table, named once.

A row is what the pager reads: the 17 ``COLUMNS`` of the legacy ``Post``, in
this order, then the ``rowid``. ``PostRow`` names those 17 positions; every
other module takes a value from a row, or a column from a page of rows, by
name through it, never by position. A page of rows is also read column-wise
(``page_columns``): a ``PostRow`` whose fields are tuples of the page's
values, which is how the fast pages check and format a whole page at once.

Go's ``omitempty``: the legacy ``Post`` tags ``reply_parent``, ``embed_type``
(``OMITEMPTY_STRINGS``: left out of the JSON when empty) and ``embed_data``,
``labels`` (``RAW_JSON``, ``json.RawMessage``: left out when NULL or empty)
with it; ``exact.json_pieces`` and ``fastjson._json_page`` apply the rule.
"""

import operator
from typing import Any, NamedTuple, Sequence


class PostRow(NamedTuple):
    """The legacy columns of one row, or (from ``page_columns``) of a page."""

    uri: Any
    cid: Any
    did: Any
    text: Any
    created_at: Any
    indexed_at: Any
    has_media: Any
    like_count: Any
    repost_count: Any
    reply_count: Any
    quote_count: Any
    is_reply: Any
    reply_parent: Any
    embed_type: Any
    embed_data: Any
    labels: Any
    archived_at: Any


COLUMNS: tuple[str, ...] = PostRow._fields
WIDTH = len(COLUMNS)  # a row's values before its rowid
CSV_HEADER = (
    "URI,CID,DID,Text,CreatedAt,LikeCount,RepostCount,ReplyCount,QuoteCount,"
    "IsReply,ReplyParent,HasMedia,MediaFiles,EmbedType,IndexedAt\n"
)
STRINGS = ("uri", "cid", "did", "text", "reply_parent", "embed_type")
COUNTS = ("like_count", "repost_count", "reply_count", "quote_count")
TIMES = ("created_at", "indexed_at", "archived_at")
BOOLS = ("has_media", "is_reply")
RAW_JSON = ("embed_data", "labels")
OMITEMPTY_STRINGS = ("reply_parent", "embed_type")

URI = COLUMNS.index("uri")
HAS_MEDIA = COLUMNS.index("has_media")
ROWID = WIDTH  # the rowid follows the columns
_KEY = operator.itemgetter(COLUMNS.index("created_at"), URI, ROWID)


class PageKey(NamedTuple):
    """A row's place in the legacy order: where a page or a range ends."""

    created_at: Any
    uri: Any
    rowid: int


def page_key(row: Sequence[Any]) -> PageKey:
    """The key of a row as the pager reads it (its columns, then rowid)."""
    return PageKey._make(_KEY(row))


def page_columns(rows: Sequence[Sequence[Any]]) -> PostRow:
    """The page ``rows`` column by column (each field a tuple of the page's
    values; the rowids left out). ``rows`` is not empty."""
    return PostRow._make(tuple(zip(*rows))[:WIDTH])
