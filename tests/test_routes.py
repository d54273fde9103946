"""The HTTP adapter through Datasette: bytes against the goldens, headers,
every error status, permissions, actor scoping, the export page and the
actions; and, calling the ASGI app directly, streaming, disconnects and
failures after the first byte. Runs on Datasette 0.65 and 1.0a."""

import asyncio
import io
import json
import logging
import shutil
import sqlite3
import time
import urllib.parse
import zipfile

import pytest
import sqlite_utils

from datasette_bsky_export import accounts, engine, params, postrow, streaming
from dsclient import HTML, Client, cookies, make_datasette, plugin, url
from helpers import CASES, FIXTURES, case_id, expected_bytes

DID0 = "did:plc:454ml6lg4tjfcz4kaedcmpb5"  # 1,292 posts in realistic.db
DID1 = "did:plc:bannd6yz2emrvftva2hipgad"  # 107
DID2 = "did:plc:u4mos7af5r2fquosbegzgsye"  # 101
CSV_EMPTY = b"\xef\xbb\xbf" + postrow.CSV_HEADER.encode()


def file_url(case, db=None):
    db = db or case["db"][:-3]
    return url(
        "/%s/-/bsky-export/posts.%s" % (db, case["format"]),
        did=case["did"],
        start_date=case["start_date"],
        end_date=case["end_date"],
    )


@pytest.fixture
def ds_for(archive):
    def make(*names, config=None):
        return make_datasette([archive(name) for name in names], config)

    return make


@pytest.fixture
def steps(monkeypatch):
    """Counts the engine's page steps (one per database call)."""
    calls = []
    original = engine.Export.step

    def step(self, conn):
        calls.append(self)
        return original(self, conn)

    monkeypatch.setattr(engine.Export, "step", step)
    return calls


# --------------------------------------------------------------------------
# Bytes: every golden case


@pytest.mark.asyncio
@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_posts_file_matches_golden(ds_for, case):
    ds = ds_for(case["db"])
    response = await ds.client.get(file_url(case))
    if "expect_error" in case:
        # the whole rejected DID fits in the first page: an error before any byte
        error = case["expect_error"]
        assert response.status_code == 500
        message = response.json()["error"]
        assert "column %s" % error["column"] in message
        if error["uri"] is not None:
            assert error["uri"] in message
        return
    assert response.status_code == 200
    assert response.content == expected_bytes(case)


ZIP_CASES = [c for c in CASES if "expect" in c and c["db"] != "rejects.db"]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ZIP_CASES, ids=case_id)
async def test_zip_posts_file_matches_golden(ds_for, case):
    ds = ds_for(case["db"])
    response = await ds.client.get(
        url(
            "/%s/-/bsky-export/export.zip" % case["db"][:-3],
            format=case["format"],
            did=case["did"],
            start_date=case["start_date"],
            end_date=case["end_date"],
        )
    )
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == ["posts." + case["format"], "manifest.json"]  # at the root, as the legacy
    assert archive.read(names[0]) == expected_bytes(case)
    manifest = json.loads(archive.read(names[1]))
    assert manifest["export_format"] == case["format"]
    assert manifest["files"] == ["posts." + case["format"]]
    assert manifest["media_count"] == 0
    body = expected_bytes(case)
    count = body.count(b'\n    "uri": ') if case["format"] == "json" else None
    if count is not None:
        assert manifest["post_count"] == count
    if case["start_date"] or case["end_date"]:
        assert set(manifest["date_range"]) == {"start_date", "end_date"}
    else:
        assert "date_range" not in manifest


# --------------------------------------------------------------------------
# Headers


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "fmt, content_type",
    [("json", "application/json; charset=utf-8"), ("csv", "text/csv; charset=utf-8")],
)
async def test_download_headers(ds_for, fmt, content_type):
    ds = ds_for("realistic.db")
    response = await ds.client.get("/realistic/-/bsky-export/posts.%s?did=%s" % (fmt, DID1))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == 'attachment; filename="posts.%s"' % fmt
    assert response.headers["cache-control"] == "no-store"
    assert "content-length" not in response.headers


