"""Independent references for Go's behaviour, written here from Go's rules.

utf8.DecodeRune, encoding/json's string encoder, Indent and Marshal,
encoding/csv's fieldNeedsQuotes, strconv.FormatFloat and ParseBool,
Time.String() and MarshalJSON / Format(RFC3339), and the legacy's post
encoding and getMediaFilesList. The property tests compare the package with
these; nothing here imports the package.
"""

import calendar
import datetime
import decimal
import json
import math


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


_SHORT_ESCAPES = {
    0x22: b'\\"',
    0x5C: b"\\\\",
    0x08: b"\\b",
    0x0C: b"\\f",
    0x0A: b"\\n",
    0x0D: b"\\r",
    0x09: b"\\t",
}


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
            out += b[i : i + size]
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
    num = go_offset_text(offset)
    return "%04d-%02d-%02d %02d:%02d:%02d%s %s %s%s" % (
        y,
        mo,
        d,
        h,
        mi,
        s,
        frac,
        num,
        name if name is not None else num,
        mono,
    )


def go_offset_text(offset):
    """The ``-0700`` numeric offset of Time.String() (offset in minutes)."""
    return "%s%02d%02d" % ("-" if offset < 0 else "+", abs(offset) // 60, abs(offset) % 60)


def go_parse_signed_offset(value):
    """Go's time.parseSignedOffset: the length of a ``±h`` offset name (the
    hours at most 23) at the start of ``value``, 0 when there is none."""
    if not value or value[0] not in "+-":
        return 0
    rest = value[1:]
    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    if not digits or int(digits) > 23:
        return 0
    return 1 + len(digits)


def go_parse_time_zone(value):
    """Go's time.parseTimeZone: the length of the zone name at the start of
    ``value``, 0 when there is none."""
    if len(value) < 3:
        return 0
    if value[:4] in ("ChST", "MeST"):
        return 4
    if value[:3] == "GMT":
        return 3 + (go_parse_signed_offset(value[3:]) if len(value) > 3 else 0)
    if value[0] in "+-":
        return go_parse_signed_offset(value)
    upper = 0
    while upper < min(6, len(value)) and "A" <= value[upper] <= "Z":
        upper += 1
    if upper == 3 or (upper == 4 and (value[3] == "T" or value[:4] == "WITA")):
        return upper
    return 5 if upper == 5 and value[4] == "T" else 0


def go_reads_zone_name(name):
    """Whether Go's time.Parse (stdTZ) reads the whole of ``name``, the last
    field of a Time.String() text: a leading "UTC" is taken alone, then the
    zone must end the value."""
    if name[:3] == "UTC":
        return name == "UTC"
    return go_parse_time_zone(name) == len(name) > 0


def stored_zone_name_ok(name, offset):
    """The zone names a stored Time.String() text may carry for us: the ones
    Go reads, and (our one extension) the name Go writes for a fixed offset,
    which the legacy could not read back: the numeric offset repeated."""
    return go_reads_zone_name(name) or name == go_offset_text(offset)


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
                out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
            elif c < 0x20 or ch in "<>&\u2028\u2029":
                out.append("\\u%04x" % c)
            else:
                out.append(ch)
        return "".join(out) + '"'
    if isinstance(obj, list):
        return "[" + ",".join(map(go_marshal, obj)) + "]"
    return "{" + ",".join(go_marshal(k) + ":" + go_marshal(v) for k, v in obj.items()) + "}"


PARSE_BOOL = {
    b"1": True,
    b"t": True,
    b"T": True,
    b"TRUE": True,
    b"true": True,
    b"True": True,
    b"0": False,
    b"f": False,
    b"F": False,
    b"FALSE": False,
    b"false": False,
    b"False": False,
}


def expected_json(go):
    """The legacy's bytes for one post (``go``: column -> scanned Go value)."""
    lines = [
        b'    "%s": %s' % (c.encode(), go_json_string(go[c])) for c in ("uri", "cid", "did", "text")
    ]
    lines += [
        b'    "%s": "%s"' % (c.encode(), go[c][0].encode()) for c in ("created_at", "indexed_at")
    ]
    lines.append(b'    "has_media": ' + (b"true" if go["has_media"] else b"false"))
    lines += [
        b'    "%s": %d' % (c.encode(), go[c])
        for c in ("like_count", "repost_count", "reply_count", "quote_count")
    ]
    lines.append(b'    "is_reply": ' + (b"true" if go["is_reply"] else b"false"))
    lines += [
        b'    "%s": %s' % (c.encode(), go_json_string(go[c]))
        for c in ("reply_parent", "embed_type")
        if go[c]
    ]  # omitempty
    for c in ("embed_data", "labels"):
        if go[c]:  # omitempty on json.RawMessage
            text = go[c].decode("utf-8", "surrogateescape")
            lines.append(
                b'    "%s": %s'
                % (c.encode(), go_indent(strip_ws(text), 2).encode("utf-8", "surrogateescape"))
            )
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
        data = json.loads(
            raw.decode("utf-8", "surrogateescape"),
            parse_float=_finite,
            parse_int=_finite,
            parse_constant=_no_constants,
        )
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
            name = url[url.rindex("/") + 1 :]
            if "@" in name:
                name = name[: name.index("@")]
            if name:
                hashes.append(name)
    # Go decodes invalid UTF-8 and lone surrogate escapes to U+FFFD
    joined = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in ";".join(hashes))
    return joined.encode("utf-8")


def expected_csv(go):
    b = (b"false", b"true")
    fields = [
        go["uri"],
        go["cid"],
        go["did"],
        go["text"],
        go["created_at"][1].encode(),
        b"%d" % go["like_count"],
        b"%d" % go["repost_count"],
        b"%d" % go["reply_count"],
        b"%d" % go["quote_count"],
        b[go["is_reply"]],
        go["reply_parent"],
        b[go["has_media"]],
        expected_media_files(go["has_media"], go["embed_data"]),
        go["embed_type"],
        go["indexed_at"][1].encode(),
    ]
    return b",".join(map(go_csv_field, fields)) + b"\n"
