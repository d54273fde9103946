"""Property-based tests (hypothesis) that try to break the legacy encoders.

Each property checks the package against an *independent* reference written
here from Go's rules (utf8.DecodeRune, encoding/json's string encoder and
Indent, encoding/csv's fieldNeedsQuotes, strconv.FormatFloat, time.Parse as
modernc.org/sqlite calls it, the legacy's getMediaFilesList), or one path of
the package against the other (FAST == EXACT):

1. JSON strings: gojson.json_string is encoding/json byte for byte.
2. Raw JSON: gojson.reindent keeps every token and lays it out as Go's
   json.Indent; rejects what Go's scanner rejects (depth limit included).
3. FAST == EXACT: fast.json_posts / fast.csv_records give the exact path's
   bytes (or its RowError) on generated pages of realistic and hostile rows.
4. CSV: gocsv quotes as Go does and a CSV reader gets the fields back.
5. Legal rows never raise, and come out as the legacy wrote them.
6. Times: Go's Time.String() and the driver's other layouts parse to the
   wall clock and offset they hold; impossible dates are refused.

Example counts: the default profile is sized for CI (about 30 s). For a long
run (about 25 minutes):

    HYPOTHESIS_PROFILE=thorough pytest tests/test_properties.py

The profiles use no example database.
"""

import calendar
import csv
import datetime
import decimal
import io
import json
import math
import os
import sqlite3
import sys

import pytest
from hypothesis import HealthCheck, currently_in_test_context, example, given, settings
from hypothesis import event as _hypothesis_event
from hypothesis import strategies as st

from datasette_bsky_export import fast, gocsv, gojson, gotime, posts

# ---------------------------------------------------------------------------
# Hypothesis profiles

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.large_base_example]
settings.register_profile(
    "bsky-default", max_examples=100, deadline=None, database=None,
    suppress_health_check=_HEALTH, print_blob=True,
)
settings.register_profile(
    "bsky-thorough", max_examples=5000, deadline=None, database=None,
    suppress_health_check=_HEALTH, print_blob=True,
)
# Also under the plain name, for a conftest that loads $HYPOTHESIS_PROFILE.
settings.register_profile("thorough", settings.get_profile("bsky-thorough"))

_PROFILE = settings.get_profile(
    "bsky-thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "bsky-default"
)


def profile(weight=1.0):
    """This file's settings, with the profile's example count times ``weight``."""
    return settings(_PROFILE, max_examples=max(10, int(_PROFILE.max_examples * weight)))


# ---------------------------------------------------------------------------
# Independent references for Go's behaviour

def go_decode_rune(b, i):
    """Go's utf8.DecodeRune on b[i:]: (code point, size), or (None, 1) for
    RuneError on invalid input. Written from the rules, not Go's tables: a
    well-formed sequence that is not overlong, not a surrogate and not above
    U+10FFFF; anything else consumes exactly one byte."""
    c = b[i]
    if c < 0x80:
        return c, 1
    if 0xC0 <= c <= 0xDF:
        n, cp = 2, c & 0x1F
    elif 0xE0 <= c <= 0xEF:
        n, cp = 3, c & 0x0F
    elif 0xF0 <= c <= 0xF7:
        n, cp = 4, c & 0x07
    else:  # continuation byte or 0xF8.. as a lead
        return None, 1
    if i + n > len(b):  # truncated
        return None, 1
    for k in range(1, n):
        cc = b[i + k]
        if cc & 0xC0 != 0x80:
            return None, 1
        cp = (cp << 6) | (cc & 0x3F)
    if cp < (0, 0, 0x80, 0x800, 0x10000)[n]:  # overlong
        return None, 1
    if 0xD800 <= cp <= 0xDFFF or cp > 0x10FFFF:
        return None, 1
    return cp, n


def go_decode(b):
    """Bytes as Go's string decoding sees them: each invalid byte one U+FFFD."""
    out = []
    i = 0
    while i < len(b):
        cp, size = go_decode_rune(b, i)
        out.append("\ufffd" if cp is None else chr(cp))
        i += size
    return "".join(out)


_SHORT_ESCAPES = {0x22: b'\\"', 0x5C: b"\\\\", 0x08: b"\\b", 0x0C: b"\\f",
                  0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}


def go_json_string(b):
    """encoding/json's string encoder with SetEscapeHTML(false), on bytes."""
    out = bytearray(b'"')
    i = 0
    while i < len(b):
        c = b[i]
        if c < 0x80:
            if c in _SHORT_ESCAPES:
                out += _SHORT_ESCAPES[c]
            elif c < 0x20:
                out += b"\\u00%02x" % c
            else:
                out.append(c)
            i += 1
            continue
        cp, size = go_decode_rune(b, i)
        if cp is None:
            out += b"\\ufffd"
        elif cp in (0x2028, 0x2029):
            out += b"\\u%04x" % cp
        else:
            out += b[i:i + size]
        i += size
    out += b'"'
    return bytes(out)


def json_chars(text):
    """Each character of JSON text with whether it lies inside a string (the
    opening quote outside, the closing one inside)."""
    in_str = esc = False
    for ch in text:
        yield ch, in_str
        if not in_str:
            in_str = ch == '"'
        elif esc:
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == '"':
            in_str = False


def strip_ws(text):
    """JSON text with the whitespace outside strings removed (Go's compact
    with escapeHTML off): the token stream, byte for byte."""
    return "".join(ch for ch, quoted in json_chars(text) if quoted or ch not in " \t\r\n")


def go_indent(compact, depth):
    """Go's json.Indent(prefix "", indent "  ") of compact JSON whose first
    byte sits at nesting ``depth``: delayed newline after ``{``/``[`` so that
    empty containers stay ``{}``/``[]``, ``: `` after keys, ``,`` + newline."""
    out = []
    need = False
    for ch, quoted in json_chars(compact):
        if quoted:
            out.append(ch)
            continue
        if need and ch not in "}]":
            need = False
            depth += 1
            out.append("\n" + "  " * depth)
        if ch in "{[":
            need = True
            out.append(ch)
        elif ch == ",":
            out.append(",\n" + "  " * depth)
        elif ch == ":":
            out.append(": ")
        elif ch in "}]":
            if need:
                need = False
            else:
                depth -= 1
                out.append("\n" + "  " * depth)
            out.append(ch)
        else:
            out.append(ch)
    return "".join(out)


GO_IS_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def go_field_needs_quotes(field):
    """encoding/csv fieldNeedsQuotes (Comma ','), on the field's bytes."""
    if field == b"":
        return False
    if field == b"\\.":
        return True
    if any(c in field for c in b',"\r\n'):
        return True
    cp, _ = go_decode_rune(field, 0)
    return cp is not None and chr(cp) in GO_IS_SPACE


def go_csv_field(field):
    """The bytes encoding/csv writes for one field (UseCRLF false)."""
    if go_field_needs_quotes(field):
        return b'"' + field.replace(b'"', b'""') + b'"'
    return field


def go_format_float(x):
    """strconv.FormatFloat(x, 'g', -1, 64) from the shortest digits."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    sign, digit_tuple, exp = decimal.Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    nd = len(digits)
    dp = nd + exp  # position of the decimal point
    neg = "-" if x < 0 else ""
    e = dp - 1
    if e < -4 or e >= 6:  # shortest: eprec is 6
        mant = digits[0] + ("." + digits[1:] if nd > 1 else "")
        return "%s%se%s%02d" % (neg, mant, "-" if e < 0 else "+", abs(e))
    if dp <= 0:
        return neg + "0." + "0" * -dp + digits
    if dp >= nd:
        return neg + digits + "0" * (dp - nd)
    return neg + digits[:dp] + "." + digits[dp:]


def days_in(year, month):
    return calendar.monthrange(year if year else 2000, month)[1]  # year 0 is leap like 2000


def rfc3339_expected(y, mo, d, h, mi, s, ns, offset, nano=True):
    """RFC 3339 of a wall clock and offset (minutes), as Go's MarshalJSON
    (nano=True) or Format(RFC3339) prints it. Via datetime where it can."""
    if y >= 1:
        tz = datetime.timezone(datetime.timedelta(minutes=offset))
        base = datetime.datetime(y, mo, d, h, mi, s, tzinfo=tz).isoformat(timespec="seconds")
        clock, zone = base[:19], base[19:]
    else:
        clock = "%04d-%02d-%02dT%02d:%02d:%02d" % (y, mo, d, h, mi, s)
        zone = "%s%02d:%02d" % ("-" if offset < 0 else "+", abs(offset) // 60, abs(offset) % 60)
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    frac = ""
    if nano and ns:
        frac = "." + ("%09d" % ns).rstrip("0")
    return clock + frac + zone


def go_time_string(y, mo, d, h, mi, s, ns, offset, name, mono=""):
    """Go's Time.String(): ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    frac = ("." + ("%09d" % ns).rstrip("0")) if ns else ""
    num = "%s%02d%02d" % ("-" if offset < 0 else "+", abs(offset) // 60, abs(offset) % 60)
    return "%04d-%02d-%02d %02d:%02d:%02d%s %s %s%s" % (
        y, mo, d, h, mi, s, frac, num, name if name is not None else num, mono)


# ---------------------------------------------------------------------------
# Shared strategies

INVALID_UTF8 = [
    b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xc2", b"\xe2\x82", b"\xe2\x80",
    b"\xf0\x9f\x98", b"\xf0\x9f", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xe0\x80\xaf",
    b"\xe0\x9f\xbf", b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\xc3\x28",
    b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc",
]
VALID_UTF8_EDGES = [
    b"\x00", b"\x7f", b"\xc2\x80", b"\xc2\x85", b"\xc2\xa0", b"\xdf\xbf", b"\xe0\xa0\x80",
    b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd", b"\xef\xbf\xbf", b"\xef\xbb\xbf",
    b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xe2\x80\x8b", b"\xf0\x90\x80\x80",
    b"\xf4\x8f\xbf\xbf", b"\xf0\x9f\x98\x80",
]
TRICKY = [
    '"', ",", "\\", "\r", "\n", "\r\n", "\t", "\x00", "\x01", "\x08", "\x0c", "\x1b",
    "\x1c", "\x1f", "\x7f", "<", ">", "&", "\u2028", "\u2029", "\ufeff", "\u200b",
    "\ufffd", "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u00e9",
    "\u65e5\u672c", "\u05e9\u05dc\u05d5\u05dd", "\\.", " ", "@", "/", "\\u003c",
    "\\u2028", "m=", "UTC", "null", "{}", "[]", "'", "\u00a0", "\u0085", "\u3000",
    "\u1680", "\u2000", "\u200a", "\u202f", "\u205f", "\x0b",
]
GO_SPACE_LIST = sorted(GO_IS_SPACE)

rich_text = st.lists(
    st.one_of(st.sampled_from(TRICKY), st.text(max_size=4), st.sampled_from(GO_SPACE_LIST)),
    max_size=8,
).map("".join)
byte_piece = st.one_of(
    rich_text.map(lambda s: s.encode("utf-8")),
    st.sampled_from(INVALID_UTF8),
    st.sampled_from(VALID_UTF8_EDGES),
    st.binary(max_size=4),
)
hostile_bytes = st.lists(byte_piece, max_size=10).map(b"".join)
INT64 = st.integers(-(2**63), 2**63 - 1)
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, 5.0, 0.5, 1e6, 999999.0, 1e20, 1e21, 1e-5, 1e-4,
                     123456.0, 1234567.0, 0.1, float("inf"), float("-inf"), 1.5e-7]),
)