@pytest.mark.asyncio
async def test_zip_headers_and_name(ds_for):
    ds = ds_for("realistic.db")
    response = await ds.client.get("/realistic/-/bsky-export/export.zip?did=" + DID1)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    disposition = response.headers["content-disposition"]
    prefix = 'attachment; filename="bsky-export_did_plc_bannd6yz2emrvftva2hipgad_'
    assert disposition.startswith(prefix) and disposition.endswith('.zip"')
    stamp = disposition[len(prefix) : -5]
    assert len(stamp) == 19 and stamp[4] == stamp[7] == "-" and stamp[10] == "_"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert names == ["posts.json", "manifest.json"]


HOSTILE = [
    'a"b',
    "../../etc/passwd",
    "x" * 2048,
    "did:plc:ünïcödé",
    "'; DROP TABLE posts; --",
    'a\\b;c=d"; filename=evil.exe',
    "<script>alert(1)</script>",
]
REFUSED = ["a\r\nSet-Cookie: x=1", "nul\x00byte", "tab\there", "x" * 2049]


@pytest.mark.asyncio
@pytest.mark.parametrize("did", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_did_is_harmless(ds_for, did):
    ds = ds_for("realistic.db")
    response = await ds.client.get(url("/realistic/-/bsky-export/posts.json", did=did))
    assert response.status_code == 200
    assert response.content == b"[]\n"
    response = await ds.client.get(url("/realistic/-/bsky-export/export.zip", did=did))
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    disposition = response.headers["content-disposition"]
    name = disposition[len('attachment; filename="') : -1]
    assert disposition == 'attachment; filename="%s"' % name
    assert name.startswith("bsky-export_") and name.endswith(".zip") and len(name) < 120
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["manifest.json"]  # no post: the manifest alone, like the legacy


@pytest.mark.asyncio
@pytest.mark.parametrize("did", REFUSED, ids=range(len(REFUSED)))
@pytest.mark.parametrize("name", ["posts.json", "export.zip"])
async def test_did_with_control_characters_is_a_clear_400(ds_for, steps, did, name):
    ds = ds_for("realistic.db")
    response = await ds.client.get(url("/realistic/-/bsky-export/" + name, did=did))
    assert response.status_code == 400
    assert "set-cookie" not in response.headers and "content-disposition" not in response.headers
    assert response.json()["error"] == (
        "did must be at most 2048 characters, without control characters"
    )
    assert steps == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2024-01-01\r\nX-Evil: 1"},
        {"end_date": "\x00"},
        {"start_date": "../" * 300},
        {"did": DID1, "start_date": "'\"<script>"},
    ],
)
async def test_hostile_dates_are_clear_400s(ds_for, params):
    ds = ds_for("realistic.db")
    response = await ds.client.get(url("/realistic/-/bsky-export/posts.csv", **params))
    assert response.status_code == 400
    assert "x-evil" not in response.headers
    error = response.json()["error"]
    assert error.startswith(("start date", "end date")) and len(error) < 200
    response = await ds.client.get(
        url("/realistic/-/bsky-export/posts.csv", **params), headers=HTML
    )
    assert response.status_code == 400
    assert "<script>" not in response.text.split("<section", 1)[1].split("</section>")[0]


@pytest.mark.asyncio
async def test_head_runs_no_export(ds_for, steps):
    ds = ds_for("realistic.db")
    response = await ds.client.head("/realistic/-/bsky-export/posts.json")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="posts.json"'
    assert steps == []


# --------------------------------------------------------------------------
# Errors before the first byte


def empty_db(tmp_path, name="other"):
    path = tmp_path / (name + ".db")
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    return path


