"""Every golden case through the engine: exact bytes, or the named error."""

import re

import pytest

from datasette_bsky_export import engine, goscan, postrow, workers
from encoding import export_bytes
from helpers import CASES, case_id, expected_bytes


def run(conn, case, page_size=1000, fast_path=True):
    options = engine.ExportOptions(
        case["format"], case["did"], case["start_date"], case["end_date"], page_size
    )
    return export_bytes(conn, options, fast_path)


@pytest.mark.parametrize("page_size", [1, 7, 1000])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case(connect, case, page_size):
    conn = connect(case["db"])
    if "expect_error" in case:
        error = case["expect_error"]
        with pytest.raises(goscan.RowError) as raised:
            run(conn, case, page_size)
        assert raised.value.column == error["column"]
        assert error["column"] in str(raised.value)
        if error["uri"] is not None:
            assert raised.value.uri == error["uri"]
            assert error["uri"] in str(raised.value)
    else:
        assert run(conn, case, page_size) == expected_bytes(case)


@pytest.mark.parametrize("case", [c for c in CASES if "expect_error" not in c], ids=case_id)
def test_exact_path_alone_matches(connect, case):
    """The fast path is an optimisation only: without it, the same bytes."""
    assert run(connect(case["db"]), case, fast_path=False) == expected_bytes(case)


def test_fast_path_is_used(connect):
    """Guard against a fast path that silently never runs: on the realistic
    archive nearly every post must take it."""
    from datasette_bsky_export import exact

    conn = connect("realistic.db")
    handed_over = []
    original = exact.json_pieces
    exact.json_pieces = lambda row: handed_over.append(row) or original(row)
    try:
        run(conn, {"format": "json", "did": None, "start_date": None, "end_date": None})
    finally:
        exact.json_pieces = original
    assert len(handed_over) < 15  # of 1,500


def test_empty_export_framing(connect):
    conn = connect("realistic.db")
    case = {"format": "json", "did": "did:plc:nobody", "start_date": None, "end_date": None}
    assert run(conn, case) == b"[]\n"
    case["format"] = "csv"
    assert run(conn, case) == b"\xef\xbb\xbf" + postrow.CSV_HEADER.encode()


@pytest.mark.parametrize(
    "kwargs,message,option",
    [
        ({"fmt": "xml"}, "unknown format", "format"),
        ({"start_date": "2024-02-30"}, "not a real date", "start_date"),
        ({"start_date": "0000-00-00"}, "not a real date", "start_date"),
        ({"end_date": "2024/01/01"}, "YYYY-MM-DD", "end_date"),
        ({"start_date": "2024-01-01'; DROP TABLE posts; --"}, "YYYY-MM-DD", "start_date"),
        ({"start_date": "2024-03-01", "end_date": "2024-01-01"}, "before start date", "end_date"),
        ({"did": "did:plc:a\nX-Injected: 1"}, "without control characters", "did"),
        ({"did": "did:plc:\x00"}, "without control characters", "did"),
        ({"did": "did:plc:" + "a" * 5000}, "at most 2048 characters", "did"),
        ({"page_size": 0}, "page size", None),
        ({"page_size": 10**9}, "page size", None),
    ],
)
def test_bad_options(kwargs, message, option):
    """Each mistake names its option, where one is (the export page shows it beside its field)."""
    with pytest.raises(engine.OptionError, match=message) as raised:
        engine.ExportOptions(**kwargs)
    assert raised.value.option == option


def test_missing_posts_table(tmp_path):
    import sqlite3

    conn = sqlite3.connect(str(tmp_path / "empty.db"))
    with pytest.raises(engine.OptionError, match="no posts table"):
        engine.check_posts_table(conn)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_check_lists_every_reject(connect, fmt):
    """--check's engine (workers.encode_range, what each --jobs worker and
    the single-process check run): one line per bad row, naming its post and
    column, and it goes on past them. rejects.db holds one bad post per
    kind: exactly the error cases."""
    conn = connect("rejects.db")
    pages = list(workers.encode_range(conn, engine.ExportOptions(fmt, page_size=7), check=True))
    text = b"".join(piece for pieces, _, _ in pages for piece in pieces).decode()
    found = set()
    for line in text.splitlines():
        m = re.fullmatch("post (?:with NULL uri|(.+?)): column (\\w+): .+", line)
        found.add(m.groups())
    assert sum(rejected for _, _, rejected in pages) == len(found)
    assert (
        sum(count for _, count, _ in pages)
        == conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    )
    expected = {
        (c["expect_error"]["uri"], c["expect_error"]["column"])
        for c in CASES
        if c["db"] == "rejects.db" and c["format"] == fmt and "expect_error" in c
    }
    assert found == expected


def test_package_errors_share_one_base():
    """Rows, options, media and workers fail with errors of one base class."""
    from datasette_bsky_export import exceptions, media, parallel

    for error in (goscan.RowError, engine.OptionError, media.MediaError, parallel.WorkerError):
        assert issubclass(error, exceptions.ExportError)
    assert isinstance(goscan.RowError("at://x", "text", "is NULL"), exceptions.ExportError)