# ---------------------------------------------------------------------------
# 1. JSON strings

@profile(3)
@given(st.one_of(st.binary(max_size=40), hostile_bytes))
@example(b"\xe2\x82")
@example(b"\xf0\x9f\x98")
@example(b"\xe2\x82A\xf0\x9f\x98B")
@example(b"\xed\xa0\x80\xed\xb0\x80")  # CESU-8 surrogate pair: six bytes, six U+FFFD
@example(b"\xc0\xaf\xe0\x80\xaf\xf4\x90\x80\x80\xf8\x88\x80\x80\x80")
@example(b"<>&\xe2\x80\xa8\xe2\x80\xa9\x7f\x00\x1f\x08\x0c\\\"")
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


# ---------------------------------------------------------------------------
# 2. Raw JSON re-indent

WS = st.text(alphabet=" \t\r\n", max_size=3)
HEX = "0123456789abcdefABCDEF"


def _case(data_hex, upper_mask):
    return "".join(c.upper() if (upper_mask >> i) & 1 else c.lower()
                   for i, c in enumerate(data_hex))


u_escape = st.one_of(
    st.text(alphabet=HEX, min_size=4, max_size=4),
    st.tuples(st.sampled_from(["003c", "003e", "0026", "2028", "2029", "0000", "001f",
                               "00e9", "fffd", "feff", "d800", "dbff", "dc00", "dfff"]),
              st.integers(0, 15)).map(lambda t: _case(*t)),
).map(lambda h: "\\u" + h)
surrogate_pair = st.tuples(
    st.integers(0xD800, 0xDBFF), st.integers(0xDC00, 0xDFFF), st.integers(0, 255),
).map(lambda t: _case("%04x%04x" % (t[0], t[1]), t[2])).map(
    lambda h: "\\u" + h[:4] + "\\u" + h[4:])
string_piece = st.one_of(
    st.characters(min_codepoint=0x20, exclude_characters='"\\', exclude_categories=("Cs",)),
    st.sampled_from(["\u2028", "\u2029", "<", ">", "&", "\U0001f600", "\x7f", "\ufeff",
                     "\u00e9", "/", "'"]),
    st.sampled_from(INVALID_UTF8).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
                     "\\\\u003c", "\\\\\\u003c"]),
    u_escape,
    surrogate_pair,
)
json_string_tok = st.lists(string_piece, max_size=8).map(lambda p: '"' + "".join(p) + '"')
number_tok = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,6})?([eE][+-]?[0-9]{1,4})?",
                  fullmatch=True),
    st.sampled_from(["0", "-0", "-0.0", "1.0e3", "1E+2", "1e-2", "0.1", "1.0", "100",
                     "123456789012345678901234567890", "-9223372036854775809",
                     "18446744073709551616", "1e400", "1e-400", "4.9e-324", "0E0"]),
)
literal_tok = st.sampled_from(["true", "false", "null"])
key_tok = st.one_of(st.sampled_from(['"a"', '"b"', '"$type"', '"images"', '"\\u0061"']),
                    json_string_tok)
scalar_tok = st.one_of(json_string_tok, number_tok, literal_tok)


def _array(parts):
    ws0, items = parts
    if not items:
        return "[" + ws0 + "]"
    return "[" + ",".join(a + v + b for a, v, b in items) + "]"


def _object(parts):
    ws0, members = parts
    if not members:
        return "{" + ws0 + "}"
    return "{" + ",".join(a + k + b + ":" + c + v + d for a, k, b, c, v, d in members) + "}"


def _containers(children):
    return st.one_of(
        st.tuples(WS, st.lists(st.tuples(WS, children, WS), max_size=4)).map(_array),
        st.tuples(WS, st.lists(st.tuples(WS, key_tok, WS, WS, children, WS),
                               max_size=4)).map(_object),
    )


json_value = st.recursive(scalar_tok, _containers, max_leaves=16)


def _nest(parts):
    value, wrappers = parts
    for kind in reversed(wrappers):
        value = "[" + value + "]" if kind else '{"k":' + value + "}"
    return value


# values, sometimes wrapped in a few dozen more levels
json_value_deep = st.one_of(
    json_value,
    st.tuples(json_value, st.lists(st.booleans(), min_size=1, max_size=60)).map(_nest),
)
json_text = st.tuples(WS, json_value_deep, WS).map("".join)


def _loads_tokens(text):
    """json.loads keeping every token's spelling, key order and duplicates."""
    return json.loads(text, object_pairs_hook=list, parse_float=str, parse_int=str,
                      parse_constant=str)


@profile(2)
@given(json_text, st.integers(0, 3))
@example('{"a":"\\u003c\\u003C\u2028","a":[1.0e3,-0,1E+2,{},[ ]],"b":"\\ud83d\\ude00\\ud800"}', 2)
@example(' [\t1 ,\r\n"x\udcff\udce2\udc82" ]\n', 0)
@example('"\\\\u003c"', 2)
def test_reindent_keeps_tokens(text, depth):
    out = gojson.reindent(text, depth)
    tokens = strip_ws(text)
    assert strip_ws(out) == tokens  # every token byte for byte, in order
    assert out == go_indent(tokens, depth)  # laid out as Go's json.Indent
    assert gojson.reindent(out, depth) == out  # idempotent
    assert _loads_tokens(out) == _loads_tokens(text)


BAD_VALUES = [
    "NaN", "Infinity", "-Infinity", "+1", "+Inf", "-Inf", "01", "-01", "1.", ".5", "1e",
    "1e+", "-", "--1", "0x10", "tru", "nul", "True", "None", "'a'", '"\\x"', '"\\u12G4"',
    '"\\u12"', '"\\U0041"', '"\\a"', "\ufeff1", "1_000", "\u00a01", "[1,]", '{"a":1,}',
    "{,}", "[,1]", '{"a"}', '{"a":}', "{1:2}", "{a:1}", "[1 2]", '{"a":1 "b":2}', "]",
    "}", ",", ":", "", "1.e5", "1e5.5", "0.0.0", "NULL", "\x0c1", "\x0b1", "\u20281",
    "//c", "/*c*/1", "0b1", "1 1",
]


@st.composite
def invalid_json(draw):
    kind = draw(st.sampled_from(["truncate", "garbage", "control", "bad", "empty"]))
    if kind == "truncate":
        value = draw(json_value_deep.filter(lambda v: v[0] in "[{\""))
        return value[:draw(st.integers(0, len(value) - 1))]
    if kind == "garbage":
        value = draw(json_value_deep)
        junk = draw(st.sampled_from(["x", "]", "}", ",", ":", "{}", "[]", '"s"', "1",
                                     "null", "\x00", "/", "#"]))
        ws = draw(WS)
        if junk[0] in "0123456789" and not ws:
            ws = " "
        return draw(WS) + value + ws + junk
    if kind == "control":
        value = draw(json_value)
        ctrl = chr(draw(st.integers(0, 0x1F)))
        return '[%s,"%s%s%s"]' % (value, draw(st.text(alphabet="ab<\u2028", max_size=3)),
                                  ctrl, draw(st.text(alphabet="cd", max_size=3)))
    if kind == "bad":
        value = draw(json_value)
        bad = draw(st.sampled_from(BAD_VALUES))
        where = draw(st.sampled_from(["[%s,%s]", '{"k":%s,"b":%s}', "[%s,[[%s]]]"][
            : 2 if bad == "" else 3]))  # ("[[]]" is fine)
        return where % (value, bad)
    return draw(WS)


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
        gojson.reindent(text, depth)