ERRORS = [
    ("/realistic/-/bsky-export/posts.json?start_date=2024-02-30", 400, "not a real date"),
    ("/realistic/-/bsky-export/posts.json?start_date=20240101", 400, "YYYY-MM-DD"),
    (
        "/realistic/-/bsky-export/posts.csv?start_date=2024-05-02&end_date=2024-05-01",
        400,
        "end date 2024-05-01 is before start date 2024-05-02",
    ),
    ("/realistic/-/bsky-export/export.zip?format=xml", 400, "unknown format 'xml'"),
    ("/realistic/-/bsky-export/posts.json?format=csv", 400, "unknown parameter 'format'"),
    ("/realistic/-/bsky-export/posts.json?dids=x", 400, "unknown parameter 'dids'"),
    ("/realistic/-/bsky-export/posts.json?did=a&did=b", 400, "did is given more than once"),
    ("/realistic/-/bsky-export/export.zip?include_media=maybe", 400, "include_media must be"),
    ("/nope/-/bsky-export/posts.json", 404, "Database not found: 'nope'"),
    ("/nope/-/bsky-export/export.zip", 404, "Database not found"),
    ("/other/-/bsky-export/posts.json", 404, "no posts table"),
    ("/other/-/bsky-export/export.zip", 404, "no posts table"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("path, status, message", ERRORS)
async def test_errors_as_json_for_api_clients(archive, tmp_path, steps, path, status, message):
    ds = make_datasette([archive("realistic.db"), empty_db(tmp_path)])
    response = await ds.client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["ok"] is False and body["status"] == status
    assert message in body["error"]
    assert "Traceback" not in response.text
    assert steps == []


@pytest.mark.asyncio
@pytest.mark.parametrize("path, status, message", ERRORS)
async def test_errors_as_html_for_browsers(archive, tmp_path, path, status, message):
    ds = make_datasette([archive("realistic.db"), empty_db(tmp_path)])
    response = await ds.client.get(path, headers=HTML)
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<!DOCTYPE html>" in response.text
    assert message.replace("'", "&#39;") in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_other_methods(ds_for, steps, method):
    ds = ds_for("realistic.db")
    response = await ds.client.request(method, "/realistic/-/bsky-export/posts.csv")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["error"] == "Use GET to download an export"
    assert steps == []


@pytest.mark.asyncio
async def test_missing_media_table(ds_for, tmp_path):
    path = tmp_path / "nomedia.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    sqlite_utils.Database(path)["media"].drop()
    ds = make_datasette([path])
    response = await ds.client.get("/nomedia/-/bsky-export/export.zip?include_media=1")
    assert response.status_code == 400
    assert response.json()["error"] == "include_media: nomedia has no media table"


@pytest.mark.asyncio
async def test_tilde_encoded_database_name(archive, tmp_path):
    path = tmp_path / "my archive.v2.db"
    shutil.copyfile(archive("realistic.db"), path)
    ds = make_datasette([path])
    response = await ds.client.get("/my~20archive~2Ev2/-/bsky-export/posts.json?did=" + DID2)
    assert response.status_code == 200
    assert response.content == (FIXTURES / "expected/realistic-did2.json").read_bytes()
    page = await ds.client.get("/my~20archive~2Ev2/-/bsky-export")
    assert page.status_code == 200
    assert 'action="%s/-/bsky-export"' % ds.urls.database("my archive.v2") in page.text


# --------------------------------------------------------------------------
# Permissions


DENIALS = {
    "table": {"databases": {"realistic": {"tables": {"posts": {"allow": {"id": "alice"}}}}}},
    "database": {"databases": {"realistic": {"allow": {"id": "alice"}}}},
    "instance": {"allow": {"id": "alice"}},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("level", DENIALS)
@pytest.mark.parametrize(
    "path",
    [
        "/realistic/-/bsky-export/posts.json",
        "/realistic/-/bsky-export/posts.csv?did=" + DID1,
        "/realistic/-/bsky-export/export.zip",
        "/realistic/-/bsky-export",
    ],
)
async def test_permission_denied(ds_for, steps, level, path):
    ds = ds_for("realistic.db", config=DENIALS[level])
    for actor in (None, {"id": "bob"}):
        jar = cookies(ds, actor) if actor else None
        response = await ds.client.get(path, cookies=jar)
        assert response.status_code == 403
        if "." in path.rsplit("/", 1)[1]:
            assert response.json()["error"] == (
                "You do not have permission to view the posts table of realistic"
            )
        response = await ds.client.get(path, cookies=jar, headers=HTML)
        assert response.status_code == 403
        assert "text/html" in response.headers["content-type"]
    assert steps == []
    allowed = await ds.client.get(path, cookies=cookies(ds, {"id": "alice"}))
    assert allowed.status_code == 200


@pytest.mark.asyncio
async def test_allowed_actor_gets_the_golden(ds_for):
    ds = ds_for("realistic.db", config=DENIALS["table"])
    response = await ds.client.get(
        "/realistic/-/bsky-export/posts.json?did=" + DID1, cookies=cookies(ds, {"id": "alice"})
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert response.content == (FIXTURES / "expected/realistic-did1.json").read_bytes()


# --------------------------------------------------------------------------
# Actor scoping (plugin config restrict_to_actor)


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["top", "database"])
async def test_restrict_to_actor(ds_for, steps, where):
    config = plugin(restrict_to_actor=True)
    if where == "database":  # per-database plugin config, next to a permission block
        config = {"databases": {"realistic": dict(config, tables={"media": {"allow": True}})}}
    ds = ds_for("realistic.db", config=config)
    own = cookies(ds, {"id": DID1})
    base = "/realistic/-/bsky-export/"
    anonymous = await ds.client.get(base + "posts.json")
    assert anonymous.status_code == 403
    assert "sign in" in anonymous.json()["error"]
    other = await ds.client.get(base + "posts.csv?did=" + DID0, cookies=own)
    assert other.status_code == 403
    assert other.json()["error"] == (
        "You may export only your own posts (did %s), not those of %r" % (DID1, DID0)
    )
    assert steps == []
    for path in (base + "posts.json", base + "posts.json?did=" + DID1):
        response = await ds.client.get(path, cookies=own)
        assert response.status_code == 200
        assert response.content == (FIXTURES / "expected/realistic-did1.json").read_bytes()
    response = await ds.client.get(base + "export.zip?format=csv", cookies=own)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "_did_plc_bannd6yz2emrvftva2hipgad_" in response.headers["content-disposition"]
    assert archive.read("posts.csv") == (FIXTURES / "expected/realistic-did1.csv").read_bytes()
    page = await ds.client.get(base[:-1], cookies=own)
    assert DID1 in page.text and DID0 not in page.text and "All accounts" not in page.text
    page = await ds.client.get(base[:-1])
    assert "Sign in to export yours" in page.text and DID1 not in page.text


@pytest.mark.asyncio
async def test_without_restriction_any_did(ds_for):
    ds = ds_for("realistic.db", config=plugin(restrict_to_actor=False))
    response = await ds.client.get(
        "/realistic/-/bsky-export/posts.json?did=" + DID2, cookies=cookies(ds, {"id": DID1})
    )
    assert response.content == (FIXTURES / "expected/realistic-did2.json").read_bytes()


NOT_ACTORS = [{"id": 1}, {"id": True}, {"id": ["a"]}, {"id": {}}, {"id": ""}, {}]


def with_dids(path, *dids):
    """Gives the newest posts of DID2 these dids, one each."""
    conn = sqlite3.connect(str(path))
    uris = conn.execute(
        "SELECT uri FROM posts WHERE did = ? ORDER BY created_at DESC, uri LIMIT ?",
        [DID2, len(dids)],
    ).fetchall()
    for (uri,), did in zip(uris, dids):
        conn.execute("UPDATE posts SET did = ? WHERE uri = ?", [did, uri])
    conn.commit()
    conn.close()
    return [uri for (uri,) in uris]


@pytest.mark.asyncio
@pytest.mark.parametrize("actor", NOT_ACTORS, ids=json.dumps)
async def test_actor_without_a_string_id_is_no_actor(archive, steps, actor):
    """Only a non-empty string id is an actor's: with restrict_to_actor, an
    id of 1, true, ["a"], {} or "" (or none) is a 403, never the posts of
    did "1" or "True"."""
    path = archive("realistic.db")
    with_dids(path, "1", "True", "['a']", "{}")
    ds = make_datasette([path], plugin(restrict_to_actor=True))
    base = "/realistic/-/bsky-export/"
    for name in ("posts.json", "posts.csv?did=1", "posts.json?did=True", "export.zip"):
        response = await ds.client.get(base + name, cookies=cookies(ds, actor))
        assert response.status_code == 403, name
        assert response.json()["error"] == (
            "This archive exports each signed-in actor's own posts only: sign in first"
        )
    page = await ds.client.get(base[:-1], cookies=cookies(ds, actor))
    assert "Sign in to export yours" in page.text
    assert steps == []


@pytest.mark.asyncio
async def test_string_id_exports_exactly_its_did(archive):
    path = archive("realistic.db")
    one, _ = with_dids(path, "did:web:1", "True")
    ds = make_datasette([path], plugin(restrict_to_actor=True))
    response = await ds.client.get(
        "/realistic/-/bsky-export/posts.json", cookies=cookies(ds, {"id": "did:web:1"})
    )
    assert response.status_code == 200
    assert [(p["uri"], p["did"]) for p in response.json()] == [(one, "did:web:1")]


# --------------------------------------------------------------------------
# ZIP with media


@pytest.mark.asyncio
async def test_zip_with_media(ds_for, tmp_path, caplog):
    root = tmp_path / "bskyarchive"
    conn = sqlite3.connect(str(FIXTURES / "realistic.db"))
    rows = conn.execute(
        "SELECT m.post_uri, m.file_path FROM media m JOIN posts p ON p.uri = m.post_uri "
        "WHERE p.did = ? AND p.has_media = 1 ORDER BY m.rowid",
        [DID2],
    ).fetchall()
    conn.close()
    assert len(rows) > 4
    present = {}
    for i, (_uri, file_path) in enumerate(rows):
        if i % 4 == 3:
            continue  # missing on disk: skipped with a warning, like the legacy
        target = root / file_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"JPEG %d " % i * (1000 + i))
        present[file_path.rsplit("/", 1)[1]] = target.read_bytes()
    ds = ds_for("realistic.db", config=plugin(media_root=str(root)))
    with caplog.at_level(logging.WARNING, logger="datasette_bsky_export"):
        response = await ds.client.get(
            "/realistic/-/bsky-export/export.zip?include_media=1&did=" + DID2
        )
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[:2] == ["posts.json", "media/"] and names[-1] == "manifest.json"
    media_names = [n[6:] for n in names[2:-1]]
    assert sorted(media_names) == sorted(present)
    for name in media_names:
        assert archive.read("media/" + name) == present[name]
        assert archive.getinfo("media/" + name).compress_type == zipfile.ZIP_STORED
    assert archive.read(names[0]) == (FIXTURES / "expected/realistic-did2.json").read_bytes()
    manifest = json.loads(archive.read(names[-1]))
    assert manifest["post_count"] == 101
    assert manifest["media_count"] == len(present)
    assert manifest["files"] == ["media/ (%d files)" % len(present), "posts.json"]
    warnings = [r.getMessage() for r in caplog.records]
    missing = len(rows) - len(present)
    assert missing > 10  # the first ten one by one, then how many in all
    assert len([w for w in warnings if "media of 'at://" in w]) == 10
    assert warnings[-1].endswith(
        "%d media files not exported in all (%d more than shown)" % (missing, missing - 10)
    )


def replace_media(conn, rows):
    """Leave only these ``(post_uri, file_path)`` rows in the media table; closes ``conn``."""
    media = sqlite_utils.Database(conn)["media"]
    media.delete_where()
    media.insert_all(
        {
            "hash": "h%d" % i,
            "post_uri": uri,
            "mime_type": "image/jpeg",
            "file_path": file_path,
            "size_bytes": 1,
        }
        for i, (uri, file_path) in enumerate(rows)
    )
    conn.close()


def zip_media(response):
    """``(archive, its media file entries, its manifest)`` of an export.zip response."""
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    files = [n for n in archive.namelist() if n.startswith("media/") and n != "media/"]
    return archive, files, json.loads(archive.read(archive.namelist()[-1]))


@pytest.mark.asyncio
async def test_zip_media_outside_root_is_refused(ds_for, tmp_path):
    path = tmp_path / "evil.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "link.jpg").symlink_to(secret)
    conn = sqlite3.connect(str(path))
    uri = conn.execute(
        "SELECT post_uri FROM media WHERE post_uri IN "
        "(SELECT uri FROM posts WHERE did = ? AND has_media = 1)",
        [DID1],
    ).fetchone()[0]
    replace_media(conn, [(uri, evil) for evil in [str(secret), "../secret.txt", "data/link.jpg"]])
    ds = make_datasette([path], plugin(media_root=str(root)))
    response = await ds.client.get("/evil/-/bsky-export/export.zip?include_media=1&did=" + DID1)
    archive, media_files, manifest = zip_media(response)
    assert not media_files
    assert b"secret" not in response.content
    assert manifest["media_count"] == 0
    assert manifest["files"] == ["media/ (0 files)", "posts.json"]


@pytest.mark.asyncio
async def test_zip_media_duplicates(tmp_path):
    """Two posts with the same file: copied once. Two files of one name: the
    legacy copied both onto media/<name>, so one file, counted twice; the
    first in legacy order is the one kept."""
    path = tmp_path / "dups.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    root = tmp_path / "root"
    for folder, content in (("a", b"first"), ("b", b"second")):
        (root / folder).mkdir(parents=True)
        (root / folder / "x.jpg").write_bytes(content)
    conn = sqlite3.connect(str(path))
    first, second = [
        r[0]
        for r in conn.execute(
            "SELECT uri FROM posts WHERE did = ? AND has_media = 1 LIMIT 2", [DID1]
        )
    ]
    replace_media(conn, [(first, "a/x.jpg"), (second, "a/x.jpg"), (second, "b/x.jpg")])
    ds = make_datasette([path], plugin(media_root=str(root)))
    response = await ds.client.get("/dups/-/bsky-export/export.zip?include_media=1&did=" + DID1)
    archive, media_files, manifest = zip_media(response)
    assert [n.rsplit("/", 1)[1] for n in media_files] == ["x.jpg"]
    assert archive.read(media_files[0]) == b"first"
    assert manifest["media_count"] == 2
    assert manifest["files"] == ["media/ (1 files)", "posts.json"]


@pytest.mark.asyncio
async def test_zip_media_root_missing(ds_for, tmp_path):
    ds = ds_for("realistic.db", config=plugin(media_root=str(tmp_path / "absent")))
    response = await ds.client.get("/realistic/-/bsky-export/export.zip?include_media=1")
    assert response.status_code == 500
    assert response.json()["error"] == (
        "Media export is not available: the configured media folder does not exist"
    )
    assert "absent" not in response.text


# --------------------------------------------------------------------------
# The export page and the actions


@pytest.mark.asyncio
async def test_export_page(ds_for):
    ds = ds_for("realistic.db")
    response = await ds.client.get("/realistic/-/bsky-export")
    assert response.status_code == 200
    html = response.text
    assert "<title>Export posts: realistic</title>" in html
    assert 'href="/realistic"' in html  # Datasette's crumbs
    assert "All accounts (1,500 posts)" in html
    for did, count in ((DID0, "1,292"), (DID1, "107"), (DID2, "101")):
        assert '<option value="%s">' % did in html and "%s (%s posts)" % (did, count) in html
    assert html.index(DID0) < html.index(DID1) < html.index(DID2)  # most posts first
    assert 'name="include_media"' in html
    assert 'type="date" name="start_date"' in html


@pytest.mark.asyncio
async def test_export_page_lists_the_biggest_accounts(ds_for, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_DIDS", 2)
    response = await ds_for("realistic.db").client.get("/realistic/-/bsky-export")
    assert DID0 in response.text and DID1 in response.text and DID2 not in response.text
    assert "All accounts (1,500 posts)" in response.text
    assert "Only the 2 accounts with the most posts are listed." in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query, target",
    [
        (
            {"did": DID1, "format": "json", "package": "file"},
            "/realistic/-/bsky-export/posts.json?did=" + urllib.parse.quote(DID1),
        ),
        (
            {
                "did": "",
                "format": "csv",
                "start_date": "2024-01-01",
                "end_date": "",
                "package": "file",
            },
            "/realistic/-/bsky-export/posts.csv?start_date=2024-01-01",
        ),
        (
            {"did": DID2, "format": "csv", "package": "zip"},
            "/realistic/-/bsky-export/export.zip?format=csv&did=" + urllib.parse.quote(DID2),
        ),
        (
            {"did": "", "format": "json", "package": "file", "include_media": "1"},
            "/realistic/-/bsky-export/export.zip?format=json&include_media=1",
        ),
    ],
)
async def test_export_page_submit_redirects_to_download(ds_for, query, target):
    ds = ds_for("realistic.db")
    response = await ds.client.get(url("/realistic/-/bsky-export", **query))
    assert response.status_code == 302
    assert response.headers["location"] == target
    download = await ds.client.get(target)
    assert download.status_code == 200


@pytest.mark.asyncio
async def test_export_page_shows_form_errors(ds_for):
    ds = ds_for("realistic.db")
    response = await ds.client.get(
        url(
            "/realistic/-/bsky-export",
            did=DID1,
            format="json",
            start_date="2024-05-02",
            end_date="2024-05-01",
        )
    )
    assert response.status_code == 400
    assert "end date 2024-05-01 is before start date 2024-05-02" in response.text
    assert 'value="2024-05-02"' in response.text  # the form keeps what was entered
    assert '<option value="%s" selected>' % DID1 in response.text


@pytest.mark.asyncio
async def test_table_and_database_actions(archive, tmp_path):
    blog = tmp_path / "blog.db"  # a posts table of another kind
    conn = sqlite3.connect(str(blog))
    conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title)")
    conn.close()
    ds = make_datasette([archive("realistic.db"), empty_db(tmp_path), blog])
    link = 'href="/realistic/-/bsky-export"'
    assert link in (await ds.client.get("/realistic/posts")).text
    assert link in (await ds.client.get("/realistic")).text
    assert link not in (await ds.client.get("/realistic/media")).text
    assert "bsky-export" not in (await ds.client.get("/other")).text
    assert "bsky-export" not in (await ds.client.get("/blog")).text
    assert "bsky-export" not in (await ds.client.get("/blog/posts")).text


@pytest.mark.asyncio
async def test_actions_hidden_from_actors_who_cannot_view_posts(ds_for):
    config = {"databases": {"realistic": {"tables": {"posts": {"allow": {"id": "alice"}}}}}}
    ds = ds_for("realistic.db", config=config)
    link = 'href="/realistic/-/bsky-export"'
    for actor in (None, {"id": "bob"}):
        page = await ds.client.get("/realistic", cookies=cookies(ds, actor) if actor else None)
        assert page.status_code == 200 and link not in page.text
    alice = cookies(ds, {"id": "alice"})
    assert link in (await ds.client.get("/realistic", cookies=alice)).text
    assert link in (await ds.client.get("/realistic/posts", cookies=alice)).text


# --------------------------------------------------------------------------
# The ASGI app called directly: streaming, disconnects, failures mid-stream


@pytest.mark.asyncio
async def test_streams_bytes_in_bounded_messages(ds_for, steps, monkeypatch):
    monkeypatch.setattr(params, "PAGE_SIZE", 100)
    seen = []
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/posts.json")
    original = client.send

    async def send(message):
        if message["type"] == "http.response.body" and not seen:
            seen.append(len(steps))  # pages run when the first byte goes out
        await original(message)

    client.send = send
    await client.run()
    assert client.start["status"] == 200
    headers = dict(client.start["headers"])
    assert b"content-length" not in headers
    assert headers[b"content-type"] == b"application/json; charset=utf-8"
    assert seen == [1]  # the response started after one page
    assert len(steps) == 16  # 15 pages of 100 and the empty 16th
    assert client.complete
    sizes = [len(m["body"]) for m in client.bodies[:-1]]
    assert all(isinstance(m["body"], bytes) for m in client.bodies)
    assert max(sizes) <= streaming.MESSAGE_SIZE and len(sizes) >= 15
    assert sum(sizes) / len(sizes) > 20_000  # tens of KB, not a message per post
    assert client.body == (FIXTURES / "expected/realistic-all.json").read_bytes()


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["posts.json", "posts.csv", "export.zip"])
async def test_disconnect_stops_paging(ds_for, steps, monkeypatch, name):
    monkeypatch.setattr(params, "PAGE_SIZE", 10)
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/" + name, disconnect_after=2)
    pages_when_gone = []
    client.gone.wait = _recording(client.gone.wait, lambda: pages_when_gone.append(len(steps)))
    await client.run()
    assert client.start["status"] == 200
    assert not client.complete
    assert pages_when_gone and len(steps) <= pages_when_gone[0] + 1
    assert len(steps) < 30  # of 152


