"""The archive's session secrets (issue 16.1): ``sessions.access_token`` and
``sessions.refresh_token`` read as NULL through every read Datasette offers,
and the file of a database whose ``sessions`` table holds rows is not
served, unless the owner sets ``expose_session_tokens: true``.

A real ``datasette serve`` (``-i``, ``--crossdb``, one SQL thread, so every
request reuses the same connections after the custom SQL before it) serves
an archive with a known secret, a view selecting the tokens and a canned
query selecting them; every URL is fetched from it and from a second server
where the database exposes them, where each body must hold the secret (so a
URL that reads nothing cannot pass). Runs on Datasette 0.65 and 1.0a."""

import http.client
import json
import shutil
import sqlite3
import urllib.parse

import datasette.version
import pytest
from datasette.app import Datasette

from browser import Server, config_args
from datasette_bsky_export import sessions, settings
from dsclient import HTML, cookies, plugin
from helpers import FIXTURES

ACCESS = "eyJhY2Nlc3Mi.SECRET-access-5f1d0c7e"
REFRESH = "eyJyZWZyZXNo.SECRET-refresh-9b2e4a61"
SECRETS = [ACCESS, REFRESH]
ROW = ("sess-1", "did:plc:454ml6lg4tjfcz4kaedcmpb5", "alice.example", "Alice", ACCESS, REFRESH)
OLD = datasette.version.__version__.startswith("0.")


def forms(secret):
    """The secret as a body could carry it: as stored, and as hex()."""
    return [secret.encode(), secret.encode().hex().upper().encode()]


def make_archive(path, session=True):
    """A copy of the realistic archive with the secret in ``sessions`` (in
    the legacy schema, as the fixture has it) and a view over the tokens."""
    shutil.copyfile(FIXTURES / "realistic.db", path)
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("pragma table_info(sessions)")]
        assert columns == [
            "id",
            "did",
            "handle",
            "display_name",
            "access_token",
            "refresh_token",
            "expires_at",
            "created_at",
        ]
        if session:
            conn.execute(
                "insert into sessions values (?, ?, ?, ?, ?, ?, '2030-01-01 00:00:00', "
                "'2025-01-01 00:00:00')",
                ROW,
            )
        conn.execute(
            "create view session_tokens as select handle, access_token, refresh_token from sessions"
        )
    conn.close()
    return path


CANNED = {"tokens": {"sql": "select handle, access_token, refresh_token from sessions"}}


def server_config(expose):
    """The canned query; with ``expose``, the archive's own block sets
    ``expose_session_tokens: true`` (crossdb reads honour that block too)."""
    block = {"queries": CANNED}
    if expose:
        block["plugins"] = {settings.PLUGIN: {"expose_session_tokens": True}}
    return {"databases": {"archive": block}}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("secrets")
    archive = make_archive(folder / "archive.db")
    empty = make_archive(folder / "empty.db", session=False)
    started = {}
    try:
        for expose in (False, True):
            args = config_args(server_config(expose), folder / ("config-%s.json" % expose))
            args += ["-i", str(archive), "-i", str(empty), "--crossdb"]
            args += ["--setting", "num_sql_threads", "1"]
            log = folder / ("server-%s.log" % expose)
            started[expose] = Server(None, log, args)
        yield started
    finally:
        for server in started.values():
            server.stop()


