"""Property tests of the JSON layer (gojson) against the Go models.

1. JSON strings: gojson.json_string is encoding/json byte for byte.
2. Raw JSON: gojson.indented keeps every token and lays it out as Go's
   json.Indent; rejects what Go's scanner rejects (depth limit included).
3. format_float is strconv.FormatFloat 'g'.
"""

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from datasette_bsky_export import gojson, goscan
from encoding import exact_json
from gomodels import go_decode, go_format_float, go_indent, go_json_string, strip_ws
from rows import NULL, B, I, T, materialize
from strategies import ANY_FLOAT, hostile_bytes, invalid_json, json_text, profile


def reindent(text, depth):
    """gojson.indented joined, as exact._json_raw reads it."""
    return "".join(gojson.indented(text, depth))


@profile(3)
@given(st.one_of(st.binary(max_size=40), hostile_bytes))
@example(b"\xe2\x82")
@example(b"\xf0\x9f\x98")
@example(b"\xe2\x82A\xf0\x9f\x98B")
@example(b"\xed\xa0\x80\xed\xb0\x80")  # CESU-8 surrogate pair: six bytes, six U+FFFD
@example(b"\xc0\xaf\xe0\x80\xaf\xf4\x90\x80\x80\xf8\x88\x80\x80\x80")
@example(b'<>&\xe2\x80\xa8\xe2\x80\xa9\x7f\x00\x1f\x08\x0c\\"')
@example(b"\xef\xbf\xbd\xef\xbb\xbf\xc2\x85")
def test_json_string_is_go_encoding(raw):
    text = raw.decode("utf-8", "surrogateescape")
    encoded = gojson.json_string(text)
    out = encoded.encode("utf-8")  # strict: no surrogate may survive
    expected_value = go_decode(raw)
    # byte for byte what encoding/json writes
    assert out == go_json_string(raw)
    # and it means the text with one U+FFFD per invalid byte
    assert json.loads(out) == expected_value
    assert not any(c < 0x20 for c in out), "raw control character"
    assert b"\xe2\x80\xa8" not in out and b"\xe2\x80\xa9" not in out
    for ch in "<>&\x7f":  # never escaped: every one in the value is raw in the output
        assert encoded.count(ch) == expected_value.count(ch)


def _loads_tokens(text):
    """json.loads keeping every token's spelling, key order and duplicates."""
    return json.loads(
        text, object_pairs_hook=list, parse_float=str, parse_int=str, parse_constant=str
    )


@profile(2)
@given(json_text, st.integers(0, 3))
@example('{"a":"\\u003c\\u003C\u2028","a":[1.0e3,-0,1E+2,{},[ ]],"b":"\\ud83d\\ude00\\ud800"}', 2)
@example(' [\t1 ,\r\n"x\udcff\udce2\udc82" ]\n', 0)
@example('"\\\\u003c"', 2)
def test_reindent_keeps_tokens(text, depth):
    out = reindent(text, depth)
    tokens = strip_ws(text)
    assert strip_ws(out) == tokens  # every token byte for byte, in order
    assert out == go_indent(tokens, depth)  # laid out as Go's json.Indent
    assert reindent(out, depth) == out  # idempotent
    assert _loads_tokens(out) == _loads_tokens(text)


@profile(1)
@given(invalid_json(), st.integers(0, 3))
@example("[1,2", 2)
@example("[1,2]x", 2)
@example('{"a":1}{"b":2}', 2)
@example('["a\nb"]', 2)
@example("NaN", 2)
@example("+1", 2)
@example("[1,]", 2)
def test_reindent_rejects_invalid(text, depth):
    with pytest.raises(gojson.InvalidJSON):
        reindent(text, depth)


def test_reindent_depth_limit():
    """Go's scanner allows 10000 levels of nesting and not one more."""
    deepest = "[" * 10000 + "]" * 10000
    out = reindent(deepest, 0)
    # (no strings inside, so removing all spaces and newlines is strip_ws)
    assert out.replace("\n", "").replace(" ", "") == deepest
    assert "  " * 9999 + "[]\n" + "  " * 9998 + "]\n" + "  " * 9997 + "]\n" in out
    assert out.endswith("\n    ]\n  ]\n]")
    del out
    mixed = '{"a":[' * 5000 + "1" + "]}" * 5000
    out = reindent(mixed, 2)
    assert out.replace("\n", "").replace(" ", "") == mixed
    del out
    for text in (
        "[" * 10001 + "]" * 10001,
        '{"a":' * 10001 + "1" + "}" * 10001,
        "[" * 10001,
        '{"a":[' * 5000 + "[1]" + "]}" * 5000,
    ):
        with pytest.raises(gojson.InvalidJSON):
            reindent(text, 0)


@profile(2)
@given(ANY_FLOAT)
@example(1e6)
@example(123456.0)
@example(1e-5)
@example(0.0001)
@example(1e21)
@example(5e-324)
@example(1.7976931348623157e308)
def test_format_float_is_go_g(x):
    assert gojson.format_float(x) == go_format_float(x)


def test_raw_json_nested_10000_deep_inside_the_post():
    """The legacy encodes each post with json.Encoder + SetIndent: the raw
    embed is compacted alone (10000 levels allowed), then the whole post is
    re-scanned by Indent, where the embed sits one level deeper (inside the
    post object), so 10000 levels of embed exceed Go's limit and the export
    fails. exact_json must reject the row, naming embed_data."""
    base = [
        T(b"at://did:plc:x/app.bsky.feed.post/1"),
        T(b"c"),
        T(b"did:plc:x"),
        T(b"t"),
        T(b"2024-01-15 10:30:00 +0000 UTC"),
        T(b"2024-01-15 10:30:00 +0000 UTC"),
        I(0),
        I(0),
        I(0),
        I(0),
        I(0),
        I(0),
        T(b""),
        T(b""),
        NULL,
        NULL,
        T(b"2024-01-15 10:30:00 +0000 UTC"),
    ]
    base[14] = B(b"[" * 10000 + b"]" * 10000)
    row = materialize([tuple(base)], "json")[0]
    with pytest.raises(goscan.RowError) as info:
        exact_json(row)
    assert info.value.column == "embed_data"
