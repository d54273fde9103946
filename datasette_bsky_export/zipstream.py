"""A ZIP archive built piece by piece in memory, for streaming it out.

The standard library's ``zipfile`` writes to a stream it cannot seek when
given one: every entry then carries a data descriptor (sizes and CRC after
the data) instead of sizes in its local header. ``ZipStream`` gives it such a
stream and hands back, after each call, the bytes that call produced, so an
adapter can send them at once. Memory holds only what one call produced:
each finished entry's central directory record goes to an unnamed temporary
file (in ``TMPDIR``), which ``close`` streams out a block at a time with the
end records, so an archive of a million media files does not hold a
million ``ZipInfo`` objects. The records and end records are the ones ``zipfile`` writes.

Entries whose size is not known when they start (the posts file) are always
ZIP64, so they may pass 4 GiB; a stored file (media) is ZIP64 when its size,
known before it starts, comes near 4 GiB (zipfile's rule: over
``ZIP64_LIMIT / 1.05``), so smaller ones keep their plain headers; the
archive switches to ZIP64 end records and offsets by itself when it needs
them (over 65,535 entries or 4 GiB of offsets).

Calls are blocking (compression, file reads): run them off the event loop,
one at a time.
"""

import struct
import tempfile
import zipfile
from typing import Iterable, Iterator

DateTime = tuple[int, int, int, int, int, int]  # a ZIP entry's local time
COMPRESS_LEVEL = 3  # zlib's fast deflate: ~3x the speed of the default 6, ~15 % bigger


