"""Hypothesis strategies for the property tests: text and bytes, raw JSON,
CSV fields, stored times; and the example-count profiles.

Example counts: the default profile is sized for CI (about 30 s for all the
property tests). For a long run (about 25 minutes):

    HYPOTHESIS_PROFILE=thorough pytest tests/test_props_*.py

The profiles use no example database.
"""

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from gomodels import GO_IS_SPACE, days_in, go_time_string

# ---------------------------------------------------------------------------
# Hypothesis profiles

_HEALTH = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]
_EXAMPLES = {"default": 100, "thorough": 5000}  # per property, times its weight
_PROFILE = settings(
    max_examples=_EXAMPLES.get(os.environ.get("HYPOTHESIS_PROFILE"), _EXAMPLES["default"]),
    deadline=None,
    database=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)


def profile(weight=1.0):
    """The settings of a property test: the profile's example count times ``weight``."""
    return settings(_PROFILE, max_examples=max(10, int(_PROFILE.max_examples * weight)))


# ---------------------------------------------------------------------------
# Text and bytes

INVALID_UTF8 = [
    b"\x80",
    b"\xbf",
    b"\xc0\xaf",
    b"\xc1\xbf",
    b"\xc2",
    b"\xe2\x82",
    b"\xe2\x80",
    b"\xf0\x9f\x98",
    b"\xf0\x9f",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xe0\x80\xaf",
    b"\xe0\x9f\xbf",
    b"\xf0\x80\x80\xaf",
    b"\xf0\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xfe",
    b"\xff",
    b"\xc3\x28",
    b"\xe2\x28\xa1",
    b"\xf0\x28\x8c\xbc",
]
VALID_UTF8_EDGES = [
    b"\x00",
    b"\x7f",
    b"\xc2\x80",
    b"\xc2\x85",
    b"\xc2\xa0",
    b"\xdf\xbf",
    b"\xe0\xa0\x80",
    b"\xed\x9f\xbf",
    b"\xee\x80\x80",
    b"\xef\xbf\xbd",
    b"\xef\xbf\xbf",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xa8",
    b"\xe2\x80\xa9",
    b"\xe2\x80\x8b",
    b"\xf0\x90\x80\x80",
    b"\xf4\x8f\xbf\xbf",
    b"\xf0\x9f\x98\x80",
]
TRICKY = [
    '"',
    ",",
    "\\",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x01",
    "\x08",
    "\x0c",
    "\x1b",
    "\x1c",
    "\x1f",
    "\x7f",
    "<",
    ">",
    "&",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200b",
    "\ufffd",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\u00e9",
    "\u65e5\u672c",
    "\u05e9\u05dc\u05d5\u05dd",
    "\\.",
    " ",
    "@",
    "/",
    "\\u003c",
    "\\u2028",
    "m=",
    "UTC",
    "null",
    "{}",
    "[]",
    "'",
    "\u00a0",
    "\u0085",
    "\u3000",
    "\u1680",
    "\u2000",
    "\u200a",
    "\u202f",
    "\u205f",
    "\x0b",
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
    st.sampled_from(
        [
            0.0,
            -0.0,
            1.0,
            5.0,
            0.5,
            1e6,
            999999.0,
            1e20,
            1e21,
            1e-5,
            1e-4,
            123456.0,
            1234567.0,
            0.1,
            float("inf"),
            float("-inf"),
            1.5e-7,
        ]
    ),
)


# ---------------------------------------------------------------------------
# Raw JSON

WS = st.text(alphabet=" \t\r\n", max_size=3)
HEX = "0123456789abcdefABCDEF"


def _case(data_hex, upper_mask):
    return "".join(
        c.upper() if (upper_mask >> i) & 1 else c.lower() for i, c in enumerate(data_hex)
    )


