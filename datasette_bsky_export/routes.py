"""The HTTP adapter: streaming legacy downloads and the export page.

Routes (``<database>`` is Datasette's tilde-encoded database route):

* ``GET /<database>/-/bsky-export/posts.json`` and ``/posts.csv`` with
  ``did``, ``start_date``, ``end_date``: the legacy posts file, streamed;
* ``GET /<database>/-/bsky-export/export.zip`` with also ``format`` and
  ``include_media``: the legacy export directory (posts file,
  ``manifest.json``, ``media/``) as a ZIP built while it streams;
* ``GET /<database>/-/bsky-export``: the export page.

No format logic lives here: the bytes come from ``engine.Export``, the
manifest from ``manifest``, the container from ``zipstream``. This module
turns a request into export options, applies Datasette's permissions and the
optional actor scoping, runs the export one page per ``execute_fn`` call (SQL
and encoding on Datasette's SQL threads, never on the event loop; no thread
held between pages, and all downloads together never on more than
``num_sql_threads - 1`` threads) and moves the bytes to ASGI ``send``.

Anything that goes wrong before the first byte is an ordinary error response
(JSON for API clients, HTML for browsers). After the first byte the response
is abandoned without its final body message, so the client sees a failed
download, never a clean end, and the server log says why. A client that
disconnects stops the export within one page.
"""

import asyncio
import datetime
import logging
import os
import re
import sqlite3
import urllib.parse
import weakref

from datasette import Response
from datasette.utils import tilde_decode

from . import engine, manifest, media, posts, zipstream

PLUGIN = "datasette-bsky-export"
PAGE_SIZE = engine.DEFAULT_PAGE_SIZE
MESSAGE_SIZE = 64 * 1024  # largest http.response.body message we send
MAX_DIDS = 1000  # DIDs listed on the export page
_FILE_PARAMS = ("did", "start_date", "end_date")
_ZIP_PARAMS = ("format", "did", "start_date", "end_date", "include_media")
_TRUE = ("1", "true", "on", "yes")
_FALSE = ("", "0", "false", "off", "no")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
}

log = logging.getLogger("datasette_bsky_export")
_page_slots = weakref.WeakKeyDictionary()  # Datasette -> (event loop, asyncio.Semaphore)


async def run_page(datasette, db, fn):
    """``fn(conn)`` (one export page) on one of Datasette's SQL threads.

    Export pages hold the GIL while they encode, so more of them at once do
    not make downloads faster; all downloads share ``num_sql_threads - 1``
    slots, in turn, which leaves a thread (and the GIL, often enough) to
    the rest of Datasette however many downloads run."""
    loop = asyncio.get_running_loop()
    loop_slots = _page_slots.get(datasette)
    if loop_slots is None or loop_slots[0] is not loop:
        threads = datasette.setting("num_sql_threads") or 1
        loop_slots = _page_slots[datasette] = (loop, asyncio.Semaphore(max(1, threads - 1)))
    async with loop_slots[1]:
        return await db.execute_fn(fn)


def routes():
    return [
        (r"^/(?P<database>[^/]+)/-/bsky-export$", export_page),
        (r"^/(?P<database>[^/]+)/-/bsky-export/(?P<filename>posts\.json|posts\.csv|export\.zip)$",
         download),
    ]


