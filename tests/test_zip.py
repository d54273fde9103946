"""zipstream: a ZIP written piece by piece to an unseekable sink reads back
exactly, with data descriptors, ZIP64 where sizes or counts need it, stored
media, an entry that fails while written left out, and nothing left open
when abandoned."""

import io
import os
import shutil
import struct
import subprocess
import tracemalloc
import warnings
import zipfile

import pytest

from datasette_bsky_export import zipstream

WHEN = (2025, 1, 2, 3, 4, 6)


def read(data):
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return archive


BLOCK = 1 << 20


def blocks(data, size=BLOCK):
    return (data[i : i + size] for i in range(0, len(data), size))


def test_round_trip():
    photo = os.urandom(3 * BLOCK + 17)
    z = zipstream.ZipStream()
    parts = [z.start("d/2025/posts.json", WHEN)]
    assert parts[0].startswith(b"PK\x03\x04")
    text = b"[\n" + b'  {"text": "caf\xc3\xa9"},\n' * 20000 + b"]\n"
    for i in range(0, len(text), 50000):
        parts.append(z.write(text[i : i + 50000]))
    parts.append(z.end())
    parts.append(z.add_dir("d/2025/media/", WHEN))
    pieces = list(z.add_file("d/2025/media/photo.jpg", blocks(photo), WHEN, len(photo)))
    assert len(pieces) >= 4  # one block at a time, not the whole file
    parts += pieces
    parts.append(z.add_bytes("d/2025/manifest.json", b'{"post_count": 20000}\n', WHEN))
    parts += z.close()
    archive = read(b"".join(parts))
    assert archive.namelist() == [
        "d/2025/posts.json",
        "d/2025/media/",
        "d/2025/media/photo.jpg",
        "d/2025/manifest.json",
    ]
    assert archive.read("d/2025/posts.json") == text
    assert archive.read("d/2025/media/photo.jpg") == photo
    assert archive.read("d/2025/manifest.json") == b'{"post_count": 20000}\n'
    posts = archive.getinfo("d/2025/posts.json")
    assert posts.compress_type == zipfile.ZIP_DEFLATED and posts.compress_size < len(text) / 10
    assert posts.date_time == WHEN
    assert archive.getinfo("d/2025/media/photo.jpg").compress_type == zipfile.ZIP_STORED
    assert archive.getinfo("d/2025/media/").is_dir()
    for info in archive.infolist():
        assert info.flag_bits & 0x08  # sizes in a data descriptor: written without seeking


def test_posts_entry_is_zip64_from_its_local_header():
    """Its size is unknown when it starts, so it may pass 4 GiB."""
    z = zipstream.ZipStream()
    header = z.start("posts.json", WHEN)
    assert zip64_extra(header) == 0x0001
    assert struct.unpack("<H", header[4:6])[0] >= 45  # version needed: ZIP64
    z.write(b"[]\n")
    data = header + z.end() + b"".join(z.close())
    assert read(data).read("posts.json") == b"[]\n"


def test_zip64_sizes_offsets_and_counts(monkeypatch):
    """With the limits lowered, every ZIP64 record zipfile writes for a big
    export (sizes, offsets, entry count) reads back."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4096)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 20)
    z = zipstream.ZipStream()
    big = os.urandom(20000)
    parts = [z.start("posts.csv", WHEN), z.write(big), z.end()]
    for i in range(30):
        parts.append(z.add_bytes("media/%02d.jpg" % i, os.urandom(300), WHEN))
    parts += z.close()
    data = b"".join(parts)
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # ZIP64 end records
    archive = read(data)
    assert len(archive.namelist()) == 31
    assert archive.read("posts.csv") == big


def zip64_extra(header):
    """The ZIP64 extra field's id in a local header, or None."""
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    extra = header[30 + name_length : 30 + name_length + extra_length]
    return struct.unpack("<H", extra[:2])[0] if extra else None


