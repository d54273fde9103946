"""Property tests of whole pages of posts: the fast pages (fastpage,
fastjson, fastcsv) against the exact path (exact, goscan).

FAST == EXACT: a page through engine.page_parts (encoding.json_posts /
encoding.csv_records) gives the exact path's bytes (or its RowError) on
generated pages of realistic and hostile rows.
Legal rows never raise, and come out as the legacy wrote them (gomodels).
"""

import csv
import io
import json
import sys

import pytest
from hypothesis import currently_in_test_context, given
from hypothesis import event as _hypothesis_event
from hypothesis import strategies as st

from datasette_bsky_export import exact, goscan, postrow
from encoding import csv_records, exact_csv, exact_json, json_posts
from gomodels import expected_csv, expected_json
from rows import (
    FIXTURE_ROWS,
    NULL,
    B,
    I,
    R,
    T,
    abstract_rows,
    legal_rows,
    materialize,
    pages,
    valid_utf8,
)
from strategies import profile


def outcome(function, rows, fast_path):
    try:
        return ("ok", function(rows, fast_path=fast_path))
    except goscan.RowError as e:
        return ("RowError", e.column, e.uri, str(e))


def _check_json_output(out, rows):
    if not out:
        assert not rows
        return
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:  # raw invalid UTF-8 copied from an embed
        return
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))  # embeds nested up to ~1100 levels
    try:
        items = json.loads("[\n" + text + "\n]")
    finally:
        sys.setrecursionlimit(limit)
    assert len(items) == len(rows)
    for item in items:
        assert list(item)[:12] == list(postrow.COLUMNS[:12])


def _check_csv_output(out, rows):
    records = list(csv.reader(io.StringIO(out.decode("utf-8", "surrogateescape"), newline="")))
    assert len(records) == len(rows)
    assert all(len(r) == 15 for r in records)


def event(message):
    if currently_in_test_context():
        _hypothesis_event(message)


def _fast_outcome(function, name, rows):
    """outcome(fast_path=True), and how many rows the fast path handed over
    to exact.json_pieces / exact.csv_pieces."""
    single = getattr(exact, name)
    handed_over = []
    setattr(exact, name, lambda row: (handed_over.append(row), single(row))[1])
    try:
        return outcome(function, rows, True), len(handed_over)
    finally:
        setattr(exact, name, single)


def _fast_equals_exact(fmt, page, force_bytes=False):
    """fast_path=True gives the bytes (or the RowError) of fast_path=False,
    for the page (abstract rows) and for the page without the rows the exact path
    rejects (read again: without them a JSON page may come back as str)."""
    function = json_posts if fmt == "json" else csv_records
    name = "json_pieces" if fmt == "json" else "csv_pieces"
    single = getattr(exact, name)
    rows = materialize(page, fmt, force_bytes)
    slow = outcome(function, rows, False)
    quick, handed_over = _fast_outcome(function, name, rows)
    assert quick == slow
    event("%s page: %s" % (fmt, slow[0]))
    accepted = []
    first_error = None
    for abstract, row in zip(page, rows):
        try:
            single(row)
            accepted.append(abstract)
        except goscan.RowError as e:
            first_error = first_error or ("RowError", e.column, e.uri, str(e))
    # a page fails exactly on its first rejected row
    assert (slow if first_error else slow[0]) == (first_error or "ok")
    if first_error and accepted:
        rows = materialize(accepted, fmt, force_bytes)
        slow = outcome(function, rows, False)
        assert slow[0] == "ok"
        quick, handed_over = _fast_outcome(function, name, rows)
        assert quick == slow
    if slow[0] == "ok":
        event(
            "%s: %s of %s rows on the fast path"
            % (
                fmt,
                "all" if not handed_over else "none" if handed_over == len(rows) else "some",
                "1" if len(rows) == 1 else "2+",
            )
        )
        (_check_json_output if fmt == "json" else _check_csv_output)(slow[1], rows)
    # JSON: one row with invalid UTF-8 makes the whole page bytearray (all
    # exact); the same page without such rows comes as str
    utf8 = [r for r in accepted if all(valid_utf8(v) for kind, v in r if kind == "TEXT")]
    if fmt == "json" and not force_bytes and utf8 and len(utf8) < len(accepted):
        rows = materialize(utf8, fmt)
        slow = outcome(function, rows, False)
        quick, handed_over = _fast_outcome(function, name, rows)
        assert quick == slow
        event(
            "json utf-8 subpage: %s of %d rows on the fast path"
            % (
                "all" if not handed_over else "none" if handed_over == len(rows) else "some",
                len(rows),
            )
        )


@profile(2)
@given(pages, st.booleans())
def test_fast_equals_exact_json(page, force_bytes):
    _fast_equals_exact("json", page, force_bytes and len(page) % 4 == 0)


@profile(2)
@given(pages)
def test_fast_equals_exact_csv(page):
    _fast_equals_exact("csv", page)