def test_reindent_depth_limit():
    """Go's scanner allows 10000 levels of nesting and not one more."""
    deepest = "[" * 10000 + "]" * 10000
    out = gojson.reindent(deepest, 0)
    # (no strings inside, so removing all spaces and newlines is strip_ws)
    assert out.replace("\n", "").replace(" ", "") == deepest
    assert "  " * 9999 + "[]\n" + "  " * 9998 + "]\n" + "  " * 9997 + "]\n" in out
    assert out.endswith("\n    ]\n  ]\n]")
    del out
    mixed = '{"a":[' * 5000 + "1" + "]}" * 5000
    out = gojson.reindent(mixed, 2)
    assert out.replace("\n", "").replace(" ", "") == mixed
    del out
    for text in ("[" * 10001 + "]" * 10001, '{"a":' * 10001 + "1" + "}" * 10001,
                 "[" * 10001, '{"a":[' * 5000 + "[1]" + "]}" * 5000):
        with pytest.raises(gojson.InvalidJSON):
            gojson.reindent(text, 0)


# ---------------------------------------------------------------------------
# 4. CSV

csv_field_bytes = st.one_of(
    hostile_bytes,
    st.sampled_from([b"", b"\\.", b"\\", b".", b"\\..", b" \\.", b"a b ", b"\x1cx",
                     b"\xe2\x80\x8bx", b"\xef\xbb\xbfx", b"\xc2\xa0", b"\xc2\x85x",
                     b"\xe3\x80\x80", b"\xe1\x9a\x80", b"\xe2\x80\xaf", b"\xe2\x81\x9f",
                     b"\xe2\x80\x8a", b"\xe2\x80\x8b", b"\xe2\x80", b"\xff ", b"\x0b",
                     b"x\r", b'"', b'""', b"a,b"]),
    st.tuples(st.sampled_from(sorted(GO_IS_SPACE)), rich_text).map(
        lambda t: (t[0] + t[1]).encode()),
)


@profile(3)
@given(st.lists(csv_field_bytes, min_size=1, max_size=6))
@example([b""])
@example([b"", b""])
@example([b"\\.", b"\\.x", b" x", b"x ", b"\xe2\x80\xa8", b"\x1c", b"\xef\xbb\xbfa"])
def test_csv_record_round_trip(fields_bytes):
    fields = [f.decode("utf-8", "surrogateescape") for f in fields_bytes]
    line = gocsv.record(fields)
    # byte for byte Go's quoting decisions
    assert line.encode("utf-8", "surrogateescape") == (
        b",".join(go_csv_field(f) for f in fields_bytes) + b"\n")
    for f, fb in zip(fields, fields_bytes):
        assert gocsv.needs_quotes(f) == go_field_needs_quotes(fb), f
    # and a CSV reader gets the fields back
    parsed = list(csv.reader(io.StringIO(line, newline="")))
    assert parsed == ([[]] if fields == [""] else [fields])


# ---------------------------------------------------------------------------
# 6. Times

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
zone_name = st.one_of(
    st.one_of(
        st.text(alphabet=UPPER, min_size=3, max_size=3),
        st.text(alphabet=UPPER, min_size=3, max_size=3).map(lambda s: s + "T"),
        st.text(alphabet=UPPER, min_size=4, max_size=4).map(lambda s: s + "T"),
    ).filter(lambda n: n == "UTC" or n == "GMT" or n[:3] not in ("UTC", "GMT")),
    st.sampled_from(["EST", "PST", "CET", "CEST", "AEDT", "NZDT", "ChST", "MeST", "WITA",
                     "GMT", "GMT+3", "GMT-11", "GMT+0", "GMT+23", "+03", "-03", "+0",
                     "-11", "+23", "IST", "JST"]),
    st.tuples(st.sampled_from("+-"), st.integers(0, 23)).map(
        lambda t: "GMT%s%d" % t),
    st.tuples(st.sampled_from("+-"), st.integers(0, 23)).map(lambda t: "%s%02d" % t),
)


@st.composite
def wall_clock(draw, year=st.integers(0, 9999)):
    y = draw(st.one_of(year, st.sampled_from([1900, 2000, 2023, 2024, 2100, 0, 9999])))
    mo = draw(st.integers(1, 12))
    last = days_in(y, mo)
    d = draw(st.one_of(st.integers(1, last), st.integers(min(28, last), last)))
    h = draw(st.one_of(st.integers(0, 23), st.just(23), st.just(0)))
    mi = draw(st.integers(0, 59))
    s = draw(st.integers(0, 59))
    ns = draw(st.one_of(st.just(0), st.integers(0, 999_999_999),
                        st.sampled_from([1, 120_000_000, 999_999_999, 100_000_000, 500])))
    return y, mo, d, h, mi, s, ns


offsets = st.one_of(st.just(0), st.integers(-(23 * 60 + 59), 23 * 60 + 59),
                    st.sampled_from([60, -300, 330, 345, -570, 840, -720]))
mono_suffix = st.sampled_from(["", " m=+0.000253859", " m=+1.5", " m=-0.25", " m=+3601.000000001"])


@st.composite
def go_time_strings(draw):
    """(Time.String() text, expected wall clock, expected offset)."""
    y, mo, d, h, mi, s, ns = draw(wall_clock())
    kind = draw(st.sampled_from(["utc", "utc", "named", "fixed", "utc_quirk"]))
    offset = 0 if kind == "utc" else draw(offsets)
    if kind in ("utc", "utc_quirk"):
        name = "UTC"
    elif kind == "fixed":
        name = None  # the -0500 -0500 form of FixedZone("", offset)
    else:
        name = draw(zone_name)
    text = go_time_string(y, mo, d, h, mi, s, ns, offset, name, draw(mono_suffix))
    expected_offset = 0 if name == "UTC" else offset  # Go: zone name UTC wins
    return text, (y, mo, d, h, mi, s, ns), expected_offset


@profile(3)
@given(go_time_strings())
@example(("2024-01-15 10:30:00.12 +0000 UTC m=+0.000253859",
          (2024, 1, 15, 10, 30, 0, 120_000_000), 0))
@example(("2024-02-29 23:59:59.999999999 -0500 -0500",
          (2024, 2, 29, 23, 59, 59, 999_999_999), -300))
@example(("2024-01-15 10:30:00 +0530 UTC", (2024, 1, 15, 10, 30, 0, 0), 0))
@example(("0000-02-29 00:00:00 +0100 CET", (0, 2, 29, 0, 0, 0, 0), 60))
def test_time_string_form(case):
    text, clock, offset = case
    parsed = gotime.parse(text)
    assert parsed == clock + (offset,)
    assert gotime.rfc3339_nano(parsed) == rfc3339_expected(*clock, offset)
    assert gotime.rfc3339(parsed) == rfc3339_expected(*clock, offset, nano=False)


