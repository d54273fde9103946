"""The selection (issue 19.1): Datasette's filters of the posts table
(``<column>__<op>=<value>``, ``_search``, ``_where``) narrow every export,
byte for byte as the legacy app wrote those posts.

The oracle: the golden full exports (legacy bytes) cut into one span per
post (JSON: the array's items; CSV: its records, quote-aware), each span
mapped to its post by the legacy order. A filtered export must be exactly
the spans of the posts that the same filter, written by hand in SQL here,
selects, joined as the legacy joins them. Every Datasette operation, both
formats, and every path: the CLI on stdout (one process, and two with many
ranges), the CLI's export directory, the HTTP posts file and the ZIP's.
Then search, _where and who may use it, restrict_to_actor, bad filters,
media.json, count.json, the page queries' plans, and the links that carry
the table page's filters to the export page and on to the download.
Runs on Datasette 0.65 and 1.0a."""

import asyncio
import contextlib
import csv
import dataclasses
import io
import json
import re
import shutil
import sqlite3
import sys
import urllib.parse
import zipfile

import markupsafe
import pytest
from click.testing import CliRunner
from datasette.cli import cli

from datasette_bsky_export import params as http_params
from datasette_bsky_export.pager import KeysetPager
from dsclient import HTML, cookies, make_datasette, plugin
from helpers import CSV_EMPTY, DID0, DID1, DID2, FIXTURES

LEGACY_ORDER = "ORDER BY created_at DESC, uri ASC, rowid"
BASE = "/%s/-/bsky-export/"
SEARCHABLE = {"tables": {"posts": {"fts_table": "posts_fts"}}}

# --------------------------------------------------------------------------
# The oracle: goldens cut into posts


def json_items(data):
    """The array items of a legacy JSON export, as written (2-space indent:
    an item is the text from a line '  {' to a line '  }')."""
    if data == b"[]\n":
        return []
    assert data.startswith(b"[\n") and data.endswith(b"\n]\n")
    return re.split(rb"(?<=\n  }),\n(?=  {\n)", data[2:-3])


def csv_records(data):
    """(BOM + header, records) of a legacy CSV export: each record ends at
    a newline outside quotes (a text may hold newlines, quotes as "")."""
    records, start, quoted = [], 0, False
    for i, byte in enumerate(data):
        if byte == 0x22:
            quoted = not quoted
        elif byte == 0x0A and not quoted:
            records.append(data[start : i + 1])
            start = i + 1
    assert start == len(data) and not quoted
    return records[0], records[1:]


def joined(fmt, head, spans):
    """A posts file of these posts, as the legacy joins them."""
    if fmt == "csv":
        return head + b"".join(spans)
    return b"[\n" + b",\n".join(spans) + b"\n]\n" if spans else b"[]\n"


def span_uri(fmt, span):
    if fmt == "json":
        return json.loads(span)["uri"]
    return next(csv.reader(io.StringIO(span.decode("utf-8", "surrogateescape"))))[0]


@dataclasses.dataclass(frozen=True)
class Golden:
    head: bytes
    posts: list  # (rowid, span) in the file's order


