"""Media files of exported posts, found through the archive's ``media`` table.

The legacy copied, for every exported post whose has_media is true, each
``media.file_path`` of that post into ``media/`` under its base name, and
logged a warning and went on for a file it could not copy. One walk serves
the export directory and the ZIP alike, so both hold the same files:

* ``MediaWalk`` is a pass over the selection's posts in legacy order (after
  the posts file, whatever its format), giving each post's media rows in
  table order;
* ``MediaSet`` decides each row, one rule each: a ``file_path`` seen before
  is skipped; of two files with the same base name the first in that order
  is copied and a later one left out, with a warning, but counted in
  ``media_count`` when it could have been read (the legacy copied both onto
  one name, in random map order, and counted every copy); a file that cannot
  be opened, or changes while it is copied, is left out with a warning. The
  file_paths and names met are kept in ``DiskSet`` objects (SQLite tables
  on disk), so a walk's memory does not grow with the number of media rows;
* ``MediaRoot.open`` opens a file for both. It never follows a symlink and
  never opens anything outside the root: the path is walked component by
  component from the root's descriptor (``O_NOFOLLOW``), so what it checks
  is what it opens. Only a regular file is accepted (``fstat`` of the open
  descriptor, opened ``O_NONBLOCK`` so a FIFO cannot hang it), with one
  link unless ``allow_hard_links`` (a hard link may be a file from outside
  the root), and exactly the size ``fstat`` gave is copied.

Warnings show values from the archive with ``repr``: a ``file_path`` with a
newline cannot forge a line in a log.
"""

import errno
import os
import sqlite3
import stat
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

from . import goscan, postrow, sqlitedb
from .exceptions import ExportError
from .pager import KeysetPager

if TYPE_CHECKING:
    from . import engine

READ_SIZE = 1 << 20
ALLOW_HARD_LINKS = False  # the default of the setting allow_hard_links
DISK_SET_CACHE_KIB = 2048  # the page cache of one DiskSet
SHOWN_WARNINGS = 10
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# The walk reads only the keys of the legacy order and has_media.
_KEY_COLUMNS = ", ".join(
    c if c in ("uri", "created_at", "has_media") else "NULL" for c in postrow.COLUMNS
)
_MEDIA_SQL = (
    "SELECT p.rowid, p.uri, m.file_path FROM posts p JOIN media m "
    "ON m.post_uri = p.uri WHERE p.rowid IN (%s) ORDER BY m.rowid"
)


class MediaError(ExportError, ValueError):
    """A media file that cannot be exported (missing, outside the root, not
    a regular file, changed while copied)."""


