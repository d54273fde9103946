"""Whole posts rows for the property tests.

A value is abstract, (storage class, payload), and becomes what Python's
sqlite3 returns once the page's text type is known (``materialize``). Rows
are drawn realistic (the form the fast path takes), hostile, mutated, from
the fixture archives, or legal (with the value Go's database/sql scan gives,
for the expected bytes).
"""

import sqlite3

from hypothesis import strategies as st

from datasette_bsky_export import postrow
from gomodels import (
    PARSE_BOOL,
    RawNumber,
    days_in,
    go_format_float,
    go_marshal,
    go_time_string,
    rfc3339_expected,
)
from helpers import FIXTURES
from strategies import (
    ANY_FLOAT,
    INT64,
    go_time_strings,
    hostile_bytes,
    json_text,
    mono_suffix,
    other_time_forms,
    rich_text,
)


def T(b):
    return ("TEXT", b)


def B(b):
    return ("BLOB", b)


def I(n):  # noqa: E743 (the storage class INTEGER, like T, B, R)
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
    b"",
    b" x",
    b"x ",
    b"a,b",
    b'a"b',
    b"\\.",
    b"\\x",
    b"-",
    b"~",
    b"#",
    b"\\",
    b"\t",
    b"\xe2\x80\xa8x",
    b"\xc2\xa0x",
    b"a\nb",
    b"a\rb",
    b"\xff",
    b"\xe2\x80\x8bx",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\x7f",
    b"<a&b>",
    b"caf\xc3\xa9",
]
short_hostile = st.one_of(st.sampled_from(HOSTILE_SHORT), hostile_bytes)
odd_scalars = st.one_of(
    st.builds(I, INT64),
    st.builds(R, ANY_FLOAT),
    st.just(NULL),
    st.builds(B, st.binary(max_size=6)),
)