@profile(1)
@given(
    st.lists(abstract_rows("realistic"), min_size=1, max_size=6),
    st.lists(abstract_rows("random"), min_size=1, max_size=3),
    st.randoms(),
)
def test_fast_equals_exact_mixed_pages(good, odd, rnd):
    """Pages where fast rows and exact-path rows interleave; each row also
    alone, where a rejected row must be rejected the same way."""
    page = good + odd
    rnd.shuffle(page)
    for fmt in ("json", "csv"):
        _fast_equals_exact(fmt, page)
        for row in page:
            _fast_equals_exact(fmt, [row])


UTC_TIME = b"2024-01-15 10:30:00.12 +0000 UTC m=+0.000253859"
BASE_ROW = (
    T(b"at://did:plc:abc/app.bsky.feed.post/3k"),
    T(b"bafyreiabc"),
    T(b"did:plc:abc"),
    T(b"hello"),
    T(UTC_TIME),
    T(UTC_TIME),
    I(1),
    I(5),
    I(0),
    I(0),
    I(0),
    I(0),
    T(b""),
    T(b"images"),
    B(
        b'{"$type":"app.bsky.embed.images#view","images":[{"alt":"\\u003c","fullsize":'
        b'"https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:abc/bafkreih@jpeg"}]}'
    ),
    B(b"null"),
    T(UTC_TIME),
)
TRICKY_VALUES = [  # (column, value): each breaks one assumption of the fast path
    ("embed_data", B(b'{"a":"\\u003c"}')),
    ("embed_data", B(b'{"a":"<"}')),
    ("embed_data", B(b'{"a":"\\u003C"}')),
    ("embed_data", B(b'{"a":"\\\\u003c"}')),
    ("embed_data", B(b'{"a":"\\\\u003c","b":"\\u003e&"}')),
    ("embed_data", B(b'{"a":"\\u2028"}')),
    ("embed_data", B(b'{"a":"\xe2\x80\xa8"}')),
    ("embed_data", B(b'{"a":"\\u2028\xe2\x80\xa9"}')),
    ("embed_data", B(b'{"a":"\\u003c\xe2\x80\xa8"}')),
    ("embed_data", B(b'{"a":1.0}')),
    ("embed_data", B(b'{"a":1e5}')),
    ("embed_data", B(b'{"a":-0}')),
    ("embed_data", B(b'{"a":1.5e-7}')),
    ("embed_data", B(b'{"a":1,"a":2}')),
    ("embed_data", B(b'{"a":"\\u00e9"}')),
    ("embed_data", B(b'{"a":"\\ud83d\\ude00"}')),
    ("embed_data", B(b'{"a":"\\ud800"}')),
    ("embed_data", B(b'{"a":"\xff"}')),
    ("embed_data", B(b'{"a":18446744073709551616}')),
    ("embed_data", B(b'{"a":-9223372036854775809}')),
    ("embed_data", B(b"1e400")),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/y/h@jpeg"}],"n":1e400}')),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/y/h\\ud800@jpeg"}]}')),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/y/h\xff\xfe@jpeg"}]}')),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/a,\\"b@jpeg"}]}')),
    ("embed_data", B(b'{"images":[{"fullsize":"h@jpeg"},{"fullsize":"https://x/@j"}]}')),
    (
        "embed_data",
        B(b'{"external":{"thumb":"https://x/a@j"},"external":{"thumb":"https://x/b@j"}}'),
    ),
    (
        "embed_data",
        B(
            b'{"media":{"images":[{"fullsize":"https://x/m@j"}]},'
            b'"images":[{"fullsize":"https://x/i@j"}]}'
        ),
    ),
    ("embed_data", B(b"[" * 253 + b"]" * 253)),
    ("embed_data", B(b"[" * 254 + b"]" * 254)),
    ("embed_data", B(b"[" * 255 + b"]" * 255)),
    ("embed_data", B(b"[" * 256 + b"]" * 256)),
    ("embed_data", B(b"[" * 1024 + b"]" * 1024)),
    ("embed_data", B(b"[" * 1025 + b"]" * 1025)),
    ("embed_data", B(b'{"a":' * 300 + b"1" + b"}" * 300)),
    ("embed_data", B(b" null")),
    ("embed_data", B(b"null ")),
    ("embed_data", T(b"null")),
    ("embed_data", B(b"")),
    ("embed_data", T(b"")),
    ("embed_data", I(7)),
    ("embed_data", R(1e20)),
    ("embed_data", R(float("inf"))),
    ("embed_data", B(b"\xef\xbb\xbf{}")),
    ("labels", B(b'[{"val":"\\u0026"}]')),
    ("labels", B(b"[]")),
    ("labels", B(b"{}")),
    ("text", T("\u2028\u2029".encode())),
    ("text", T(b"a\x7fb<&>")),
    ("text", T(b"\x00\x1f")),
    ("text", T(b"\\.")),
    ("text", T(b" lead")),
    ("text", T("\u3000x".encode())),
    ("text", T("\u200bx".encode())),
    ("text", T(b"\x1cx")),
    ("text", T(b"a\rb")),
    ("text", T(b"\xe2\x82")),
    ("text", B(b"blob \xff")),
    ("text", I(42)),
    ("text", R(0.5)),
    ("uri", T(b"a,b")),
    ("uri", T(b" x")),
    ("uri", T(b"\\.")),
    ("uri", T(b"\\x")),
    ("uri", T(b"x\ny")),
    ("uri", B(b"at://blob")),
    ("uri", I(1)),
    ("uri", NULL),
    ("reply_parent", T("caf\u00e9".encode())),
    ("embed_type", T(b"a b")),
    ("created_at", T(b"2024-02-29 23:59:59 +0000 UTC")),
    ("created_at", T(b"2023-02-29 23:59:59 +0000 UTC")),
    ("created_at", T(b"1900-02-29 00:00:00 +0000 UTC")),
    ("created_at", T(b"2000-02-29 00:00:00 +0000 UTC")),
    ("created_at", T(b"0000-02-29 00:00:00 +0000 UTC")),
    ("created_at", T(b"2024-04-31 00:00:00 +0000 UTC")),
    ("created_at", T(b"2024-01-15 24:00:00 +0000 UTC")),
    ("created_at", T(b"2024-01-15 10:30:00.120 +0000 UTC")),
    ("created_at", T(b"2024-01-15 10:30:00.1234567891 +0000 UTC")),
    ("created_at", T(b"2024-01-15 10:30:00.000000001 +0000 UTC")),
    ("created_at", T(b"2024-01-15 10:30:00 +0000 UTC m=+1\nx")),
    ("created_at", T(b"2024-01-15 10:30:00 +0000 UTC\n")),
    ("created_at", T(b"2024-01-15 10:30:00 +0100 CET")),
    ("created_at", T(b"2024-01-15 10:30:00 +2400 CET")),
    ("created_at", T(b"2024-01-15 10:30:00 +0500 +5")),
    ("indexed_at", T(b"2024-01-15 10:30:00 -0300 -3")),
    ("archived_at", T(b"2024-01-15 10:30:00 +0000 +0")),
    ("created_at", T(b"2024-01-15 10:30:00 +0000 +0530")),
    ("indexed_at", T(b"2024-01-15 10:30:00 +0000 +0000")),
    ("created_at", T(b"2024-01-15 10:30:00 -0500 -0500")),
    ("indexed_at", T(b"2024-01-15T10:30:00Z")),
    ("archived_at", T(b"garbage")),
    ("archived_at", NULL),
    ("has_media", I(2)),
    ("has_media", T(b"true")),
    ("is_reply", I(-1)),
    ("like_count", R(5.0)),
    ("like_count", T(b"+5")),
    ("like_count", I(2**63 - 1)),
    ("like_count", I(-(2**63))),
]


