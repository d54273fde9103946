"""Memory stays bounded whatever the rows: deep embeds, huge rows, no
process-wide setting changed. Peaks are tracemalloc's (deterministic: every
Python allocation, not RSS), taken while the engine runs."""

import hashlib
import sqlite3
import sys
import threading
import tracemalloc
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gomodels
from datasette_bsky_export import bigvalues, engine, exact, fastpage, goscan
from encoding import export_bytes, export_chunks
from helpers import CASES, case_id, expected_bytes, new_archive

MB = 1_000_000
DEEP_BOUND = 64 * MB  # a deep embed costs at most this (it was 600 MB)
TIME = "2024-01-15 10:30:00 +0000 UTC"
HASH = "bafkreihash"
MEDIA_EMBED = '{"images":[{"fullsize":"https://cdn.example/img/%s@jpeg"}]' % HASH


def one_post_archive(path, text="hello", embed=b"null", has_media=0):
    new_archive(
        path,
        [
            {
                "uri": "at://did:plc:a/app.bsky.feed.post/1",
                "cid": "bafy",
                "did": "did:plc:a",
                "text": text,
                "created_at": TIME,
                "indexed_at": TIME,
                "archived_at": TIME,
                "has_media": has_media,
                "reply_parent": "",
                "embed_type": "",
                "embed_data": embed,
            }
        ],
    ).close()
    return sqlite3.connect(str(path))


def traced_export(conn, fmt, page_size=1000, fast_path=True):
    """(sha256 and length of the export, peak traced bytes while it ran):
    chunks are hashed and dropped as they come, as a streamer sends them."""
    digest, size = hashlib.sha256(), 0
    tracemalloc.start()
    try:
        for chunk in export_chunks(conn, engine.ExportOptions(fmt, page_size=page_size), fast_path):
            digest.update(chunk)
            size += len(chunk)
            del chunk
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (digest.hexdigest(), size), peak


def hashed(pieces):
    digest, size = hashlib.sha256(), 0
    for piece in pieces:
        piece = piece.encode() if isinstance(piece, str) else piece
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


def nested_arrays(levels):
    return ("[" * levels + "]" * levels).encode()


def go_indented_arrays(levels, depth=2):
    """Go's json.Indent of ``levels`` nested arrays printed ``depth`` levels
    deep (a post member), in pieces: the innermost ``[]`` stays compact."""
    yield "["
    for level in range(1, levels):
        yield "\n" + "  " * (depth + level) + "["
    yield "]"
    for level in range(levels - 2, -1, -1):
        yield "\n" + "  " * (depth + level) + "]"


def plain_export(tmp_path, fmt, **post):
    conn = one_post_archive(tmp_path / "plain.db", **post)
    return export_bytes(conn, engine.ExportOptions(fmt))


@pytest.mark.parametrize("levels", [9998, 9999])
def test_deep_embed_json(tmp_path, levels):
    """The post object is one level against Go's 10000: an embed of 9,999
    levels is printed (about 200 MB of indentation) in pieces."""
    conn = one_post_archive(tmp_path / "deep.db", embed=nested_arrays(levels))
    got, peak = traced_export(conn, "json")
    before, after = plain_export(tmp_path, "json", embed=b"0").split(b'"embed_data": 0')
    want = hashed([before, b'"embed_data": ', *go_indented_arrays(levels), after])
    assert got == want
    assert want[1] > 199 * MB
    assert peak < DEEP_BOUND, "peak %.1f MB" % (peak / MB)