class Oracle:
    """The goldens of the archives in ``folder`` cut into posts, and what a
    filter written in SQL selects there."""

    def __init__(self, folder):
        self.folder = folder
        self.goldens = {}

    def connect(self, db):
        path = "file:%s?mode=ro" % (self.folder / (db + ".db"))
        return contextlib.closing(sqlite3.connect(path, uri=True))

    def golden(self, name, fmt):
        """The golden ``expected/<name>.<fmt>`` cut into posts: the full
        export's mapped by the legacy order, a narrower one's by its uris."""
        if (name, fmt) not in self.goldens:
            data = (FIXTURES / "expected" / ("%s.%s" % (name, fmt))).read_bytes()
            head, spans = csv_records(data) if fmt == "csv" else (b"", json_items(data))
            db = name.split("-")[0]
            with self.connect(db) as conn:
                if name.endswith("-all"):
                    sql = "SELECT rowid FROM posts " + LEGACY_ORDER
                    rowids = [rowid for (rowid,) in conn.execute(sql)]
                else:
                    sql = "SELECT rowid FROM posts WHERE uri = ?"
                    rowids = [conn.execute(sql, [span_uri(fmt, s)]).fetchone()[0] for s in spans]
            assert len(rowids) == len(spans)
            self.goldens[name, fmt] = Golden(head, list(zip(rowids, spans)))
        return self.goldens[name, fmt]

    def selected(self, db, sql, params=()):
        with self.connect(db) as conn:
            return {
                rowid for (rowid,) in conn.execute("SELECT rowid FROM posts WHERE " + sql, params)
            }

    def expected(self, case, fmt):
        """The posts file of ``case``: the spans of its golden's posts that its SQL selects."""
        golden = self.golden(case.golden, fmt)
        chosen = self.selected(case.db, case.sql, case.params)
        return joined(fmt, golden.head, [span for rowid, span in golden.posts if rowid in chosen])

    def posts(self, case):
        golden = self.golden(case.golden, "json")
        chosen = self.selected(case.db, case.sql, case.params)
        return sum(rowid in chosen for rowid, _ in golden.posts)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Copies of the fixture archives, and a media root holding every other
    media file of realistic.db."""
    folder = tmp_path_factory.mktemp("selection")
    for name in ("realistic.db", "adversarial.db"):
        shutil.copyfile(FIXTURES / name, folder / name)
    conn = sqlite3.connect(str(FIXTURES / "realistic.db"))
    paths = [p for (p,) in conn.execute("SELECT file_path FROM media ORDER BY file_path")]
    conn.close()
    for path in paths[::2]:
        target = folder / "media" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"JPEG")
    return folder


@pytest.fixture(scope="module")
def oracle(folder):
    return Oracle(folder)


def test_the_goldens_cut_into_every_post(oracle):
    """The oracle itself: each full golden is its head and one span per
    post, joined back byte for byte; span i is the post i of the legacy order."""
    for db in ("realistic", "adversarial"):
        with oracle.connect(db) as conn:
            uris = [u for (u,) in conn.execute("SELECT uri FROM posts " + LEGACY_ORDER)]
        for fmt in ("json", "csv"):
            golden = oracle.golden(db + "-all", fmt)
            data = (FIXTURES / "expected" / ("%s-all.%s" % (db, fmt))).read_bytes()
            spans = [span for _, span in golden.posts]
            assert joined(fmt, golden.head, spans) == data
            assert len(spans) == len(uris) == {"realistic": 1500, "adversarial": 400}[db]
            for uri, span in zip(uris, spans):
                if isinstance(uri, bytes):
                    uri = uri.decode("utf-8", "replace")
                assert span_uri(fmt, span) == uri
    assert oracle.golden("realistic-all", "csv").head == CSV_EMPTY


# --------------------------------------------------------------------------
# The cases: Datasette's arguments, and the same selection in SQL


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    args: tuple  # Datasette's (key, value) pairs
    sql: str  # the same selection, by hand
    params: tuple = ()
    db: str = "realistic"
    own: tuple = ()  # the plugin's did, start_date, end_date as (key, value)
    golden: str = ""  # the golden the selection is cut from (default: <db>-all)
    cli: bool = True  # the CLI has a form for it

    def __post_init__(self):
        if not self.golden:
            object.__setattr__(self, "golden", self.db + "-all")

    def __str__(self):
        return self.name


def case(name, args, sql, *params, **more):
    return Case(name, tuple(args), sql, params, **more)


WINDOW0 = (("did", DID0), ("start_date", "2023-12-21"), ("end_date", "2025-01-19"))
CASES = [
    case("bare", [("has_media", "1")], "has_media = 1"),
    case("exact", [("embed_type__exact", "images")], "embed_type = 'images'"),
    case("exact-did-column", [("did__exact", DID1)], "did = ?", DID1),
    case("not", [("embed_type__not", "images")], "embed_type != 'images'"),
    case("contains", [("text__contains", "meetup")], "text LIKE '%meetup%'"),
    case("startswith", [("text__startswith", "Café")], "text LIKE 'Café%'"),
    case("endswith", [("text__endswith", ".")], "text LIKE '%.'"),
    case("gt", [("like_count__gt", "5")], "like_count > 5"),
    case("gte", [("like_count__gte", "10")], "like_count >= 10"),
    case("lt", [("like_count__lt", "1")], "like_count < 1"),
    case("lte", [("repost_count__lte", "1")], "repost_count <= 1"),
    case("like", [("text__like", "Big%")], "text LIKE 'Big%'"),
    case("notlike", [("text__notlike", "%a%")], "text NOT LIKE '%a%'"),
    case("glob", [("text__glob", "*[0-9]*")], "text GLOB '*[0-9]*'"),
    case("in-comma", [("did__in", DID1 + "," + DID2)], "did IN (?, ?)", DID1, DID2),
    case(
        "in-json",
        [("embed_type__in", '["images", "record"]')],
        "embed_type IN ('images', 'record')",
    ),
    case(
        "notin-comma",
        [("embed_type__notin", "images,external")],
        "embed_type NOT IN ('images', 'external')",
    ),
    case("notin-json", [("did__notin", json.dumps([DID0]))], "did != ?", DID0),
    case("isnull-none", [("reply_parent__isnull", "1")], "reply_parent IS NULL"),
    case("notnull-all", [("embed_type__notnull", "1")], "embed_type IS NOT NULL"),
    case("isblank", [("reply_parent__isblank", "1")], "reply_parent IS NULL OR reply_parent = ''"),
    case(
        "notblank", [("embed_type__notblank", "1")], "embed_type IS NOT NULL AND embed_type != ''"
    ),
    case("isnull", [("embed_data__isnull", "1")], "embed_data IS NULL", db="adversarial"),
    case("notnull", [("labels__notnull", "1")], "labels IS NOT NULL", db="adversarial"),
    case(
        "date",
        [("created_at__date", "2024-01-15")],
        "date(created_at) = '2024-01-15'",
        db="adversarial",
    ),
    case("adversarial-gte", [("like_count__gte", "1")], "like_count >= 1", db="adversarial"),
    case(
        "two-filters",
        [("has_media", "1"), ("like_count__gte", "5")],
        "has_media = 1 AND like_count >= 5",
    ),
    case(
        "search",
        [("_search", "cafe")],
        "rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'cafe')",
    ),
    case(
        "search-column",
        [("_search_text", "project")],
        "rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'text: project')",
        cli=False,
    ),
    case("where", [("_where", "like_count > repost_count")], "like_count > repost_count"),
    case(
        "where-and-filter",
        [("_where", "reply_count >= 1"), ("text__contains", "the")],
        "reply_count >= 1 AND text LIKE '%the%'",
    ),
    case("empty", [("text__contains", "no post says this")], "text LIKE '%no post says this%'"),
    case(
        "did-dates",
        [("has_media", "1")],
        "has_media = 1",
        own=WINDOW0,
        golden="realistic-did0-window0",
    ),
    case(
        "did-search",
        [("_search", "went"), ("like_count__lt", "3")],
        "rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'went') AND like_count < 3",
        own=(("did", DID1),),
        golden="realistic-did1",
    ),
    case(
        "dates-empty",
        [("like_count__gte", "10")],
        "like_count >= 10 AND 0",  # no post is from 2099 on
        own=(("start_date", "2099-01-01"),),
    ),
]


def test_the_cases_select_what_they_should(oracle):
    """Each operation's values select a part of the archive (not nothing,
    not everything) unless the case says otherwise: else a wrong filter
    could pass as the right one."""
    counts = {c.name: oracle.posts(c) for c in CASES}
    assert counts["isnull-none"] == counts["empty"] == counts["dates-empty"] == 0
    assert counts["notnull-all"] == 1500
    assert counts["isnull"] == 1 and counts["notnull"] == 399 and counts["date"] == 7
    total = {"realistic": 1500, "adversarial": 400}
    for c in CASES:
        if c.name not in ("isnull-none", "notnull-all", "empty", "dates-empty"):
            assert 0 < counts[c.name] < total[c.db], c.name
    operations = {key.rpartition("__")[2] for c in CASES for key, _ in c.args if "__" in key}
    assert operations == {
        "exact", "not", "contains", "startswith", "endswith", "gt", "gte", "lt", "lte",
        "like", "notlike", "glob", "in", "notin", "isnull", "notnull", "isblank", "notblank",
        "date",
    }  # fmt: skip


# --------------------------------------------------------------------------
# The paths


@pytest.fixture(scope="module")
def ds(folder):
    """Datasette on the copies: search on the legacy posts_fts, media under the root."""
    config = {
        "databases": {"realistic": SEARCHABLE, "adversarial": SEARCHABLE},
        **plugin(media_root=str(folder / "media")),
    }
    return make_datasette([folder / "realistic.db", folder / "adversarial.db"], config)


def escape(text):
    """``text`` as Datasette's templates write it into HTML."""
    return str(markupsafe.escape(text))