@st.composite
def other_time_forms(draw):
    """The driver's other layouts: (text, wall clock, offset minutes)."""
    y, mo, d, h, mi, s, ns = draw(wall_clock())
    date = "%04d-%02d-%02d" % (y, mo, d)
    sep = draw(st.sampled_from([" ", "T"]))
    frac_digits = draw(st.integers(0, 12))
    raw_ns = 0
    if frac_digits:
        digits = ("%09d" % ns + "%03d" % draw(st.integers(0, 999)))[:frac_digits]
        frac = draw(st.sampled_from([".", ","])) + digits
        raw_ns = int(digits[:9].ljust(9, "0"))
    else:
        frac = ""
    clock = "%02d:%02d:%02d" % (h, mi, s)
    form = draw(st.sampled_from(["offset", "offset_z", "local", "local_z", "minutes",
                                 "minutes_z", "date", "date_z", "current_timestamp"]))
    off = 0
    if form.startswith("offset"):
        off = draw(offsets)
        text = "%s%s%s%s%s%02d:%02d" % (date, sep, clock, frac, "-" if off < 0 else "+",
                                        abs(off) // 60, abs(off) % 60)
        wall = (y, mo, d, h, mi, s, raw_ns)
    elif form.startswith("local"):
        text = date + sep + clock + frac
        wall = (y, mo, d, h, mi, s, raw_ns)
    elif form.startswith("minutes"):
        hour = draw(st.sampled_from(["%02d" % h, "%d" % h]))
        text = "%s%s%s:%02d" % (date, sep, hour, mi)
        wall = (y, mo, d, h, mi, 0, 0)
    elif form.startswith("date"):
        text = date
        wall = (y, mo, d, 0, 0, 0, 0)
    else:
        text = "%s %s" % (date, clock)
        wall = (y, mo, d, h, mi, s, 0)
    if form.endswith("_z"):
        text += "Z"
    return text, wall, off


@profile(2)
@given(other_time_forms())
@example(("2024-01-15T10:30:00Z", (2024, 1, 15, 10, 30, 0, 0), 0))
@example(("2024-01-15 10:30:00.123456789+02:00", (2024, 1, 15, 10, 30, 0, 123456789), 120))
@example(("2024-01-15 10:30", (2024, 1, 15, 10, 30, 0, 0), 0))
@example(("2024-01-15 7:05Z", (2024, 1, 15, 7, 5, 0, 0), 0))
@example(("2024-01-15", (2024, 1, 15, 0, 0, 0, 0), 0))
@example(("2024-01-15 10:30:00", (2024, 1, 15, 10, 30, 0, 0), 0))
@example(("2024-01-15 10:30:00.1234567891+00:00", (2024, 1, 15, 10, 30, 0, 123456789), 0))
@example(("2024-01-15T10:30:00,5-00:30", (2024, 1, 15, 10, 30, 0, 500000000), -30))
def test_time_other_forms(case):
    text, wall, offset = case
    parsed = gotime.parse(text)
    assert parsed == wall + (offset,)
    assert gotime.rfc3339_nano(parsed) == rfc3339_expected(*wall, offset)
    assert gotime.rfc3339(parsed) == rfc3339_expected(*wall, offset, nano=False)


@pytest.mark.parametrize("text,offset,nano,seconds", [
    ("2024-01-15 10:30:00 +0060 CET", 60, "2024-01-15T10:30:00+01:00", "2024-01-15T10:30:00+01:00"),
    ("2024-01-15 10:30:00 -0000 CET", 0, "2024-01-15T10:30:00Z", "2024-01-15T10:30:00Z"),
    ("2024-01-15 10:30:00 +2400 CET", 1440, None, "2024-01-15T10:30:00+24:00"),
    ("2024-01-15 10:30:00 -2360 ABCT", -1440, None, "2024-01-15T10:30:00-24:00"),
    ("2024-01-15 10:30:00 +2460 ABCT", 1500, None, "2024-01-15T10:30:00+25:00"),
    ("2024-01-15 10:30:00.5+24:00", 1440, None, "2024-01-15T10:30:00+24:00"),
    ("2024-01-15 10:30:00 +2500 CET", "bad", None, None),
    ("2024-01-15 10:30:00 +0061 CET", "bad", None, None),
    ("2024-01-15 10:30:00+00:61", "bad", None, None),
])
def test_time_offsets_at_the_limits(text, offset, nano, seconds):
    """Go's Parse allows offsets up to 24h and 60m; MarshalJSON refuses 24h
    or more (the JSON export fails) while Format(RFC3339) prints them."""
    if offset == "bad":
        with pytest.raises(gotime.BadTime):
            gotime.parse(text)
        return
    parsed = gotime.parse(text)
    assert parsed[-1] == offset
    assert gotime.rfc3339(parsed) == seconds
    if nano is None:
        with pytest.raises(gotime.BadTime):
            gotime.rfc3339_nano(parsed)
    else:
        assert gotime.rfc3339_nano(parsed) == nano


@st.composite
def invalid_dates(draw):
    y, mo, d, h, mi, s, ns = draw(wall_clock())
    field = draw(st.sampled_from(["day", "day0", "month", "hour", "minute", "second"]))
    if field == "day":
        mo = draw(st.sampled_from([2, 2, 4, 6, 9, 11, mo]))
        d = draw(st.integers(days_in(y, mo) + 1, 99)) if days_in(y, mo) < 99 else 99
    elif field == "day0":
        d = 0
    elif field == "month":
        mo = draw(st.sampled_from([0, 13, 99, 20]))
    elif field == "hour":
        h = draw(st.integers(24, 99))
    elif field == "minute":
        mi = draw(st.integers(60, 99))
    else:
        s = draw(st.integers(60, 99))
    form = draw(st.sampled_from(["string", "iso", "iso_z", "current"]))
    base = "%04d-%02d-%02d %02d:%02d:%02d" % (y, mo, d, h, mi, s)
    if form == "string":
        return base + " +0000 UTC" + draw(mono_suffix)
    if form == "iso":
        return base.replace(" ", "T") + ".5+01:00"
    if form == "iso_z":
        return base.replace(" ", "T") + "Z"
    return base


@profile(2)
@given(invalid_dates())
@example("2023-02-29 10:30:00 +0000 UTC")
@example("2024-02-30 10:30:00 +0000 UTC")
@example("2024-04-31 10:30:00 +0000 UTC m=+0.1")
@example("2024-01-15 24:00:00 +0000 UTC")
@example("2024-13-01 10:30:00 +0000 UTC")
@example("1900-02-29T00:00:00Z")
def test_time_invalid_dates(text):
    with pytest.raises(gotime.BadTime):
        gotime.parse(text)


@profile(1)
@given(go_time_strings(), st.lists(st.integers(1, 3), min_size=3, max_size=3))
@example(("2024-01-15 10:30:00 +0000 UTC", (2024, 1, 15, 10, 30, 0, 0), 0), [2, 1, 1])
def test_time_runs_of_spaces(case, widths):
    """Go's time.Parse treats a run of spaces in the value as one layout
    space (time.skip / cutspace), so the legacy reads these; so must we."""
    text, clock, offset = case
    head, _, mono = text.partition(" m=")
    date, clock_part, num, name = head.split(" ")
    spaced = (date + " " * widths[0] + clock_part + " " * widths[1] + num
              + " " * widths[2] + name + (" m=" + mono if mono else ""))
    assert gotime.parse(spaced) == clock + (offset,)


@pytest.mark.parametrize("text,expected", [
    ("2024-01-15  10:30:00", "2024-01-15T10:30:00Z"),
    ("2024-01-15   10:30", "2024-01-15T10:30:00Z"),
    ("2024-01-15  10:30:00.5+01:00", "2024-01-15T10:30:00.5+01:00"),
    ("2024-01-15  10:30:00Z", "2024-01-15T10:30:00Z"),
])
def test_time_runs_of_spaces_other_forms(text, expected):
    """The same for the driver's other layouts (their space matches a run)."""
    assert gotime.rfc3339_nano(gotime.parse(text)) == expected


@pytest.mark.parametrize("name", ["UTCT", "UTCST", "UTCXT"])
def test_time_zone_name_starting_with_utc(name):
    """Go's stdTZ takes a leading "UTC" as the zone and then fails on the
    rest ("extra text"), so the legacy cannot read these times."""
    with pytest.raises(gotime.BadTime):
        gotime.parse("2024-01-15 10:30:00 +0000 %s" % name)


# ---------------------------------------------------------------------------
# format_float (how REAL values become text for Go)

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


# ---------------------------------------------------------------------------
# Rows. A value is abstract, (storage class, payload), and becomes what
# Python's sqlite3 returns once the page's text type is known.

def T(b):
    return ("TEXT", b)


def B(b):
    return ("BLOB", b)


def I(n):
    return ("INTEGER", n)


def R(x):
    return ("REAL", x)


NULL = ("NULL", None)
_ID = "abcdefghijklmnopqrstuvwxyz234567"
ident = st.text(alphabet=_ID, min_size=4, max_size=24).map(str.encode)
did_b = ident.map(lambda s: b"did:plc:" + s)
uri_b = st.builds(lambda d, r: b"at://" + d + b"/app.bsky.feed.post/" + r, did_b, ident)
cid_b = ident.map(lambda s: b"bafyrei" + s)
EMBED_TYPES = [b"images", b"external", b"record", b"record_with_media", b"video"]
HOSTILE_SHORT = [
    b"", b" x", b"x ", b"a,b", b'a"b', b"\\.", b"\\x", b"-", b"~", b"#", b"\\", b"\t",
    b"\xe2\x80\xa8x", b"\xc2\xa0x", b"a\nb", b"a\rb", b"\xff", b"\xe2\x80\x8bx",
    b"\xef\xbb\xbf", b"\x00", b"\x7f", b"<a&b>", b"caf\xc3\xa9",
]
short_hostile = st.one_of(st.sampled_from(HOSTILE_SHORT), hostile_bytes)
odd_scalars = st.one_of(
    st.builds(I, INT64), st.builds(R, ANY_FLOAT), st.just(NULL),
    st.builds(B, st.binary(max_size=6)),
)


def string_column(realistic):
    return st.one_of(
        st.builds(T, realistic), st.builds(T, realistic), st.builds(T, short_hostile),
        st.builds(B, realistic), st.builds(B, short_hostile), odd_scalars,
    )


text_valid = rich_text.map(lambda s: s.encode("utf-8"))
text_realistic = st.one_of(*[text_valid] * 10, hostile_bytes)

# times ---------------------------------------------------------------------


@st.composite
def go_utc_time(draw):
    """Time.String() of a UTC time, the common stored form."""
    y = draw(st.one_of(st.sampled_from([2023, 2024, 2025]), st.integers(0, 9999)))
    mo = draw(st.integers(1, 12))
    last = days_in(y, mo)
    d = draw(st.one_of(st.integers(1, last), st.integers(min(28, last), last)))
    h = draw(st.one_of(st.integers(0, 23), st.just(23)))
    ns = draw(st.one_of(st.just(0), st.integers(0, 999_999_999),
                        st.sampled_from([120_000_000, 1, 999_999_999, 826_919_000])))
    text = go_time_string(y, mo, d, h, draw(st.integers(0, 59)), draw(st.integers(0, 59)),
                          ns, 0, "UTC", draw(mono_suffix))
    return text.encode()


@st.composite
def legal_other_time(draw):
    """Times the legacy reads that are not in the common form."""
    if draw(st.booleans()):
        text, _, offset = draw(go_time_strings())
        if draw(st.booleans()) and "m=" not in text:
            text = draw(st.sampled_from([" ", "\u00a0", "\t", ""])) + text + draw(
                st.sampled_from([" ", "\u3000", "\n", ""]))
        return text.encode()
    return draw(other_time_forms())[0].encode()


TIME_HOSTILE = [
    b"", b"garbage", b"yesterday", b"2023-02-29 10:30:00 +0000 UTC",
    b"2024-02-30 10:30:00 +0000 UTC", b"2024-04-31 10:30:00 +0000 UTC",
    b"2024-01-15 24:00:00 +0000 UTC", b"2024-01-15 23:59:60 +0000 UTC",
    b"2024-13-01 10:30:00 +0000 UTC", b"2024-00-10 10:30:00 +0000 UTC",
    b"2024-01-15 10:30:00.120 +0000 UTC", b"2024-01-15 10:30:00.1234567891 +0000 UTC",
    b"2024-01-15 10:30:00,5 +0000 UTC", b"2024-01-15 10:30:00. +0000 UTC",
    b"2024-01-15 10:30:00 +2400 CET", b"2024-01-15 10:30:00 -2360 -2360",
    b"2024-01-15 10:30:00 +2500 CET", b"2024-01-15 10:30:00 +0000 UTC m=",
    b"2024-01-15 10:30:00 +0000 UTCm=+1", b"m=2024-01-15 10:30:00 +0000 UTC",
    b" 2024-01-15 10:30:00 +0000 UTC", b"2024-01-15 10:30:00 +0000 UTC ",
    b"2024-01-15 10:30:00 +0000 UTC\n m=+1", b"2024-01-15 10:30:00 +0000 utc",
    b"2024-01-15 10:30:00 +0000 ABCDEF", b"2024-01-15T10:30:00ZZ",
    b"2024-01-15 10:30:00 +0000 UTC\xff", b"\xff2024-01-15 10:30:00 +0000 UTC",
    b"2024-1-15 10:30:00 +0000 UTC", b"2024-01-15 7:05:00 +0000 UTC", b"2024-01-15 7:05",
    b"0000-02-29 12:00:00 +0000 UTC", b"1900-02-29 12:00:00 +0000 UTC",
    b"2000-02-29 12:00:00 +0000 UTC", b"9999-12-31 23:59:59.999999999 +0000 UTC",
    b"2024-01-15 10:30:00 -0000 UTC", b"2024-01-15 10:30:00 +0000 GMT",
    b"2024-01-15 10:30:00 +0000 +0000", b"2024-01-15 10:30:00+00:00",
    b"2024-01-15 10:30:00 +0000 UTC m=+0.1 m=+0.2", b"\xd9\xa22024-01-15",
]
time_realistic = go_utc_time()  # the form the fast path takes


@st.composite
def edge_day_time(draw):
    """The common form on days 28-31 of any month of any year (Feb 29 of
    leap and common years, Apr 31...), hour 23 or 24: real dates or not."""
    y = draw(st.one_of(st.integers(0, 9999), st.sampled_from(
        [0, 4, 100, 400, 1900, 2000, 2023, 2024, 2100, 2400, 9996, 9999])))
    return ("%04d-%02d-%02d %02d:59:59%s +0000 UTC%s" % (
        y, draw(st.integers(1, 12)), draw(st.integers(28, 31)),
        draw(st.sampled_from([23, 23, 24, 0])), draw(st.sampled_from(["", ".5", ".120"])),
        draw(mono_suffix))).encode()


time_any = st.one_of(
    st.builds(T, time_realistic), st.builds(T, legal_other_time()),
    st.builds(T, st.sampled_from(TIME_HOSTILE)), st.builds(T, edge_day_time()),
    st.builds(T, st.tuples(go_utc_time(), hostile_bytes).map(b"".join)),
    st.builds(B, go_utc_time()), st.builds(I, INT64), st.builds(R, ANY_FLOAT), st.just(NULL),
)

# flags and counts ------------------------------------------------------------

flag_realistic = st.sampled_from([I(0), I(1)])
flag_any = st.one_of(
    flag_realistic, flag_realistic,
    st.sampled_from([I(2), I(-1), I(3), I(2**62), I(-(2**63)), T(b"true"), T(b"1"),
                     T(b"0"), T(b"t"), T(b"F"), T(b"TRUE"), T(b"False"), T(b"yes"),
                     T(b" 1"), T(b"1 "), T(b""), T(b"tRUE"), B(b"1"), B(b"true"), B(b"no"),
                     R(1.0), R(0.0), R(0.5), NULL]),
)
count_realistic = st.one_of(st.builds(I, st.integers(0, 1000)), st.builds(I, INT64))
count_any = st.one_of(
    count_realistic, count_realistic,
    st.sampled_from([R(5.0), R(-0.0), R(0.0), R(0.5), R(1e20), R(1e6), R(999999.0),
                     R(123456.0), R(float("inf")), R(-3.0), T(b"42"), T(b"+5"), T(b"-0"),
                     T(b"007"), T(b" 5"), T(b"5 "), T(b"abc"), T(b"1e3"), T(b"1_000"),
                     T(b"9223372036854775808"), T(b"9223372036854775807"),
                     T(b"-9223372036854775808"), T(b"-9223372036854775809"), T(b""),
                     T(b"\xd9\xa3"), B(b"7"), B(b"x"), NULL]),
    st.builds(T, INT64.map(lambda n: str(n).encode())),
)

# embeds ---------------------------------------------------------------------


class RawNumber(str):
    """A number token to print verbatim in go_marshal."""


def go_marshal(obj):
    """json.Marshal of decoded JSON, as the archiver stored embeds: compact,
    HTML characters and U+2028/U+2029 escaped, non-ASCII raw."""
    if isinstance(obj, RawNumber):
        return str(obj)
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, str):
        out = ['"']
        for ch in obj:
            c = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif ch in "\b\f\n\r\t":
                out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                            "\t": "\\t"}[ch])
            elif c < 0x20 or ch in "<>&\u2028\u2029":
                out.append("\\u%04x" % c)
            else:
                out.append(ch)
        return "".join(out) + '"'
    if isinstance(obj, list):
        return "[" + ",".join(map(go_marshal, obj)) + "]"
    return "{" + ",".join(go_marshal(k) + ":" + go_marshal(v) for k, v in obj.items()) + "}"


