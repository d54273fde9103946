"""The export directory as a ZIP, built while it streams."""

import asyncio
import os
import re

from . import manifest, media, zipstream
from .access import PLUGIN
from .streaming import log, run_page

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(text, limit=80):
    """``text`` reduced to ``[A-Za-z0-9._-]`` (anything else becomes ``_``),
    harmless as a file name and inside a quoted header value."""
    name = _UNSAFE.sub("_", text)[:limit].lstrip(".")
    return name or "_"


def download_name(options, now):
    """The ZIP's file name in Content-Disposition."""
    return "bsky-export_%s_%s.zip" % (safe_name(options.did or "all"),
                                      now.strftime("%Y-%m-%d_%H-%M-%S"))


async def zip_chunks(datasette, db, export, root, now):
    """The legacy export directory ``<did or all>/<YYYY-MM-DD_HH-MM-SS>/`` as
    a ZIP, with what exportdir writes on disk: the posts file (none when no
    post matches), ``media/`` with the exported posts' media files when
    ``root`` is given, then ``manifest.json``.

    The media files are found by a second pass over the same pages (ZIP
    entries cannot interleave), so memory holds one page, not a list of all
    media. SQL runs one page per database call; compression, file checks and
    reads in a worker thread."""
    options = export.options
    folder = "%s/%s/" % (safe_name(options.did or "all"), now.strftime("%Y-%m-%d_%H-%M-%S"))
    stamp = now.timetuple()[:6]
    archive = zipstream.ZipStream()
    posts_name = "posts." + options.format
    copied = set()  # file_path of each media file in the archive
    names = set()  # their names in media/
    pieces = None
    try:
        chunk = await run_page(datasette, db, export.step)
        files = []
        if not (export.finished and export.posts == 0):
            yield await asyncio.to_thread(
                lambda: archive.start(folder + posts_name, stamp) + archive.write(chunk))
            while True:
                chunk = await run_page(datasette, db, export.step)
                if chunk is None:
                    break
                yield await asyncio.to_thread(archive.write, chunk)
            yield await asyncio.to_thread(archive.end)
            if root is not None:
                yield archive.add_dir(folder + "media/", stamp)
                skipped = _Skipped()
                pager = options.pager()
                while not pager.done:
                    found = await run_page(datasette, db, lambda conn: media.media_paths(
                        conn, media.media_uris(pager.fetch(conn))))
                    found = [(uri, path) for uri, path in found if path not in copied]
                    for uri, file_path, source in await asyncio.to_thread(_resolve, root, found):
                        if file_path in copied:
                            continue
                        if isinstance(source, Exception):
                            skipped.add(uri, source)
                            continue
                        name = os.path.basename(file_path)
                        if name not in names:  # else the legacy overwrote it: one file
                            pieces = archive.add_file(folder + "media/" + name, source)
                            try:
                                piece = await asyncio.to_thread(next, pieces)
                            except OSError as e:  # gone since resolved: nothing written yet
                                skipped.add(uri, e)
                                continue
                            while piece is not None:
                                yield piece
                                piece = await asyncio.to_thread(next, pieces, None)
                            names.add(name)
                        copied.add(file_path)
                skipped.summary()
            files = manifest.directory_files([posts_name],
                                             len(names) if root is not None else None)
        body = manifest.manifest_bytes(
            options.format, export.posts, len(copied), files,
            options.start_date and options.start_date.isoformat(),
            options.end_date and options.end_date.isoformat())
        yield await asyncio.to_thread(
            lambda: archive.add_bytes(folder + "manifest.json", body, stamp) + archive.close())
    finally:  # cut off (an error, a disconnect): release the unfinished archive
        if pieces is not None:
            pieces.close()
        archive.abandon()


def _resolve(root, found):
    """``(uri, file_path, real path or MediaError)`` of each media row."""
    resolved = []
    for uri, file_path in found:
        try:
            resolved.append((uri, file_path, root.resolve(file_path)))
        except media.MediaError as e:
            resolved.append((uri, file_path, e))
    return resolved


class _Skipped:
    """Warnings for media files left out (missing, outside the root): the
    first few one by one, then how many in all."""

    SHOWN = 10

    def __init__(self):
        self.count = 0

    def add(self, uri, error):
        self.count += 1
        if self.count <= self.SHOWN:
            log.warning("%s: media of %s not exported: %s", PLUGIN, uri, error)

    def summary(self):
        if self.count > self.SHOWN:
            log.warning("%s: %d media files not exported in all (%d more than shown)",
                        PLUGIN, self.count, self.count - self.SHOWN)