def get(ds, path, actor=None, headers=None):
    jar = cookies(ds, actor) if actor is not None else None
    return asyncio.run(ds.client.get(path, cookies=jar, headers=headers))


def query(*pairs):
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def cli_args(case, fmt):
    args = ["--format", fmt, "--quiet"]
    for key, value in case.own:
        args += ["--" + key.replace("_", "-"), value]
    for key, value in case.args:
        if key == "_search":
            args += ["--search", value]
        elif key == "_where":
            args += ["--where", value]
        else:
            args += ["--filter", "%s=%s" % (key, value)]
    return args


def run_cli(*args):
    return CliRunner().invoke(cli, ["bsky-export", *map(str, args)], prog_name="datasette")


def cli_to_file(path, *args):
    """The CLI in this process with stdout a real file (workers write to it)."""
    saved = sys.stdout
    with open(path, "wb") as out:
        sys.stdout = io.TextIOWrapper(out, write_through=True)
        try:
            code = cli.main(
                ["bsky-export", *map(str, args)], prog_name="datasette", standalone_mode=False
            )
        finally:
            sys.stdout.detach()
            sys.stdout = saved
    assert code == 0
    return path.read_bytes()


def by_stdout(jobs):
    def export(ds, folder, tmp_path, case, fmt):
        archive = folder / (case.db + ".db")
        args = cli_args(case, fmt) + ["--stdout", "--jobs", str(jobs)]
        if jobs == 1:
            result = run_cli(archive, *args)
            assert result.exit_code == 0, result.output
            return result.stdout_bytes, None
        return cli_to_file(tmp_path / "stdout", archive, *args, "--range-posts", "50"), None

    return export


