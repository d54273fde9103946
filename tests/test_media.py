"""Media confinement: what is checked is what is opened. A symlink, FIFO or
vanished file swapped in between check and open, a device, a directory, a
``file_path`` ending in ``/`` and a file that changes while it is copied
are each left out with a warning, by the CLI directory and the ZIP alike,
and the export goes on."""

import asyncio
import io
import json
import logging
import os
import shutil
import sqlite3
import threading
import zipfile

import pytest
import sqlite_utils
from click.testing import CliRunner
from datasette.cli import cli

from datasette_bsky_export import engine, media, sqlitedb, streaming
from dsclient import cookies, make_datasette, plugin
from helpers import DID1, FIXTURES
from test_access import finish, stalled

SECRET = b"secret outside the media root"


# --------------------------------------------------------------------------
# MediaRoot.open and MediaFile.blocks


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "ok.jpg").write_bytes(b"ok")
    (root / "sub" / "x.jpg").write_bytes(b"inside")
    (root / "adir").mkdir()
    (root / "dirlink.jpg").symlink_to(root / "sub")
    (root / "zero.jpg").symlink_to("/dev/zero")
    (root / "sublink").symlink_to(root / "sub")
    os.mkfifo(root / "fifo.jpg")
    return root


@pytest.mark.parametrize(
    "file_path, data",
    [
        ("ok.jpg", b"ok"),
        ("sub/x.jpg", b"inside"),
        ("./sub//x.jpg", b"inside"),
        ("ROOT/sub/x.jpg", b"inside"),  # absolute, under the root
    ],
)
def test_open_reads_a_regular_file_inside(root, file_path, data):
    with media.MediaRoot(str(root)).open(file_path.replace("ROOT", str(root))) as source:
        assert source.size == len(data)
        assert b"".join(source.blocks()) == data


@pytest.mark.parametrize(
    "file_path, reason",
    [
        ("ok.jpg/", "names a directory"),
        ("ok.jpg/.", "names a directory"),
        ("ROOT/ok.jpg/", "names a directory"),
        ("ROOT/../secret.jpg", "outside the media root"),
        ("adir", "not a regular file"),
        ("sub", "not a regular file"),
        ("dirlink.jpg", "a symbolic link, not followed"),
        ("sublink/x.jpg", "a symbolic link, not followed"),
        ("zero.jpg", "a symbolic link, not followed"),
        ("fifo.jpg", "not a regular file"),
        ("/dev/zero", "outside the media root"),
        ("../root/ok.jpg", "outside the media root"),
        ("missing.jpg", "no such file under the media root"),
        ("", "unusable file_path"),
        (None, "unusable file_path"),
    ],
)
def test_open_refuses(root, file_path, reason):
    if file_path:
        file_path = file_path.replace("ROOT", str(root))
    with pytest.raises(media.MediaError, match=reason):
        media.MediaRoot(str(root)).open(file_path)


def test_open_refuses_a_device():
    with pytest.raises(media.MediaError, match="'zero' is not a regular file"):
        media.MediaRoot("/dev").open("zero")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.write(b"more"), "changed while it was copied"),
        (lambda f: f.truncate(10), "shrank while it was copied"),
    ],
)
def test_file_changed_while_copied(tmp_path, monkeypatch, change, message):
    monkeypatch.setattr(media, "READ_SIZE", 100)
    (tmp_path / "f.jpg").write_bytes(b"x" * 250)
    with media.MediaRoot(str(tmp_path)).open("f.jpg") as source:
        blocks = source.blocks()
        assert next(blocks) == b"x" * 100
        with open(tmp_path / "f.jpg", "r+b") as f:
            f.seek(0, 2)
            change(f)
        with pytest.raises(media.MediaError, match=message):
            list(blocks)


@pytest.mark.parametrize("page_size", [1, 250, 100_000])
def test_walk_in_legacy_order(monkeypatch, page_size):
    """Posts in legacy order, a post's media rows in table order, whatever
    the page size and however many posts a media query takes."""
    conn = sqlite3.connect(str(FIXTURES / "realistic.db"))
    expected = conn.execute(
        "SELECT p.uri, m.file_path FROM posts p JOIN media m ON m.post_uri = p.uri "
        "WHERE p.has_media = 1 ORDER BY p.created_at DESC, p.uri, m.rowid"
    ).fetchall()
    monkeypatch.setattr(sqlitedb, "IN_CHUNK", 7)
    walk = media.MediaWalk(engine.ExportOptions("csv", page_size=page_size))
    found = []
    while not walk.done:
        found += walk.page(conn)
    conn.close()
    assert found == expected and len(found) > 800