def _recording(wait, record):
    async def recorded():
        await wait()
        record()

    return recorded


def corrupt(path, index, column="text"):
    """Set ``column`` to NULL in the post at ``index`` of the export order."""
    db = sqlite_utils.Database(path)
    uri = db.execute(
        "SELECT uri FROM posts ORDER BY created_at DESC, uri ASC LIMIT 1 OFFSET ?", [index]
    ).fetchone()[0]
    db["posts"].update(uri, {column: None})
    db.close()
    return uri


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["posts.json", "posts.csv", "export.zip"])
async def test_error_after_first_byte_ends_without_final_message(
    archive, steps, monkeypatch, caplog, name
):
    monkeypatch.setattr(params, "PAGE_SIZE", 10)
    path = archive("realistic.db")
    uri = corrupt(path, 55, "reply_parent")
    client = Client(make_datasette([path]), "/realistic/-/bsky-export/" + name)
    with caplog.at_level(logging.ERROR, logger="datasette_bsky_export"):
        await client.run()
    assert client.start["status"] == 200
    assert client.bodies and all(m.get("more_body") for m in client.bodies)
    assert not client.complete
    assert len(steps) == 6  # stopped at the bad page
    (record,) = [r for r in caplog.records if r.name == "datasette_bsky_export"]
    assert uri in record.getMessage() and "column reply_parent" in record.getMessage()
    assert "after 50 posts" in record.getMessage()
    if name == "export.zip":
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(client.body))