embed_text = st.one_of(
    st.text(alphabet="abc xyz.,!", max_size=12), rich_text,
    st.sampled_from(["D & E", "<b>hi</b>", "a\u2028b", "\u2029", "it's \"quoted\"",
                     "back\\slash", "\\u003c", "tab\there", "\U0001f600", ""]),
)
hash_text = st.one_of(
    st.text(alphabet=_ID, min_size=8, max_size=20).map(lambda s: "bafkrei" + s),
    st.sampled_from(["", "@", "a,b", 'q"q', " sp", "\u00e9\u00e8", "\\.", "x;y"]),
)
media_url = st.one_of(
    st.builds(lambda h, ext: "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:abc/"
              + h + ext, hash_text, st.sampled_from(["@jpeg", "@png", "", "@", "@@x", "@a/b"])),
    st.sampled_from(["no-slash", "https://x/", "https://x/@jpeg", "", "/", "/h", "a/b/c@d"]),
)
json_number = st.one_of(
    st.integers(-(2**53), 2**53),
    st.sampled_from([RawNumber(t) for t in ["1.5", "0.1", "1e+21", "1e-7", "-2.5",
                                              "123.456", "0.000001", "100"]]),
)
image_obj = st.fixed_dictionaries(
    {"alt": embed_text, "fullsize": st.one_of(media_url, media_url, json_number, st.none()),
     "thumb": media_url},
    optional={"aspectRatio": st.fixed_dictionaries(
        {"height": st.integers(1, 4000), "width": st.integers(1, 4000)})},
)
images_obj = st.fixed_dictionaries({
    "$type": st.just("app.bsky.embed.images#view"),
    "images": st.lists(st.one_of(image_obj, image_obj, embed_text, st.none()), max_size=3),
})
external_obj = st.fixed_dictionaries(
    {"$type": st.just("app.bsky.embed.external#view"),
     "external": st.fixed_dictionaries(
         {"description": embed_text, "title": embed_text, "uri": embed_text},
         optional={"thumb": st.one_of(media_url, json_number)})},
)
record_obj = st.fixed_dictionaries({
    "$type": st.just("app.bsky.embed.record#view"),
    "record": st.fixed_dictionaries({
        "uri": embed_text, "cid": embed_text,
        "value": st.fixed_dictionaries(
            {"text": embed_text, "langs": st.lists(embed_text, max_size=2)}),
        "viewer": st.fixed_dictionaries({"muted": st.booleans()}),
    }),
})
record_with_media_obj = st.fixed_dictionaries({
    "$type": st.just("app.bsky.embed.recordWithMedia#view"),
    "media": st.one_of(images_obj, external_obj), "record": record_obj,
})
embed_obj = st.one_of(images_obj, external_obj, record_obj, record_with_media_obj)
labels_obj = st.lists(st.fixed_dictionaries(
    {"src": embed_text, "val": st.sampled_from(["porn", "!hide", "<x>"]),
     "cts": st.just("2024-01-01T00:00:00.000Z"), "neg": st.booleans()}), max_size=2)
go_embed = embed_obj.map(lambda o: go_marshal(o).encode())
go_labels = labels_obj.map(lambda o: go_marshal(o).encode())