u_escape = st.one_of(
    st.text(alphabet=HEX, min_size=4, max_size=4),
    st.tuples(
        st.sampled_from(
            [
                "003c",
                "003e",
                "0026",
                "2028",
                "2029",
                "0000",
                "001f",
                "00e9",
                "fffd",
                "feff",
                "d800",
                "dbff",
                "dc00",
                "dfff",
            ]
        ),
        st.integers(0, 15),
    ).map(lambda t: _case(*t)),
).map(lambda h: "\\u" + h)
surrogate_pair = (
    st.tuples(
        st.integers(0xD800, 0xDBFF),
        st.integers(0xDC00, 0xDFFF),
        st.integers(0, 255),
    )
    .map(lambda t: _case("%04x%04x" % (t[0], t[1]), t[2]))
    .map(lambda h: "\\u" + h[:4] + "\\u" + h[4:])
)
string_piece = st.one_of(
    st.characters(min_codepoint=0x20, exclude_characters='"\\', exclude_categories=("Cs",)),
    st.sampled_from(
        ["\u2028", "\u2029", "<", ">", "&", "\U0001f600", "\x7f", "\ufeff", "\u00e9", "/", "'"]
    ),
    st.sampled_from(INVALID_UTF8).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(
        ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\\\u003c", "\\\\\\u003c"]
    ),
    u_escape,
    surrogate_pair,
)
json_string_tok = st.lists(string_piece, max_size=8).map(lambda p: '"' + "".join(p) + '"')
number_tok = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,6})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(
        [
            "0",
            "-0",
            "-0.0",
            "1.0e3",
            "1E+2",
            "1e-2",
            "0.1",
            "1.0",
            "100",
            "123456789012345678901234567890",
            "-9223372036854775809",
            "18446744073709551616",
            "1e400",
            "1e-400",
            "4.9e-324",
            "0E0",
        ]
    ),
)
literal_tok = st.sampled_from(["true", "false", "null"])
key_tok = st.one_of(
    st.sampled_from(['"a"', '"b"', '"$type"', '"images"', '"\\u0061"']), json_string_tok
)
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
        st.tuples(WS, st.lists(st.tuples(WS, key_tok, WS, WS, children, WS), max_size=4)).map(
            _object
        ),
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


BAD_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "+1",
    "+Inf",
    "-Inf",
    "01",
    "-01",
    "1.",
    ".5",
    "1e",
    "1e+",
    "-",
    "--1",
    "0x10",
    "tru",
    "nul",
    "True",
    "None",
    "'a'",
    '"\\x"',
    '"\\u12G4"',
    '"\\u12"',
    '"\\U0041"',
    '"\\a"',
    "\ufeff1",
    "1_000",
    "\u00a01",
    "[1,]",
    '{"a":1,}',
    "{,}",
    "[,1]",
    '{"a"}',
    '{"a":}',
    "{1:2}",
    "{a:1}",
    "[1 2]",
    '{"a":1 "b":2}',
    "]",
    "}",
    ",",
    ":",
    "",
    "1.e5",
    "1e5.5",
    "0.0.0",
    "NULL",
    "\x0c1",
    "\x0b1",
    "\u20281",
    "//c",
    "/*c*/1",
    "0b1",
    "1 1",
]


@st.composite
def invalid_json(draw):
    kind = draw(st.sampled_from(["truncate", "garbage", "control", "bad", "empty"]))
    if kind == "truncate":
        value = draw(json_value_deep.filter(lambda v: v[0] in '[{"'))
        return value[: draw(st.integers(0, len(value) - 1))]
    if kind == "garbage":
        value = draw(json_value_deep)
        junk = draw(
            st.sampled_from(
                ["x", "]", "}", ",", ":", "{}", "[]", '"s"', "1", "null", "\x00", "/", "#"]
            )
        )
        ws = draw(WS)
        if junk[0] in "0123456789" and not ws:
            ws = " "
        return draw(WS) + value + ws + junk
    if kind == "control":
        value = draw(json_value)
        ctrl = chr(draw(st.integers(0, 0x1F)))
        return '[%s,"%s%s%s"]' % (
            value,
            draw(st.text(alphabet="ab<\u2028", max_size=3)),
            ctrl,
            draw(st.text(alphabet="cd", max_size=3)),
        )
    if kind == "bad":
        value = draw(json_value)
        bad = draw(st.sampled_from(BAD_VALUES))
        where = draw(
            st.sampled_from(["[%s,%s]", '{"k":%s,"b":%s}', "[%s,[[%s]]]"][: 2 if bad == "" else 3])
        )  # ("[[]]" is fine)
        return where % (value, bad)
    return draw(WS)


# ---------------------------------------------------------------------------
# CSV fields