@pytest.mark.asyncio
async def test_database_error_after_first_byte(ds_for, monkeypatch, caplog):
    monkeypatch.setattr(params, "PAGE_SIZE", 10)
    original = engine.Export.step

    def step(self, conn):
        if self.posts >= 30:
            raise sqlite3.OperationalError("disk I/O error")
        return original(self, conn)

    monkeypatch.setattr(engine.Export, "step", step)
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/posts.csv")
    with caplog.at_level(logging.ERROR, logger="datasette_bsky_export"):
        await client.run()
    assert client.start["status"] == 200 and not client.complete
    assert any("disk I/O error" in r.getMessage() for r in caplog.records)


REJECTS = [c for c in CASES if "expect_error" in c]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", REJECTS, ids=case_id)
async def test_rejected_rows_page_by_page(ds_for, monkeypatch, caplog, case):
    """One post per page: each rejected row fails before the first byte (a
    500 naming it) or after it (cut off, the log naming it), never a clean end."""
    monkeypatch.setattr(params, "PAGE_SIZE", 1)
    path, _, query = file_url(case).partition("?")
    client = Client(ds_for(case["db"]), path, query)
    with caplog.at_level(logging.ERROR, logger="datasette_bsky_export"):
        await client.run()
    error = case["expect_error"]
    if client.start["status"] == 500:
        text = json.loads(client.body)["error"]
    else:
        assert client.start["status"] == 200 and not client.complete
        text = " ".join(r.getMessage() for r in caplog.records)
    assert "column %s" % error["column"] in text
    if error["uri"]:
        assert error["uri"] in text


