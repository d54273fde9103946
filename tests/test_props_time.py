"""Property tests of the time layer (gotime): Go's Time.String() and the
driver's other layouts parse to the wall clock and offset they hold, print
as MarshalJSON / Format(RFC3339) do; impossible dates are refused."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from datasette_bsky_export import gotime
from gomodels import go_offset_text, go_time_string, rfc3339_expected, stored_zone_name_ok
from strategies import (
    any_zone_name,
    go_time_strings,
    invalid_dates,
    mono_suffix,
    offsets,
    other_time_forms,
    profile,
    wall_clock,
)


@profile(3)
@given(go_time_strings())
@example(
    ("2024-01-15 10:30:00.12 +0000 UTC m=+0.000253859", (2024, 1, 15, 10, 30, 0, 120_000_000), 0)
)
@example(
    ("2024-02-29 23:59:59.999999999 -0500 -0500", (2024, 2, 29, 23, 59, 59, 999_999_999), -300)
)
@example(("2024-01-15 10:30:00 +0530 UTC", (2024, 1, 15, 10, 30, 0, 0), 0))
@example(("0000-02-29 00:00:00 +0100 CET", (0, 2, 29, 0, 0, 0, 0), 60))
def test_time_string_form(case):
    text, clock, offset = case
    parsed = gotime.parse(text)
    assert parsed == clock + (offset,)
    assert gotime.rfc3339_nano(parsed) == rfc3339_expected(*clock, offset)
    assert gotime.rfc3339(parsed) == rfc3339_expected(*clock, offset, nano=False)


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


@pytest.mark.parametrize(
    "text,offset,nano,seconds",
    [
        (
            "2024-01-15 10:30:00 +0060 CET",
            60,
            "2024-01-15T10:30:00+01:00",
            "2024-01-15T10:30:00+01:00",
        ),
        ("2024-01-15 10:30:00 -0000 CET", 0, "2024-01-15T10:30:00Z", "2024-01-15T10:30:00Z"),
        ("2024-01-15 10:30:00 +2400 CET", 1440, None, "2024-01-15T10:30:00+24:00"),
        ("2024-01-15 10:30:00 -2360 ABCT", -1440, None, "2024-01-15T10:30:00-24:00"),
        ("2024-01-15 10:30:00 +2460 ABCT", 1500, None, "2024-01-15T10:30:00+25:00"),
        ("2024-01-15 10:30:00.5+24:00", 1440, None, "2024-01-15T10:30:00+24:00"),
        ("2024-01-15 10:30:00 +2500 CET", "bad", None, None),
        ("2024-01-15 10:30:00 +0061 CET", "bad", None, None),
        ("2024-01-15 10:30:00+00:61", "bad", None, None),
    ],
)
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
    spaced = (
        date
        + " " * widths[0]
        + clock_part
        + " " * widths[1]
        + num
        + " " * widths[2]
        + name
        + (" m=" + mono if mono else "")
    )
    assert gotime.parse(spaced) == clock + (offset,)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-01-15  10:30:00", "2024-01-15T10:30:00Z"),
        ("2024-01-15   10:30", "2024-01-15T10:30:00Z"),
        ("2024-01-15  10:30:00.5+01:00", "2024-01-15T10:30:00.5+01:00"),
        ("2024-01-15  10:30:00Z", "2024-01-15T10:30:00Z"),
    ],
)
def test_time_runs_of_spaces_other_forms(text, expected):
    """The same for the driver's other layouts (their space matches a run)."""
    assert gotime.rfc3339_nano(gotime.parse(text)) == expected


CLOCK = (2024, 1, 15, 10, 30, 0, 0)


@profile(2)
@given(wall_clock(), offsets, any_zone_name, mono_suffix)
@example(CLOCK, 300, "+5", "")
@example(CLOCK, -180, "-3", "")
@example(CLOCK, 0, "+0", " m=+1.5")
@example(CLOCK, 300, "GMT+5", "")
@example(CLOCK, 300, "+05", "")
@example(CLOCK, -300, "-0500", "")
@example(CLOCK, -300, None, "")
@example(CLOCK, 0, "+0530", "")
@example(CLOCK, 330, "+0000", "")
@example(CLOCK, 0, "+0023", "")
def test_time_zone_names_as_go_reads_them(clock, offset, name, mono):
    """The zone name of a Time.String() text: read exactly when Go's
    parseTimeZone reads it (the legacy's rule: at least 3 characters; ``±h``
    up to 23 hours; ``GMT``, ``GMT±h``; 3 upper-case letters, 4 or 5 ending
    in T...) or when it is the numeric offset repeated (``-0500 -0500``, as
    Go writes a fixed zone: our one extension); else refused."""
    text = go_time_string(*clock, offset, name, mono)
    name = go_offset_text(offset) if name is None else name
    if not stored_zone_name_ok(name, offset):
        with pytest.raises(gotime.BadTime):
            gotime.parse(text)
        return
    assert gotime.parse(text) == clock + (0 if name == "UTC" else offset,)


@pytest.mark.parametrize("name", ["UTCT", "UTCST", "UTCXT"])
def test_time_zone_name_starting_with_utc(name):
    """Go's stdTZ takes a leading "UTC" as the zone and then fails on the
    rest ("extra text"), so the legacy cannot read these times."""
    with pytest.raises(gotime.BadTime):
        gotime.parse("2024-01-15 10:30:00 +0000 %s" % name)