csv_field_bytes = st.one_of(
    hostile_bytes,
    st.sampled_from(
        [
            b"",
            b"\\.",
            b"\\",
            b".",
            b"\\..",
            b" \\.",
            b"a b ",
            b"\x1cx",
            b"\xe2\x80\x8bx",
            b"\xef\xbb\xbfx",
            b"\xc2\xa0",
            b"\xc2\x85x",
            b"\xe3\x80\x80",
            b"\xe1\x9a\x80",
            b"\xe2\x80\xaf",
            b"\xe2\x81\x9f",
            b"\xe2\x80\x8a",
            b"\xe2\x80\x8b",
            b"\xe2\x80",
            b"\xff ",
            b"\x0b",
            b"x\r",
            b'"',
            b'""',
            b"a,b",
        ]
    ),
    st.tuples(st.sampled_from(sorted(GO_IS_SPACE)), rich_text).map(
        lambda t: (t[0] + t[1]).encode()
    ),
)


# ---------------------------------------------------------------------------
# Times

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
zone_name = st.one_of(
    st.one_of(
        st.text(alphabet=UPPER, min_size=3, max_size=3),
        st.text(alphabet=UPPER, min_size=3, max_size=3).map(lambda s: s + "T"),
        st.text(alphabet=UPPER, min_size=4, max_size=4).map(lambda s: s + "T"),
    ).filter(lambda n: n == "UTC" or n == "GMT" or n[:3] not in ("UTC", "GMT")),
    st.sampled_from(
        [
            "EST",
            "PST",
            "CET",
            "CEST",
            "AEDT",
            "NZDT",
            "ChST",
            "MeST",
            "WITA",
            "GMT",
            "GMT+3",
            "GMT-11",
            "GMT+0",
            "GMT+23",
            "+03",
            "-03",
            "+00",
            "-11",
            "+23",
            "IST",
            "JST",
            "+0023",
            "-0000",
        ]
    ),
    st.tuples(st.sampled_from("+-"), st.integers(0, 23)).map(lambda t: "GMT%s%d" % t),
    st.tuples(st.sampled_from("+-"), st.integers(0, 23)).map(lambda t: "%s%02d" % t),
)
# any last field of a Time.String() text: names Go reads, names it does not
# (under 3 characters, ±hhmm above 23), and the offset repeated
any_zone_name = st.one_of(
    zone_name,
    st.text(alphabet="+-0123456789GMTUCABhS", min_size=1, max_size=7),
    st.sampled_from(
        [
            "+5",
            "-3",
            "+0",
            "Z",
            "AB",
            "+0530",
            "-0500",
            "+0100",
            "GMT+24",
            "GMT+5",
            "+23",
            "+24",
            "UTC+5",
            "ChST",
            "WITA",
            "ABCDEF",
            "ABCD",
        ]
    ),
    st.tuples(st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99)).map(
        lambda t: "%s%02d%02d" % t
    ),
    st.none(),  # the offset repeated, as Go writes a fixed zone
)


@st.composite
def wall_clock(draw):
    y = draw(
        st.one_of(st.integers(0, 9999), st.sampled_from([1900, 2000, 2023, 2024, 2100, 0, 9999]))
    )
    mo = draw(st.integers(1, 12))
    last = days_in(y, mo)
    d = draw(st.one_of(st.integers(1, last), st.integers(min(28, last), last)))
    h = draw(st.one_of(st.integers(0, 23), st.just(23), st.just(0)))
    mi = draw(st.integers(0, 59))
    s = draw(st.integers(0, 59))
    ns = draw(
        st.one_of(
            st.just(0),
            st.integers(0, 999_999_999),
            st.sampled_from([1, 120_000_000, 999_999_999, 100_000_000, 500]),
        )
    )
    return y, mo, d, h, mi, s, ns


offsets = st.one_of(
    st.just(0),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    st.sampled_from([60, -300, 330, 345, -570, 840, -720]),
)
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
    form = draw(
        st.sampled_from(
            [
                "offset",
                "offset_z",
                "local",
                "local_z",
                "minutes",
                "minutes_z",
                "date",
                "date_z",
                "current_timestamp",
            ]
        )
    )
    off = 0
    if form.startswith("offset"):
        off = draw(offsets)
        text = "%s%s%s%s%s%02d:%02d" % (
            date,
            sep,
            clock,
            frac,
            "-" if off < 0 else "+",
            abs(off) // 60,
            abs(off) % 60,
        )
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
