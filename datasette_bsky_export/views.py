"""The HTTP views: the downloads and the export page.

A request becomes export options (``params``), after Datasette's permission checks
(``access``); the bytes come from ``engine`` (the posts files) or
``zipexport`` (the export directory as a ZIP), and ``streaming`` sends them.
No format logic lives here.
"""

import datetime
import sqlite3
import urllib.parse

from datasette import Response
from datasette.utils.asgi import BadRequest, Forbidden, NotFound

from . import access, accounts, engine, goscan, mediacount, params, progress, streaming, zipexport
from .errors import HttpError, Redirect, error_response, failure_message, loggable
from .streaming import log

_FILE_PARAMS = ("did", "start_date", "end_date", "progress")
_ZIP_PARAMS = ("format", "did", "start_date", "end_date", "include_media", "progress")
_PAGE_PARAMS = ("did", "format", "start_date", "end_date", "package", "include_media", "progress")
_CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
}
_ONLY_GET = {"allow": "GET, HEAD"}


# --------------------------------------------------------------------------
# Downloads


async def download(datasette, request, receive):
    filename = request.url_vars["filename"]
    try:
        if request.method not in ("GET", "HEAD"):
            raise HttpError(405, "Use GET to download an export", _ONLY_GET)
        db = params.database(datasette, request)
        await access.check_view(datasette, request.actor, db.name, "posts")
        config = access.plugin_config(datasette, db.name)
        is_zip = filename == "export.zip"
        values = params.args(request, _ZIP_PARAMS if is_zip else _FILE_PARAMS)
        progress_id = params.progress_id(values)
        did = access.scoped_did(config, request.actor, values.get("did"))
        fmt = values.get("format", "json") if is_zip else filename.rsplit(".", 1)[1]
        options = params.options(fmt, did, values)
        include_media = is_zip and params.flag(values.get("include_media"), "include_media")
        await params.check_table(db)
        root = await params.media_root(datasette, request, db, config) if include_media else None
        export = engine.Export(options)
        if is_zip:
            now = datetime.datetime.now()
            name = zipexport.download_name(options, now)
            chunks = zipexport.zip_chunks(datasette, db, export, root, now)
        else:
            name = filename
            chunks = _posts_chunks(datasette, db, export)
        headers = {
            "content-disposition": 'attachment; filename="%s"' % name,
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "x-accel-buffering": "no",  # nginx streams it on, never spooling it to disk
        }
        if is_zip:  # compressed already: compression middlewares (datasette-gzip) skip it
            headers["content-encoding"] = "identity"
        content_type = _CONTENT_TYPES["zip" if is_zip else fmt]
        label = "%s %s" % (request.method, request.full_path)
        streaming.check_http_version(request, config, label)
        if request.method == "HEAD":
            return Response("", headers=headers, content_type=content_type)
        slot = streaming.DownloadSlots.of(datasette).take(access.download_owner(request))
        label = "%s %s" % (request.method, request.full_path)
        try:
            tracked = await _track(datasette, db, request.actor, progress_id, options)
            first = await _first_chunk(chunks, label, tracked)
        except BaseException:
            slot.release()
            raise
    except HttpError as e:
        return await error_response(datasette, request, e)
    return streaming.ExportStream(
        first,
        chunks,
        export,
        receive,
        headers,
        content_type,
        label,
        slot,
        tracked,
        config["stall_timeout"],
    )


async def _first_chunk(chunks, label, tracked):
    try:
        return await chunks.__anext__()
    except (goscan.RowError, sqlite3.Error) as e:
        log.error("%s: %s failed before its first byte: %s", access.PLUGIN, label, loggable(e))
        tracked.end("failed", failure_message(e))
        raise HttpError(500, failure_message(e)) from None


async def _track(datasette, db, actor, progress_id, options):
    """The progress entry of a download given ``progress=<id>`` (its total
    counted first), else (or when the registry has no room) ``progress.Untracked``."""
    if progress_id is None:
        return progress.Untracked()
    total = await streaming.run_page(datasette, db, lambda conn: engine.count(conn, options))
    entry = progress.registry(datasette).start(db.name, progress_id, actor, total)
    if entry is None:
        log.warning(
            "%s: progress registry full; download with progress=%s goes on untracked",
            access.PLUGIN,
            progress_id,
        )
        return progress.Untracked()
    return entry


async def _posts_chunks(datasette, db, export):
    """The posts file, one page per database call."""
    while not export.finished:
        chunk = await streaming.run_page(datasette, db, export.step)
        if chunk is not None:
            yield chunk
        chunk = None  # not held while the next page is computed


# --------------------------------------------------------------------------
# The export page