def test_deep_embed_json_one_level_too_deep(tmp_path):
    conn = one_post_archive(tmp_path / "deep.db", embed=nested_arrays(10000))
    tracemalloc.start()
    try:
        with pytest.raises(goscan.RowError) as raised:
            export_bytes(conn, engine.ExportOptions("json"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raised.value.column == "embed_data"
    assert "nested deeper than the 9999 levels" in str(raised.value)
    assert peak < DEEP_BOUND, "peak %.1f MB" % (peak / MB)


@pytest.mark.parametrize(
    "levels,media", [(9998, True), (9999, True), (10000, True), (10001, False)]
)
@pytest.mark.parametrize("fast_path", [True, False])
def test_deep_embed_csv(tmp_path, levels, media, fast_path):
    """MediaFiles reads the embed alone: Go's Unmarshal allows 10000 levels;
    one more and the field is empty (CSV does not fail)."""
    embed = (MEDIA_EMBED + ',"deep":' + "[" * (levels - 1) + "]" * (levels - 1) + "}").encode()
    conn = one_post_archive(tmp_path / "deep.db", embed=embed, has_media=1)
    got, peak = traced_export(conn, "csv", fast_path=fast_path)
    want = plain_export(
        tmp_path, "csv", has_media=1, embed=(MEDIA_EMBED + "}").encode() if media else b"null"
    )
    assert (",%s," % HASH).encode() in want if media else b",true,," in want
    assert got == hashed([want])
    assert peak < DEEP_BOUND, "peak %.1f MB" % (peak / MB)


BIG = 57 * MB


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_huge_row_peak(tmp_path, fmt):
    """A post with 57 MB of text: the issue asks at most 3x the row while it
    is encoded; it costs about one copy (the row) plus a chunk."""
    text = ("x" * 999 + '"') * (BIG // 1000)
    conn = one_post_archive(tmp_path / "big.db", text=text)
    got, peak = traced_export(conn, fmt)
    quoted = text.replace('"', '\\"' if fmt == "json" else '""')
    del text
    marker, edge = (b'"!"', "") if fmt == "json" else (b",!,", ",")  # CSV: "!" is not quoted
    before, after = plain_export(tmp_path, fmt, text="!").split(marker)
    assert got == hashed([before, edge + '"', quoted, '"' + edge, after])
    assert peak < 1.5 * BIG, "peak %.1f MB" % (peak / MB)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_nothing_held_after_a_page(tmp_path, fmt):
    """After a step, the export holds nothing of a page all returned: no
    rows kept for adapters, no output."""
    path = tmp_path / "a.db"
    new_archive(
        path,
        [
            {
                "uri": "at://did:plc:a/app.bsky.feed.post/%d" % n,
                "cid": "bafy",
                "did": "did:plc:a",
                "text": "%d" % n * 500_000,
                "created_at": TIME,
                "indexed_at": TIME,
                "archived_at": TIME,
                "reply_parent": "",
                "embed_type": "",
                "embed_data": b"null",
            }
            for n in range(4)
        ],
    ).close()
    conn = sqlite3.connect(str(path))
    export = engine.Export(engine.ExportOptions(fmt, page_size=1))
    tracemalloc.start()
    try:
        held = []
        while True:
            chunk = export.step(conn)
            if chunk is None:
                break
            assert len(chunk) <= engine.CHUNK_SIZE  # each page in one chunk
            held.append(tracemalloc.get_traced_memory()[0] - len(chunk))
            del chunk
    finally:
        tracemalloc.stop()
    assert export.posts == 4
    assert max(held) < 100_000, held
    assert not hasattr(export, "rows")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_fast_page_is_one_chunk(connect, fmt):
    """A page over CHUNK_SIZE comes as one chunk with its framing ("[",
    separators, "]"): no tiny chunk beside it, and no copy to join them."""
    options = engine.ExportOptions(fmt, page_size=1000)
    sizes = [len(chunk) for chunk in export_chunks(connect("realistic.db"), options)]
    assert len(sizes) == 2 and min(sizes) > 100_000, sizes  # 1,500 posts


def test_goldens_in_small_pieces(connect, monkeypatch):
    """The piecewise printing of big values (str and UTF-8 slices, CSV
    fields, raw JSON checked then streamed) and the chunking give the
    goldens' bytes: with tiny sizes every value is big."""
    monkeypatch.setattr(bigvalues, "SIZE", 5)
    monkeypatch.setattr(fastpage, "VALUE_LIMIT", 5)
    monkeypatch.setattr(engine, "CHUNK_SIZE", 16)
    for case in CASES:
        options = engine.ExportOptions(
            case["format"], case["did"], case["start_date"], case["end_date"], page_size=7
        )
        export = export_chunks(connect(case["db"]), options)
        if "expect_error" in case:
            with pytest.raises(goscan.RowError) as raised:
                b"".join(export)
            assert raised.value.column == case["expect_error"]["column"], case_id(case)
        else:
            assert b"".join(export) == expected_bytes(case), case_id(case)


@given(
    st.lists(
        st.one_of(
            st.characters().map(lambda c: c.encode("utf-8", "surrogatepass")), st.binary(max_size=3)
        )
    ).map(b"".join),
    st.integers(4, 9),
)
def test_utf8_pieces_decode_as_the_whole(data, size):
    """Cut anywhere near a multi-byte character or in invalid UTF-8, the
    pieces of big bytes decode as the whole does."""
    with mock.patch.object(bigvalues, "SIZE", size):
        got = list(bigvalues.texts(data))
    assert "".join(got) == data.decode("utf-8", "surrogateescape")
    assert all(len(text) <= size for text in got)


_URL = st.sampled_from(['"a/b@c"', '"x/y"', '"d/e"', '"/"', '"h"', '"\\ud800/z"', "2"])
_ANY = st.recursive(
    _URL | st.sampled_from(["true", "1e400"]),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(st.sampled_from(["x", "fullsize"]), inner), max_size=2).map(
            lambda members: "{" + ",".join('"%s":%s' % m for m in members) + "}"
        ),
    ),
    max_leaves=4,
)


def _object(*members):
    """JSON objects of the (name, value) members, some repeated, and junk."""
    member = st.one_of(
        *[st.tuples(st.just(name), value) for name, value in members], st.tuples(st.just("x"), _ANY)
    )
    return st.lists(member, max_size=4).map(
        lambda items: "{" + ",".join('"%s":%s' % m for m in items) + "}"
    )


_IMAGES = (
    st.lists(_object(("fullsize", _URL), ("fullsiz\\u0065", _URL)), max_size=3).map(
        lambda items: "[" + ",".join(items) + "]"
    )
    | _ANY
)
_EMBED = _object(
    ("images", _IMAGES),
    ("media", _object(("images", _IMAGES)) | _ANY),
    ("external", _object(("thumb", _URL)) | _ANY),
)


@settings(max_examples=300)
@given(_EMBED)
def test_iterative_unmarshal_is_the_recursive_model(raw):
    """MediaFiles from the iterative, pruning Unmarshal equals the model's
    (json.loads of the whole): repeated names, wrong kinds, numbers out of
    float64 range, escaped names."""
    want = gomodels.expected_media_files(1, raw.encode()).decode("utf-8")
    assert exact.media_files(1, raw) == want


def csv_exact_exports(tmp_path, threads=4):
    """Exact-path CSV exports in threads of a post whose embed nests 3000
    levels (beyond Python's default recursion limit); their outputs."""
    embed = (MEDIA_EMBED + ',"deep":' + "[" * 3000 + "]" * 3000 + "}").encode()
    one_post_archive(tmp_path / "a.db", embed=embed, has_media=1).close()
    outputs = [None] * threads

    def export(n):
        with sqlite3.connect(str(tmp_path / "a.db")) as conn:
            for _ in range(5):
                outputs[n] = b"".join(
                    export_chunks(conn, engine.ExportOptions("csv"), fast_path=False)
                )

    workers = [threading.Thread(target=export, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outputs


def test_recursion_limit_never_set(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "setrecursionlimit", lambda limit: calls.append(limit) or 1 / 0)
    outputs = csv_exact_exports(tmp_path)
    assert calls == []
    assert all(out is not None and (",%s," % HASH).encode() in out for out in outputs)


def test_recursion_limit_unchanged_during_and_after(tmp_path):
    limit = sys.getrecursionlimit()
    seen = set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.add(sys.getrecursionlimit())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outputs = csv_exact_exports(tmp_path)
    finally:
        done.set()
        watcher.join()
    assert seen == {limit}
    assert sys.getrecursionlimit() == limit
    assert len(set(outputs)) == 1 and (",%s," % HASH).encode() in outputs[0]