def string_column(realistic):
    return st.one_of(
        st.builds(T, realistic),
        st.builds(T, realistic),
        st.builds(T, short_hostile),
        st.builds(B, realistic),
        st.builds(B, short_hostile),
        odd_scalars,
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
    ns = draw(
        st.one_of(
            st.just(0),
            st.integers(0, 999_999_999),
            st.sampled_from([120_000_000, 1, 999_999_999, 826_919_000]),
        )
    )
    text = go_time_string(
        y,
        mo,
        d,
        h,
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
        ns,
        0,
        "UTC",
        draw(mono_suffix),
    )
    return text.encode()


@st.composite
def legal_other_time(draw):
    """Times the legacy reads that are not in the common form."""
    if draw(st.booleans()):
        text, _, offset = draw(go_time_strings())
        if draw(st.booleans()) and "m=" not in text:
            text = (
                draw(st.sampled_from([" ", "\u00a0", "\t", ""]))
                + text
                + draw(st.sampled_from([" ", "\u3000", "\n", ""]))
            )
        return text.encode()
    return draw(other_time_forms())[0].encode()


TIME_HOSTILE = [
    b"",
    b"garbage",
    b"yesterday",
    b"2023-02-29 10:30:00 +0000 UTC",
    b"2024-02-30 10:30:00 +0000 UTC",
    b"2024-04-31 10:30:00 +0000 UTC",
    b"2024-01-15 24:00:00 +0000 UTC",
    b"2024-01-15 23:59:60 +0000 UTC",
    b"2024-13-01 10:30:00 +0000 UTC",
    b"2024-00-10 10:30:00 +0000 UTC",
    b"2024-01-15 10:30:00.120 +0000 UTC",
    b"2024-01-15 10:30:00.1234567891 +0000 UTC",
    b"2024-01-15 10:30:00,5 +0000 UTC",
    b"2024-01-15 10:30:00. +0000 UTC",
    b"2024-01-15 10:30:00 +2400 CET",
    b"2024-01-15 10:30:00 -2360 -2360",
    b"2024-01-15 10:30:00 +2500 CET",
    b"2024-01-15 10:30:00 +0000 UTC m=",
    b"2024-01-15 10:30:00 +0000 UTCm=+1",
    b"m=2024-01-15 10:30:00 +0000 UTC",
    b" 2024-01-15 10:30:00 +0000 UTC",
    b"2024-01-15 10:30:00 +0000 UTC ",
    b"2024-01-15 10:30:00 +0000 UTC\n m=+1",
    b"2024-01-15 10:30:00 +0000 utc",
    b"2024-01-15 10:30:00 +0000 ABCDEF",
    b"2024-01-15T10:30:00ZZ",
    b"2024-01-15 10:30:00 +0000 UTC\xff",
    b"\xff2024-01-15 10:30:00 +0000 UTC",
    b"2024-1-15 10:30:00 +0000 UTC",
    b"2024-01-15 7:05:00 +0000 UTC",
    b"2024-01-15 7:05",
    b"0000-02-29 12:00:00 +0000 UTC",
    b"1900-02-29 12:00:00 +0000 UTC",
    b"2000-02-29 12:00:00 +0000 UTC",
    b"9999-12-31 23:59:59.999999999 +0000 UTC",
    b"2024-01-15 10:30:00 -0000 UTC",
    b"2024-01-15 10:30:00 +0000 GMT",
    b"2024-01-15 10:30:00 +0000 +0000",
    b"2024-01-15 10:30:00+00:00",
    b"2024-01-15 10:30:00 +0000 UTC m=+0.1 m=+0.2",
    b"\xd9\xa22024-01-15",
    b"2024-01-15 10:30:00 +0500 +5",
    b"2024-01-15 10:30:00 +0000 +0",
    b"2024-01-15 10:30:00 +0000 +0530",
    b"2024-01-15 10:30:00 -0500 -0500",
    b"2024-01-15 10:30:00 +0000 +0000",
    b"2024-01-15 10:30:00 +0500 GMT+5",
]
time_realistic = go_utc_time()  # the form the fast path takes


@st.composite
def edge_day_time(draw):
    """The common form on days 28-31 of any month of any year (Feb 29 of
    leap and common years, Apr 31...), hour 23 or 24: real dates or not."""
    y = draw(
        st.one_of(
            st.integers(0, 9999),
            st.sampled_from([0, 4, 100, 400, 1900, 2000, 2023, 2024, 2100, 2400, 9996, 9999]),
        )
    )
    return (
        "%04d-%02d-%02d %02d:59:59%s +0000 UTC%s"
        % (
            y,
            draw(st.integers(1, 12)),
            draw(st.integers(28, 31)),
            draw(st.sampled_from([23, 23, 24, 0])),
            draw(st.sampled_from(["", ".5", ".120"])),
            draw(mono_suffix),
        )
    ).encode()


time_any = st.one_of(
    st.builds(T, time_realistic),
    st.builds(T, legal_other_time()),
    st.builds(T, st.sampled_from(TIME_HOSTILE)),
    st.builds(T, edge_day_time()),
    st.builds(T, st.tuples(go_utc_time(), hostile_bytes).map(b"".join)),
    st.builds(B, go_utc_time()),
    st.builds(I, INT64),
    st.builds(R, ANY_FLOAT),
    st.just(NULL),
)

# flags and counts ------------------------------------------------------------

flag_realistic = st.sampled_from([I(0), I(1)])
flag_any = st.one_of(
    flag_realistic,
    flag_realistic,
    st.sampled_from(
        [
            I(2),
            I(-1),
            I(3),
            I(2**62),
            I(-(2**63)),
            T(b"true"),
            T(b"1"),
            T(b"0"),
            T(b"t"),
            T(b"F"),
            T(b"TRUE"),
            T(b"False"),
            T(b"yes"),
            T(b" 1"),
            T(b"1 "),
            T(b""),
            T(b"tRUE"),
            B(b"1"),
            B(b"true"),
            B(b"no"),
            R(1.0),
            R(0.0),
            R(0.5),
            NULL,
        ]
    ),
)
count_realistic = st.one_of(st.builds(I, st.integers(0, 1000)), st.builds(I, INT64))
count_any = st.one_of(
    count_realistic,
    count_realistic,
    st.sampled_from(
        [
            R(5.0),
            R(-0.0),
            R(0.0),
            R(0.5),
            R(1e20),
            R(1e6),
            R(999999.0),
            R(123456.0),
            R(float("inf")),
            R(-3.0),
            T(b"42"),
            T(b"+5"),
            T(b"-0"),
            T(b"007"),
            T(b" 5"),
            T(b"5 "),
            T(b"abc"),
            T(b"1e3"),
            T(b"1_000"),
            T(b"9223372036854775808"),
            T(b"9223372036854775807"),
            T(b"-9223372036854775808"),
            T(b"-9223372036854775809"),
            T(b""),
            T(b"\xd9\xa3"),
            B(b"7"),
            B(b"x"),
            NULL,
        ]
    ),
    st.builds(T, INT64.map(lambda n: str(n).encode())),
)

# embeds ---------------------------------------------------------------------


embed_text = st.one_of(
    st.text(alphabet="abc xyz.,!", max_size=12),
    rich_text,
    st.sampled_from(
        [
            "D & E",
            "<b>hi</b>",
            "a\u2028b",
            "\u2029",
            'it\'s "quoted"',
            "back\\slash",
            "\\u003c",
            "tab\there",
            "\U0001f600",
            "",
        ]
    ),
)
hash_text = st.one_of(
    st.text(alphabet=_ID, min_size=8, max_size=20).map(lambda s: "bafkrei" + s),
    st.sampled_from(["", "@", "a,b", 'q"q', " sp", "\u00e9\u00e8", "\\.", "x;y"]),
)
media_url = st.one_of(
    st.builds(
        lambda h, ext: "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:abc/" + h + ext,
        hash_text,
        st.sampled_from(["@jpeg", "@png", "", "@", "@@x", "@a/b"]),
    ),
    st.sampled_from(["no-slash", "https://x/", "https://x/@jpeg", "", "/", "/h", "a/b/c@d"]),
)
json_number = st.one_of(
    st.integers(-(2**53), 2**53),
    st.sampled_from(
        [
            RawNumber(t)
            for t in ["1.5", "0.1", "1e+21", "1e-7", "-2.5", "123.456", "0.000001", "100"]
        ]
    ),
)
image_obj = st.fixed_dictionaries(
    {
        "alt": embed_text,
        "fullsize": st.one_of(media_url, media_url, json_number, st.none()),
        "thumb": media_url,
    },
    optional={
        "aspectRatio": st.fixed_dictionaries(
            {"height": st.integers(1, 4000), "width": st.integers(1, 4000)}
        )
    },
)
images_obj = st.fixed_dictionaries(
    {
        "$type": st.just("app.bsky.embed.images#view"),
        "images": st.lists(st.one_of(image_obj, image_obj, embed_text, st.none()), max_size=3),
    }
)
external_obj = st.fixed_dictionaries(
    {
        "$type": st.just("app.bsky.embed.external#view"),
        "external": st.fixed_dictionaries(
            {"description": embed_text, "title": embed_text, "uri": embed_text},
            optional={"thumb": st.one_of(media_url, json_number)},
        ),
    },
)
record_obj = st.fixed_dictionaries(
    {
        "$type": st.just("app.bsky.embed.record#view"),
        "record": st.fixed_dictionaries(
            {
                "uri": embed_text,
                "cid": embed_text,
                "value": st.fixed_dictionaries(
                    {"text": embed_text, "langs": st.lists(embed_text, max_size=2)}
                ),
                "viewer": st.fixed_dictionaries({"muted": st.booleans()}),
            }
        ),
    }
)
record_with_media_obj = st.fixed_dictionaries(
    {
        "$type": st.just("app.bsky.embed.recordWithMedia#view"),
        "media": st.one_of(images_obj, external_obj),
        "record": record_obj,
    }
)
embed_obj = st.one_of(images_obj, external_obj, record_obj, record_with_media_obj)
labels_obj = st.lists(
    st.fixed_dictionaries(
        {
            "src": embed_text,
            "val": st.sampled_from(["porn", "!hide", "<x>"]),
            "cts": st.just("2024-01-01T00:00:00.000Z"),
            "neg": st.booleans(),
        }
    ),
    max_size=2,
)
go_embed = embed_obj.map(lambda o: go_marshal(o).encode())
go_labels = labels_obj.map(lambda o: go_marshal(o).encode())


def _sub(old, new):
    def mutate(b):
        return b.replace(old, new, 1)

    return mutate


EMBED_MUTATIONS = [
    _sub(b"\\u003c", b"<"),
    _sub(b"\\u003c", b"\\u003C"),
    _sub(b"\\u0026", b"&"),
    _sub(b"\\u003e", b"\\u003E"),
    _sub(b"\\u2028", b"\xe2\x80\xa8"),
    _sub(b"{", b'{"x":"\\\\u003c",'),
    _sub(b"{", b'{"x":"\\\\u0026<",'),
    _sub(b"{", b'{"x":"\\\\\\u003c",'),
    _sub(b"{", b'{"a":1,"a":2,'),
    _sub(b"{", b'{"f":1.0,'),
    _sub(b"{", b'{"f":1e5,'),
    _sub(b"{", b'{"f":-0,'),
    _sub(b"{", b'{"f":1.5e-7,'),
    _sub(b"{", b'{"f":18446744073709551615,'),
    _sub(b"{", b'{"f":1e400,'),
    _sub(b"{", b'{"s":"\\u00e9",'),
    _sub(b"{", b'{"s":"\\ud83d\\ude00",'),
    _sub(b"{", b'{"s":"\\ud800",'),
    _sub(b"{", b'{"s":"\\/",'),
    _sub(b"{", b'{"s":"\xe2\x80\xa8",'),
    _sub(b"{", b'{"s":"\xff",'),
    _sub(b"{", b'{"s":"\x01",'),
    _sub(b"{", b"{ "),
    _sub(b":", b": "),
    _sub(b",", b" ,\n"),
    _sub(b"}", b",}"),
    _sub(b"{", b'{"images":[{"fullsize":"https://x/y/h\xff@jpeg"}],'),
    _sub(b"{", b'{"images":[{"fullsize":"https://x/y/h\\u00e9\\ud800@jpeg"}],'),
    _sub(b"{", b'{"external":{"thumb":"https://x/t@j"},"external":{"thumb":"https://x/u@j"},'),
    lambda b: b + b" ",
    lambda b: b"\n" + b,
    lambda b: b[:-1],
    lambda b: b + b"x",
    lambda b: b + b"{}",
    lambda b: b"\xef\xbb\xbf" + b,
    lambda b: b"[" * 1100 + b + b"]" * 1100,
]
embed_mutated = st.tuples(st.one_of(go_embed, go_labels), st.sampled_from(EMBED_MUTATIONS)).map(
    lambda t: t[1](t[0])
)
arbitrary_json_bytes = json_text.map(lambda s: s.encode("utf-8", "surrogateescape"))
embed_realistic = st.one_of(
    st.just(B(b"null")),
    st.just(B(b"null")),
    st.builds(B, go_embed),
    st.builds(B, go_embed),
    st.just(NULL),
    st.sampled_from(
        [
            B(b"{}"),
            B(b"[]"),
            B(b'"s"'),
            B(b"1"),
            B(b"1.5e-7"),
            B(b"-0.0"),
            B(b'{"a":[]}'),
            B(b'"\\u003c"'),
            B(b"true"),
        ]
    ),
)
labels_realistic = st.one_of(
    st.just(B(b"null")), st.just(B(b"null")), st.builds(B, go_labels), st.just(NULL)
)
embed_any = st.one_of(
    embed_realistic,
    embed_realistic,
    st.builds(B, embed_mutated),
    st.builds(B, embed_mutated),
    st.builds(T, embed_mutated),
    st.builds(T, go_embed),
    st.builds(B, arbitrary_json_bytes),
    st.builds(T, arbitrary_json_bytes),
    st.sampled_from(
        [
            B(b""),
            T(b""),
            T(b"null"),
            B(b"nul"),
            B(b" null"),
            B(b"NaN"),
            B(b"+Inf"),
            T(b"\xff"),
            B(b"[" * 10001 + b"]" * 10001),
        ]
    ),
    st.builds(I, INT64),
    st.builds(R, ANY_FLOAT),
    st.builds(B, hostile_bytes),
)

# whole rows -------------------------------------------------------------------

REALISTIC = {
    "uri": st.builds(T, uri_b),
    "cid": st.builds(T, cid_b),
    "did": st.builds(T, did_b),
    "text": st.builds(T, text_realistic),
    "created_at": st.builds(T, time_realistic),
    "indexed_at": st.builds(T, time_realistic),
    "has_media": flag_realistic,
    "like_count": count_realistic,
    "repost_count": count_realistic,
    "reply_count": count_realistic,
    "quote_count": count_realistic,
    "is_reply": flag_realistic,
    "reply_parent": st.one_of(st.just(T(b"")), st.just(T(b"")), st.builds(T, uri_b)),
    "embed_type": st.one_of(st.just(T(b"")), st.sampled_from([T(e) for e in EMBED_TYPES])),
    "embed_data": embed_realistic,
    "labels": labels_realistic,
    "archived_at": st.builds(T, time_realistic),
}
ANY = {
    "uri": string_column(uri_b),
    "cid": string_column(cid_b),
    "did": string_column(did_b),
    "text": st.one_of(
        st.builds(T, text_realistic),
        st.builds(T, text_realistic),
        st.builds(B, hostile_bytes),
        odd_scalars,
    ),
    "created_at": time_any,
    "indexed_at": time_any,
    "has_media": flag_any,
    "like_count": count_any,
    "repost_count": count_any,
    "reply_count": count_any,
    "quote_count": count_any,
    "is_reply": flag_any,
    "reply_parent": st.one_of(REALISTIC["reply_parent"], string_column(uri_b)),
    "embed_type": st.one_of(REALISTIC["embed_type"], string_column(st.sampled_from(EMBED_TYPES))),
    "embed_data": embed_any,
    "labels": embed_any,
    "archived_at": time_any,
}


def _fixture_rows():
    """The fixture databases' rows as abstract values (read-only)."""
    rows = []
    for name in ("realistic.db", "adversarial.db", "rejects.db"):
        path = FIXTURES / name
        if not path.exists():
            continue
        conn = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)
        try:
            conn.text_factory = bytes
            sql = "SELECT %s FROM posts" % ", ".join(
                "typeof(%s), CAST(%s AS BLOB), %s" % (c, c, c) for c in postrow.COLUMNS
            )
            for raw in conn.execute(sql):
                row = []
                for k in range(len(postrow.COLUMNS)):
                    kind, as_bytes, value = raw[3 * k : 3 * k + 3]
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
COLUMN_COUNT = len(postrow.COLUMNS)


