"""The legacy export directory, written so that nothing half-done looks done.

``<output>/<did or "all">/<YYYY-MM-DD_HH-MM-SS>/`` holds ``posts.json`` or
``posts.csv``, ``manifest.json`` and, with media, ``media/``. Everything is
written into a hidden ``.<name>.partial-<pid>-<random>`` directory beside the
target and renamed into place only when complete; any failure removes it.
SIGINT and SIGTERM are held while the directories are made (until the
cleanup knows of them), while they are cleaned up and around the final
rename: an interrupt leaves either nothing or the complete export, never a
partial directory. The writing process holds an ``flock`` on that
directory: a later export removes a partial directory only when it can take
that lock, so only when its writer is gone, whatever PID namespace it ran
in.
"""

import dataclasses
import datetime
import fcntl
import os
import re
import secrets
import shutil
import signal
import sqlite3
import time
from typing import BinaryIO, Callable

from . import engine, manifest, media, parallel
from .workers import INTERRUPTS

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._:@+-]")
_WRITEBACK_BYTES = 32 << 20
_PARTIAL = re.compile(r"\..+\.partial-[0-9a-f-]+\Z")


def folder_name(text: str) -> str:
    """A single, harmless path component for a DID (or any text)."""
    name = _UNSAFE_NAME.sub("_", text)[:200]
    if not name or name.startswith("."):
        name = "_" + name
    return name


def _parent(output, did):
    """The folder under ``output`` that holds the exports of ``did``."""
    return os.path.join(output, folder_name(did or "all"))


def output_problem(output: str, did: str | None) -> str | None:
    """Why no export of ``did`` can be made under ``output``, or None: the
    nearest path of its folder that exists is not a directory (a file, a
    broken symlink), or not one this user may write in."""
    path = _parent(output, did)
    while not os.path.lexists(path):
        path = os.path.dirname(path) or "."
    if not os.path.isdir(path):
        return "cannot create the export under %s: %s is not a directory" % (output, path)
    if not os.access(path, os.W_OK | os.X_OK):
        return "cannot create the export under %s: %s is not writable" % (output, path)
    return None


@dataclasses.dataclass
class Result:
    """What an export wrote: its directory (None for a stream), posts, media
    files, the bytes written (a directory: every file in it, media and
    manifest included; a stream: the posts), and how long it took."""

    path: str | None
    posts: int
    media: int
    bytes: int
    seconds: float


class _Writeback:
    """Hands the posts file to the kernel every ``_WRITEBACK_BYTES``: starts
    writing it back and lets the page cache drop it. A multi-gigabyte export
    then neither piles up dirty pages nor leaves them all to the final fsync,
    which would otherwise wait for the whole file at the end."""

    def __init__(self, out):
        self.out = out
        self.previous = self.done = 0  # the last two points handed over

    def __call__(self):
        written = self.out.tell()
        if written - self.done >= _WRITEBACK_BYTES and hasattr(os, "posix_fadvise"):
            self.out.flush()
            # From the point before last: pages still being written back last
            # time are dropped now.
            os.posix_fadvise(
                self.out.fileno(), self.previous, written - self.previous, os.POSIX_FADV_DONTNEED
            )
            self.previous, self.done = self.done, written


