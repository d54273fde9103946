"""One export, one shape: the extracted ``export.zip`` and the CLI's export
directory of the same export are the same tree, byte for byte but for the
manifest's ``export_timestamp``, for every golden case, with and without
media: a duplicate base name (the first in legacy order wins, both counted)
and a file gone from the media root included. JSON and CSV copy the same
media."""

import asyncio
import io
import json
import re
import shutil
import zipfile

import pytest
import sqlite_utils
from click.testing import CliRunner
from datasette.cli import cli

from dsclient import make_datasette, plugin, url
from helpers import CASES, FIXTURES, case_id, expected_bytes

GOLDEN = [c for c in CASES if "expect" in c]
NOBODY = [
    dict(
        name="nobody-" + fmt,
        db="realistic.db",
        format=fmt,
        did="did:plc:nobody",
        start_date=None,
        end_date=None,
    )
    for fmt in ("json", "csv")
]
_LEGACY_ORDER = (
    "SELECT p.did, m.file_path FROM posts p JOIN media m ON m.post_uri = p.uri "
    "WHERE p.has_media = 1 ORDER BY p.did, p.created_at DESC, p.uri, m.rowid"
)


class MediaArchive:
    """A copy of a fixture archive and a media root holding its media files,
    but for each account: the second file in legacy order is gone, and one
    more media row for the account's last post with media names another
    file with the base name of its first."""

    def __init__(self, folder, name):
        self.db = folder / name
        shutil.copyfile(FIXTURES / name, self.db)
        self.root = folder / "media-root"
        self.first = {}  # did -> (base name, bytes) of the file media/ must hold
        db = sqlite_utils.Database(self.db)
        by_did = {}
        for did, file_path in db.execute(_LEGACY_ORDER).fetchall():
            by_did.setdefault(did, []).append(file_path)
            target = self.root / file_path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"media %s\n" % file_path.encode() * 40)
        for did, paths in by_did.items():
            if len(paths) < 3:
                continue
            (self.root / paths[1]).unlink()
            name = paths[0].rsplit("/", 1)[-1]
            self.first[did] = (name, (self.root / paths[0]).read_bytes())
            dup = self.root / "dup" / did.replace(":", "_") / name
            dup.parent.mkdir(parents=True, exist_ok=True)
            dup.write_bytes(b"the duplicate, copied onto the same name by the legacy")
            (last,) = db["posts"].rows_where(
                "did = ? AND has_media = 1",
                [did],
                select="uri",
                order_by="created_at, uri DESC",
                limit=1,
            )
            db["media"].insert(
                {
                    "hash": "dup " + did,
                    "post_uri": last["uri"],
                    "mime_type": "image/jpeg",
                    "size_bytes": 1,
                    "file_path": str(dup.relative_to(self.root)),
                }
            )
        db.close()


@pytest.fixture(scope="module")
def media_archives(tmp_path_factory):
    made = {}

    def get(name):
        if name not in made:
            made[name] = MediaArchive(tmp_path_factory.mktemp(name.split(".")[0]), name)
        return made[name]

    return get


def dir_tree(case, db, output, root=None):
    """The CLI's export directory as ``{relative path: bytes}`` (``name/``: a folder)."""
    args = ["bsky-export", str(db), "--format", case["format"], "--output", str(output)]
    for option in ("did", "start_date", "end_date"):
        if case[option] is not None:
            args += ["--" + option.replace("_", "-"), case[option]]
    if root is not None:
        args += ["--include-media", "--media-root", str(root)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (folder,) = (output / (case["did"] or "all")).iterdir()
    return {
        str(p.relative_to(folder)) + ("/" if p.is_dir() else ""): b""
        if p.is_dir()
        else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def zip_tree(case, db, root=None):
    """The entries of export.zip as ``{name: bytes}``, checked by zipfile."""
    ds = make_datasette([db], plugin(media_root=str(root)) if root else None)
    response = asyncio.run(
        ds.client.get(
            url(
                "/%s/-/bsky-export/export.zip" % db.stem,
                format=case["format"],
                did=case["did"],
                start_date=case["start_date"],
                end_date=case["end_date"],
                include_media="1" if root else None,
            )
        )
    )
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    for info in archive.infolist():
        assert info.compress_type == (
            zipfile.ZIP_STORED if info.filename.startswith("media/") else zipfile.ZIP_DEFLATED
        )
    return {name: archive.read(name) for name in archive.namelist()}


def without_timestamp(tree):
    stamp = re.compile(rb'\n  "export_timestamp": "[^"\n]*",\n')
    (found,) = stamp.findall(tree["manifest.json"])
    return dict(tree, **{"manifest.json": tree["manifest.json"].replace(found, b"\n")})


def media_files(tree):
    return {name: data for name, data in tree.items() if name.startswith("media/")}


@pytest.mark.parametrize("with_media", [False, True], ids=["posts", "media"])
@pytest.mark.parametrize("case", GOLDEN + NOBODY, ids=case_id)
def test_extracted_zip_is_the_cli_directory(tmp_path, media_archives, archive, case, with_media):
    if with_media:
        made = media_archives(case["db"])
        db, root = made.db, made.root
    else:
        db, root = archive(case["db"]), None
    directory = dir_tree(case, db, tmp_path / "out", root)
    assert without_timestamp(zip_tree(case, db, root)) == without_timestamp(directory)
    posts_name = "posts." + case["format"]
    manifest = json.loads(directory["manifest.json"])
    if "expect" in case:
        assert directory[posts_name] == expected_bytes(case)
    else:
        assert posts_name not in directory and manifest["files"] == []
    if not with_media:
        assert not media_files(directory)
        return
    names = {name[6:] for name in media_files(directory)} - {""}
    assert "media/" in directory
    if manifest["post_count"]:
        assert manifest["files"] == ["media/ (%d files)" % len(names), posts_name]
    if case["did"] in made.first and not (case["start_date"] or case["end_date"]):
        name, data = made.first[case["did"]]
        assert directory["media/" + name] == data  # the first in legacy order
        assert manifest["media_count"] == len(names) + 1  # both copies counted


@pytest.mark.parametrize("case", [c for c in GOLDEN if c["format"] == "json"], ids=case_id)
def test_json_and_csv_copy_the_same_media(tmp_path, media_archives, case):
    made = media_archives(case["db"])
    trees = [
        dir_tree(dict(case, format=fmt), made.db, tmp_path / fmt, made.root)
        for fmt in ("json", "csv")
    ]
    assert media_files(trees[0]) == media_files(trees[1])
    counts = [json.loads(tree["manifest.json"])["media_count"] for tree in trees]
    assert counts[0] == counts[1]
    if case["did"] in made.first:
        assert counts[0] > 0
