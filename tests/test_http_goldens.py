"""The downloads through Datasette against the goldens: every case's posts
file (and the posts file inside export.zip) byte for byte, and the
downloads' headers. Runs on Datasette 0.65 and 1.0a."""

import io
import json
import zipfile

import pytest

from dsclient import url
from helpers import (
    CASES,
    DID1,
    case_id,
    expected_bytes,
    file_url,
)


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
    assert response.headers["content-disposition"] == (
        'attachment; filename="posts_carol.bsky.social.%s"' % fmt  # DID1's handle
    )
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