def _sub(old, new):
    def mutate(b):
        return b.replace(old, new, 1)
    return mutate


EMBED_MUTATIONS = [
    _sub(b"\\u003c", b"<"), _sub(b"\\u003c", b"\\u003C"), _sub(b"\\u0026", b"&"),
    _sub(b"\\u003e", b"\\u003E"), _sub(b"\\u2028", b"\xe2\x80\xa8"),
    _sub(b"{", b'{"x":"\\\\u003c",'), _sub(b"{", b'{"x":"\\\\u0026<",'),
    _sub(b"{", b'{"x":"\\\\\\u003c",'), _sub(b"{", b'{"a":1,"a":2,'),
    _sub(b"{", b'{"f":1.0,'), _sub(b"{", b'{"f":1e5,'), _sub(b"{", b'{"f":-0,'),
    _sub(b"{", b'{"f":1.5e-7,'), _sub(b"{", b'{"f":18446744073709551615,'),
    _sub(b"{", b'{"f":1e400,'), _sub(b"{", b'{"s":"\\u00e9",'),
    _sub(b"{", b'{"s":"\\ud83d\\ude00",'), _sub(b"{", b'{"s":"\\ud800",'),
    _sub(b"{", b'{"s":"\\/",'), _sub(b"{", b'{"s":"\xe2\x80\xa8",'),
    _sub(b"{", b'{"s":"\xff",'), _sub(b"{", b'{"s":"\x01",'), _sub(b"{", b"{ "),
    _sub(b":", b": "), _sub(b",", b" ,\n"), _sub(b"}", b",}"),
    _sub(b"{", b'{"images":[{"fullsize":"https://x/y/h\xff@jpeg"}],'),
    _sub(b"{", b'{"images":[{"fullsize":"https://x/y/h\\u00e9\\ud800@jpeg"}],'),
    _sub(b"{", b'{"external":{"thumb":"https://x/t@j"},"external":{"thumb":"https://x/u@j"},'),
    lambda b: b + b" ", lambda b: b"\n" + b, lambda b: b[:-1], lambda b: b + b"x",
    lambda b: b + b"{}", lambda b: b"\xef\xbb\xbf" + b, lambda b: b"[" * 1100 + b + b"]" * 1100,
]
embed_mutated = st.tuples(st.one_of(go_embed, go_labels),
                          st.sampled_from(EMBED_MUTATIONS)).map(lambda t: t[1](t[0]))
arbitrary_json_bytes = json_text.map(lambda s: s.encode("utf-8", "surrogateescape"))
embed_realistic = st.one_of(
    st.just(B(b"null")), st.just(B(b"null")), st.builds(B, go_embed), st.builds(B, go_embed),
    st.just(NULL),
    st.sampled_from([B(b"{}"), B(b"[]"), B(b'"s"'), B(b"1"), B(b"1.5e-7"), B(b"-0.0"),
                     B(b'{"a":[]}'), B(b"\"\\u003c\""), B(b"true")]),
)
labels_realistic = st.one_of(st.just(B(b"null")), st.just(B(b"null")),
                             st.builds(B, go_labels), st.just(NULL))
embed_any = st.one_of(
    embed_realistic, embed_realistic,
    st.builds(B, embed_mutated), st.builds(B, embed_mutated), st.builds(T, embed_mutated),
    st.builds(T, go_embed), st.builds(B, arbitrary_json_bytes), st.builds(T, arbitrary_json_bytes),
    st.sampled_from([B(b""), T(b""), T(b"null"), B(b"nul"), B(b" null"), B(b"NaN"),
                     B(b"+Inf"), T(b"\xff"), B(b"[" * 10001 + b"]" * 10001)]),
    st.builds(I, INT64), st.builds(R, ANY_FLOAT), st.builds(B, hostile_bytes),
)

# whole rows -------------------------------------------------------------------

REALISTIC = {
    "uri": st.builds(T, uri_b), "cid": st.builds(T, cid_b), "did": st.builds(T, did_b),
    "text": st.builds(T, text_realistic),
    "created_at": st.builds(T, time_realistic), "indexed_at": st.builds(T, time_realistic),
    "has_media": flag_realistic, "like_count": count_realistic,
    "repost_count": count_realistic, "reply_count": count_realistic,
    "quote_count": count_realistic, "is_reply": flag_realistic,
    "reply_parent": st.one_of(st.just(T(b"")), st.just(T(b"")), st.builds(T, uri_b)),
    "embed_type": st.one_of(st.just(T(b"")), st.sampled_from([T(e) for e in EMBED_TYPES])),
    "embed_data": embed_realistic, "labels": labels_realistic,
    "archived_at": st.builds(T, time_realistic),
}
ANY = {
    "uri": string_column(uri_b), "cid": string_column(cid_b), "did": string_column(did_b),
    "text": st.one_of(st.builds(T, text_realistic), st.builds(T, text_realistic),
                      st.builds(B, hostile_bytes), odd_scalars),
    "created_at": time_any, "indexed_at": time_any,
    "has_media": flag_any, "like_count": count_any, "repost_count": count_any,
    "reply_count": count_any, "quote_count": count_any, "is_reply": flag_any,
    "reply_parent": st.one_of(REALISTIC["reply_parent"], string_column(uri_b)),
    "embed_type": st.one_of(REALISTIC["embed_type"],
                            string_column(st.sampled_from(EMBED_TYPES))),
    "embed_data": embed_any, "labels": embed_any, "archived_at": time_any,
}


def _fixture_rows():
    """The fixture databases' rows as abstract values (read-only)."""
    here = os.path.join(os.path.dirname(__file__), "fixtures")
    rows = []
    for name in ("realistic.db", "adversarial.db", "rejects.db"):
        path = os.path.join(here, name)
        if not os.path.exists(path):
            continue
        conn = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)
        try:
            conn.text_factory = bytes
            sql = "SELECT %s FROM posts" % ", ".join(
                "typeof(%s), CAST(%s AS BLOB), %s" % (c, c, c) for c in posts.COLUMNS)
            for raw in conn.execute(sql):
                row = []
                for k in range(len(posts.COLUMNS)):
                    kind, as_bytes, value = raw[3 * k: 3 * k + 3]
                    kind = kind.decode().upper()
                    if kind in ("TEXT", "BLOB"):
                        row.append((kind, as_bytes))
                    elif kind == "NULL":
                        row.append(NULL)
                    else:
                        row.append((kind, value))
                rows.append(tuple(row))
        finally:
            conn.close()
    return rows


FIXTURE_ROWS = _fixture_rows()
COLUMN_COUNT = len(posts.COLUMNS)


@st.composite
def abstract_rows(draw, source=None):
    kinds = ["realistic", "realistic", "mutated", "mutated", "random"]
    if FIXTURE_ROWS:
        kinds += ["fixture", "fixture_mutated"]
    kind = source or draw(st.sampled_from(kinds))
    if kind.startswith("fixture"):
        row = list(draw(st.sampled_from(FIXTURE_ROWS)))
    elif kind == "random":
        row = [draw(ANY[c]) for c in posts.COLUMNS]
    else:
        row = [draw(REALISTIC[c]) for c in posts.COLUMNS]
    if kind.endswith("mutated"):
        for k in draw(st.lists(st.integers(0, COLUMN_COUNT - 1), min_size=1, max_size=3,
                               unique=True)):
            row[k] = draw(ANY[posts.COLUMNS[k]])
    return tuple(row)


def _valid_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def materialize(page, fmt, force_bytes=False):
    """Rows as Python's sqlite3 returns them for the pager: CSV pages read
    TEXT as bytearray; JSON pages as str, unless some TEXT value of the page
    is not UTF-8 (then the whole page is re-read as bytearray)."""
    text_as_str = fmt == "json" and not force_bytes and all(
        _valid_utf8(v) for row in page for kind, v in row if kind == "TEXT")
    rows = []
    for rowid, row in enumerate(page, 1):
        values = []
        for kind, v in row:
            if kind == "TEXT":
                values.append(v.decode("utf-8") if text_as_str else bytearray(v))
            else:
                values.append(v)
        rows.append(tuple(values) + (rowid,))
    return rows


def outcome(function, rows, fast_path):
    try:
        return ("ok", function(rows, fast=fast_path))
    except posts.RowError as e:
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
        assert list(item)[:12] == list(posts.COLUMNS[:12])


def _check_csv_output(out, rows):
    records = list(csv.reader(io.StringIO(out.decode("utf-8", "surrogateescape"), newline="")))
    assert len(records) == len(rows)
    assert all(len(r) == 15 for r in records)


def event(message):
    if currently_in_test_context():
        _hypothesis_event(message)


def _fast_outcome(function, name, rows):
    """outcome(fast=True), and how many rows the fast path handed over to
    posts.exact_json / posts.exact_csv."""
    single = getattr(posts, name)
    handed_over = []
    setattr(posts, name, lambda row: (handed_over.append(row), single(row))[1])
    try:
        return outcome(function, rows, True), len(handed_over)
    finally:
        setattr(posts, name, single)