async def export_page(datasette, request):
    if request.method not in ("GET", "HEAD"):
        # Datasette has no exception for 405: answered as the downloads are.
        return await error_response(
            datasette,
            request,
            HttpError(
                405, "The export page only answers GET", {**_ONLY_GET, **access.NOT_FRAMEABLE}
            ),
        )
    try:
        db = params.database(datasette, request)
    except Redirect as e:
        return Response.redirect(e.location)
    except HttpError as e:
        raise NotFound(e.message) from None
    if not await access.can_view_table(datasette, request.actor, db.name, "posts"):
        raise Forbidden("You do not have permission to view the posts table of %s" % db.name)
    try:
        await params.check_table(db)
    except HttpError as e:
        raise NotFound(e.message) from None
    config = access.plugin_config(datasette, db.name)
    values = {key: request.args.get(key, "") for key in _PAGE_PARAMS}
    error = None
    status = 403 if access.not_a_did(config, request.actor) else 200  # the page says why
    if "format" in request.args and status == 200:  # the form was submitted: to the file
        try:
            return Response.redirect(await _download_url(datasette, request, db, config, values))
        except HttpError as e:
            if e.status not in (400, 403):
                raise BadRequest(e.message) from None
            error, status = e.message, e.status
    body = await datasette.render_template(
        "bsky_export.html",
        await _page_context(datasette, request, db, config, values, error),
        request=request,
    )
    return Response.html(
        body, status=status, headers={"cache-control": "no-store", **access.NOT_FRAMEABLE}
    )


async def _page_context(datasette, request, db, config, values, error):
    restricted = bool(config.get("restrict_to_actor"))
    own = access.actor_id(request.actor)
    not_a_did = access.not_a_did(config, request.actor)
    handles = await access.can_view_table(datasette, request.actor, db.name, "profiles")
    if restricted and (not own or not_a_did):
        dids, total = [], 0
    else:
        dids, total = await db.execute_fn(
            lambda conn: accounts.did_counts(conn, own if restricted else None, handles)
        )
    has_media = await db.table_exists("media")
    media_allowed = has_media and await access.can_view_table(
        datasette, request.actor, db.name, "media"
    )
    base = page_url(datasette, db.name)
    chosen = values["did"] or (own if any(d["did"] == own for d in dids) else "")
    return {
        "database": db.name,
        "page_url": base,
        "json_url": base + "/posts.json",
        "csv_url": base + "/posts.csv",
        "zip_url": base + "/export.zip",
        "dids": dids[: accounts.MAX_DIDS],
        "more_dids": len(dids) > accounts.MAX_DIDS,
        "total": total,
        "restricted": restricted,
        "actor_id": own,
        "not_a_did": not_a_did,
        "chosen_did": chosen,
        "format": values["format"] or "json",
        "start_date": values["start_date"],
        "end_date": values["end_date"],
        "package": values["package"] or "file",
        "include_media": values["include_media"] in params.TRUE,
        "show_handles": handles,
        "chosen_count": next((d["count"] for d in dids if d["did"] == chosen), None),
        "has_media": has_media,
        "media_allowed": media_allowed,
        "media_reason": None
        if media_allowed or not has_media
        else "You do not have permission to view the media table, so media cannot be included.",
        "error": error,
    }


async def _download_url(datasette, request, db, config, values):
    """The download the form asks for, checked as the download will check it."""
    include_media = params.flag(values["include_media"], "include media")
    if include_media:
        await access.check_view(datasette, request.actor, db.name, "media", params.NO_MEDIA)
    is_zip = include_media or values["package"] == "zip"
    did = access.scoped_did(config, request.actor, values["did"])
    options = params.options(values["format"], did, values)
    query = [
        (key, value)
        for key, value in (
            ("format", options.format if is_zip else ""),
            ("did", options.did or ""),
            ("start_date", values["start_date"]),
            ("end_date", values["end_date"]),
            ("include_media", "1" if include_media else ""),
            ("progress", values["progress"]),
        )
        if value
    ]
    name = "export.zip" if is_zip else "posts." + options.format
    url = page_url(datasette, db.name) + "/" + name
    return url + ("?" + urllib.parse.urlencode(query) if query else "")


async def media_count(datasette, request):
    """``GET .../media.json`` with ``did``, ``start_date``, ``end_date``: how
    many of the selection's media files exist under ``media_root``; it takes
    a download slot while it counts (429 beyond the limits)."""
    try:
        db = params.database(datasette, request)
        await access.check_view(datasette, request.actor, db.name, "posts")
        await params.check_table(db)
        config = access.plugin_config(datasette, db.name)
        values = params.args(request, ("did", "start_date", "end_date"))
        did = access.scoped_did(config, request.actor, values.get("did"))
        options = params.options("json", did, values)
        root = await params.media_root(datasette, request, db, config)
        slot = streaming.DownloadSlots.of(datasette).take(access.download_owner(request))
    except HttpError as e:
        return await error_response(datasette, request, e)
    try:  # a walk of every media row of the selection: it holds a slot as a download does
        counter = mediacount.MediaCount(options, root)
        try:
            while not counter.done:
                await streaming.run_page(datasette, db, counter.step)
        finally:
            counter.close()
    finally:
        slot.release()
    return Response.json(
        {"found": counter.found, "total": counter.total, "message": counter.message()},
        headers={"cache-control": "no-store"},
    )


def page_url(datasette, database):
    return datasette.urls.database(database) + "/-/bsky-export"
