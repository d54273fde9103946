"""export.zip with include_media through Datasette: the media files
packed, media outside media_root refused, duplicates packed once, a missing
media_root. Runs on Datasette 0.65 and 1.0a."""

import io
import json
import logging
import shutil
import sqlite3
import zipfile

import pytest
import sqlite_utils

from dsclient import make_datasette, plugin
from helpers import (
    DID1,
    DID2,
    FIXTURES,
)


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
    """A media root that existed when Datasette started (settings.py checks
    that) and was removed since."""
    (tmp_path / "absent").mkdir()
    ds = ds_for("realistic.db", config=plugin(media_root=str(tmp_path / "absent")))
    assert (await ds.client.get("/realistic/-/bsky-export")).status_code == 200
    (tmp_path / "absent").rmdir()
    response = await ds.client.get("/realistic/-/bsky-export/export.zip?include_media=1")
    assert response.status_code == 500
    assert response.json()["error"] == (
        "Media export is not available: the configured media folder does not exist"
    )
    assert "absent" not in response.text