class HttpError(Exception):
    """An error response before the first byte: status and a message for the user."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def safe_name(text, limit=80):
    """``text`` reduced to ``[A-Za-z0-9._-]`` (anything else becomes ``_``),
    harmless as a file name and inside a quoted header value."""
    name = _UNSAFE.sub("_", text)[:limit].lstrip(".")
    return name or "_"


# --------------------------------------------------------------------------
# Databases, permissions, configuration


def _database(datasette, request):
    route = tilde_decode(request.url_vars["database"])
    try:
        return datasette.get_database(route=route)
    except KeyError:
        raise HttpError(404, "Database not found: %s" % engine.short_repr(route)) from None


async def can_view_posts(datasette, actor, database):
    """Datasette's own check that ``actor`` may view ``database``'s posts table."""
    if hasattr(datasette, "allowed"):  # Datasette 1.0a: resource-based permissions
        from datasette.resources import TableResource

        return await datasette.allowed(
            action="view-table", resource=TableResource(database=database, table="posts"),
            actor=actor)
    visible, _ = await datasette.check_visibility(  # Datasette 0.65, as its table view checks
        actor, permissions=[("view-table", (database, "posts")), ("view-database", database),
                            "view-instance"])
    return visible


async def _check_view(datasette, request, database):
    if not await can_view_posts(datasette, request.actor, database):
        raise HttpError(403, "You do not have permission to view the posts table of %s"
                        % database)


async def _check_table(db):
    try:
        await db.execute_fn(engine.check_table)
    except engine.OptionError as e:
        raise HttpError(404, "%s: %s" % (db.name, e)) from None


def plugin_config(datasette, database):
    config = datasette.plugin_config(PLUGIN, database=database)
    if config is None:  # 1.0a41 skips the top-level fallback when the database has config
        config = datasette.plugin_config(PLUGIN)
    return config or {}


def _actor_id(actor):
    if isinstance(actor, dict) and actor.get("id") not in (None, ""):
        return str(actor["id"])
    return None


def _scoped_did(config, actor, did):
    """The DID to export. With ``restrict_to_actor``, only the actor's own."""
    if not config.get("restrict_to_actor"):
        return did or None
    own = _actor_id(actor)
    if own is None:
        raise HttpError(403, "This archive exports each signed-in actor's own posts only: "
                        "sign in first")
    if did and did != own:
        raise HttpError(403, "You may export only your own posts (did %s), not those of %s"
                        % (own, engine.short_repr(did)))
    return own


def _media_root(config):
    root = config.get("media_root") or "."
    if not os.path.isdir(root):
        log.error("%s: media_root %s is not a directory", PLUGIN, root)
        raise HttpError(500, "Media export is not available: the configured media folder "
                        "does not exist")
    return media.MediaRoot(root)


# --------------------------------------------------------------------------
# Request parameters


def _params(request, allowed):
    values = {}
    for key in request.args.keys():
        if key not in allowed:
            raise HttpError(400, "unknown parameter %s: use %s"
                            % (engine.short_repr(key), ", ".join(allowed)))
        given = request.args.getlist(key)
        if len(given) > 1:
            raise HttpError(400, "%s is given more than once" % key)
        values[key] = given[0]
    return values


def _flag(value, name):
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise HttpError(400, "%s must be 1 or 0, not %s" % (name, engine.short_repr(value)))


def _options(fmt, did, values):
    try:
        return engine.ExportOptions(fmt, did, values.get("start_date"), values.get("end_date"),
                                    page_size=PAGE_SIZE)
    except engine.OptionError as e:
        raise HttpError(400, str(e)) from None


# --------------------------------------------------------------------------
# Error responses


_TITLES = {400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           500: "Export failed"}


def _wants_html(request):
    return "text/html" in request.headers.get("accept", "")


async def _error(datasette, request, error, html):
    headers = {"cache-control": "no-store"}
    if error.status == 405:
        headers["allow"] = "GET, HEAD"
    if not html:
        return Response.json({"ok": False, "error": error.message, "status": error.status},
                             status=error.status, headers=headers)
    body = await datasette.render_template(
        "bsky_export_error.html",
        {"error": error.message, "status": error.status, "title": _TITLES.get(error.status)},
        request=request)
    return Response.html(body, status=error.status, headers=headers)


def _failure(error):
    """A failure of the export itself (a rejected row, the database)."""
    if isinstance(error, posts.RowError):
        return HttpError(500, "The export failed: %s" % error)
    return HttpError(500, "The export failed: database error: %s" % error)


# --------------------------------------------------------------------------
# Downloads