def by_directory(ds, folder, tmp_path, case, fmt):
    output = tmp_path / "exports"
    args = cli_args(case, fmt) + ["--output", output, "--jobs", "1"]
    result = run_cli(folder / (case.db + ".db"), *args)
    assert result.exit_code == 0, result.output
    (manifest,) = output.glob("*/*/manifest.json")
    posts = manifest.parent / ("posts." + fmt)
    return posts.read_bytes() if posts.exists() else None, json.loads(manifest.read_bytes())


def by_http(ds, folder, tmp_path, case, fmt):
    response = get(ds, BASE % case.db + "posts." + fmt + query(*case.own, *case.args))
    assert response.status_code == 200, response.text
    return response.content, None


def by_zip(ds, folder, tmp_path, case, fmt):
    url = BASE % case.db + "export.zip" + query(("format", fmt), *case.own, *case.args)
    response = get(ds, url)
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    posts = archive.read("posts." + fmt) if "posts." + fmt in names else None
    return posts, json.loads(archive.read("manifest.json"))


PATHS = {
    "cli-stdout-jobs1": by_stdout(1),
    "cli-stdout-jobs2": by_stdout(2),
    "cli-directory": by_directory,
    "http": by_http,
    "zip": by_zip,
}


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize(
    "case,path",
    [
        pytest.param(case, path, id="%s-%s" % (case, path))
        for case in CASES
        for path in PATHS
        if case.cli or not path.startswith("cli")
    ],
)
def test_filtered_export_is_the_selected_spans(ds, folder, tmp_path, oracle, case, path, fmt):
    posts, manifest = PATHS[path](ds, folder, tmp_path, case, fmt)
    expected = oracle.expected(case, fmt)
    count = oracle.posts(case)
    if manifest is None:
        assert posts == expected
    else:  # a package holds no posts file without a post, as the legacy
        assert posts == (expected if count else None)
        assert manifest["post_count"] == count
    if not count:
        assert expected == (b"[]\n" if fmt == "json" else CSV_EMPTY)


