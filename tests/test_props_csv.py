"""Property tests of the CSV layer (gocsv) against Go's encoding/csv rules."""

import csv
import io

from hypothesis import example, given
from hypothesis import strategies as st

from datasette_bsky_export import gocsv, postrow
from encoding import csv_records, exact_csv
from gomodels import expected_csv, go_csv_field, go_field_needs_quotes
from rows import B, R, T, legal_rows, materialize
from strategies import csv_field_bytes, profile


@profile(3)
@given(st.lists(csv_field_bytes, min_size=1, max_size=6))
@example([b""])
@example([b"", b""])
@example([b"\\.", b"\\.x", b" x", b"x ", b"\xe2\x80\xa8", b"\x1c", b"\xef\xbb\xbfa"])
def test_csv_record_round_trip(fields_bytes):
    fields = [f.decode("utf-8", "surrogateescape") for f in fields_bytes]
    line = ",".join(map(gocsv.field, fields)) + "\n"
    # byte for byte Go's quoting decisions
    assert line.encode("utf-8", "surrogateescape") == (
        b",".join(go_csv_field(f) for f in fields_bytes) + b"\n"
    )
    for f, fb in zip(fields, fields_bytes):
        assert gocsv.needs_quotes(f) == go_field_needs_quotes(fb), f
    # and a CSV reader gets the fields back
    parsed = list(csv.reader(io.StringIO(line, newline="")))
    assert parsed == ([[]] if fields == [""] else [fields])


@profile(0.5)
@given(
    legal_rows,
    st.sampled_from(
        [
            B(b"NaN"),
            B(b"+Inf"),
            B(b"{"),
            T(b"\xff"),
            R(float("inf")),
            B(b"[" * 10001 + b"]" * 10001),
        ]
    ),
)
def test_csv_accepts_any_embed_data(legal, embed):
    """CSV does not need embed_data to be JSON: anything stored there is
    fine, MediaFiles is then empty."""
    row, go = legal
    row = list(row)
    row[postrow.COLUMNS.index("embed_data")] = embed
    go = dict(go, embed_data=b"x")  # unparsable: no media files
    [csv_row] = materialize([tuple(row)], "csv")
    assert exact_csv(csv_row) == expected_csv(go)
    assert csv_records([csv_row]) == expected_csv(go)