async def download(datasette, request, receive):
    html = _wants_html(request)
    filename = request.url_vars["filename"]
    try:
        if request.method not in ("GET", "HEAD"):
            raise HttpError(405, "Use GET to download an export")
        db = _database(datasette, request)
        await _check_view(datasette, request, db.name)
        config = plugin_config(datasette, db.name)
        is_zip = filename == "export.zip"
        values = _params(request, _ZIP_PARAMS if is_zip else _FILE_PARAMS)
        did = _scoped_did(config, request.actor, values.get("did"))
        fmt = values.get("format", "json") if is_zip else filename.rsplit(".", 1)[1]
        options = _options(fmt, did, values)
        include_media = is_zip and _flag(values.get("include_media"), "include_media")
        await _check_table(db)
        export = engine.Export(options)
        if is_zip:
            root = None
            if include_media:
                if not await db.table_exists("media"):
                    raise HttpError(400, "include_media: %s has no media table" % db.name)
                root = _media_root(config)
            now = datetime.datetime.now()
            name = "bsky-export_%s_%s.zip" % (safe_name(options.did or "all"),
                                              now.strftime("%Y-%m-%d_%H-%M-%S"))
            chunks = _zip_chunks(datasette, db, export, root, now)
            content_type = _CONTENT_TYPES["zip"]
        else:
            name = filename
            chunks = _posts_chunks(datasette, db, export)
            content_type = _CONTENT_TYPES[fmt]
        headers = {
            "content-disposition": 'attachment; filename="%s"' % name,
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        }
        if request.method == "HEAD":
            return Response("", headers=headers, content_type=content_type)
        try:
            first = await chunks.__anext__()
        except (posts.RowError, sqlite3.Error) as e:
            log.error("%s: %s %s failed before its first byte: %s", PLUGIN, request.method,
                      request.full_path, e)
            raise _failure(e) from None
    except HttpError as e:
        return await _error(datasette, request, e, html)
    return ExportStream(first, chunks, export, receive, headers, content_type,
                        "%s %s" % (request.method, request.full_path))


async def _posts_chunks(datasette, db, export):
    """The posts file, one page per database call."""
    while True:
        chunk = await run_page(datasette, db, export.step)
        if chunk is None:
            return
        yield chunk


async def _zip_chunks(datasette, db, export, root, now):
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