# --------------------------------------------------------------------------
# count.json and media.json


@pytest.mark.parametrize("case", CASES, ids=str)
def test_count_json_counts_the_selection(ds, oracle, case):
    response = get(ds, BASE % case.db + "count.json" + query(*case.own, *case.args))
    assert response.status_code == 200, response.text
    count = oracle.posts(case)
    assert response.json()["posts"] == count
    assert response.json()["message"] == "%s post%s match%s" % (
        format(count, ","),
        "" if count == 1 else "s",
        "es" if count == 1 else "",
    )
    exported = get(ds, BASE % case.db + "posts.json" + query(*case.own, *case.args)).content
    assert len(json_items(exported)) == count


MEDIA_CASES = [c for c in CASES if c.db == "realistic"]


@pytest.mark.parametrize("case", MEDIA_CASES, ids=str)
def test_media_json_counts_the_selections_media(ds, folder, oracle, case):
    """media.json counts the media files of the selected posts (with
    media), and those of them under the media root (every other one)."""
    chosen = oracle.selected(case.db, case.sql, case.params)
    with oracle.connect(case.db) as conn:
        golden = {rowid for rowid, _ in oracle.golden(case.golden, "json").posts}
        rows = conn.execute(
            "SELECT p.rowid, m.file_path FROM posts p JOIN media m ON m.post_uri = p.uri "
            "WHERE p.has_media = 1"
        ).fetchall()
    files = {path for rowid, path in rows if rowid in chosen and rowid in golden}
    found = sum((folder / "media" / path).exists() for path in files)
    response = get(ds, BASE % case.db + "media.json" + query(*case.own, *case.args))
    assert response.status_code == 200, response.text
    assert (response.json()["total"], response.json()["found"]) == (len(files), found)
    if case.name == "gte":
        assert 0 < found < len(files) < 468


# --------------------------------------------------------------------------
# Search


def test_search_without_the_fts_table_config_is_a_400_naming_the_fix(folder):
    plain = make_datasette([folder / "realistic.db"])
    message = (
        "_search: Datasette does not search realistic's posts until the posts table's "
        "configuration says fts_table: posts_fts (README: Search)"
    )
    for name in ("posts.json", "posts.csv", "export.zip", "media.json", "count.json"):
        response = get(plain, BASE % "realistic" + name + "?_search=cafe")
        assert response.status_code == 400
        assert response.json()["error"] == message
    response = get(plain, (BASE % "realistic")[:-1] + "?_search=cafe", headers=HTML)
    assert response.status_code == 400
    assert escape(message) in response.text


def test_cli_search_without_a_full_text_index_exits_2(folder, tmp_path):
    archive = tmp_path / "nofts.db"
    shutil.copyfile(folder / "realistic.db", archive)
    conn = sqlite3.connect(str(archive))
    conn.executescript(
        "DROP TRIGGER posts_ai; DROP TRIGGER posts_ad; DROP TRIGGER posts_au; DROP TABLE posts_fts;"
    )
    conn.close()
    result = run_cli(archive, "--stdout", "--search", "cafe")
    assert result.exit_code == 2
    assert "Error: _search: nofts has no full-text index of its posts" in result.stderr
    assert result.stdout_bytes == b""


