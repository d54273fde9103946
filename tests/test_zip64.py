"""A media file of 4 GiB or more: the ZIP with media, streamed to disk by a
real ``datasette serve``, is valid (ZIP64 sizes for the file, ZIP64 offsets
for what follows it) by zipfile, CRCs included, and by ``unzip -t``, and
its entries are the CLI directory's files. The file is sparse; the test
needs about 5 GiB of free disk (one copy on disk at a time) and takes about
a minute."""

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import zipfile

import pytest
from click.testing import CliRunner
from datasette.cli import cli

from dsclient import plugin
from test_media import DID1, media_archive
from test_zip_vs_dir import without_timestamp

MIB = 1 << 20
GIB = 1 << 30
BIG = 4 * GIB + GIB // 2
NEEDED = BIG + GIB  # the ZIP, then the CLI's copy, and a margin


def sparse_file(path):
    """``BIG`` bytes, holes but for three random MiB: at the start, across
    the 4 GiB mark and at the end."""
    with open(path, "wb") as f:
        f.truncate(BIG)
        for offset in (0, 4 * GIB - MIB // 2, BIG - MIB):
            f.seek(offset)
            f.write(os.urandom(MIB))


def digest(stream):
    h = hashlib.sha256()
    while block := stream.read(MIB):
        h.update(block)
    return h.hexdigest()


def download(server, path, target):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200, response.read(2000)
        with open(target, "wb") as out:
            while block := response.read(MIB):  # IncompleteRead if cut off
                out.write(block)
    finally:
        conn.close()


def test_media_file_over_4_gib(tmp_path, serve):
    free = shutil.disk_usage(tmp_path).free
    if free < NEEDED:
        pytest.skip(
            "a ZIP with a 4.5 GiB media file needs %.1f GiB free in %s; %.1f GiB are"
            % (NEEDED / GIB, tmp_path, free / GIB)
        )
    root = tmp_path / "root"
    root.mkdir()
    sparse_file(root / "big.jpg")
    (root / "after.jpg").write_bytes(b"the file after the 4 GiB one")
    db = media_archive(tmp_path, ["big.jpg", "after.jpg"])
    server = serve(db, plugin(media_root=str(root)))
    zip_path = tmp_path / "export.zip"
    download(server, "/media/-/bsky-export/export.zip?include_media=1&did=" + DID1, zip_path)
    assert b"Traceback" not in open(server.log_path, "rb").read()

    with zipfile.ZipFile(zip_path) as archive:
        assert archive.getinfo("media/big.jpg").file_size == BIG
        assert archive.getinfo("media/after.jpg").header_offset > 4 * GIB
        # Each entry read to its end, its CRC checked (what testzip does), and hashed.
        entries = {
            name: digest(archive.open(name)) for name in archive.namelist() if name[-1] != "/"
        }
        manifest = archive.read("manifest.json")
    assert shutil.which("unzip"), "unzip is needed (.ci/run installs Debian's unzip)"
    test = subprocess.run(["unzip", "-t", str(zip_path)], capture_output=True, text=True)
    assert test.returncode == 0 and "No errors detected" in test.stdout, test.stdout + test.stderr
    zip_path.unlink()

    result = CliRunner().invoke(
        cli,
        ["bsky-export", str(db), "--did", DID1, "--include-media", "--media-root", str(root)]
        + ["--output", str(tmp_path / "out")],
    )
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "out" / DID1).iterdir()
    files = {}
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                files[str(path.relative_to(folder))] = digest(f)
    assert (
        sorted(files)
        == sorted(entries)
        == [
            "manifest.json",
            "media/after.jpg",
            "media/big.jpg",
            "posts.json",
        ]
    )
    assert {n: d for n, d in files.items() if n != "manifest.json"} == {
        n: d for n, d in entries.items() if n != "manifest.json"
    }
    on_disk = (folder / "manifest.json").read_bytes()
    assert without_timestamp({"manifest.json": on_disk}) == without_timestamp(
        {"manifest.json": manifest}
    )
    assert json.loads(manifest)["media_count"] == 2