class ExportStream(Response):
    """A streamed download: bytes chunks from an async iterator, sent as
    ``http.response.body`` messages of at most MESSAGE_SIZE bytes.

    The first chunk is computed before the response starts. The response
    ends with the empty final message only when every chunk was sent; an
    error from the iterator, or the client's ``http.disconnect``, ends it
    without one, and the iterator is closed so that no further page runs."""

    def __init__(self, first, chunks, export, receive, headers, content_type, label):
        super().__init__(b"", headers=headers, content_type=content_type)
        self.first = first
        self.chunks = chunks
        self.export = export
        self.receive = receive
        self.label = label

    async def asgi_send(self, send):
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        headers.append((b"content-type", self.content_type.encode("latin-1")))
        headers += [(b"set-cookie", c.encode("latin-1"))
                    for c in getattr(self, "_set_cookie_headers", ())]
        gone = asyncio.ensure_future(_disconnect(self.receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            chunk = self.first
            while True:
                for start in range(0, len(chunk), MESSAGE_SIZE):
                    if gone.done():
                        break
                    await send({"type": "http.response.body",
                                "body": chunk[start:start + MESSAGE_SIZE], "more_body": True})
                await asyncio.sleep(0)  # let the disconnect watcher run
                if gone.done():
                    log.info("%s: %s: client disconnected after %d posts; export stopped",
                             PLUGIN, self.label, self.export.posts)
                    return
                try:
                    chunk = await self.chunks.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as e:
                    log.error("%s: %s failed after %d posts, response cut off: %s", PLUGIN,
                              self.label, self.export.posts, e,
                              exc_info=not isinstance(e, (posts.RowError, sqlite3.Error)))
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError as e:  # a server that raises on sending to a closed connection
            log.info("%s: %s: sending failed (%s); export stopped", PLUGIN, self.label, e)
        finally:
            gone.cancel()
            await self.chunks.aclose()


async def _disconnect(receive):
    """Returns when the client has gone (``http.disconnect``)."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a server that raises instead: gone as well
        return


# --------------------------------------------------------------------------
# The export page


async def export_page(datasette, request):
    try:
        db = _database(datasette, request)
        await _check_view(datasette, request, db.name)
        await _check_table(db)
    except HttpError as e:
        return await _error(datasette, request, e, html=True)
    config = plugin_config(datasette, db.name)
    values = {key: request.args.get(key, "") for key in
              ("did", "format", "start_date", "end_date", "package", "include_media")}
    error = None
    status = 200
    if "format" in request.args:  # the form was submitted: send the browser to the file
        try:
            return Response.redirect(_download_url(datasette, db.name, config, request.actor,
                                                   values))
        except HttpError as e:
            error, status = e.message, e.status
    restricted = bool(config.get("restrict_to_actor"))
    own = _actor_id(request.actor)
    if restricted:
        dids, total = await db.execute_fn(lambda conn: _did_counts(conn, own)) if own else ([], 0)
    else:
        dids, total = await db.execute_fn(_did_counts)
    base = page_url(datasette, db.name)
    chosen = values["did"] or (own if any(d["did"] == own for d in dids) else "")
    body = await datasette.render_template(
        "bsky_export.html",
        {
            "database": db.name,
            "page_url": base,
            "json_url": base + "/posts.json",
            "csv_url": base + "/posts.csv",
            "zip_url": base + "/export.zip",
            "dids": dids[:MAX_DIDS],
            "more_dids": len(dids) > MAX_DIDS,
            "total": total,
            "restricted": restricted,
            "actor_id": own,
            "chosen_did": chosen,
            "format": values["format"] or "json",
            "start_date": values["start_date"],
            "end_date": values["end_date"],
            "package": values["package"] or "file",
            "include_media": values["include_media"] in _TRUE,
            "has_media": await db.table_exists("media"),
            "error": error,
        },
        request=request)
    return Response.html(body, status=status, headers={"cache-control": "no-store"})


def _download_url(datasette, database, config, actor, values):
    """The download the form asks for, checked as the download will check it."""
    include_media = _flag(values["include_media"], "include media")
    is_zip = include_media or values["package"] == "zip"
    did = _scoped_did(config, actor, values["did"])
    options = _options(values["format"], did, values)
    query = [(key, value) for key, value in (
        ("format", options.format if is_zip else ""), ("did", options.did or ""),
        ("start_date", values["start_date"]), ("end_date", values["end_date"]),
        ("include_media", "1" if include_media else "")) if value]
    name = "export.zip" if is_zip else "posts." + options.format
    url = datasette.urls.database(database) + "/-/bsky-export/" + name
    return url + ("?" + urllib.parse.urlencode(query) if query else "")


def _did_counts(conn, did=None):
    """``([{did, count, handle}], posts in all)``, the DIDs with the most
    posts first (or the one DID given)."""
    factory = conn.text_factory
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        if did is None:
            rows = conn.execute(
                "SELECT did, count(*) FROM posts GROUP BY did ORDER BY 2 DESC, 1 LIMIT ?",
                [MAX_DIDS + 1]).fetchall()
        else:
            rows = [(did, conn.execute("SELECT count(*) FROM posts WHERE did = ?",
                                       [did]).fetchone()[0])]
        total = sum(n for _, n in rows)
        if len(rows) > MAX_DIDS:
            total = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        rows = [(d, n) for d, n in rows if isinstance(d, str) and (n or did is not None)]
        handles = {}
        try:
            for start in range(0, len(rows), 500):
                chunk = [d for d, _ in rows[start:start + 500]]
                handles.update(conn.execute(
                    "SELECT did, handle FROM profiles WHERE did IN (%s) ORDER BY snapshot_at"
                    % ",".join("?" * len(chunk)), chunk).fetchall())
        except sqlite3.Error:  # no profiles table: DIDs alone
            pass
    finally:
        conn.text_factory = factory
    return [{"did": d, "count": n, "handle": handles.get(d)} for d, n in rows], total


# --------------------------------------------------------------------------
# Table and database actions


def page_url(datasette, database):
    return datasette.urls.database(database) + "/-/bsky-export"


async def action_links(datasette, actor, database, table=None):
    """The export page link, for actors who may view the posts table."""
    if table is not None and table != "posts":
        return []
    db = datasette.databases.get(database)
    if db is None or not await db.table_exists("posts"):
        return []
    if not set(posts.COLUMNS) <= set(await db.table_columns("posts")):
        return []  # some other kind of posts table
    if not await can_view_posts(datasette, actor, database):
        return []
    return [{
        "href": page_url(datasette, database),
        "label": "Export posts (legacy JSON/CSV)",
        "description": "Download the posts as the bskyarchive app exported them",
    }]