# --------------------------------------------------------------------------
# Through the two adapters: the CLI directory and the ZIP


def media_archive(tmp_path, file_paths):
    """A copy of realistic.db whose media rows are ``file_paths``, one per
    post of DID1 with media, in the legacy order of those posts."""
    path = tmp_path / "media.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    db = sqlite_utils.Database(path)
    uris = [
        r["uri"]
        for r in db["posts"].rows_where(
            "did = ? AND has_media = 1", [DID1], order_by="created_at DESC, uri", select="uri"
        )
    ]
    db["media"].delete_where()
    db["media"].insert_all(
        {
            "hash": "h%d" % i,
            "post_uri": uri,
            "mime_type": "image/jpeg",
            "file_path": file_path,
            "size_bytes": 1,
        }
        for i, (uri, file_path) in enumerate(zip(uris, file_paths))
    )
    db.close()
    return path


def dir_export(db, root, allow_hard_links=False):
    """``(files of the export directory by path, warnings)`` from the CLI."""
    output = db.parent / "out"
    shutil.rmtree(output, ignore_errors=True)
    result = CliRunner().invoke(
        cli,
        [
            "bsky-export",
            str(db),
            "--did",
            DID1,
            "--include-media",
            "--media-root",
            str(root),
            "--output",
            str(output),
        ]
        + (["--allow-hard-links"] if allow_hard_links else []),
    )
    assert result.exit_code == 0, result.output
    (folder,) = (output / DID1).iterdir()
    files = {
        str(p.relative_to(folder)) + ("/" if p.is_dir() else ""): b""
        if p.is_dir()
        else p.read_bytes()
        for p in folder.rglob("*")
    }
    return files, result.stderr.splitlines()


def zip_export(db, root, allow_hard_links=False):
    """``(entries of export.zip by name, warnings logged)`` from Datasette."""
    settings = {"allow_hard_links": True} if allow_hard_links else {}
    ds = make_datasette([db], plugin(media_root=str(root), **settings))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("datasette_bsky_export")
    logger.addHandler(handler)
    try:
        response = asyncio.run(
            ds.client.get("/%s/-/bsky-export/export.zip?include_media=1&did=%s" % (db.stem, DID1))
        )
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    return (
        {name: archive.read(name) for name in archive.namelist()},
        [r.getMessage() for r in records if r.levelno == logging.WARNING],
    )


EXPORTS = {"dir": dir_export, "zip": zip_export}


def finishes(export, fifo, timeout=30):
    """``export()``'s result; a failure if it waited on the FIFO at ``fifo``
    (which is then opened for writing, so a reader blocked on it goes on)."""
    hung = []

    def release():
        hung.append(True)
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    watchdog = threading.Timer(timeout, release)
    watchdog.start()
    try:
        result = export()
    finally:
        watchdog.cancel()
    assert not hung, "the export waited on a FIFO"
    return result


def only_ok(files, warnings, media_count=1):
    """The export holds ``media/ok.jpg`` as its only media file."""
    assert sorted(n for n in files if n.startswith("media/")) == ["media/", "media/ok.jpg"]
    assert files["media/ok.jpg"] == b"ok"
    assert not any(SECRET in data for data in files.values())
    manifest = json.loads(files["manifest.json"])
    assert manifest["media_count"] == media_count
    assert manifest["files"] == ["media/ (1 files)", "posts.json"]


@pytest.fixture
def swap_at_open(monkeypatch):
    """``install(file_path, component, action)``: ``action()`` runs once, in
    the window between checking ``file_path`` and opening it, at whichever
    the export reaches first: just after ``os.path.isfile`` said yes (a
    check, then an open) or just before ``os.open`` opens ``component`` at
    a directory descriptor (the open is the check)."""
    real_open, real_isfile = os.open, os.path.isfile

    def install(file_path, component, action):
        fired = []

        def fire():
            if not fired:
                fired.append(True)
                action()

        def fake_open(path, flags, mode=0o777, *, dir_fd=None):
            if dir_fd is not None and os.fsdecode(path) == component:
                fire()
            return real_open(path, flags, mode, dir_fd=dir_fd)

        def fake_isfile(path):
            found = real_isfile(path)
            if found and os.fsdecode(path).endswith("/" + file_path):
                fire()
            return found

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os.path, "isfile", fake_isfile)
        return fired

    return install


def _file_to_symlink(root, outside):
    (root / "sub" / "x.jpg").unlink()
    (root / "sub" / "x.jpg").symlink_to(outside / "x.jpg")


def _dir_to_symlink(root, outside):
    (root / "sub").rename(root / "sub.old")
    (root / "sub").symlink_to(outside)