def _fast_equals_exact(fmt, page, force_bytes=False):
    """fast=True gives the bytes (or the RowError) of fast=False, for the
    page (abstract rows) and for the page without the rows the exact path
    rejects (read again: without them a JSON page may come back as str)."""
    function = fast.json_posts if fmt == "json" else fast.csv_records
    name = "exact_json" if fmt == "json" else "exact_csv"
    single = getattr(posts, name)
    rows = materialize(page, fmt, force_bytes)
    exact = outcome(function, rows, False)
    quick, handed_over = _fast_outcome(function, name, rows)
    assert quick == exact
    event("%s page: %s" % (fmt, exact[0]))
    accepted = []
    first_error = None
    for abstract, row in zip(page, rows):
        try:
            single(row)
            accepted.append(abstract)
        except posts.RowError as e:
            first_error = first_error or ("RowError", e.column, e.uri, str(e))
    # a page fails exactly on its first rejected row
    assert (exact if first_error else exact[0]) == (first_error or "ok")
    if first_error and accepted:
        rows = materialize(accepted, fmt, force_bytes)
        exact = outcome(function, rows, False)
        assert exact[0] == "ok"
        quick, handed_over = _fast_outcome(function, name, rows)
        assert quick == exact
    if exact[0] == "ok":
        event("%s: %s of %s rows on the fast path" % (
            fmt, "all" if not handed_over else "none" if handed_over == len(rows)
            else "some", "1" if len(rows) == 1 else "2+"))
        (_check_json_output if fmt == "json" else _check_csv_output)(exact[1], rows)
    # JSON: one row with invalid UTF-8 makes the whole page bytearray (all
    # exact); the same page without such rows comes as str
    utf8 = [r for r in accepted if all(_valid_utf8(v) for kind, v in r if kind == "TEXT")]
    if fmt == "json" and not force_bytes and utf8 and len(utf8) < len(accepted):
        rows = materialize(utf8, fmt)
        exact = outcome(function, rows, False)
        quick, handed_over = _fast_outcome(function, name, rows)
        assert quick == exact
        event("json utf-8 subpage: %s of %d rows on the fast path" % (
            "all" if not handed_over else "none" if handed_over == len(rows) else "some",
            len(rows)))


pages = st.lists(abstract_rows(), min_size=1, max_size=8)


# ---------------------------------------------------------------------------
# 3. FAST == EXACT

@profile(2)
@given(pages, st.booleans())
def test_fast_equals_exact_json(page, force_bytes):
    _fast_equals_exact("json", page, force_bytes and len(page) % 4 == 0)


@profile(2)
@given(pages)
def test_fast_equals_exact_csv(page):
    _fast_equals_exact("csv", page)


@profile(1)
@given(st.lists(abstract_rows("realistic"), min_size=1, max_size=6),
       st.lists(abstract_rows("random"), min_size=1, max_size=3), st.randoms())
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
    T(b"at://did:plc:abc/app.bsky.feed.post/3k"), T(b"bafyreiabc"), T(b"did:plc:abc"),
    T(b"hello"), T(UTC_TIME), T(UTC_TIME), I(1), I(5), I(0), I(0), I(0), I(0), T(b""),
    T(b"images"),
    B(b'{"$type":"app.bsky.embed.images#view","images":[{"alt":"\\u003c","fullsize":'
      b'"https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:abc/bafkreih@jpeg"}]}'),
    B(b"null"), T(UTC_TIME),
)
TRICKY_VALUES = [  # (column, value): each breaks one assumption of the fast path
    ("embed_data", B(b'{"a":"\\u003c"}')), ("embed_data", B(b'{"a":"<"}')),
    ("embed_data", B(b'{"a":"\\u003C"}')), ("embed_data", B(b'{"a":"\\\\u003c"}')),
    ("embed_data", B(b'{"a":"\\\\u003c","b":"\\u003e&"}')),
    ("embed_data", B(b'{"a":"\\u2028"}')), ("embed_data", B(b'{"a":"\xe2\x80\xa8"}')),
    ("embed_data", B(b'{"a":"\\u2028\xe2\x80\xa9"}')),
    ("embed_data", B(b'{"a":"\\u003c\xe2\x80\xa8"}')),
    ("embed_data", B(b'{"a":1.0}')), ("embed_data", B(b'{"a":1e5}')),
    ("embed_data", B(b'{"a":-0}')), ("embed_data", B(b'{"a":1.5e-7}')),
    ("embed_data", B(b'{"a":1,"a":2}')), ("embed_data", B(b'{"a":"\\u00e9"}')),
    ("embed_data", B(b'{"a":"\\ud83d\\ude00"}')), ("embed_data", B(b'{"a":"\\ud800"}')),
    ("embed_data", B(b'{"a":"\xff"}')), ("embed_data", B(b'{"a":18446744073709551616}')),
    ("embed_data", B(b'{"a":-9223372036854775809}')), ("embed_data", B(b"1e400")),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/y/h@jpeg"}],"n":1e400}')),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/y/h\\ud800@jpeg"}]}')),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/y/h\xff\xfe@jpeg"}]}')),
    ("embed_data", B(b'{"images":[{"fullsize":"https://x/a,\\"b@jpeg"}]}')),
    ("embed_data", B(b'{"images":[{"fullsize":"h@jpeg"},{"fullsize":"https://x/@j"}]}')),
    ("embed_data", B(b'{"external":{"thumb":"https://x/a@j"},'
                     b'"external":{"thumb":"https://x/b@j"}}')),
    ("embed_data", B(b'{"media":{"images":[{"fullsize":"https://x/m@j"}]},'
                     b'"images":[{"fullsize":"https://x/i@j"}]}')),
    ("embed_data", B(b"[" * 253 + b"]" * 253)), ("embed_data", B(b"[" * 254 + b"]" * 254)),
    ("embed_data", B(b"[" * 255 + b"]" * 255)), ("embed_data", B(b"[" * 256 + b"]" * 256)),
    ("embed_data", B(b"[" * 1024 + b"]" * 1024)), ("embed_data", B(b"[" * 1025 + b"]" * 1025)),
    ("embed_data", B(b'{"a":' * 300 + b"1" + b"}" * 300)),
    ("embed_data", B(b" null")), ("embed_data", B(b"null ")), ("embed_data", T(b"null")),
    ("embed_data", B(b"")), ("embed_data", T(b"")), ("embed_data", I(7)),
    ("embed_data", R(1e20)), ("embed_data", R(float("inf"))), ("embed_data", B(b"\xef\xbb\xbf{}")),
    ("labels", B(b'[{"val":"\\u0026"}]')), ("labels", B(b"[]")), ("labels", B(b"{}")),
    ("text", T("\u2028\u2029".encode())), ("text", T(b"a\x7fb<&>")), ("text", T(b"\x00\x1f")),
    ("text", T(b"\\.")), ("text", T(b" lead")), ("text", T("\u3000x".encode())),
    ("text", T("\u200bx".encode())), ("text", T(b"\x1cx")), ("text", T(b"a\rb")),
    ("text", T(b"\xe2\x82")), ("text", B(b"blob \xff")), ("text", I(42)), ("text", R(0.5)),
    ("uri", T(b"a,b")), ("uri", T(b" x")), ("uri", T(b"\\.")), ("uri", T(b"\\x")),
    ("uri", T(b"x\ny")), ("uri", B(b"at://blob")), ("uri", I(1)), ("uri", NULL),
    ("reply_parent", T("caf\u00e9".encode())), ("embed_type", T(b"a b")),
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
    ("indexed_at", T(b"2024-01-15T10:30:00Z")), ("archived_at", T(b"garbage")),
    ("archived_at", NULL), ("has_media", I(2)), ("has_media", T(b"true")),
    ("is_reply", I(-1)), ("like_count", R(5.0)), ("like_count", T(b"+5")),
    ("like_count", I(2**63 - 1)), ("like_count", I(-(2**63))),
]


@pytest.mark.parametrize("column,value", TRICKY_VALUES)
def test_fast_equals_exact_tricky_values(column, value):
    row = list(BASE_ROW)
    row[posts.COLUMNS.index(column)] = value
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
    for name in ("exact_json", "exact_csv"):
        original = getattr(posts, name)
        monkeypatch.setattr(posts, name, lambda row, _o=original, _n=name: (
            calls.append(_n), _o(row))[1])
    good = [r for r in materialize(rows, "csv")]
    fast.csv_records(good[:1000], True)
    assert calls.count("exact_csv") < 100
    json_rows = [materialize([r], "json")[0] for r in rows[:1000]]
    json_rows = [r for r in json_rows if type(r[0]) is str]
    fast.json_posts(json_rows, True)
    assert calls.count("exact_json") < 0.1 * len(json_rows)


# ---------------------------------------------------------------------------
# 5. What the legacy accepts never raises, and comes out as the legacy wrote it
#
# Each legal value is drawn with the value Go's database/sql scan gives it,
# and the expected bytes are built from those with the references above.

@st.composite
def legal_string(draw):
    kind = draw(st.sampled_from(["text", "text", "text", "blob", "integer", "real"]))
    if kind in ("text", "blob"):
        b = draw(st.one_of(text_valid, hostile_bytes))
        return (T(b) if kind == "text" else B(b)), b
    if kind == "integer":
        n = draw(INT64)
        return I(n), str(n).encode()
    x = draw(ANY_FLOAT)
    return R(x), go_format_float(x).encode()


PARSE_BOOL = {b"1": True, b"t": True, b"T": True, b"TRUE": True, b"true": True,
              b"True": True, b"0": False, b"f": False, b"F": False, b"FALSE": False,
              b"false": False, b"False": False}


