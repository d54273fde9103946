"""The posts file (or ``--check``'s list) from several processes, in order.

An ordered parallel map with bounded look-ahead. ``pager.range_keys`` cuts
the legacy order into ranges of about ``RANGE_POSTS`` rows; worker processes
(fresh interpreters, each opening the archive read-only itself) encode one
range at a time, each page as the single-process export would. A range's
bytes go straight from its worker to the output file descriptor, which all
processes share, and only when it is that range's turn: the parent passes
the turn, with the number of posts written before it, to one worker at a
time in legacy order. Until then a worker holds its range's pages, so at
most ``jobs`` ranges are in memory and nothing is ever written to a
temporary file.

The ranges are bounded by keys ``(created_at, uri, rowid)`` taken in one
snapshot, and each range pages by keyset inside its bounds. So a post that
exists throughout the export lies in exactly one range, and is read exactly
once, whatever another process inserts or deletes meanwhile (each page is
its own read, as in the single-process export).

A rejected row fails the export when its range's turn comes: every range
before it has been written by then, so the error is the first in legacy
order. A worker that dies, or a parent that goes away, ends the export:
the parent fails at once, and a worker whose parent is gone meets the end
of its pipe at its next message and exits.
"""

import contextlib
import gc
import itertools
import os
import pickle
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import urllib.parse

from . import engine, posts
from .pager import range_keys

RANGE_POSTS = 2000  # about 3 MB of JSON per range held by a worker
RANGE_POSTS_VARIABLE = "BSKY_EXPORT_RANGE_POSTS"
MAX_JOBS = 8
BUSY_TIMEOUT = 5.0  # seconds a connection waits for a writer's lock
_FRAME = struct.Struct("!I")


class WorkerError(Exception):
    """A worker process died or failed in a way that is not a RowError,
    an OSError or an SQLite error."""


def default_jobs():
    """The number of CPUs this process may use, at most MAX_JOBS."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(usable, MAX_JOBS))


def range_posts():
    """Rows per range: RANGE_POSTS, or the environment's RANGE_POSTS_VARIABLE."""
    value = os.environ.get(RANGE_POSTS_VARIABLE, "")
    return int(value) if value.isdigit() and int(value) > 0 else RANGE_POSTS


def connect_read_only(path, timeout=BUSY_TIMEOUT):
    """A read-only connection to the SQLite file at ``path``."""
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)


class Outcome:
    """What an export wrote: posts, bytes and (``--check``) rejected posts."""

    def __init__(self, posts=0, size=0, rejected=0):
        self.posts, self.bytes, self.rejected = posts, size, rejected


def write(conn, options, out, jobs=1, progress=None, timeout=BUSY_TIMEOUT):
    """Write the posts file of ``options`` to the binary file ``out``."""
    return _run(conn, options, out, jobs, progress, timeout, check=False)


def check(conn, options, out, jobs=1, progress=None, timeout=BUSY_TIMEOUT):
    """Write one line to ``out`` for each post the export would reject."""
    return _run(conn, options, out, jobs, progress, timeout, check=True)


def _run(conn, options, out, jobs, progress, timeout, check):
    if jobs == 1:
        return _serial(conn, options, out, progress, check)
    with contextlib.closing(range_keys(conn, range_posts(), options.start_bound,
                                       options.end_bound)) as cuts:
        keys = list(itertools.islice(cuts, jobs - 1))
        if not keys:  # too small to split
            return _serial(conn, options, out, progress, check)
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        out.flush()
        fd = os.dup(out.fileno())  # the same open file, at a number the workers keep (>= 3)
        try:
            # The workers start while the other cuts are read.
            pool = _Pool(len(keys) + 1, fd, (path, timeout, options, check))
            try:
                keys += cuts
                outcome = _parallel(pool, fd, keys, options, progress, check)
            except BaseException:
                pool.kill()
                raise
            pool.close()
        finally:
            os.close(fd)
    return outcome


def _serial(conn, options, out, progress, check):
    return (_serial_check if check else _serial_write)(conn, options, out, progress)


def _parallel(pool, fd, keys, options, progress, check):
    bounds = [None, *keys, None]
    head = b"" if check else engine.head(options.format)
    _write_all(fd, head)
    outcome = pool.run(list(zip(bounds, bounds[1:])), progress)
    tail = b"" if check else engine.tail(options.format, outcome.posts)
    _write_all(fd, tail)
    outcome.bytes += len(head) + len(tail)
    return outcome