# --------------------------------------------------------------------------
# _where: who may, and what it may not do


def test_where_is_refused_to_an_actor_denied_execute_sql(folder, oracle):
    denied = make_datasette([folder / "realistic.db"], {"allow_sql": {"id": "alice"}})
    where = query(("_where", "like_count > repost_count"))
    for name in ("posts.json", "posts.csv", "export.zip", "media.json", "count.json"):
        for actor in (None, {"id": "bob"}):
            response = get(denied, BASE % "realistic" + name + where, actor)
            assert response.status_code == 403, (name, actor)
            assert response.json()["error"] == "_where= is not allowed"
    page = get(denied, (BASE % "realistic")[:-1] + where + "&format=json", headers=HTML)
    assert page.status_code == 403 and "_where= is not allowed" in page.text
    allowed = get(denied, BASE % "realistic" + "posts.json" + where, {"id": "alice"})
    (case,) = [c for c in CASES if c.name == "where"]
    assert allowed.content == oracle.expected(case, "json")


@pytest.mark.parametrize("where", ["1) OR (1", "1; DROP TABLE posts", "text = 'open", "1 /* open"])
def test_where_that_is_not_one_expression_is_a_400(ds, folder, where):
    for name in ("posts.json", "export.zip", "count.json"):
        response = get(ds, BASE % "realistic" + name + query(("_where", where)))
        assert response.status_code == 400
        assert "in filter: %s" % where in response.json()["error"]
    result = run_cli(folder / "realistic.db", "--stdout", "--where", where)
    assert result.exit_code == 2
    assert "in filter: %s" % where in result.stderr and result.stdout_bytes == b""


@pytest.fixture(scope="module")
def restricted(folder):
    return make_datasette([folder / "realistic.db"], plugin(restrict_to_actor=True))


@pytest.mark.parametrize(
    "args,sql,params",
    [
        ([("_where", "did = '%s'" % DID0)], "did = ?", [DID0]),
        ([("_where", "did != ''")], "did != ''", []),
        ([("_where", "1 OR did != ''")], "1", []),
        ([("did__in", DID0 + "," + DID1)], "did IN (?, ?)", [DID0, DID1]),
        ([("did__in", json.dumps([DID0, DID2]))], "did IN (?, ?)", [DID0, DID2]),
        ([("did__not", DID1)], "did != ?", [DID1]),
        ([("did__notin", DID0)], "did != ?", [DID0]),
        ([("did__exact", DID0)], "did = ?", [DID0]),
        ([("like_count__gte", "1")], "like_count >= 1", []),
    ],
    ids=[
        "where-other-did",
        "where-any-did",
        "where-or",
        "in-comma",
        "in-json",
        "not-own",
        "notin-other",
        "exact-other",
        "column",
    ],
)
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_restrict_to_actor_filters_only_narrow(restricted, oracle, args, sql, params, fmt):
    """An actor's filters select among their own posts, never beyond."""
    case = Case("restricted", tuple(args), sql, tuple(params), golden="realistic-did1")
    own = {"id": DID1}
    for extra in ((), (("did", DID1),)):
        response = get(restricted, BASE % "realistic" + "posts." + fmt + query(*extra, *args), own)
        assert response.status_code == 200
        assert response.content == oracle.expected(case, fmt)
    count = get(restricted, BASE % "realistic" + "count.json" + query(*args), own)
    assert count.json()["posts"] == oracle.posts(case)
    assert get(restricted, BASE % "realistic" + "count.json" + query(*args)).status_code == 403