def _file_to_fifo(root, outside):
    (root / "sub" / "x.jpg").unlink()
    os.mkfifo(root / "sub" / "x.jpg")


def _file_vanishes(root, outside):
    (root / "sub" / "x.jpg").unlink()


SWAPS = {
    "file-to-symlink": ("x.jpg", _file_to_symlink),
    "dir-to-symlink": ("sub", _dir_to_symlink),
    "file-to-fifo": ("x.jpg", _file_to_fifo),
    "file-vanishes": ("x.jpg", _file_vanishes),
}


@pytest.mark.parametrize("swap", SWAPS)
@pytest.mark.parametrize("adapter", EXPORTS)
def test_swap_between_check_and_open(tmp_path, root, swap_at_open, adapter, swap):
    """The file checked is replaced before it is opened: by a symlink to a
    file (or a directory) outside the root, by a FIFO, or by nothing. The
    outside file is never read, the FIFO never waited on, the row is left
    out with a warning and the export completes."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(SECRET)
    db = media_archive(tmp_path, ["ok.jpg", "sub/x.jpg"])
    component, action = SWAPS[swap]
    fired = swap_at_open("sub/x.jpg", component, lambda: action(root, outside))
    files, warnings = finishes(lambda: EXPORTS[adapter](db, root), root / "sub" / "x.jpg")
    assert fired
    only_ok(files, warnings)
    assert len([w for w in warnings if "'sub/x.jpg'" in w]) == 1


UNUSABLE = [
    "ok.jpg/",
    "adir",
    "dirlink.jpg",
    "fifo.jpg",
    "zero.jpg",
    "/dev/zero",
    "sublink/x.jpg",
    "gone\nWarning: forged.jpg",
]


@pytest.mark.parametrize("adapter", EXPORTS)
def test_unusable_rows_are_skipped_with_a_warning(tmp_path, root, adapter):
    """``ok.jpg/``, a directory, a symlink to one, a FIFO, a device: each
    row is skipped with one warning (its values escaped: a newline in a
    file_path forges no line), the ZIP stays one that unzip reads, and the
    export goes on."""
    db = media_archive(tmp_path, ["ok.jpg"] + UNUSABLE)
    files, warnings = finishes(lambda: EXPORTS[adapter](db, root), root / "fifo.jpg")
    only_ok(files, warnings)
    for file_path in UNUSABLE:
        assert len([w for w in warnings if repr(file_path) in w]) == 1, file_path
    assert not any("forged" in w and "'gone\\n" not in w for w in warnings)
    assert all("\n" not in w for w in warnings)


@pytest.mark.parametrize("change", ["grows", "shrinks"])
@pytest.mark.parametrize("adapter", EXPORTS)
def test_file_that_changes_while_copied_is_left_out(tmp_path, root, monkeypatch, adapter, change):
    """A file written to while it is copied: exactly the size it had when
    opened is read, then the change is seen and the file left out (from the
    ZIP's central directory too), with a warning; the export goes on."""
    monkeypatch.setattr(media, "READ_SIZE", 1000)
    big = root / "big.jpg"
    big.write_bytes(b"b" * 5000)
    inode = big.stat().st_ino
    real_read = os.read
    changed = []

    def fake_read(fd, n):
        if not changed and os.fstat(fd).st_ino == inode:
            changed.append(True)
            with open(big, "r+b") as f:
                f.truncate(7000 if change == "grows" else 2500)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", fake_read)
    db = media_archive(tmp_path, ["ok.jpg", "big.jpg"])
    files, warnings = EXPORTS[adapter](db, root)
    assert changed
    only_ok(files, warnings)
    assert len([w for w in warnings if "'big.jpg'" in w]) == 1


@pytest.mark.parametrize("adapter", EXPORTS)
def test_file_name_not_utf8_is_skipped(tmp_path, root, adapter):
    """A file_path whose bytes are not UTF-8 opens, but its name cannot be
    a ZIP entry: left out of both, with a warning."""
    (root / os.fsdecode(b"bad-\xff.jpg")).write_bytes(b"bad")
    db = media_archive(tmp_path, ["ok.jpg", "placeholder"])
    with sqlite3.connect(str(db)) as conn:  # sqlite-utils would store the bytes as a BLOB
        conn.execute(
            "UPDATE media SET file_path = CAST(? AS TEXT) WHERE file_path = 'placeholder'",
            [b"bad-\xff.jpg"],
        )
    conn.close()
    files, warnings = EXPORTS[adapter](db, root)
    only_ok(files, warnings)
    assert len([w for w in warnings if "is not a UTF-8 file name" in w]) == 1


def post_uris(db):
    conn = sqlite3.connect(str(db))
    uris = dict(conn.execute("SELECT file_path, post_uri FROM media"))
    conn.close()
    return uris


@pytest.mark.parametrize("allow", [False, True], ids=["refused", "allowed"])
@pytest.mark.parametrize("adapter", EXPORTS)
def test_hard_link_to_an_outside_file(tmp_path, root, adapter, allow):
    """A file of the root that is a hard link (here to a file outside it)
    is left out with a warning naming its post and its file_path, the
    export goes on; with allow_hard_links (--allow-hard-links) it is copied."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(SECRET)
    os.link(outside / "secret.jpg", root / "linked.jpg")
    db = media_archive(tmp_path, ["ok.jpg", "linked.jpg"])
    files, warnings = EXPORTS[adapter](db, root, allow_hard_links=allow)
    if allow:
        assert files["media/linked.jpg"] == SECRET
        assert json.loads(files["manifest.json"])["media_count"] == 2
        assert not [w for w in warnings if "not exported" in w]
    else:
        only_ok(files, warnings)
        (warning,) = [w for w in warnings if "not exported" in w]
        assert repr(post_uris(db)["linked.jpg"]) in warning
        assert "'linked.jpg' has 2 hard links" in warning


@pytest.mark.parametrize("allow", [False, True], ids=["refused", "allowed"])
def test_media_count_counts_a_hard_link_as_missing(tmp_path, root, allow):
    """media.json counts what an export would copy: a refused hard link is missing."""
    os.link(root / "ok.jpg", root / "twin.jpg")
    db = media_archive(tmp_path, ["ok.jpg", "twin.jpg", "missing.jpg"])
    settings = {"allow_hard_links": True} if allow else {}
    ds = make_datasette([db], plugin(media_root=str(root), **settings))
    response = asyncio.run(ds.client.get("/media/-/bsky-export/media.json?did=" + DID1))
    found = 2 if allow else 0  # ok.jpg has two links as well
    assert response.json() == {
        "found": found,
        "total": 3,
        "message": "%d of 3 media files found; %d missing" % (found, 3 - found),
    }


@pytest.mark.asyncio
async def test_media_count_takes_a_download_slot(tmp_path, root):
    """media.json walks every media row of the selection: like a download it
    is refused (429) while its actor holds every slot it may, and gives its
    slot back when it has answered."""
    db = media_archive(tmp_path, ["ok.jpg", "missing.jpg"])
    ds = make_datasette([db], plugin(media_root=str(root), max_downloads_per_actor=2))
    path = "/media/-/bsky-export/media.json?did=" + DID1
    running = [await stalled(ds, {"id": "alice"}, "/media/-/bsky-export/posts.json") for _ in "ab"]
    refused = await ds.client.get(path, cookies=cookies(ds, {"id": "alice"}))
    assert refused.status_code == 429
    assert "You have 2 downloads running already" in refused.json()["error"]
    other = await ds.client.get(path, cookies=cookies(ds, {"id": "bob"}))
    assert other.status_code == 200 and other.json()["found"] == 1
    await finish(*running)
    again = await ds.client.get(path, cookies=cookies(ds, {"id": "alice"}))
    assert again.status_code == 200 and again.json()["total"] == 2
    assert not streaming.DownloadSlots.of(ds).per_actor  # every slot given back


# --------------------------------------------------------------------------
# The walk's memory: DiskSet


def test_disk_set_keeps_exact_members(monkeypatch):
    """Members are compared exactly (text by its code points, even
    surrogates; other values by type), and its memory stays within its page
    cache however many it holds (SQLite spills the rest to a temporary file)."""
    members = [
        "a.jpg",
        "A.jpg",
        "caf\u00e9.jpg",
        "cafe\u0301.jpg",
        "bad-\udcff.jpg",
        "\ud800",
        5,
        "5",
    ]
    members += [None, b"5", 5.5, ""]
    disk = media.DiskSet()
    assert [disk.add(m) for m in members] == [True] * len(members)
    assert [disk.add(m) for m in members] == [False] * len(members)
    assert all(m in disk for m in members) and "b.jpg" not in disk
    assert len(disk) == len(members)
    disk.close()
    monkeypatch.setattr(media, "DISK_SET_CACHE_KIB", 64)
    disk = media.DiskSet()
    names = ["data/media/%064x.jpg" % (i * 7919) for i in range(20_000)]
    assert all(disk.add(name) for name in names)
    assert not any(disk.add(name) for name in names[::97])
    pages = disk._db.execute("PRAGMA page_count").fetchone()[0]
    assert pages * 4096 > 64 * 1024 * 10  # the set is ten times its cache
    assert len(disk) == len(names)
    disk.close()