def _serial_write(conn, options, out, progress):
    """The single-process export: the engine's chunks, page by page."""
    export = engine.Export(options)
    size = 0
    while True:
        chunk = export.step(conn)
        if chunk is None:
            return Outcome(export.posts, size)
        out.write(chunk)
        size += len(chunk)
        if progress:
            progress(export.posts)


def _serial_check(conn, options, out, progress):
    """The single-process --check: the whole export as one range."""
    outcome = Outcome()
    for lines, count, rejected in _encode_range(conn, options, True, None, None):
        out.write(lines)
        outcome.posts += count
        outcome.rejected += rejected
        if progress:
            progress(outcome.posts)
    return outcome


def _problem_lines(found):
    return b"".join(b"%s\n" % str(e).encode("utf-8", "backslashreplace") for e in found)


# ---------------------------------------------------------------------------
# Frames between the parent and its workers: a length, then a pickle.

def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd, size):
    parts = []
    while size:
        data = os.read(fd, size)
        if not data:
            return None
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def _send(fd, message):
    data = pickle.dumps(message)
    _write_all(fd, _FRAME.pack(len(data)) + data)


def _recv(fd):
    """The next message, or None at the end of the pipe."""
    header = _read_exactly(fd, _FRAME.size)
    if header is None:
        return None
    data = _read_exactly(fd, _FRAME.unpack(header)[0])
    return None if data is None else pickle.loads(data)


# ---------------------------------------------------------------------------
# The parent's side

_WORKER = "from datasette_bsky_export import parallel; parallel.worker_main()"
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


class _Worker:
    def __init__(self, out_fd):
        # A session of its own: the terminal's Ctrl-C goes to the parent,
        # which ends the workers itself.
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(out_fd)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, pass_fds=(out_fd,), start_new_session=True)
        self.inbox = self.process.stdin.fileno()
        self.outbox = self.process.stdout.fileno()

    def send(self, message):
        try:
            _send(self.inbox, message)
        except BrokenPipeError:  # not the output's reader gone: this worker
            raise self.died() from None

    def died(self):
        status = self.process.wait()
        how = "killed by signal %d" % -status if status < 0 else "exit status %d" % status
        return WorkerError("a worker process of the export ended (%s)" % how)


class _Pool:
    def __init__(self, jobs, out_fd, start):
        self.workers = []
        try:
            # Ctrl-C and SIGTERM wait until the workers are started and
            # listed, so that every worker started is one that kill() ends.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
            try:
                for _ in range(jobs):
                    self.workers.append(_Worker(out_fd))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            for worker in self.workers:
                worker.send(start)
        except BaseException:
            self.kill()
            raise

    def run(self, ranges, progress):
        """Hand out the ranges and their turns until all are written."""
        self.ranges, self.next, self.owner, self.failed = ranges, 0, {}, {}
        for worker in self.workers:
            self._assign(worker)
        self.head, outcome = 0, Outcome()
        self.owner[0].send(("turn", 0))
        by_outbox = {w.outbox: w for w in self.workers}
        while self.head < len(ranges):
            ready, _, _ = select.select(list(by_outbox), [], [])
            for fd in ready:
                message = _recv(fd)
                if message is None:
                    raise by_outbox[fd].died()
                self._received(message, outcome, progress)
                self._assign(by_outbox[fd])
        return outcome

    def _received(self, message, outcome, progress):
        if message[0] == "error":
            self.failed[message[1]] = _error(message[2])
        else:
            _, index, written, size, rejected = message
            outcome.posts += written
            outcome.bytes += size
            outcome.rejected += rejected
            self.head = index + 1
            if progress:
                progress(outcome.posts)
        if self.head in self.failed:
            raise self.failed[self.head]
        if self.head < len(self.ranges) and message[0] != "error":
            self.owner[self.head].send(("turn", outcome.posts))

    def _assign(self, worker):
        """Give ``worker`` the next range, up to the first range that failed."""
        if self.next < min([len(self.ranges), *self.failed]):
            after, until = self.ranges[self.next]
            self.owner[self.next] = worker
            worker.send(("range", self.next, after, until))
            self.next += 1

    def close(self):
        """End the workers once the export is complete."""
        for worker in self.workers:
            worker.process.stdin.close()  # the end of its inbox: it exits
        for worker in self.workers:
            worker.process.wait()
            worker.process.stdout.close()

    def kill(self):
        for worker in self.workers:
            worker.process.kill()
        for worker in self.workers:
            worker.process.wait()
            worker.process.stdin.close()
            worker.process.stdout.close()