def test_restrict_to_actor_refuses_a_broken_where(restricted):
    response = get(
        restricted, BASE % "realistic" + "posts.json" + query(("_where", "1) OR (1")), {"id": DID1}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unbalanced ) in filter: 1) OR (1"


# --------------------------------------------------------------------------
# Bad filters

BAD = [
    ("foo", "1", "unknown parameter 'foo': the posts table has no column 'foo' to filter on"),
    (
        "foo__gte",
        "1",
        "unknown parameter 'foo__gte': the posts table has no column 'foo' to filter on",
    ),
    ("text__bogus", "1", "filter 'text__bogus': no operation 'bogus'; use "),
]


@pytest.mark.parametrize("key,value,message", BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize(
    "name", ["posts.json", "posts.csv", "export.zip", "media.json", "count.json", "page"]
)
def test_bad_filter_is_a_400_naming_it(ds, key, value, message, name):
    if name == "page":
        for extra in ((), (("format", "csv"),)):
            url = (BASE % "realistic")[:-1] + query((key, value), *extra)
            response = get(ds, url, headers=HTML)
            assert response.status_code == 400
            assert escape(message) in response.text
        return
    response = get(ds, BASE % "realistic" + name + query((key, value)))
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert "content-disposition" not in response.headers


@pytest.mark.parametrize("key,value,message", BAD, ids=[b[0] for b in BAD])
def test_cli_bad_filter_exits_2_naming_it(folder, key, value, message):
    result = run_cli(folder / "realistic.db", "--stdout", "--filter", "%s=%s" % (key, value))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith("Error: " + message)
    assert result.stdout_bytes == b""


CANNOT_RUN = [
    (("_where", "like_count > :nope"), "You did not supply a value for binding parameter :nope."),
    (("_where", "like_count > :_limit"), "binding parameter :_limit."),  # the pager's own
    (("_where", "like_count > ?"), "Binding 1 has no name"),
    (("_where", "nosuchfn(like_count)"), "no such function: nosuchfn"),
    (("text__in", "[[1]]"), "type 'list' is not supported"),
    (("text__in", "[1,"), None),
    (("text__notin", '["a"'), None),
]


@pytest.mark.parametrize("arg,message", CANNOT_RUN, ids=[a[1] for a, _ in CANNOT_RUN])
def test_filters_that_cannot_run_are_a_400_never_a_500(ds, folder, arg, message):
    """Mistakes in a filter's SQL or values answer 400 (exit 2) with
    SQLite's or JSON's reason, before any byte, on every path."""
    key, value = arg
    if message is None:  # Datasette reads a list in [ as JSON
        with pytest.raises(ValueError) as reason:
            json.loads(value)
        expected = "filter %r: %r is not a JSON list: %s" % (key, value, reason.value)
    else:
        expected = "the filters cannot run: "
    for name in ("posts.json", "posts.csv", "export.zip", "media.json", "count.json"):
        response = get(ds, BASE % "realistic" + name + query(arg))
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"].startswith(expected)
        assert message is None or message in response.json()["error"]
    option = ("--where", value) if key == "_where" else ("--filter", "%s=%s" % arg)
    result = run_cli(folder / "realistic.db", "--stdout", *option)
    assert result.exit_code == 2
    assert "Error: " + expected in result.stderr and result.stdout_bytes == b""


def test_cli_filter_without_equals_exits_2(folder):
    result = run_cli(folder / "realistic.db", "--stdout", "--filter", "has_media")
    assert result.exit_code == 2
    assert (
        "Error: --filter must be COLUMN=VALUE or COLUMN__OP=VALUE, not 'has_media'" in result.stderr
    )


# --------------------------------------------------------------------------
# Keyset paging


@pytest.fixture
def page_queries(monkeypatch):
    """The SQL and parameters of every page query the pagers run."""
    queries = []
    fetch = KeysetPager.fetch

    def recording_fetch(self, conn, text=str):
        page_sql = self.page_sql

        def recorded():
            sql, params = page_sql()
            queries.append((sql, params))
            return sql, params

        self.page_sql = recorded
        try:
            return fetch(self, conn, text)
        finally:
            del self.page_sql

    monkeypatch.setattr(KeysetPager, "fetch", recording_fetch)
    return queries


def plan(conn, sql, params):
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


@pytest.mark.parametrize(
    "args",
    [
        [("has_media", "1")],
        [("did__in", DID1 + "," + DID2)],
        [("_search", "cafe")],
    ],
    ids=["has_media", "did-in", "search"],
)
@pytest.mark.parametrize("path", ["http", "zip", "media.json", "cli"])
def test_filtered_pages_walk_the_order_index(ds, folder, monkeypatch, page_queries, args, path):
    """Every page query of a filtered export (pages of 100 posts) is a
    keyset query (no OFFSET) on idx_posts_created_at, sorting only ties:
    left to itself, SQLite would take the DID index or the search's rowids
    and sort all the posts they select for every page."""
    monkeypatch.setattr(http_params, "PAGE_SIZE", 100)
    if path == "cli":
        selection = Case("paged", tuple(args), "")
        archive = folder / "realistic.db"
        result = run_cli(
            archive, *cli_args(selection, "json"), "--stdout", "--jobs", "1", "--batch-size", "100"
        )
        assert result.exit_code == 0
    else:
        name = {"http": "posts.json", "zip": "export.zip", "media.json": "media.json"}[path]
        assert get(ds, BASE % "realistic" + name + query(*args)).status_code == 200
    assert len(page_queries) > 1  # more than one page: keys after the first
    conn = sqlite3.connect(str(folder / "realistic.db"))
    for n, (sql, params) in enumerate(page_queries):
        assert "OFFSET" not in sql.upper()
        assert ("created_at <=" in sql) == (n > 0)  # after the page before
        steps = plan(conn, sql, params)
        assert any("USING INDEX idx_posts_created_at" in step for step in steps), steps
        sorts = [step for step in steps if "TEMP B-TREE" in step and "ORDER BY" in step]
        assert sorts in ([], ["USE TEMP B-TREE FOR RIGHT PART OF ORDER BY"]), steps
    if args[0][0] != "has_media":
        sql, params = page_queries[-1]
        steps = plan(conn, sql.replace(" INDEXED BY idx_posts_created_at", ""), params)
        assert not any("idx_posts_created_at" in step for step in steps), steps
        assert "USE TEMP B-TREE FOR ORDER BY" in steps
    conn.close()


# --------------------------------------------------------------------------
# From the table page to the download

TABLE_ARGS = (("has_media", "1"), ("like_count__gte", "10"))


def test_the_table_page_links_carry_its_filters(ds):
    """The link above the posts table and its table action both carry the
    table's filters (and not how it is displayed: _sort, _size)."""
    page = get(
        ds, "/realistic/posts" + query(*TABLE_ARGS, ("_sort", "uri"), ("_size", "5")), headers=HTML
    )
    assert page.status_code == 200
    href = escape((BASE % "realistic")[:-1] + query(*TABLE_ARGS))
    links = re.findall(r'href=\\?"(/realistic/-/bsky-export[^"\\]*)\\?"', page.text)
    assert links == [href, href]


@pytest.mark.parametrize(
    "form,download",
    [
        ((("format", "csv"), ("package", "file")), "posts.csv"),
        ((("format", "json"),), "posts.json"),
        ((("format", "csv"), ("package", "zip")), "export.zip?format=csv&"),
    ],
)
def test_the_export_page_form_carries_the_filters_to_the_download(ds, oracle, form, download):
    page_url = (BASE % "realistic")[:-1]
    page = get(ds, page_url + query(*TABLE_ARGS), headers=HTML)
    assert page.status_code == 200
    for key, value in TABLE_ARGS:
        assert (
            '<input type="hidden" name="%s" value="%s" data-selection>' % (key, value) in page.text
        )
    response = get(ds, page_url + query(*form, *TABLE_ARGS))
    assert response.status_code == 302
    location = response.headers["location"]
    separator = "" if download.endswith("&") else "?"
    assert location == BASE % "realistic" + download + separator + query(*TABLE_ARGS)[1:]
    case = Case("table", TABLE_ARGS, "has_media = 1 AND like_count >= 10")
    fmt = dict(form)["format"]
    body = get(ds, location).content
    if "zip" in download:
        body = zipfile.ZipFile(io.BytesIO(body)).read("posts.csv")
    assert body == oracle.expected(case, fmt)
