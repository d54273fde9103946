"""A ZIP archive built piece by piece in memory, for streaming it out.

The standard library's ``zipfile`` writes to a stream it cannot seek when
given one: every entry then carries a data descriptor (sizes and CRC after
the data) instead of sizes in its local header. ``ZipStream`` gives it such a
stream and hands back, after each call, the bytes that call produced, so an
adapter can send them at once: nothing is written to disk and memory holds
only what one call produced (plus one small ``ZipInfo`` per entry for the
central directory, written by ``close``).

Entries whose size is not known when they start (the posts file) are always
ZIP64, so they may pass 4 GiB; a stored file (media) is ZIP64 when its size,
known before it starts, comes near 4 GiB (zipfile's rule: over
``ZIP64_LIMIT / 1.05``), so smaller ones keep their plain headers; the
archive switches to ZIP64 end records and offsets by itself when it needs
them (over 65,535 entries or 4 GiB of offsets).

Calls are blocking (compression, file reads): run them off the event loop,
one at a time.
"""

import zipfile

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

    def __init__(self, compresslevel=COMPRESS_LEVEL):
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._level = compresslevel
        self._entry = None

    def start(self, name, date_time):
        """Start a compressed entry of unknown size; then ``write`` and ``end``."""
        info = zipfile.ZipInfo(name, date_time=date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        if "compress_level" in zipfile.ZipInfo.__slots__:  # Python 3.13+
            info.compress_level = self._level
        else:
            info._compresslevel = self._level
        info.external_attr = 0o644 << 16
        self._entry = self._zip.open(info, "w", force_zip64=True)
        return self._sink.take()

    def write(self, data):
        self._entry.write(data)
        return self._sink.take()

    def end(self):
        self._entry.close()
        self._entry = None
        return self._sink.take()

    def add_bytes(self, name, data, date_time):
        """A whole compressed entry."""
        return self.start(name, date_time) + self.write(data) + self.end()

    def add_dir(self, name, date_time):
        """A directory entry (``name`` ends with ``/``)."""
        info = zipfile.ZipInfo(name, date_time=date_time)
        info.external_attr = (0o40755 << 16) | 0x10  # MS-DOS directory flag
        self._zip.writestr(info, b"")
        return self._sink.take()

    def add_file(self, name, blocks, date_time, size):
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
        yield self._sink.take()

    def close(self):
        """The central directory: the archive is complete."""
        self._zip.close()
        return self._sink.take()

    def abandon(self):
        """Drop an archive that will not be finished (after ``close``, nothing)."""
        try:
            if self._entry is not None:
                self._entry.close()
            self._zip.close()
        except (ValueError, OSError):  # a write handle still open
            pass
        self._entry = None
        self._sink.take()
