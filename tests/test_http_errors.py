"""The downloads' refusals before any export runs: hostile DIDs and dates,
HEAD, every error status answered as JSON or HTML, other methods, a
missing media table, a tilde-encoded database name. Runs on Datasette 0.65
and 1.0a."""

import io
import shutil
import zipfile

import markupsafe
import pytest
import sqlite_utils

from dsclient import HTML, make_datasette, url
from helpers import (
    DID1,
    DID2,
    FIXTURES,
    empty_db,
)

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


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_media_count_answers_get_only(ds_for, method):
    ds = ds_for("realistic.db")
    response = await ds.client.request(method, "/realistic/-/bsky-export/media.json")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == {"ok": False, "error": "Use GET to count media", "status": 405}


PROGRESS = "/realistic/-/bsky-export/progress/%s.json" % ("a" * 16)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path, status",
    [
        ("/nope/-/bsky-export", 404),
        ("/other/-/bsky-export", 404),
        ("/nope/-/bsky-export/media.json", 404),
        ("/other/-/bsky-export/media.json", 404),
        (PROGRESS, 404),
        (PROGRESS.replace(".json", "/cancel"), 405),
    ],
)
async def test_every_route_answers_errors_one_way(archive, tmp_path, path, status):
    """The page, the media count and the progress endpoints answer their
    errors as the downloads do: JSON for API clients, a page for browsers,
    with the status they mean and the downloads' message for the same cause."""
    ds = make_datasette([archive("realistic.db"), empty_db(tmp_path)])
    response = await ds.client.get(path)
    assert response.status_code == status
    body = response.json()
    assert body["ok"] is False and body["status"] == status
    assert response.headers["cache-control"] == "no-store"
    if "/progress/" not in path:
        download = await ds.client.get(path.split("/-/")[0] + "/-/bsky-export/posts.json")
        assert body["error"] == download.json()["error"]
    page = await ds.client.get(path, headers=HTML)
    assert page.status_code == status
    assert "text/html" in page.headers["content-type"]
    assert str(markupsafe.escape(body["error"])) in page.text
