"""The worker processes of a parallel export (see parallel.py).

A worker is a fresh interpreter that opens the archive read-only itself and
then, range after range: encodes the range's pages as the single-process
export does, holds them until the parent gives it the range's turn (with
the number of posts written before it), writes them straight to the output
file descriptor it shares with the parent (streaming the rest of the range
once it has the turn), and tells the parent how the range went. Messages go
both ways over its stdin and stdout as frames: a length, then a pickle.
"""

import gc
import itertools
import os
import pickle
import select
import signal
import sqlite3
import struct
import sys
from typing import Any, Iterator

from . import engine
from .goscan import RowError
from .postrow import PageKey
from .sqlitedb import connect_read_only

INTERRUPTS = {signal.SIGINT, signal.SIGTERM}
_FRAME = struct.Struct("!I")


def encode_range(
    conn: sqlite3.Connection,
    options: engine.ExportOptions,
    check: bool,
    after: PageKey | None = None,
    until: PageKey | None = None,
) -> Iterator[tuple[list[bytes] | Iterator[bytes], int, int]]:
    """(bytes pieces, posts, rejected posts) of each page of the range after
    key ``after`` up to key ``until`` (the whole export without them): the
    export's posts, or with ``check`` one line per post it would reject."""
    fmt = options.format
    pager = options.pager(after, until)
    while not pager.done:
        rows = pager.fetch(conn, engine.page_text(fmt))
        if check:
            found = engine.page_problems(rows, fmt)
            lines = b"".join(b"%s\n" % str(e).encode("utf-8", "backslashreplace") for e in found)
            yield [lines], len(rows), len(found)
        elif rows:
            yield engine.page_parts(rows, fmt), len(rows), 0


# ---------------------------------------------------------------------------
# Frames


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd, size):
    parts = []
    while size:
        data = os.read(fd, size)
        if not data:
            return None
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def send(fd: int, message: object) -> None:
    data = pickle.dumps(message)
    write_all(fd, _FRAME.pack(len(data)) + data)


def receive(fd: int) -> Any:
    """The next message, or None at the end of the pipe."""
    header = _read_exactly(fd, _FRAME.size)
    if header is None:
        return None
    data = _read_exactly(fd, _FRAME.unpack(header)[0])
    return None if data is None else pickle.loads(data)


# ---------------------------------------------------------------------------
# The worker


def main():
    """A worker process: ranges in from stdin, how each went out to stdout,
    bytes to the output descriptor named by the first argument."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)  # blocked while it started
    out_fd, inbox, outbox = int(sys.argv[1]), sys.stdin.fileno(), os.dup(1)
    os.dup2(2, 1)  # nothing printed by accident can corrupt the messages
    try:
        path, timeout, options, check = receive(inbox)
        conn = connect_read_only(path, timeout)
        gc.freeze()  # as the CLI does: the imported modules stay, the cycle collector skips them
        while True:
            message = receive(inbox)
            if message is None:
                return  # the export is complete, or the parent is gone
            _, index, after, until = message
            send(outbox, _one_range(conn, options, check, (after, until), inbox, out_fd, index))
    except (_ParentGone, BrokenPipeError):
        return


class _ParentGone(Exception):
    pass


def _one_range(conn, options, check, bounds, inbox, out_fd, index):
    """The message that tells the parent how the range went."""
    output = _RangeOutput(out_fd, None if check else options.format)
    try:
        for pieces, count, rejected in encode_range(conn, options, check, *bounds):
            output.add(pieces, count, rejected)
            if output.position is None and select.select([inbox], [], [], 0)[0]:
                output.turn(_turn(inbox))
        if output.position is None:
            output.turn(_turn(inbox))
    except RowError as e:
        return ("error", index, ("row", (e.uri, e.column, e.problem)))
    except sqlite3.Error as e:  # its code says whether the archive was locked
        return ("error", index, ("sqlite", (str(e), getattr(e, "sqlite_errorcode", None))))
    except OSError as e:
        return ("error", index, ("os", (e.errno, e.strerror)))
    except Exception as e:  # reported, not lost: the parent fails with it
        return ("error", index, ("other", ("%s: %s" % (type(e).__name__, e),)))
    return ("done", index, output.posts, output.bytes, output.rejected)


def _turn(inbox):
    message = receive(inbox)
    if message is None:
        raise _ParentGone
    return message[1]


class _RangeOutput:
    """A range's pages, held until its turn and then written (each posts
    page after the separator of a ``fmt`` export; check lines as they are)."""

    def __init__(self, fd, fmt):
        self.fd, self.fmt = fd, fmt
        self.held = []
        self.position = None  # posts in the output before the next page, once it is the turn
        self.posts = self.bytes = self.rejected = 0

    def add(self, pieces, count, rejected):
        self.held.append((pieces, count))
        self.posts += count
        self.rejected += rejected
        if self.position is not None:
            self.flush()

    def turn(self, position):
        self.position = position
        self.flush()

    def flush(self):
        for pieces, count in self.held:
            separator = engine.separator(self.fmt, self.position) if self.fmt else b""
            for piece in itertools.chain((separator,), pieces):
                write_all(self.fd, piece)
                self.bytes += len(piece)
            self.position += count
        self.held = []
