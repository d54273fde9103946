"""The legacy export directory, written so that nothing half-done looks done.

``<output>/<did or "all">/<YYYY-MM-DD_HH-MM-SS>/`` holds ``posts.json`` or
``posts.csv``, ``manifest.json`` and, with media, ``media/``. Everything is
written into a hidden ``.<name>.partial-<pid>`` directory beside the target
and renamed into place only when complete; any failure removes it.
"""

import datetime
import os
import re
import shutil
import time

from . import engine, manifest, media

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._:@+-]")
_WRITEBACK_BYTES = 32 << 20
_PARTIAL = re.compile(r"\..+\.partial-([0-9]+)\Z")


def safe_name(text):
    """A single, harmless path component for a DID (or any text)."""
    name = _UNSAFE_NAME.sub("_", text)[:200]
    if not name or name.startswith("."):
        name = "_" + name
    return name


class Result:
    def __init__(self, path, posts, media_count, size, seconds):
        self.path, self.posts, self.media, self.bytes, self.seconds = (
            path, posts, media_count, size, seconds)


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
            os.posix_fadvise(self.out.fileno(), self.previous, written - self.previous,
                             os.POSIX_FADV_DONTNEED)
            self.previous, self.done = self.done, written


def _remove_stale_partials(parent):
    """Remove partial directories left by a killed export whose process is gone."""
    for entry in os.listdir(parent):
        m = _PARTIAL.match(entry)
        if m and not _alive(int(m.group(1))):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    """Copy the export's media files into ``target``; returns the MediaSet."""
    chosen = media.MediaSet(media.MediaRoot(root), warn)
    walk = media.MediaWalk(options)
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


def write(conn, options, output, include_media=False, media_root=".", progress=None,
          warn=None, now=None):
    """Export into a new legacy directory under ``output``; returns a Result.

    ``progress(posts_done)`` is called after each page, ``warn(message)`` for
    media that cannot be copied. Raises (after removing everything it wrote)
    on any failure: RowError, OSError (a full disk), KeyboardInterrupt...
    """
    started = time.monotonic()
    now = now or datetime.datetime.now()
    parent = os.path.join(output, safe_name(options.did or "all"))
    created = _makedirs(parent)
    _remove_stale_partials(parent)
    stamp = now.strftime("%Y-%m-%d_%H-%M-%S")
    partial = os.path.join(parent, ".%s.partial-%d" % (stamp, os.getpid()))
    try:
        os.mkdir(partial)
        posts_name = "posts." + options.format
        posts_path = os.path.join(partial, posts_name)
        export = engine.Export(options)
        with open(posts_path, "wb") as out:
            writeback = _Writeback(out)
            size = _write_chunks(conn, export, out, progress, lambda export: writeback())
            out.flush()
            os.fsync(out.fileno())
        if export.posts == 0:
            os.remove(posts_path)  # the legacy writes only the manifest (and media/) then
            size = 0
        chosen = None
        if include_media:  # a second pass over the posts, as the ZIP makes
            os.mkdir(os.path.join(partial, "media"))
            chosen = _copy_media(conn, options, media_root, os.path.join(partial, "media"),
                                 warn or (lambda message: None))
        media_count = chosen.count if chosen else 0
        body = manifest.export_manifest(options, export.posts, media_count,
                                        len(chosen.names) if chosen else None)
        with open(os.path.join(partial, "manifest.json"), "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        final = _final_path(parent, stamp)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        for directory in reversed(created):  # the folders this export made, if left empty
            try:
                os.rmdir(directory)
            except OSError:
                break
        raise
    return Result(final, export.posts, media_count, size, time.monotonic() - started)


def _write_chunks(conn, export, out, progress, after_page=None):
    """Write every chunk of ``export`` to ``out``; returns the bytes written."""
    size = 0
    while True:
        chunk = export.step(conn)
        if chunk is None:
            return size
        out.write(chunk)
        size += len(chunk)
        if after_page:
            after_page(export)
        if progress:
            progress(export.posts)


def stream(conn, options, out, progress=None):
    """Write the posts file alone to a binary file object; returns a Result."""
    started = time.monotonic()
    export = engine.Export(options)
    size = _write_chunks(conn, export, out, progress)
    out.flush()
    return Result(None, export.posts, 0, size, time.monotonic() - started)