def _remove_stale_partials(parent):
    """Remove partial directories left by an export that is gone."""
    for entry in os.listdir(parent):
        if not _PARTIAL.match(entry):
            continue
        path = os.path.join(parent, entry)
        try:
            lock = _lock(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its writer holds the lock (or it is gone already)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(lock)


def _lock(path, operation):
    """A descriptor of the directory ``path`` holding ``flock(operation)``."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, operation)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make_partial(parent, stamp):
    """A new partial directory and the descriptor holding its lock. A
    directory removed between its mkdir and its lock is made again."""
    while True:
        path = os.path.join(
            parent, ".%s.partial-%d-%s" % (stamp, os.getpid(), secrets.token_hex(4))
        )
        os.mkdir(path)
        try:
            fd = _lock(path, fcntl.LOCK_EX)
        except FileNotFoundError:
            continue
        if os.path.exists(path) and os.path.samestat(os.stat(path), os.fstat(fd)):
            return path, fd
        os.close(fd)


def _makedirs(path):
    """os.makedirs that returns the directories it created, outermost first."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory)
    return list(reversed(missing))


def _final_path(parent, stamp):
    path = os.path.join(parent, stamp)
    n = 1
    while os.path.exists(path):  # two exports within one second
        path = os.path.join(parent, "%s_%d" % (stamp, n))
        n += 1
    return path


def _copy_media(conn, options, root, target, warn):
    """Copy the export's media files into ``target`` (``root`` a
    media.MediaRoot); returns the MediaSet, closed."""
    walk = media.MediaWalk(options)
    with media.MediaSet(root, warn) as chosen:
        while not walk.done:
            for uri, file_path in walk.page(conn):
                source = chosen.open(uri, file_path)
                if source is not None:
                    with source:
                        _copy_file(chosen, uri, source, target)
    return chosen


def _copy_file(chosen, uri, source, target):
    path = os.path.join(target, media.base_name(source.file_path))
    try:
        with open(path, "xb") as out:
            for block in source.blocks():
                out.write(block)
    except media.MediaError as e:
        os.remove(path)
        chosen.failed(uri, e)
    else:
        chosen.copied(source)


def write(
    conn: sqlite3.Connection,
    options: engine.ExportOptions,
    output: str,
    include_media: bool = False,
    media_root: str = ".",
    progress: Callable[[int], None] | None = None,
    warn: Callable[[str], None] | None = None,
    now: datetime.datetime | None = None,
    jobs: int = 1,
    allow_hard_links: bool = media.ALLOW_HARD_LINKS,
    range_posts: int = parallel.RANGE_POSTS,
    completed: Callable[[str], None] | None = None,
) -> Result:
    """Export into a new legacy directory under ``output``; returns a Result.

    ``progress(posts_done)`` is called as posts are written, ``warn(message)``
    for media that cannot be copied; ``jobs`` processes write the posts file
    (parallel.write, ranges of ``range_posts``); ``allow_hard_links`` copies
    media files that have more than one link (media.MediaRoot). Raises (after
    removing everything it wrote) on any failure: RowError, OSError (a full
    disk), KeyboardInterrupt... ``completed(path)`` is called once the export is in
    place, SIGINT and SIGTERM still held: there a caller changes how it
    takes them, if an interrupt from then on must not be reported as one
    that left nothing behind.
    """
    started = time.monotonic()
    now = now or datetime.datetime.now()
    parent = _parent(output, options.did)
    stamp = now.strftime("%Y-%m-%d_%H-%M-%S")
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    created, partial, lock = [], None, None
    try:
        created = _makedirs(parent)
        partial, lock = _make_partial(parent, stamp)
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)  # from here the cleanup knows all
        _remove_stale_partials(parent)
        media_from = (media_root, allow_hard_links, warn) if include_media else None
        outcome, media_count, size = _fill(
            conn, options, partial, jobs, progress, range_posts, media_from
        )
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)  # in place and reported, or not
        final = _final_path(parent, stamp)
        os.rename(partial, final)
        if completed:
            completed(final)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
        if partial:
            shutil.rmtree(partial, ignore_errors=True)
        for directory in reversed(created):  # the folders this export made, if left empty
            try:
                os.rmdir(directory)
            except OSError:
                break
        raise
    finally:
        if lock is not None:
            os.close(lock)
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)  # a held interrupt is raised here
    return Result(final, outcome.posts, media_count, size, time.monotonic() - started)


def _fill(conn, options, partial, jobs, progress, range_posts, media_from):
    """The export's files written into the directory ``partial``: the posts
    file (none without posts, as the legacy), ``media/`` when ``media_from``
    is (media root, allow_hard_links, warn), then manifest.json, synced.
    Returns (parallel's Outcome, media files copied, the directory's size)."""
    posts_path = os.path.join(partial, "posts." + options.format)
    outcome = _write_posts(conn, options, posts_path, jobs, progress, range_posts)
    size = outcome.bytes
    if outcome.posts == 0:
        os.remove(posts_path)  # the legacy writes only the manifest (and media/) then
        size = 0
    chosen = None
    if media_from:  # a second pass over the posts, as the ZIP makes
        media_root, allow_hard_links, warn = media_from
        os.mkdir(os.path.join(partial, "media"))
        chosen = _copy_media(
            conn,
            options,
            media.MediaRoot(media_root, allow_hard_links),
            os.path.join(partial, "media"),
            warn or (lambda message: None),
        )
    media_count = chosen.count if chosen else 0
    body = manifest.export_manifest(
        options, outcome.posts, media_count, len(chosen.names) if chosen else None
    )
    with open(os.path.join(partial, "manifest.json"), "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    size += len(body) + (chosen.bytes if chosen else 0)  # the directory's files
    return outcome, media_count, size


def _write_posts(conn, options, path, jobs, progress, range_posts):
    """The posts file at ``path``, written by ``jobs`` processes and synced;
    returns parallel.write's Outcome."""
    with open(path, "wb") as out:
        writeback = _Writeback(out)

        def written(posts):
            writeback()
            if progress:
                progress(posts)

        outcome = parallel.write(conn, options, out, jobs, written, range_posts=range_posts)
        out.flush()
        os.fsync(out.fileno())
    return outcome


def stream(
    conn: sqlite3.Connection,
    options: engine.ExportOptions,
    out: BinaryIO,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
    range_posts: int = parallel.RANGE_POSTS,
) -> Result:
    """Write the posts file alone to a binary file object; returns a Result."""
    started = time.monotonic()
    outcome = parallel.write(conn, options, out, jobs, progress, range_posts=range_posts)
    out.flush()
    return Result(None, outcome.posts, 0, outcome.bytes, time.monotonic() - started)