def _error(payload):
    kind, args = payload
    if kind == "row":
        return posts.RowError(*args)
    if kind == "os":
        return OSError(*args)  # BrokenPipeError for EPIPE, and so on
    if kind == "sqlite":
        return sqlite3.OperationalError(*args)
    return WorkerError(*args)


# ---------------------------------------------------------------------------
# The worker's side


def worker_main():
    """A worker process: ranges in from stdin, done or error out to stdout,
    bytes to the output descriptor named by the first argument."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _INTERRUPTS)  # blocked while it started
    out_fd, inbox, outbox = int(sys.argv[1]), sys.stdin.fileno(), os.dup(1)
    os.dup2(2, 1)  # nothing printed by accident can corrupt the messages
    try:
        path, timeout, options, check = _recv(inbox)
        conn = connect_read_only(path, timeout)
        gc.freeze()  # as the CLI does: the imported modules stay, the cycle collector skips them
        while True:
            message = _recv(inbox)
            if message is None:
                return  # the export is complete, or the parent is gone
            _, index, after, until = message
            _send(outbox, _one_range(conn, options, check, after, until, inbox, out_fd, index))
    except (_ParentGone, BrokenPipeError):
        return


class _ParentGone(Exception):
    pass


def _one_range(conn, options, check, after, until, inbox, out_fd, index):
    """The message that tells the parent how the range went."""
    separator = _no_separator if check else _Separator(options.format)
    output = _RangeOutput(out_fd, separator)
    try:
        for body, count, rejected in _encode_range(conn, options, check, after, until):
            output.add(body, count, rejected)
            if output.position is None and select.select([inbox], [], [], 0)[0]:
                output.turn(_turn(inbox))
        if output.position is None:
            output.turn(_turn(inbox))
    except posts.RowError as e:
        return ("error", index, ("row", (e.uri, e.column, e.problem)))
    except sqlite3.Error as e:
        return ("error", index, ("sqlite", (str(e),)))
    except OSError as e:
        return ("error", index, ("os", (e.errno, e.strerror)))
    except Exception as e:  # reported, not lost: the parent fails with it
        return ("error", index, ("other", ("%s: %s" % (type(e).__name__, e),)))
    return ("done", index, output.posts, output.bytes, output.rejected)


def _turn(inbox):
    message = _recv(inbox)
    if message is None:
        raise _ParentGone
    return message[1]


def _encode_range(conn, options, check, after, until):
    """(bytes, posts, rejected posts) of each page of one range."""
    fmt = options.format
    pager = options.pager(after, until)
    while not pager.done:
        rows = pager.fetch(conn, engine.page_text(fmt))
        if check:
            found = engine.page_problems(rows, fmt)
            yield [_problem_lines(found)], len(rows), len(found)
        elif rows:
            yield engine.page_parts(rows, fmt), len(rows), 0


def _no_separator(_posts_before):
    return b""


class _Separator:
    def __init__(self, fmt):
        self.fmt = fmt

    def __call__(self, posts_before):
        return engine.separator(self.fmt, posts_before)


class _RangeOutput:
    """A range's pages, held until its turn and then written."""

    def __init__(self, fd, separator):
        self.fd, self.separator = fd, separator
        self.held = []
        self.position = None  # posts in the output before the next page, once it is the turn
        self.posts = self.bytes = self.rejected = 0

    def add(self, body, posts, rejected):
        self.held.append((body, posts))
        self.posts += posts
        self.rejected += rejected
        if self.position is not None:
            self.flush()

    def turn(self, position):
        self.position = position
        self.flush()

    def flush(self):
        for body, posts in self.held:
            separator = self.separator(self.position)
            _write_all(self.fd, separator)
            self.bytes += len(separator)
            for piece in body:
                _write_all(self.fd, piece)
                self.bytes += len(piece)
            self.position += posts
        self.held = []