@st.composite
def abstract_rows(draw, source=None):
    kinds = ["realistic", "realistic", "mutated", "mutated", "random"]
    if FIXTURE_ROWS:
        kinds += ["fixture", "fixture_mutated"]
    kind = source or draw(st.sampled_from(kinds))
    if kind.startswith("fixture"):
        row = list(draw(st.sampled_from(FIXTURE_ROWS)))
    elif kind == "random":
        row = [draw(ANY[c]) for c in postrow.COLUMNS]
    else:
        row = [draw(REALISTIC[c]) for c in postrow.COLUMNS]
    if kind.endswith("mutated"):
        for k in draw(
            st.lists(st.integers(0, COLUMN_COUNT - 1), min_size=1, max_size=3, unique=True)
        ):
            row[k] = draw(ANY[postrow.COLUMNS[k]])
    return tuple(row)


def valid_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def materialize(page, fmt, force_bytes=False):
    """Rows as Python's sqlite3 returns them for the pager: CSV pages read
    TEXT as bytearray; JSON pages as str, unless some TEXT value of the page
    is not UTF-8 (then the whole page is re-read as bytearray)."""
    text_as_str = (
        fmt == "json"
        and not force_bytes
        and all(valid_utf8(v) for row in page for kind, v in row if kind == "TEXT")
    )
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


