"""Stored times, read the way the legacy driver (modernc.org/sqlite) read
them, and printed the way Go's time package prints them.

A stored time is first tried as Go's ``Time.String()`` output (anything from
`` m=`` dropped, surrounding space trimmed), then, with one trailing ``Z``
removed, against the driver's list of ISO layouts. Beyond the legacy, the
fixed-offset form Go writes itself (``-0500 -0500``) is read too: only a
``±hhmm`` zone name equal to the numeric offset before it, as Go writes it
(Go's parser, and so the legacy, rejects ``-0500`` as a name; ``+0000 +0530``
stays rejected). As in Go, a zone name has at least 3 characters, and the
numeric offset counts except with the zone name ``UTC``, which wins.
"""

import re
from typing import NamedTuple

# Go's unicode.IsSpace (used by strings.TrimSpace and encoding/csv).
GO_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_DATE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
_CLOCK = r"([0-9]{1,2}):([0-9]{2})"
_SECONDS = r":([0-9]{2})(?:[.,]([0-9]+))?"

# Go's time.Parse takes a run of spaces in the value for a space of the layout.
# "2006-01-02 15:04:05.999999999 -0700 MST"
_STRING_FORM = re.compile(_DATE + " +" + _CLOCK + _SECONDS + r" +([+-])([0-9]{2})([0-9]{2}) +(\S+)")
# modernc's parseTimeFormats, each with ' ' or 'T' between date and clock
_ISO_FORMS = [
    re.compile(_DATE + "(?: +|T)" + _CLOCK + _SECONDS + r"([+-])([0-9]{2}):([0-9]{2})"),
    re.compile(_DATE + "(?: +|T)" + _CLOCK + _SECONDS),
    re.compile(_DATE + "(?: +|T)" + _CLOCK),
    re.compile(_DATE),
]
_UPPER_RUN = re.compile("[A-Z]{0,6}")
_SIGNED_OFFSET = re.compile("[+-]([0-9]+)")
_FIXED_OFFSET_ZONE = re.compile("[+-][0-9]{4}")
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class BadTime(ValueError):
    pass


class GoTime(NamedTuple):
    """A stored time as Go's time.Time held it: the wall clock and its zone's
    offset from UTC."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanos: int
    offset: int  # minutes east of UTC


def _zone_ok(zone, offset):
    """Whether Go's parseTimeZone accepts the whole of ``zone``, or it is the
    name Go gives a fixed offset: the numeric ``offset`` (``-0500``) repeated."""
    if len(zone) < 3:
        return False
    if zone in ("ChST", "MeST", "WITA"):
        return True
    if zone.startswith("UTC"):  # Go takes "UTC" and then finds extra text
        return zone == "UTC"
    if zone.startswith("GMT"):
        rest = zone[3:]
        return rest == "" or _signed_offset_ok(rest)
    if zone[0] in "+-":
        return _signed_offset_ok(zone) or zone == offset
    upper = len(_UPPER_RUN.match(zone).group(0))
    if upper != len(zone):
        return False
    return upper == 3 or (upper in (4, 5) and zone[-1] == "T")


def _zone_problem(zone, offset):
    if len(zone) < 3:
        return "the zone name %s is shorter than the 3 characters Go's parser needs" % zone
    if _FIXED_OFFSET_ZONE.fullmatch(zone):
        return "the zone name %s is not the offset %s repeated, as Go writes it" % (zone, offset)
    return "Go's parser does not read the zone name %s" % zone


def _signed_offset_ok(text):
    m = _SIGNED_OFFSET.fullmatch(text)
    return m is not None and int(m.group(1)) <= 23


def _build(groups, sign=None, off_h="00", off_m="00") -> GoTime:
    year, month, day, hour, minute, second, frac = groups
    year, month, day = int(year), int(month), int(day)
    hour, minute = int(hour or 0), int(minute or 0)
    second = int(second or 0)
    if not 1 <= month <= 12:
        raise BadTime("month out of range")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day < 1 or day > _DAYS[month - 1] + (month == 2 and leap):
        raise BadTime("day out of range")
    if hour >= 24:
        raise BadTime("hour out of range")
    if minute >= 60:
        raise BadTime("minute out of range")
    if second >= 60:
        raise BadTime("second out of range")
    off_h, off_m = int(off_h), int(off_m)
    if off_h > 24 or off_m > 60:  # Go allows 24h and 60m here
        raise BadTime("time zone offset out of range")
    offset = (off_h * 60 + off_m) * (-1 if sign == "-" else 1)
    nanos = int(frac[:9].ljust(9, "0")) if frac else 0
    return GoTime(year, month, day, hour, minute, second, nanos, offset)


def parse(text: str) -> GoTime:
    """Parse a stored time (str); raises BadTime."""
    cut = text.find("m=")
    candidate = (text[:cut] if cut > 0 else text).strip(GO_SPACES)
    m = _STRING_FORM.fullmatch(candidate)
    if m:  # (then no ISO layout can match: they have no space after the clock)
        g = m.groups()
        zone, offset = g[10], "".join(g[7:10])
        if not _zone_ok(zone, offset):
            raise BadTime(_zone_problem(zone, offset))
        parsed = _build(g[:7], g[7], g[8], g[9])
        if zone == "UTC":  # Go's Parse sets UTC for this name, whatever the offset says
            return parsed._replace(offset=0)
        return parsed
    candidate = text[:-1] if text.endswith("Z") else text
    for number, form in enumerate(_ISO_FORMS):
        m = form.fullmatch(candidate)
        if m:
            g = m.groups() + (None,) * (10 - len(m.groups()))
            if number == 0:
                return _build(g[:7], g[7], g[8], g[9])
            return _build(g[:7])
    raise BadTime("not a time the legacy archive format can hold")


def _zone(offset: int) -> str:
    if offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    return "%s%02d:%02d" % (sign, abs(offset) // 60, abs(offset) % 60)


def rfc3339_nano(t: GoTime) -> str:
    """Go's Time.MarshalJSON: RFC 3339 with trimmed nanoseconds."""
    if abs(t.offset) >= 24 * 60:
        raise BadTime("time zone offset of 24 hours or more cannot be written as RFC 3339")
    frac = ("." + ("%09d" % t.nanos).rstrip("0")) if t.nanos else ""
    return "%04d-%02d-%02dT%02d:%02d:%02d%s%s" % (
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        frac,
        _zone(t.offset),
    )


def rfc3339(t: GoTime) -> str:
    """Go's Time.Format(time.RFC3339): whole seconds, fraction dropped."""
    return "%04d-%02d-%02dT%02d:%02d:%02d%s" % (
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        _zone(t.offset),
    )