def test_stored_entry_is_zip64_when_its_size_needs_it(monkeypatch):
    """A media file of 4 GiB or more (here past a lowered limit) is a ZIP64
    entry from its local header on, and the offsets after it are ZIP64 too;
    a smaller one keeps the plain header it always had."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4096)
    z = zipstream.ZipStream()
    big, small = os.urandom(5000), os.urandom(3000)
    parts = list(z.add_file("media/big.jpg", blocks(big, 1000), WHEN, len(big)))
    assert zip64_extra(parts[0]) == 0x0001
    small_parts = list(z.add_file("media/small.jpg", blocks(small, 1000), WHEN, len(small)))
    assert zip64_extra(small_parts[0]) is None
    archive = read(b"".join(parts + small_parts + list(z.close())))
    assert archive.read("media/big.jpg") == big
    assert archive.read("media/small.jpg") == small
    assert archive.getinfo("media/small.jpg").header_offset > 4096


def build(z):
    """An archive of every kind of entry, big enough to pass lowered limits."""
    random = __import__("random").Random(5)
    parts = [z.start("posts.csv", WHEN), z.write(random.randbytes(6000)), z.end()]
    parts.append(z.add_dir("media/", WHEN))
    for i in range(30):
        data = random.randbytes(random.choice([10, 300, 5000]))
        parts += z.add_file("media/%02d-caf\u00e9.jpg" % i, blocks(data, 1000), WHEN, len(data))
    parts.append(z.add_bytes("manifest.json", b"{}", WHEN))
    return b"".join(parts + list(z.close()))


@pytest.mark.parametrize("limits", ["plain", "zip64"])
def test_central_directory_is_zipfiles_own(monkeypatch, limits):
    """The central directory, spilled to a temporary file entry by entry,
    then streamed, is byte for byte the one zipfile writes from its list of
    ZipInfo (ZIP64 sizes, offsets, count and end records included)."""
    if limits == "zip64":
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4096)
        monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 20)
    ours = build(zipstream.ZipStream())

    def zipfiles_close(self):
        self._zip.close()
        yield self._sink.take()

    monkeypatch.setattr(zipstream.ZipStream, "_spill", lambda self: None)
    monkeypatch.setattr(zipstream.ZipStream, "close", zipfiles_close)
    assert ours == build(zipstream.ZipStream())
    assert (b"PK\x06\x06" in ours) == (limits == "zip64")
    assert len(read(ours).namelist()) == 33


def test_memory_does_not_grow_with_entries(tmp_path):
    """What a ZipStream holds while it writes 20,000 entries: their central
    directory is on disk, not in memory."""
    z = zipstream.ZipStream()
    with open(tmp_path / "many.zip", "wb") as out:
        tracemalloc.start()
        try:
            for i in range(20_000):
                for piece in z.add_file("media/%064x.jpg" % i, iter([b"x" * 100]), WHEN, 100):
                    out.write(piece)
                if i == 999:
                    after_1000 = tracemalloc.get_traced_memory()[0]
            grown = tracemalloc.get_traced_memory()[0] - after_1000
        finally:
            tracemalloc.stop()
        for piece in z.close():
            out.write(piece)
    assert grown < 100_000  # a ZipInfo each would be about 8 MB
    archive = read((tmp_path / "many.zip").read_bytes())
    assert len(archive.namelist()) == 20_000


class Changed(Exception):
    pass


def failing(data):
    yield data
    raise Changed


@pytest.mark.parametrize("data", [b"", b"x" * (BLOCK + 5)], ids=["empty", "big"])
def test_entry_that_fails_is_left_out(tmp_path, data):
    """A media file that fails while it is copied: its bytes stay in the
    archive, unreferenced, and every reader of the central directory sees
    only the other entries, whatever follows (even one of the same name)."""
    z = zipstream.ZipStream()
    parts = [z.add_bytes("a.txt", b"a", WHEN), z.add_dir("media/", WHEN)]
    pieces = z.add_file("media/x.jpg", failing(data), WHEN, len(data))
    with pytest.raises(Changed):
        for piece in pieces:
            parts.append(piece)
    parts += z.add_file("media/x.jpg", blocks(b"good"), WHEN, 4)
    parts.append(z.add_bytes("b.txt", b"b", WHEN))
    parts += z.close()
    data = b"".join(parts)
    archive = read(data)
    assert archive.namelist() == ["a.txt", "media/", "media/x.jpg", "b.txt"]
    assert archive.read("media/x.jpg") == b"good"
    if shutil.which("unzip"):
        (tmp_path / "t.zip").write_bytes(data)
        test = subprocess.run(
            ["unzip", "-t", str(tmp_path / "t.zip")], capture_output=True, text=True
        )
        assert test.returncode == 0 and "No errors detected" in test.stdout, test.stdout
        assert "extra bytes" not in test.stdout + test.stderr


def test_abandon_releases_everything():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = zipstream.ZipStream()
        z.start("posts.json", WHEN)
        z.write(b"[")
        z.abandon()
        z = zipstream.ZipStream()
        pieces = z.add_file("p.jpg", blocks(b"x" * (BLOCK * 2)), WHEN, BLOCK * 2)
        next(pieces)
        pieces.close()
        z.abandon()
        z.abandon()
        del z, pieces


def test_compress_level_is_applied():
    text = b"".join(b'{"n": %d, "text": "post number %d"},\n' % (i, i * 7) for i in range(20000))
    sizes = {}
    for level in (1, 9):
        z = zipstream.ZipStream(compresslevel=level)
        data = z.start("posts.json", WHEN) + z.write(text) + z.end() + b"".join(z.close())
        assert read(data).read("posts.json") == text
        sizes[level] = len(data)
    assert sizes[9] < sizes[1] * 0.95