@pytest.mark.parametrize("column,value", TRICKY_VALUES)
def test_fast_equals_exact_tricky_values(column, value):
    row = list(BASE_ROW)
    row[postrow.COLUMNS.index(column)] = value
    row = tuple(row)
    for fmt in ("json", "csv"):
        for page in ([row], [BASE_ROW, row, BASE_ROW], [row, BASE_ROW], [BASE_ROW] * 3 + [row]):
            _fast_equals_exact(fmt, page)


def test_fast_path_is_exercised(monkeypatch):
    """The FAST == EXACT properties are only worth something if the fast
    path takes most realistic rows: count the rows it hands to the exact path."""
    rows = [r for r in FIXTURE_ROWS[:1500]]
    if not rows:
        pytest.skip("no fixtures")
    calls = []
    for name in ("json_pieces", "csv_pieces"):
        original = getattr(exact, name)
        monkeypatch.setattr(
            exact, name, lambda row, _o=original, _n=name: (calls.append(_n), _o(row))[1]
        )
    good = [r for r in materialize(rows, "csv")]
    csv_records(good[:1000], True)
    assert calls.count("csv_pieces") < 100
    json_rows = [materialize([r], "json")[0] for r in rows[:1000]]
    json_rows = [r for r in json_rows if type(r[0]) is str]
    json_posts(json_rows, True)
    assert calls.count("json_pieces") < 0.1 * len(json_rows)


@profile(1.5)
@given(st.lists(legal_rows, min_size=1, max_size=4), st.booleans())
def test_legal_rows_come_out_as_the_legacy_wrote_them(legal, force_bytes):
    page = [row for row, _ in legal]
    want_json = [expected_json(go) for _, go in legal]
    want_csv = [expected_csv(go) for _, go in legal]
    json_rows = materialize(page, "json", force_bytes)
    csv_rows = materialize(page, "csv")
    for row, want in zip(json_rows, want_json):
        assert exact_json(row) == want
    for row, want in zip(csv_rows, want_csv):
        assert exact_csv(row) == want
    for fast_path in (True, False):
        assert json_posts(json_rows, fast_path) == b",\n".join(want_json)
        assert csv_records(csv_rows, fast_path) == b"".join(want_csv)
