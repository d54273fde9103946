"""Where a differential run against the legacy's own Go export found us
reading times and date filters differently (issue 13), each class on a tiny
archive built here with the legacy schema. The expected bytes are written
out by hand from the legacy format's rules (those tests/gomodels.py models);
where the legacy failed, the export fails naming the post's uri and column. Every case runs
through the engine, the CLI and HTTP, in JSON and in CSV.

1. A zone name under 3 characters (``+0500 +5``) fails, as in Go's parser.
2. A ``±hhmm`` zone name is read only when it repeats the numeric offset
   (``-0500 -0500``, as Go writes a fixed zone): ``+0000 +0530`` fails.
3. Start date 0001-01-01 is Go's zero time: the legacy set no start bound.
   End date 0001-01-01 still bounds (``0001-01-01 23:59:59`` is not zero).
"""

import sqlite3

import pytest
from click.testing import CliRunner
from datasette.cli import cli

from datasette_bsky_export import engine, goscan
from dsclient import make_datasette, url
from encoding import export_bytes
from helpers import new_archive

UTC = "2024-01-15 10:30:00 +0000 UTC"
CSV_HEAD = (
    b"\xef\xbb\xbfURI,CID,DID,Text,CreatedAt,LikeCount,RepostCount,ReplyCount,"
    b"QuoteCount,IsReply,ReplyParent,HasMedia,MediaFiles,EmbedType,IndexedAt\n"
)


def uri(key):
    return "at://did:plc:t/app.bsky.feed.post/" + key


def post(key, **times):
    """The row of post ``key`` as the legacy stored it; times default to UTC."""
    return dict(
        uri=uri(key),
        cid="c" + key,
        did="did:plc:t",
        text="post " + key,
        created_at=times.get("created_at", UTC),
        indexed_at=times.get("indexed_at", UTC),
        has_media=0,
        like_count=1,
        repost_count=0,
        reply_count=0,
        quote_count=0,
        is_reply=0,
        reply_parent="",
        embed_type="",
        embed_data=b"null",
        labels=b"null",
        archived_at=times.get("archived_at", UTC),
    )


def json_post(
    key,
    created="2024-01-15T10:30:00Z",
    indexed="2024-01-15T10:30:00Z",
    archived="2024-01-15T10:30:00Z",
):
    return (
        "  {\n"
        '    "uri": "at://did:plc:t/app.bsky.feed.post/%s",\n'
        '    "cid": "c%s",\n'
        '    "did": "did:plc:t",\n'
        '    "text": "post %s",\n'
        '    "created_at": "%s",\n'
        '    "indexed_at": "%s",\n'
        '    "has_media": false,\n'
        '    "like_count": 1,\n'
        '    "repost_count": 0,\n'
        '    "reply_count": 0,\n'
        '    "quote_count": 0,\n'
        '    "is_reply": false,\n'
        '    "embed_data": null,\n'
        '    "labels": null,\n'
        '    "archived_at": "%s"\n'
        "  }" % (key, key, key, created, indexed, archived)
    ).encode()


def csv_line(key, created="2024-01-15T10:30:00Z", indexed="2024-01-15T10:30:00Z"):
    return (
        "at://did:plc:t/app.bsky.feed.post/%s,c%s,did:plc:t,post %s,%s,1,0,0,0,false,,"
        "false,,,%s\n" % (key, key, key, created, indexed)
    ).encode()


def expected(fmt, *json_and_csv):
    """The posts file of these ``(json_post, csv_line)`` pairs, in order."""
    if fmt == "json":
        return b"[\n" + b",\n".join(j for j, _ in json_and_csv) + b"\n]\n"
    return CSV_HEAD + b"".join(c for _, c in json_and_csv)


# --------------------------------------------------------------------------
# The three adapters, each giving the posts file's bytes or the error message