class MediaFile:
    """An open regular file inside the media root, of a known size."""

    def __init__(self, fd: int, file_path: str, info: os.stat_result) -> None:
        self.fd = fd
        self.file_path = file_path
        self.size, self.mtime = info.st_size, info.st_mtime_ns

    def blocks(self) -> Iterator[bytes]:
        """The file's ``size`` bytes, a block at a time; MediaError if it
        shrinks, grows or is rewritten meanwhile (after its last block)."""
        left = self.size
        try:
            while left:
                block = os.read(self.fd, min(READ_SIZE, left))
                if not block:
                    raise MediaError("%r shrank while it was copied" % (self.file_path,))
                left -= len(block)
                yield block
            after = os.fstat(self.fd)
            if os.read(self.fd, 1) or (after.st_size, after.st_mtime_ns) != (self.size, self.mtime):
                raise MediaError("%r changed while it was copied" % (self.file_path,))
        except OSError as e:
            raise MediaError("%r: %s" % (self.file_path, e.strerror or e)) from None

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MediaRoot:
    """Opens ``file_path`` values inside one directory."""

    def __init__(self, root: str, allow_hard_links: bool = ALLOW_HARD_LINKS) -> None:
        self.root = os.path.realpath(root)
        self.roots = {self.root, os.path.abspath(root)}
        self.allow_hard_links = allow_hard_links

    def parts(self, file_path: Any) -> list[str]:
        """The path components of ``file_path`` below the root, or MediaError."""
        if not isinstance(file_path, str) or not file_path or "\x00" in file_path:
            raise MediaError("unusable file_path %r" % (file_path,))
        path = file_path
        if os.path.isabs(path):  # accepted when it names a place under the root
            inside = [r for r in self.roots if os.path.commonpath([r, path]) == r]
            if not inside:
                raise MediaError("%r is outside the media root" % (file_path,))
            path = os.path.relpath(path, inside[0])
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise MediaError("%r is outside the media root" % (file_path,))
        if file_path.rsplit("/", 1)[-1] in ("", ".", ".."):
            raise MediaError("%r names a directory, not a file" % (file_path,))
        return parts

    def open(self, file_path: Any) -> MediaFile:
        """The MediaFile of ``file_path``, or MediaError."""
        parts = self.parts(file_path)
        dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts[:-1]:
                next_fd = _open_at(part, _DIR_FLAGS, dir_fd, file_path)
                os.close(dir_fd)
                dir_fd = next_fd
            fd = _open_at(parts[-1], _FILE_FLAGS, dir_fd, file_path)
        finally:
            os.close(dir_fd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise MediaError("%r is not a regular file" % (file_path,))
            if info.st_nlink > 1 and not self.allow_hard_links:
                raise MediaError(
                    "%r has %d hard links, so it may be a file from outside the media root"
                    " (allow_hard_links: true, or --allow-hard-links, exports it)"
                    % (file_path, info.st_nlink)
                )
            return MediaFile(fd, file_path, info)
        except BaseException:
            os.close(fd)
            raise


def _open_at(name, flags, dir_fd, file_path):
    """``name`` opened in the directory ``dir_fd``, or MediaError."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(name, dir_fd):
            reason = "a symbolic link, not followed (nothing outside the media root is opened)"
        elif e.errno == errno.ENOENT:
            reason = "no such file under the media root"
        else:
            reason = e.strerror or str(e)
        raise MediaError("%r: %s" % (file_path, reason)) from None


def _is_link(name, dir_fd):
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


class _PostKeys(KeysetPager):
    """The selection's posts in legacy order, with only what the walk reads."""

    def __init__(self, options):
        super().__init__(
            options.did,
            options.start_bound,
            options.end_bound,
            options.page_size,
            filters=options.filters,
        )
        self.select = "SELECT %s, rowid FROM posts" % _KEY_COLUMNS


def _surrogate_escaped(data):
    return data.decode("utf-8", "surrogateescape")


class MediaRow(NamedTuple):
    """A media row of a post the export holds."""

    uri: str
    file_path: Any  # as stored: the walk's users check it


class MediaWalk:
    """The media rows of an export's posts whose has_media the legacy reads
    as true: ``(post uri, file_path)``, posts in legacy order, a post's rows
    in table order. ``page(conn)`` runs the next page's queries."""

    def __init__(self, options: "engine.ExportOptions") -> None:
        self.pager = _PostKeys(options)

    @property
    def done(self) -> bool:
        return self.pager.done

    def page(self, conn: sqlite3.Connection) -> list[MediaRow]:
        rows = self.pager.fetch(conn)
        rowids = [row[postrow.ROWID] for row in rows if goscan.reads_true(row[postrow.HAS_MEDIA])]
        with sqlitedb.text_factory(conn, _surrogate_escaped):
            found = sqlitedb.rows_in(conn, _MEDIA_SQL, rowids)
        order = {rowid: n for n, rowid in enumerate(rowids)}
        found.sort(key=lambda row: order[row[0]])  # stable: table order within a post
        return [MediaRow(uri, file_path) for _, uri, file_path in found]


class MediaSet:
    """The files an export copies into ``media/``, decided row by row.

    ``open(uri, file_path)`` returns the MediaFile to copy as
    ``media/<name>`` (then ``copied`` or ``failed``), or None: a file_path
    seen before, a name taken (counted if readable) or an unusable row
    (warned). ``count`` is the manifest's ``media_count``, ``names`` the
    files in ``media/``, ``bytes`` their total size."""

    def __init__(self, root: MediaRoot, warn: Callable[[str], None]) -> None:
        self.root = root
        self.warn = warn
        self.seen = DiskSet()
        self.names = DiskSet()
        self.count = 0
        self.bytes = 0

    def open(self, uri: str, file_path: Any) -> MediaFile | None:
        if not self.seen.add(file_path):
            return None
        try:
            source = self.root.open(file_path)
        except (MediaError, OSError) as e:
            self.failed(uri, e)
            return None
        try:
            name = base_name(file_path)
        except MediaError as e:
            source.close()
            self.failed(uri, e)
            return None
        if name not in self.names:
            return source
        source.close()
        self.count += 1  # the legacy copied it too, onto the same name
        self.failed(
            uri, "%r has the name of a file already in media/, which keeps the first" % (file_path,)
        )
        return None

    def copied(self, source: MediaFile) -> None:
        self.names.add(base_name(source.file_path))
        self.count += 1
        self.bytes += source.size

    def failed(self, uri: str, error: Exception | str) -> None:
        self.warn("media of %r not exported: %s" % (uri, error))

    def close(self):
        self.seen.close()
        self.names.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DiskSet:
    """A set of ``file_path`` values (any SQLite value) whose memory does not
    grow with its size: a table in a private temporary SQLite database, whose
    page cache holds at most ``DISK_SET_CACHE_KIB`` and which SQLite spills
    beyond that to an unnamed temporary file (in ``SQLITE_TMPDIR``, else
    ``TMPDIR``, else ``/var/tmp``, ``/usr/tmp`` or ``/tmp``), gone when the
    set is closed or the process ends. Text is kept as its exact code
    points (``surrogatepass``), other values by type and ``repr``. Any
    thread may use it; ``close`` waits for a call under way in another
    (the ZIP's, cancelled while a worker thread adds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA cache_size = -%d" % DISK_SET_CACHE_KIB)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("CREATE TABLE members (member BLOB PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("BEGIN")  # never committed: pages reach the file only when spilled
        self._size = 0

    def add(self, value: Any) -> bool:
        """Adds ``value``; True when it was not in the set yet."""
        with self._lock:
            cursor = self._db.execute("INSERT OR IGNORE INTO members VALUES (?)", (_member(value),))
            added = cursor.rowcount == 1
        self._size += added
        return added

    def __contains__(self, value):
        with self._lock:
            cursor = self._db.execute("SELECT 1 FROM members WHERE member = ?", (_member(value),))
            return cursor.fetchone() is not None

    def __len__(self):
        return self._size

    def close(self):
        with self._lock:
            self._db.close()


def _member(value):
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    return b"r" + repr(value).encode("ascii", "backslashreplace")


def base_name(file_path: str) -> str:
    """The name of ``file_path`` in ``media/`` (the ZIP needs it in UTF-8)."""
    name = file_path.rsplit("/", 1)[-1]
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise MediaError("%r is not a UTF-8 file name" % (file_path,)) from None
    return name


class Warnings:
    """A warning callback that shows the first ``shown`` messages one by
    one, then (``summary``) how many there were in all."""

    def __init__(self, emit: Callable[[str], None], shown: int = SHOWN_WARNINGS) -> None:
        self.emit = emit
        self.shown = shown
        self.count = 0

    def __call__(self, message: str) -> None:
        self.count += 1
        if self.count <= self.shown:
            self.emit(message)

    def summary(self) -> None:
        if self.count > self.shown:
            self.emit(
                "%d media files not exported in all (%d more than shown)"
                % (self.count, self.count - self.shown)
            )