@st.composite
def legal_flag(draw):
    kind = draw(st.sampled_from(["integer", "integer", "text", "blob"]))
    if kind == "integer":
        n = draw(st.integers(0, 1))
        return I(n), n == 1
    b = draw(st.sampled_from(sorted(PARSE_BOOL)))
    return (T(b) if kind == "text" else B(b)), PARSE_BOOL[b]


@st.composite
def legal_count(draw):
    kind = draw(st.sampled_from(["integer", "integer", "text", "blob", "real"]))
    if kind == "integer":
        n = draw(st.one_of(INT64, st.integers(0, 1000)))
        return I(n), n
    if kind == "real":  # FormatFloat 'g' prints integers below 1e6 without exponent
        n = draw(st.integers(-999_999, 999_999))
        return R(float(n) if n else draw(st.sampled_from([0.0, -0.0]))), n
    n = draw(INT64)
    sign = draw(st.sampled_from(["", "+"])) if n >= 0 else ""
    zeros = draw(st.sampled_from(["", "0", "000"]))
    text = ("-" + zeros + str(-n) if n < 0 else sign + zeros + str(n)).encode()
    return (T(text) if kind == "text" else B(text)), n


@st.composite
def legal_time(draw):
    """A stored time the legacy reads, with its RFC 3339 nano / seconds."""
    if draw(st.booleans()):
        text, wall, offset = draw(go_time_strings())
        if "m=" not in text and draw(st.booleans()):  # strings.TrimSpace
            text = draw(st.sampled_from([" ", "\u00a0", "\t", "\u2003"])) + text + draw(
                st.sampled_from([" ", "\u3000", "\n", ""]))
    else:
        text, wall, offset = draw(other_time_forms())
    return T(text.encode()), (rfc3339_expected(*wall, offset),
                              rfc3339_expected(*wall, offset, nano=False))


@st.composite
def legal_raw_json(draw):
    """embed_data/labels: the abstract value and Go's []byte (None: absent)."""
    kind = draw(st.sampled_from(["null", "null", "none", "empty", "json", "json", "go",
                                 "integer", "real"]))
    if kind == "none":
        return NULL, None
    if kind == "empty":
        return draw(st.sampled_from([B(b""), T(b"")])), None
    if kind == "integer":
        n = draw(INT64)
        return I(n), str(n).encode()
    if kind == "real":
        x = draw(st.floats(allow_nan=False, allow_infinity=False))
        return R(x), go_format_float(x).encode()
    b = {"null": st.just(b"null"), "json": arbitrary_json_bytes,
         "go": st.one_of(go_embed, go_labels)}[kind]
    b = draw(b)
    return draw(st.sampled_from([B(b), B(b), T(b)])), b


LEGAL = dict(
    [(c, legal_string()) for c in ("uri", "cid", "did", "text", "reply_parent", "embed_type")]
    + [(c, legal_count()) for c in ("like_count", "repost_count", "reply_count", "quote_count")]
    + [(c, legal_time()) for c in ("created_at", "indexed_at", "archived_at")]
    + [(c, legal_flag()) for c in ("has_media", "is_reply")]
    + [(c, legal_raw_json()) for c in ("embed_data", "labels")]
)
legal_rows = st.tuples(*[LEGAL[c] for c in posts.COLUMNS]).map(
    lambda pairs: (tuple(p[0] for p in pairs), dict(zip(posts.COLUMNS, (p[1] for p in pairs)))))


def expected_json(go):
    """The legacy's bytes for one post (``go``: column -> scanned Go value)."""
    lines = [b'    "%s": %s' % (c.encode(), go_json_string(go[c]))
             for c in ("uri", "cid", "did", "text")]
    lines += [b'    "%s": "%s"' % (c.encode(), go[c][0].encode())
              for c in ("created_at", "indexed_at")]
    lines.append(b'    "has_media": ' + (b"true" if go["has_media"] else b"false"))
    lines += [b'    "%s": %d' % (c.encode(), go[c])
              for c in ("like_count", "repost_count", "reply_count", "quote_count")]
    lines.append(b'    "is_reply": ' + (b"true" if go["is_reply"] else b"false"))
    lines += [b'    "%s": %s' % (c.encode(), go_json_string(go[c]))
              for c in ("reply_parent", "embed_type") if go[c]]  # omitempty
    for c in ("embed_data", "labels"):
        if go[c]:  # omitempty on json.RawMessage
            text = go[c].decode("utf-8", "surrogateescape")
            lines.append(b'    "%s": %s' % (c.encode(), go_indent(strip_ws(text), 2).encode(
                "utf-8", "surrogateescape")))
    lines.append(b'    "archived_at": "%s"' % go["archived_at"][0].encode())
    return b"  {\n" + b",\n".join(lines) + b"\n  }"


def _finite(number):
    value = float(number)
    if math.isinf(value):
        raise ValueError("out of float64 range")  # json.Unmarshal fails
    return value


def _no_constants(name):
    raise ValueError(name)


def expected_media_files(has_media, raw):
    """getMediaFilesList of the legacy: json.Unmarshal into a map, then
    images[].fullsize, media.images[].fullsize, external.thumb."""
    if not has_media or not raw:
        return b""
    try:
        data = json.loads(raw.decode("utf-8", "surrogateescape"), parse_float=_finite,
                          parse_int=_finite, parse_constant=_no_constants)
    except ValueError:
        return b""
    if not isinstance(data, dict):
        return b""
    urls = []

    def images(value):
        for img in value if isinstance(value, list) else ():
            if isinstance(img, dict) and isinstance(img.get("fullsize"), str):
                urls.append(img["fullsize"])

    images(data.get("images"))
    if isinstance(data.get("media"), dict):
        images(data["media"].get("images"))
    if isinstance(data.get("external"), dict) and isinstance(data["external"].get("thumb"), str):
        urls.append(data["external"]["thumb"])
    hashes = []
    for url in urls:
        if "/" in url:
            name = url[url.rindex("/") + 1:]
            if "@" in name:
                name = name[:name.index("@")]
            if name:
                hashes.append(name)
    # Go decodes invalid UTF-8 and lone surrogate escapes to U+FFFD
    joined = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in ";".join(hashes))
    return joined.encode("utf-8")


def expected_csv(go):
    b = (b"false", b"true")
    fields = [
        go["uri"], go["cid"], go["did"], go["text"], go["created_at"][1].encode(),
        b"%d" % go["like_count"], b"%d" % go["repost_count"], b"%d" % go["reply_count"],
        b"%d" % go["quote_count"], b[go["is_reply"]], go["reply_parent"], b[go["has_media"]],
        expected_media_files(go["has_media"], go["embed_data"]), go["embed_type"],
        go["indexed_at"][1].encode(),
    ]
    return b",".join(map(go_csv_field, fields)) + b"\n"


@profile(1.5)
@given(st.lists(legal_rows, min_size=1, max_size=4), st.booleans())
def test_legal_rows_come_out_as_the_legacy_wrote_them(legal, force_bytes):
    page = [row for row, _ in legal]
    want_json = [expected_json(go) for _, go in legal]
    want_csv = [expected_csv(go) for _, go in legal]
    json_rows = materialize(page, "json", force_bytes)
    csv_rows = materialize(page, "csv")
    for row, want in zip(json_rows, want_json):
        assert posts.exact_json(row) == want
    for row, want in zip(csv_rows, want_csv):
        assert posts.exact_csv(row) == want
    for fast_path in (True, False):
        assert fast.json_posts(json_rows, fast_path) == b",\n".join(want_json)
        assert fast.csv_records(csv_rows, fast_path) == b"".join(want_csv)


@profile(0.5)
@given(legal_rows, st.sampled_from([B(b"NaN"), B(b"+Inf"), B(b"{"), T(b"\xff"),
                                    R(float("inf")), B(b"[" * 10001 + b"]" * 10001)]))
def test_csv_accepts_any_embed_data(legal, embed):
    """CSV does not need embed_data to be JSON: anything stored there is
    fine, MediaFiles is then empty."""
    row, go = legal
    row = list(row)
    row[posts.COLUMNS.index("embed_data")] = embed
    go = dict(go, embed_data=b"x")  # unparsable: no media files
    [csv_row] = materialize([tuple(row)], "csv")
    assert posts.exact_csv(csv_row) == expected_csv(go)
    assert fast.csv_records([csv_row]) == expected_csv(go)


def test_raw_json_nested_10000_deep_inside_the_post():
    """The legacy encodes each post with json.Encoder + SetIndent: the raw
    embed is compacted alone (10000 levels allowed), then the whole post is
    re-scanned by Indent, where the embed sits one level deeper (inside the
    post object), so 10000 levels of embed exceed Go's limit and the export
    fails. posts.exact_json must reject the row, naming embed_data."""
    base = [T(b"at://did:plc:x/app.bsky.feed.post/1"), T(b"c"), T(b"did:plc:x"), T(b"t"),
            T(b"2024-01-15 10:30:00 +0000 UTC"), T(b"2024-01-15 10:30:00 +0000 UTC"),
            I(0), I(0), I(0), I(0), I(0), I(0), T(b""), T(b""), NULL, NULL,
            T(b"2024-01-15 10:30:00 +0000 UTC")]
    base[14] = B(b"[" * 10000 + b"]" * 10000)
    row = materialize([tuple(base)], "json")[0]
    with pytest.raises(posts.RowError) as info:
        posts.exact_json(row)
    assert info.value.column == "embed_data"