async def via_engine(path, fmt, start_date=None, end_date=None):
    conn = sqlite3.connect(str(path))
    try:
        options = engine.ExportOptions(fmt, None, start_date, end_date)
        return export_bytes(conn, options)
    except goscan.RowError as e:
        assert str(e).startswith("post %s: column %s: " % (e.uri, e.column))
        return str(e)
    finally:
        conn.close()


async def via_cli(path, fmt, start_date=None, end_date=None):
    args = ["bsky-export", str(path), "--stdout", "--format", fmt]
    args += ["--start-date", start_date] if start_date else []
    args += ["--end-date", end_date] if end_date else []
    result = CliRunner().invoke(cli, args)
    if result.exit_code == 0:
        return result.stdout_bytes
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr


async def via_http(path, fmt, start_date=None, end_date=None):
    response = await make_datasette([path]).client.get(
        url(
            "/%s/-/bsky-export/posts.%s" % (path.stem, fmt),
            start_date=start_date,
            end_date=end_date,
        )
    )
    if response.status_code == 200:
        return response.content
    assert response.status_code == 500  # a rejected post on the first page
    return response.json()["error"]


ADAPTERS = {"engine": via_engine, "cli": via_cli, "http": via_http}
through = pytest.mark.parametrize("adapter", list(ADAPTERS))
formats = pytest.mark.parametrize("fmt", ["json", "csv"])


def fails_on(outcome, key, column):
    assert isinstance(outcome, str), "exported where the legacy failed"
    assert "post %s: column %s: " % (uri(key), column) in outcome


# --------------------------------------------------------------------------
# 1. Zone names under 3 characters


@pytest.mark.asyncio
@through
@formats
@pytest.mark.parametrize("column", ["created_at", "indexed_at", "archived_at"])
@pytest.mark.parametrize(
    "stored",
    [
        "2024-01-15 10:30:00 +0500 +5",
        "2024-01-15 10:30:00 -0300 -3",
        "2024-01-15 10:30:00 +0000 +0",
    ],
)
async def test_zone_name_under_3_characters_fails(tmp_path, adapter, fmt, column, stored):
    path = tmp_path / "short.db"
    new_archive(path, [post("1"), post("2", **{column: stored})]).close()
    outcome = await ADAPTERS[adapter](path, fmt)
    fails_on(outcome, "2", column)
    assert "zone name %s is shorter than the 3 characters" % stored.rsplit(" ", 1)[1] in outcome


@pytest.mark.asyncio
@through
@formats
@pytest.mark.parametrize(
    "stored,rfc3339",
    [
        ("2024-01-15 10:30:00 +0500 GMT+5", "2024-01-15T10:30:00+05:00"),
        ("2024-01-15 10:30:00 -0300 -03", "2024-01-15T10:30:00-03:00"),
    ],
)
async def test_zone_names_go_reads_still_export(tmp_path, adapter, fmt, stored, rfc3339):
    path = tmp_path / "named.db"
    new_archive(path, [post("1", created_at=stored, indexed_at=stored)]).close()
    outcome = await ADAPTERS[adapter](path, fmt)
    assert outcome == expected(
        fmt, (json_post("1", rfc3339, rfc3339), csv_line("1", rfc3339, rfc3339))
    )


# --------------------------------------------------------------------------
# 2. The fixed-offset extension: the name equal to the offset only


@pytest.mark.asyncio
@through
@formats
@pytest.mark.parametrize(
    "stored,rfc3339",
    [
        ("2024-01-15 10:30:00 -0500 -0500", "2024-01-15T10:30:00-05:00"),
        ("2024-01-15 10:30:00.25 +0530 +0530", "2024-01-15T10:30:00.25+05:30"),
        ("2024-01-15 10:30:00 +0000 +0000", "2024-01-15T10:30:00Z"),
    ],
)
async def test_fixed_offset_name_equal_to_offset_exports(tmp_path, adapter, fmt, stored, rfc3339):
    path = tmp_path / "fixed.db"
    new_archive(path, [post("1", created_at=stored, archived_at=stored)]).close()
    outcome = await ADAPTERS[adapter](path, fmt)
    seconds = rfc3339.replace(".25", "")  # CSV: Format(RFC3339) drops the fraction
    assert outcome == expected(
        fmt, (json_post("1", rfc3339, archived=rfc3339), csv_line("1", seconds))
    )