def fetch(server, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def query(database, sql, ext="", **extra):
    """The URL of arbitrary SQL on this Datasette line."""
    base = "/%s%s" % (database, ext) if OLD else "/%s/-/query%s" % (database, ext)
    return base + "?" + urllib.parse.urlencode({"sql": sql, **extra})


SQL = [
    "select * from sessions",
    "select access_token, refresh_token from sessions",
    "select json_object('access', access_token, 'refresh', refresh_token) as j from sessions",
    "select substr(refresh_token, 1) as r, substr(access_token, 1) as a from sessions",
    "select refresh_token || '' as r from sessions",
    "select * from session_tokens",
    "select * from main.sessions",
    "select (select refresh_token from sessions) as r",
    "with s as (select * from sessions) select * from s",
    "select group_concat(refresh_token) as r from sessions",
    "select refresh_token from sessions union all select access_token from sessions",
    "select * from sessions where refresh_token like 'eyJ%'",
    "select hex(refresh_token) as h from sessions",
]
CROSSDB = [
    "select * from archive.sessions",
    "select json_object('r', refresh_token) as j from archive.sessions",
    "select * from archive.session_tokens",
]
TABLE = "/archive/sessions"
URLS = (
    [TABLE + ext for ext in ("", ".json", ".csv", ".csv?_stream=1")]
    + [
        TABLE + ".json?_shape=objects",
        TABLE + ".json?_shape=array&_nl=on",
        TABLE + "?_facet=refresh_token",
        TABLE + ".json?_facet=refresh_token&_facet=access_token",
        TABLE + ".json?_sort=refresh_token",
        TABLE + ".json?refresh_token__startswith=eyJ",
        TABLE + ".json?_col=refresh_token",
        TABLE + "/sess-1",
        TABLE + "/sess-1.json",
    ]
    + ["/archive/session_tokens" + ext for ext in ("", ".json", ".csv", ".csv?_stream=1")]
    + ["/archive/tokens" + ext for ext in ("", ".json", ".csv")]
    + [query("archive", sql, ".json") for sql in SQL]
    + [query("archive", SQL[0], ext) for ext in ("", ".csv")]
    + [query("archive", SQL[0], ".csv", _stream="1")]
    + [query("_memory", sql, ".json") for sql in CROSSDB]
)


@pytest.mark.parametrize("path", URLS)
def test_no_url_returns_the_secrets(servers, path):
    status, body = fetch(servers[False], path, HTML if "." not in path.split("?")[0] else None)
    assert status == 200, body[:500]
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in body, path
    status, body = fetch(servers[True], path, HTML if "." not in path.split("?")[0] else None)
    assert status == 200, body[:500]
    assert any(form in body for form in forms(REFRESH)), path


def test_columns_still_listed_with_null_values(servers):
    status, body = fetch(servers[False], TABLE + ".json?_shape=objects")
    assert status == 200
    rows = json.loads(body)["rows"]
    assert rows == [
        {
            "id": "sess-1",
            "did": ROW[1],
            "handle": "alice.example",
            "display_name": "Alice",
            "access_token": None,
            "refresh_token": None,
            "expires_at": "2030-01-01 00:00:00",
            "created_at": "2025-01-01 00:00:00",
        }
    ]
    sql = "select group_concat(name, ' ') as names from pragma_table_info('sessions')"
    status, body = fetch(servers[False], query("archive", sql, ".json", _shape="array"))
    assert status == 200
    assert json.loads(body) == [
        {"names": "id did handle display_name access_token refresh_token expires_at created_at"}
    ]


@pytest.mark.parametrize("accept", [None, HTML])
def test_file_download_refused_while_sessions_hold_rows(servers, accept):
    status, body = fetch(servers[False], "/archive.db", accept)
    assert status == 403
    for secret in SECRETS:
        assert secret.encode() not in body
    message = (
        "The file of database archive is not served: its sessions table holds the archive's "
        "OAuth sign-in tokens. Set expose_session_tokens: true in the datasette-bsky-export "
        "settings to serve it."
    )
    if accept is None:
        assert json.loads(body) == {"ok": False, "error": message, "status": 403}
    else:
        assert message.replace("'", "&#39;").encode() in body


def test_file_download_served_without_session_rows_or_when_exposed(servers):
    status, body = fetch(servers[False], "/empty.db")
    assert status == 200
    assert body.startswith(b"SQLite format 3\x00")
    status, body = fetch(servers[True], "/archive.db")
    assert status == 200
    assert body.startswith(b"SQLite format 3\x00") and REFRESH.encode() in body


@pytest.mark.asyncio
@pytest.mark.parametrize("actor", [None, {"id": "root"}])
async def test_file_download_refused_over_rules_that_allow_it(tmp_path, actor):
    """Refused for root too, and where the configuration allows the
    download for everyone (a database-level rule on 1.0a, 0.65's
    ``allow_download`` block), unless the tokens are exposed."""
    path = str(make_archive(tmp_path / "archive.db"))
    for expose, status in [(False, 403), (True, 200)]:
        block = {"plugins": {settings.PLUGIN: {"expose_session_tokens": expose}}}
        if OLD:
            block["allow_download"] = True
            ds = Datasette(immutables=[path], metadata={"databases": {"archive": block}})
        else:
            block["permissions"] = {sessions.DOWNLOAD: True}
            ds = Datasette(immutables=[path], config={"databases": {"archive": block}})
        ds.root_enabled = True
        response = await ds.client.get("/archive.db", cookies=cookies(ds, actor) if actor else {})
        assert response.status_code == status
        assert (REFRESH.encode() in response.content) is expose


# --------------------------------------------------------------------------
# In process: the authorizer stays on the connection that runs the queries


def tokens_sql(database="archive"):
    return query(database, "select access_token, refresh_token from sessions", ".json")


@pytest.mark.asyncio
@pytest.mark.parametrize("threads", [1, 0])
async def test_authorizer_survives_custom_sql_on_the_same_connection(
    tmp_path, monkeypatch, threads
):
    """With one SQL thread (or none), custom SQL of every kind (through the
    query page, where Datasette 1.0a analyses it with an authorizer of its
    own, and through db.execute) runs on the connection that then reads the
    tokens: they still read NULL."""
    import datasette.database

    analysed = []
    analyse = getattr(datasette.database, "analyze_sql_tables", None)
    if analyse is not None:  # Datasette 1.0a: count its analyses of the SQL
        monkeypatch.setattr(
            datasette.database,
            "analyze_sql_tables",
            lambda conn, sql, *args, **kwargs: (
                analysed.append(sql) or analyse(conn, sql, *args, **kwargs)
            ),
        )
    ds = Datasette(
        [str(make_archive(tmp_path / "archive.db"))], settings={"num_sql_threads": threads}
    )
    db = ds.get_database("archive")
    first = await db.execute_fn(id)
    custom = ["select 1", "select refresh_token from sessions", "select * from session_tokens"]
    for sql in custom:
        response = await ds.client.get(query("archive", sql, ".json"))
        assert response.status_code == 200
        assert REFRESH not in response.text
    if analyse is not None:  # the analysis of a write query page, as root
        ds.root_enabled = True
        for sql in custom:
            response = await ds.client.get(
                "/archive/-/execute-write/analyze?" + urllib.parse.urlencode({"sql": sql}),
                cookies=cookies(ds, {"id": "root"}),
            )
            assert response.status_code == 200
        await db.analyze_sql("select refresh_token from sessions")
    await db.execute("select 1")
    assert await db.execute_fn(id) == first
    rows = (await db.execute("select access_token, refresh_token from sessions")).rows
    assert [tuple(row) for row in rows] == [(None, None)]
    assert await db.execute_fn(id) == first
    response = await ds.client.get(tokens_sql())
    assert REFRESH not in response.text and ACCESS not in response.text
    if analyse is not None:
        assert set(custom) <= set(analysed)


EXPOSURES = [  # top-level block, database block, tokens shown
    (None, None, False),
    ({"expose_session_tokens": True}, None, True),
    (None, {"expose_session_tokens": True}, True),
    ({"expose_session_tokens": True}, {"expose_session_tokens": False}, False),
    ({"expose_session_tokens": False}, {"expose_session_tokens": True}, True),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("top, block, shown", EXPOSURES)
async def test_expose_session_tokens_per_database(tmp_path, top, block, shown):
    """The key is read like the plugin's other settings, a database block
    overriding the top level (a value that is not true or false stops
    Datasette at startup: test_settings.py), in the database's own queries
    and in ``--crossdb`` queries from ``_memory``."""
    config = plugin(**top) if top is not None else {}
    if block is not None:
        config["databases"] = {"archive": {"plugins": {settings.PLUGIN: block}}}
    path = str(make_archive(tmp_path / "archive.db"))
    key = "config" if not OLD else "metadata"
    ds = Datasette([path], crossdb=True, **{key: config})
    for url in [
        tokens_sql(),
        query("_memory", "select refresh_token from archive.sessions", ".json"),
    ]:
        response = await ds.client.get(url)
        assert response.status_code == 200
        assert (REFRESH in response.text) is shown, url


def test_authorizer_hides_the_tokens_of_any_sessions_table_in_any_schema(tmp_path):
    """The two columns of a table named sessions (any case), in main, an
    attached database or temp, unless that schema is shown; nothing else."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table SESSIONS (id, Access_Token, REFRESH_TOKEN)")
        conn.execute("insert into SESSIONS values ('o', 'a-other', 'r-other')")
    conn.close()
    conn = sqlite3.connect(":memory:")
    conn.execute("attach database ? as other", [str(other)])
    conn.execute("create table sessions (id, access_token, refresh_token, handle)")
    conn.execute("insert into sessions values ('m', 'a-main', 'r-main', 'h')")
    conn.execute("create table sessions_copy (access_token, refresh_token)")
    conn.execute("insert into sessions_copy values ('a-copy', 'r-copy')")
    conn.execute("create temp table sessions (access_token)")
    conn.execute("insert into temp.sessions values ('a-temp')")
    try:
        conn.set_authorizer(sessions.authorizer(frozenset()))
        assert conn.execute("select * from main.sessions").fetchall() == [("m", None, None, "h")]
        assert conn.execute("select * from other.sessions").fetchall() == [("o", None, None)]
        assert conn.execute("select * from temp.sessions").fetchall() == [(None,)]
        assert conn.execute("select * from sessions_copy").fetchall() == [("a-copy", "r-copy")]
        conn.set_authorizer(sessions.authorizer(frozenset({"other"})))
        assert conn.execute("select * from other.sessions").fetchall() == [
            ("o", "a-other", "r-other")
        ]
        assert conn.execute("select refresh_token from main.sessions").fetchall() == [(None,)]
    finally:
        conn.close()
