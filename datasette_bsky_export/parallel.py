"""The posts file (or ``--check``'s list) from several processes, in order.

An ordered parallel map with bounded look-ahead. ``pager.range_keys`` cuts
the legacy order into ranges of about ``RANGE_POSTS`` rows; worker processes
(workers.py: fresh interpreters, each opening the archive read-only itself)
encode one range at a time, each page as the single-process export would. A range's
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
import dataclasses
import itertools
import os
import select
import signal
import sqlite3
import subprocess
import sys
from typing import BinaryIO, Callable

from . import engine
from .exceptions import ExportError
from .goscan import RowError
from .pager import range_keys
from .sqlitedb import BUSY_TIMEOUT
from .workers import INTERRUPTS, encode_range, receive, send, write_all

RANGE_POSTS = 5000  # about 7.5 MB of JSON per range held by a worker; smaller ranges cost more
MAX_RANGE_POSTS = 10**9
MAX_JOBS = 8


class WorkerError(ExportError):
    """A worker process died or failed in a way that is not a RowError,
    an OSError or an SQLite error."""


def default_jobs() -> int:
    """The number of CPUs this process may use, at most MAX_JOBS."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(usable, MAX_JOBS))


@dataclasses.dataclass
class Outcome:
    """What an export wrote: posts, bytes and (``--check``) rejected posts."""

    posts: int = 0
    bytes: int = 0
    rejected: int = 0


def write(
    conn: sqlite3.Connection,
    options: engine.ExportOptions,
    out: BinaryIO,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    timeout: float = BUSY_TIMEOUT,
    range_posts: int = RANGE_POSTS,
) -> Outcome:
    """Write the posts file of ``options`` to the binary file ``out``
    (``jobs`` processes, each range of about ``range_posts`` rows)."""
    return _run(conn, options, out, jobs, progress, timeout, range_posts, check=False)


def check(
    conn: sqlite3.Connection,
    options: engine.ExportOptions,
    out: BinaryIO,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    timeout: float = BUSY_TIMEOUT,
    range_posts: int = RANGE_POSTS,
) -> Outcome:
    """Write one line to ``out`` for each post the export would reject."""
    return _run(conn, options, out, jobs, progress, timeout, range_posts, check=True)


def _run(conn, options, out, jobs, progress, timeout, range_posts, check):
    if jobs == 1:
        return _serial(conn, options, out, progress, check)
    with contextlib.closing(
        range_keys(conn, range_posts, options.start_bound, options.end_bound)
    ) as cuts:
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
    write_all(fd, head)
    outcome = pool.run(list(zip(bounds, bounds[1:])), progress)
    tail = b"" if check else engine.tail(options.format, outcome.posts)
    write_all(fd, tail)
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
    for lines, count, rejected in encode_range(conn, options, True):
        out.writelines(lines)
        outcome.posts += count
        outcome.rejected += rejected
        if progress:
            progress(outcome.posts)
    return outcome


# ---------------------------------------------------------------------------
# The parent's side

# A worker runs isolated (-I: no current directory, PYTHONPATH or user site
# on sys.path) with this process's sys.path minus the current directory,
# and imports this very package from its directory, so that nothing in the
# directory the export runs in (a struct.py, a decoy package) is imported.
_WORKER = """import sys
from typing import BinaryIO, Callable
sys.path[:] = %r
import importlib.util
spec = importlib.util.spec_from_file_location(
    "datasette_bsky_export", %r, submodule_search_locations=[%r]
)
package = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(package)
from datasette_bsky_export import workers
workers.main()
"""


def worker_command() -> list[str]:
    """The argv that starts a worker (its output descriptor follows)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        cwd = os.path.realpath(os.getcwd())
    except FileNotFoundError:  # the current directory was removed
        cwd = None
    # Relative entries ('' among them) name the current directory too.
    path = [e for e in sys.path if os.path.isabs(e) and os.path.realpath(e) != cwd]
    code = _WORKER % (path, os.path.join(here, "__init__.py"), here)
    return [sys.executable, "-I", "-c", code]


class _Worker:
    def __init__(self, out_fd, command):
        # A session of its own: the terminal's Ctrl-C goes to the parent,
        # which ends the workers itself.
        self.process = subprocess.Popen(
            [*command, str(out_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(out_fd,),
            start_new_session=True,
        )
        self.inbox = self.process.stdin.fileno()
        self.outbox = self.process.stdout.fileno()

    def send(self, message):
        try:
            send(self.inbox, message)
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
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
            try:
                command = worker_command()
                for _ in range(jobs):
                    self.workers.append(_Worker(out_fd, command))
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
                message = receive(fd)
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
        """End the workers now; a second Ctrl-C waits until they are gone."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
        try:
            for worker in self.workers:
                worker.process.kill()
            for worker in self.workers:
                worker.process.wait()
                worker.process.stdin.close()
                worker.process.stdout.close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _error(payload):
    kind, args = payload
    if kind == "row":
        return RowError(*args)
    if kind == "os":
        return OSError(*args)  # BrokenPipeError for EPIPE, and so on
    if kind == "sqlite":  # as sqlite3 raised it, its code kept
        message, code = args
        error = sqlite3.OperationalError(message)
        if code is not None:
            error.sqlite_errorcode = code
        return error
    return WorkerError(*args)