@pytest.mark.asyncio
@through
@formats
@pytest.mark.parametrize("column", ["created_at", "indexed_at", "archived_at"])
@pytest.mark.parametrize(
    "stored",
    [
        "2024-01-15 10:30:00 +0000 +0530",
        "2024-01-15 10:30:00 -0500 -0400",
        "2024-01-15 10:30:00 +0500 -0500",
    ],
)
async def test_fixed_offset_name_other_than_offset_fails(tmp_path, adapter, fmt, column, stored):
    path = tmp_path / "other.db"
    new_archive(path, [post("1"), post("2", **{column: stored})]).close()
    outcome = await ADAPTERS[adapter](path, fmt)
    fails_on(outcome, "2", column)
    _, offset, name = stored.rsplit(" ", 2)
    assert "zone name %s is not the offset %s repeated" % (name, offset) in outcome


# --------------------------------------------------------------------------
# 3. Date bounds at Go's zero time

YEAR_0 = "0000-06-01 00:00:00 +0000 UTC"  # sorts before 0001-01-01 as text


@pytest.mark.asyncio
@through
@formats
async def test_start_date_of_go_zero_time_sets_no_bound(tmp_path, adapter, fmt):
    path = tmp_path / "zero.db"
    new_archive(path, [post("1"), post("0", created_at=YEAR_0)]).close()
    outcome = await ADAPTERS[adapter](path, fmt, start_date="0001-01-01")
    old = "0000-06-01T00:00:00Z"
    assert outcome == expected(
        fmt, (json_post("1"), csv_line("1")), (json_post("0", old), csv_line("0", old))
    )
    # the day after is a bound as any other
    outcome = await ADAPTERS[adapter](path, fmt, start_date="0001-01-02")
    assert outcome == expected(fmt, (json_post("1"), csv_line("1")))


@pytest.mark.asyncio
@through
@formats
async def test_start_date_of_go_zero_time_meets_times_not_stored_as_text(tmp_path, adapter, fmt):
    """An INTEGER sorts before any TEXT: a start bound kept it out, none
    meets it, and the export fails on it as the legacy's did."""
    path = tmp_path / "integer.db"
    new_archive(path, [post("1"), post("2", created_at=20240115)]).close()
    fails_on(await ADAPTERS[adapter](path, fmt, start_date="0001-01-01"), "2", "created_at")
    outcome = await ADAPTERS[adapter](path, fmt, start_date="0001-01-02")
    assert outcome == expected(fmt, (json_post("1"), csv_line("1")))


@pytest.mark.asyncio
@through
@formats
async def test_end_date_of_go_zero_time_still_bounds(tmp_path, adapter, fmt):
    """The legacy's end bound is the day's last second, 0001-01-01 23:59:59,
    which is not Go's zero time: the clause stays, and only what sorts
    before it as text is exported (an INTEGER time too, so that fails)."""
    path = tmp_path / "end.db"
    new_archive(path, [post("1"), post("0", created_at=YEAR_0)]).close()
    outcome = await ADAPTERS[adapter](path, fmt, end_date="0001-01-01")
    old = "0000-06-01T00:00:00Z"
    assert outcome == expected(fmt, (json_post("0", old), csv_line("0", old)))
    new_archive(tmp_path / "end-integer.db", [post("1"), post("2", created_at=7)]).close()
    outcome = await ADAPTERS[adapter](tmp_path / "end-integer.db", fmt, end_date="0001-01-01")
    fails_on(outcome, "2", "created_at")