@pytest.mark.asyncio
async def test_concurrent_downloads_share_sql_threads(ds_for, monkeypatch):
    """Four downloads at once: each gets its exact bytes, and export pages
    never take more than num_sql_threads - 1 of Datasette's SQL threads."""
    monkeypatch.setattr(params, "PAGE_SIZE", 50)
    running = []
    most = []
    original = engine.Export.step

    def step(self, conn):
        running.append(self)
        most.append(len(running))
        try:
            time.sleep(0.002)
            return original(self, conn)
        finally:
            running.remove(self)

    monkeypatch.setattr(engine.Export, "step", step)
    ds = ds_for("realistic.db")
    assert ds.setting("num_sql_threads") == 3
    cases = [("json", None), ("csv", None), ("json", DID1), ("csv", DID0)]
    clients = [
        Client(
            ds,
            "/realistic/-/bsky-export/posts." + fmt,
            urllib.parse.urlencode({"did": did}) if did else "",
        )
        for fmt, did in cases
    ]
    await asyncio.gather(*(client.run() for client in clients))
    for client, (fmt, did) in zip(clients, cases):
        assert client.complete
        golden = "realistic-%s.%s" % ({None: "all", DID0: "did0", DID1: "did1"}[did], fmt)
        assert client.body == (FIXTURES / "expected" / golden).read_bytes()
    assert max(most) == 2


@pytest.mark.asyncio
async def test_slow_client_holds_back_the_export(ds_for, steps, monkeypatch):
    """Backpressure: while the client reads nothing (send() does not return),
    no further page is read, so memory holds about one page however slow the
    client is; once it reads again the download completes, byte-exact."""
    monkeypatch.setattr(params, "PAGE_SIZE", 50)
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/posts.json")
    reading = asyncio.Event()
    original = client.send

    async def send(message):
        await original(message)
        if len(client.bodies) == 2:
            await reading.wait()  # a client that stopped reading

    client.send = send
    task = asyncio.ensure_future(client.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(client.bodies) == 2:
            break
    held = len(steps)
    await asyncio.sleep(0.5)
    assert len(steps) == held <= 2  # nothing read ahead while the client is stalled
    reading.set()
    await task
    assert client.complete and len(steps) > 30
    assert client.body == (FIXTURES / "expected" / "realistic-all.json").read_bytes()
