"""An export as a ZIP, built while it streams: what the legacy sent with
``StreamDirectoryAsZIP(exportDir)``.

Entries are named relative to the export directory, at the root of the
ZIP, Deflate-compressed (media stored: it is compressed already): the posts
file (none when no post matches, as the legacy wrote none), with media a
``media/`` directory entry and ``media/<file>``, then ``manifest.json``, in
that streaming order. The media files are those ``media.MediaWalk`` and
``media.MediaSet`` choose for the export directory too, so the extracted
ZIP and the CLI's directory of the same export are the same files.

SQL runs one page per database call (``streaming.run_page``); compression
and file reads in a worker thread, never on the event loop. Memory holds
one page and one block of a media file.
"""

import asyncio
import functools
import re

from . import manifest, media, zipstream
from .settings import PLUGIN, log
from .streaming import run_page

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def header_name(text: str, limit: int = 80) -> str:
    """``text`` reduced to ``[A-Za-z0-9._-]`` (anything else becomes ``_``),
    harmless inside a quoted header value: the Content-Disposition rule only
    (export folders are named by ``exportdir.folder_name``)."""
    name = _UNSAFE.sub("_", text)[:limit].lstrip(".")
    return name or "_"


def download_name(options, now):
    """The ZIP's file name in Content-Disposition."""
    return "bsky-export_%s_%s.zip" % (
        header_name(options.did or "all"),
        now.strftime("%Y-%m-%d_%H-%M-%S"),
    )


async def zip_chunks(datasette, db, export, root, now):
    """The ZIP of ``export`` (engine.Export), with the media under ``root``
    (media.MediaRoot) when it is given, as an async iterator of bytes."""
    run = functools.partial(run_page, datasette, db)
    archive = zipstream.ZipStream()
    stamp = now.timetuple()[:6]
    try:
        async for piece in _posts_entry(run, export, archive, stamp):
            yield piece
        chosen = None
        if root is not None:
            yield archive.add_dir("media/", stamp)
            warnings = media.Warnings(lambda message: log.warning("%s: %s", PLUGIN, message))
            with media.MediaSet(root, warnings) as chosen:
                async for piece in _media_entries(run, export.options, archive, chosen, stamp):
                    yield piece
            warnings.summary()
        body = manifest.export_manifest(
            export.options,
            export.posts,
            chosen.count if chosen else 0,
            len(chosen.names) if chosen else None,
        )
        yield await asyncio.to_thread(archive.add_bytes, "manifest.json", body, stamp)
        end = archive.close()
        while (piece := await asyncio.to_thread(next, end, None)) is not None:
            yield piece
    finally:  # cut off (an error, a disconnect): release the unfinished archive
        archive.abandon()


async def _posts_entry(run, export, archive, stamp):
    """The posts file, one page per database call; nothing without a post."""
    chunk = await run(export.step)
    if export.finished and export.posts == 0:
        return
    name = "posts." + export.options.format
    yield await asyncio.to_thread(lambda: archive.start(name, stamp) + archive.write(chunk))
    while (chunk := await run(export.step)) is not None:
        yield await asyncio.to_thread(archive.write, chunk)
    yield await asyncio.to_thread(archive.end)


async def _media_entries(run, options, archive, chosen, stamp):
    """``media/<file>`` for each file ``chosen`` takes, posts a page at a time."""
    walk = media.MediaWalk(options)
    while not walk.done:
        rows = iter(await run(walk.page))
        while (found := await asyncio.to_thread(_next_source, chosen, rows)) is not None:
            async for piece in _media_entry(archive, chosen, *found, stamp):
                yield piece


def _next_source(chosen, rows):
    """``(uri, MediaFile)`` of the next of ``rows`` that ``chosen`` takes,
    or None: one worker thread call per file copied, not per media row."""
    for uri, file_path in rows:
        source = chosen.open(uri, file_path)
        if source is not None:
            return uri, source
    return None


async def _media_entry(archive, chosen, uri, source, stamp):
    """One media file's entry; one that fails while copied is left out."""
    pieces = archive.add_file(
        "media/" + media.base_name(source.file_path), source.blocks(), stamp, source.size
    )
    try:
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            yield piece
    except media.MediaError as e:
        chosen.failed(uri, e)
    else:
        chosen.copied(source)
    finally:
        _release(pieces, source)


def _release(pieces, source):
    try:
        pieces.close()
    except ValueError:  # the task was cancelled while a worker thread reads the file:
        return  # that thread still holds it
    source.close()