class _Sink:
    """A write-only, unseekable file that keeps what is written until taken."""

    def __init__(self):
        self._parts = []

    def write(self, data):
        self._parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self):
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class ZipStream:
    """Each method returns the archive bytes it produced (possibly ``b""``)."""

    def __init__(self, compresslevel: int = COMPRESS_LEVEL) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(
            self._sink,  # type: ignore[call-overload]  # write, flush: all a stream needs
            "w",
            zipfile.ZIP_DEFLATED,
            allowZip64=True,
        )
        self._level = compresslevel
        self._entry = None
        self._records = tempfile.TemporaryFile()
        self._count = 0

    def start(self, name: str, date_time: DateTime) -> bytes:
        """Start a compressed entry of unknown size; then ``write`` and ``end``."""
        info = zipfile.ZipInfo(name, date_time=date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        # the attribute of the entry's level, by Python version (not in typeshed)
        if "compress_level" in zipfile.ZipInfo.__slots__:  # 3.13+
            info.compress_level = self._level  # type: ignore[attr-defined]
        else:
            info._compresslevel = self._level  # type: ignore[attr-defined]
        info.external_attr = 0o644 << 16
        self._entry = self._zip.open(info, "w", force_zip64=True)
        return self._sink.take()

    def write(self, data):
        self._entry.write(data)
        return self._sink.take()

    def end(self):
        self._entry.close()
        self._entry = None
        self._spill()
        return self._sink.take()

    def add_bytes(self, name: str, data: bytes, date_time: DateTime) -> bytes:
        """A whole compressed entry."""
        return self.start(name, date_time) + self.write(data) + self.end()

    def add_dir(self, name: str, date_time: DateTime) -> bytes:
        """A directory entry (``name`` ends with ``/``)."""
        info = zipfile.ZipInfo(name, date_time=date_time)
        info.external_attr = (0o40755 << 16) | 0x10  # MS-DOS directory flag
        self._zip.writestr(info, b"")
        self._spill()
        return self._sink.take()

    def add_file(
        self, name: str, blocks: Iterable[bytes], date_time: DateTime, size: int
    ) -> Iterator[bytes]:
        """An entry holding the ``size`` bytes of the byte strings of
        ``blocks``, stored (media is compressed already), as a generator of
        archive bytes, one block at a time.

        If ``blocks`` raises, the entry is closed and left out of the central
        directory, and the exception propagates: every ZIP reader that reads
        the central directory (unzip, zipfile, the file managers) then never
        sees it, its bytes stay in the archive unreferenced, and the archive
        goes on."""
        info = zipfile.ZipInfo(name, date_time=date_time)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        info.file_size = size  # zipfile makes the entry ZIP64 by it
        entry = self._zip.open(info, "w")
        yield self._sink.take()
        try:
            for block in blocks:
                entry.write(block)
                yield self._sink.take()
        except BaseException:
            entry.close()
            self._zip.filelist.remove(info)
            del self._zip.NameToInfo[name]
            raise
        entry.close()
        self._spill()
        yield self._sink.take()

    def _spill(self):
        """The finished entries' central directory records to the temporary file."""
        for info in self._zip.filelist:
            self._records.write(_central_record(info))
        self._count += len(self._zip.filelist)
        self._zip.filelist.clear()
        self._zip.NameToInfo.clear()

    def close(self, block_size: int = 1 << 20) -> Iterator[bytes]:
        """The central directory and the end records, as a generator of
        blocks: once it is exhausted, the archive is complete."""
        offset = self._zip.start_dir  # where the central directory starts
        size = self._records.tell()
        self._records.seek(0)
        while block := self._records.read(block_size):
            yield block
        yield _end_records(self._count, size, offset)
        self._zip._didModify = False  # its end records are written above
        self._zip.close()
        self._records.close()

    def abandon(self):
        """Drop an archive that will not be finished (after ``close``, nothing)."""
        try:
            if self._entry is not None:
                self._entry.close()
            self._zip.close()
        except (ValueError, OSError):  # a write handle still open
            pass
        self._entry = None
        self._records.close()
        self._sink.take()


def _central_record(info):
    """The central directory record of ``info``, as zipfile's
    ``_write_end_record`` writes it: ZIP64 sizes and offset where they pass
    ``ZIP64_LIMIT``."""
    limit = zipfile.ZIP64_LIMIT
    dt = info.date_time
    dosdate = (dt[0] - 1980) << 9 | dt[1] << 5 | dt[2]
    dostime = dt[3] << 11 | dt[4] << 5 | (dt[5] // 2)
    file_size, compress_size, offset = info.file_size, info.compress_size, info.header_offset
    zip64 = []
    if file_size > limit or compress_size > limit:
        zip64 += [file_size, compress_size]
        file_size = compress_size = 0xFFFFFFFF
    if offset > limit:
        zip64.append(offset)
        offset = 0xFFFFFFFF
    extra = info.extra
    version = 0
    if zip64:
        extra = struct.pack("<HH" + "Q" * len(zip64), 1, 8 * len(zip64), *zip64) + extra
        version = zipfile.ZIP64_VERSION
    name, flag_bits = info._encodeFilenameFlags()
    record = struct.pack(
        zipfile.structCentralDir,
        zipfile.stringCentralDir,
        max(version, info.create_version),
        info.create_system,
        max(version, info.extract_version),
        info.reserved,
        flag_bits,
        info.compress_type,
        dostime,
        dosdate,
        info.CRC,
        compress_size,
        file_size,
        len(name),
        len(extra),
        len(info.comment),
        0,
        info.internal_attr,
        info.external_attr,
        offset,
    )
    return record + name + extra + info.comment


def _end_records(count, size, offset):
    """The end of central directory record, after the ZIP64 one and its
    locator when the count, the offset or the size needs them (as zipfile)."""
    records = b""
    if (
        count > zipfile.ZIP_FILECOUNT_LIMIT
        or offset > zipfile.ZIP64_LIMIT
        or size > zipfile.ZIP64_LIMIT
    ):
        records += struct.pack(
            zipfile.structEndArchive64,
            zipfile.stringEndArchive64,
            44,
            45,
            45,
            0,
            0,
            count,
            count,
            size,
            offset,
        )
        records += struct.pack(
            zipfile.structEndArchive64Locator,
            zipfile.stringEndArchive64Locator,
            0,
            offset + size,
            1,
        )
        count, size, offset = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(offset, 0xFFFFFFFF)
    return records + struct.pack(
        zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0, count, count, size, offset, 0
    )