pages = st.lists(abstract_rows(), min_size=1, max_size=8)


# ---------------------------------------------------------------------------
# Legal rows: what the legacy accepts, with the value Go's database/sql scan
# gives it, from which gomodels builds the expected bytes.


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
            text = (
                draw(st.sampled_from([" ", "\u00a0", "\t", "\u2003"]))
                + text
                + draw(st.sampled_from([" ", "\u3000", "\n", ""]))
            )
    else:
        text, wall, offset = draw(other_time_forms())
    return T(text.encode()), (
        rfc3339_expected(*wall, offset),
        rfc3339_expected(*wall, offset, nano=False),
    )


@st.composite
def legal_raw_json(draw):
    """embed_data/labels: the abstract value and Go's []byte (None: absent)."""
    kind = draw(
        st.sampled_from(["null", "null", "none", "empty", "json", "json", "go", "integer", "real"])
    )
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
    b = {
        "null": st.just(b"null"),
        "json": arbitrary_json_bytes,
        "go": st.one_of(go_embed, go_labels),
    }[kind]
    b = draw(b)
    return draw(st.sampled_from([B(b), B(b), T(b)])), b


LEGAL = dict(
    [(c, legal_string()) for c in ("uri", "cid", "did", "text", "reply_parent", "embed_type")]
    + [(c, legal_count()) for c in ("like_count", "repost_count", "reply_count", "quote_count")]
    + [(c, legal_time()) for c in ("created_at", "indexed_at", "archived_at")]
    + [(c, legal_flag()) for c in ("has_media", "is_reply")]
    + [(c, legal_raw_json()) for c in ("embed_data", "labels")]
)
legal_rows = st.tuples(*[LEGAL[c] for c in postrow.COLUMNS]).map(
    lambda pairs: (tuple(p[0] for p in pairs), dict(zip(postrow.COLUMNS, (p[1] for p in pairs))))
)
