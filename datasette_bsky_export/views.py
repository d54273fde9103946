"""The HTTP views: the downloads, the export page and the media count.

Every view starts with the same prologue (``_prologue``): the request read
and checked in one order (the method, the database, Datasette's permission
check on the posts table, the posts table itself, the settings, the query
parameters); then ``_options`` builds the export options
(``params``, after the DID scoping of ``access``). The bytes come from
``engine`` (the posts files) or ``zipexport`` (the export directory as a
ZIP), and ``streaming`` sends them. Every error answers through
``errors.error_response``. No format logic lives here.
"""

from __future__ import annotations

import dataclasses
import datetime
import sqlite3
import urllib.parse
from typing import TYPE_CHECKING, Any

from datasette import Response
from datasette.database import QueryInterrupted

from . import (
    access,
    accounts,
    engine,
    filenames,
    goscan,
    mediacount,
    params,
    progress,
    settings,
    streaming,
    zipexport,
)
from .errors import HttpError, error_response, failure_message, loggable
from .messages import NO_POSTS
from .settings import PLUGIN, log

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

_FILE_PARAMS = ("did", "start_date", "end_date", "progress")
_ZIP_PARAMS = ("format", "did", "start_date", "end_date", "include_media", "progress")
_COUNT_PARAMS = ("did", "start_date", "end_date")
_PAGE_PARAMS = ("did", "format", "start_date", "end_date", "package", "include_media", "progress")
_CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
}
_ONLY_GET = {"allow": "GET, HEAD"}
_DOWNLOAD_GET = "Use GET to download an export"


@dataclasses.dataclass(frozen=True)
class Asked:
    """A request to a view, read and checked by ``_prologue``."""

    db: Any  # datasette.database.Database
    config: dict  # settings.for_database
    values: dict  # the query parameters by name


async def _prologue(datasette, request, allowed, refusal, headers=None):
    """The request read and checked, in this order: the method (405 with
    ``refusal`` unless GET or HEAD), the database (404, or ``Redirect``),
    the permission to view its posts table (403), the posts table (404), the
    settings, the query parameters (400; ``allowed`` None reads the export
    page's form, any parameter, absent ones empty)."""
    if request.method not in ("GET", "HEAD"):
        raise HttpError(405, refusal, {**_ONLY_GET, **(headers or {})})
    db = params.database(datasette, request)
    await access.check_view(datasette, request.actor, db.name, "posts")
    await params.require_posts_table(db)
    config = settings.for_database(datasette, db.name)
    if allowed is None:
        values = {key: request.args.get(key, "") for key in _PAGE_PARAMS}
    else:
        values = params.args(request, allowed)
    return Asked(db, config, values)


def _options(request, asked, fmt):
    """The export options of the request: its DID scoped (403), its dates (400)."""
    did = access.scoped_did(asked.config, request.actor, asked.values.get("did"))
    return params.options(fmt, did, asked.values)


# --------------------------------------------------------------------------
# Downloads


async def download(datasette: Datasette, request: Request, receive: Any) -> Response:
    filename = request.url_vars["filename"]
    is_zip = filename == "export.zip"
    try:
        asked = await _prologue(
            datasette, request, _ZIP_PARAMS if is_zip else _FILE_PARAMS, _DOWNLOAD_GET
        )
        progress_id = params.progress_id(asked.values)
        fmt = asked.values.get("format", "json") if is_zip else filename.rsplit(".", 1)[1]
        options = _options(request, asked, fmt)
        include_media = is_zip and params.flag(asked.values.get("include_media"), "include_media")
        root = None
        if include_media:
            root = await params.allowed_media_root(datasette, request, asked.db, asked.config)
        export = engine.Export(options)
        handle = None if is_zip else await _handle(datasette, request, asked.db, options.did)
        name, chunks = _body(datasette, asked.db, export, filename, root, handle)
        headers = _download_headers(name, is_zip)
        content_type = _CONTENT_TYPES["zip" if is_zip else fmt]
        label = "%s %s" % (request.method, request.full_path)
        streaming.check_http_version(request, asked.config, label)
        if request.method == "HEAD":
            return Response("", headers=headers, content_type=content_type)
        slot = streaming.DownloadSlots.of(datasette).take(access.download_owner(request))
        try:
            tracked = await _track(datasette, asked.db, request.actor, progress_id, options)
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
        asked.config["stall_timeout"],
    )


def _body(datasette, db, export, filename, root, handle):
    """The download's file name and its chunks: the posts file (named after
    its selection, with the chosen DID's ``handle``), or the export
    directory as a ZIP."""
    if filename != "export.zip":
        return filenames.posts_name(export.options, handle), _posts_chunks(datasette, db, export)
    now = datetime.datetime.now()
    name = zipexport.download_name(export.options, now)
    return name, zipexport.zip_chunks(datasette, db, export, root, now)


async def _handle(datasette, request, db, did):
    """The handle of the chosen ``did`` for the file name, where the actor
    may view the profiles table (one query); else None, also when
    ``sql_time_limit_ms`` interrupts 1.0a's permission query: a name never
    fails a download."""
    if did is None:
        return None
    try:
        if not await access.can_view_table(datasette, request.actor, db.name, "profiles"):
            return None
    except QueryInterrupted:
        return None
    return await db.execute_fn(lambda conn: accounts.handle(conn, did))


def _download_headers(name, is_zip):
    headers = {
        "content-disposition": 'attachment; filename="%s"' % name,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "x-accel-buffering": "no",  # nginx streams it on, never spooling it to disk
    }
    if is_zip:  # compressed already: compression middlewares (datasette-gzip) skip it
        headers["content-encoding"] = "identity"
    return headers


async def _first_chunk(chunks, label, tracked):
    try:
        return await chunks.__anext__()
    except (goscan.RowError, sqlite3.Error) as e:
        log.error("%s: %s failed before its first byte: %s", PLUGIN, label, loggable(e))
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
            PLUGIN,
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


async def export_page(datasette: Datasette, request: Request) -> Response:
    try:
        asked = await _prologue(
            datasette,
            request,
            None,
            "The export page only answers GET",
            access.NOT_FRAMEABLE,
        )
    except HttpError as e:
        return await error_response(datasette, request, e)
    error = None
    status = 403 if access.not_a_did(asked.config, request.actor) else 200  # the page says why
    if "format" in request.args and status == 200:  # the form was submitted: to the file
        try:
            return Response.redirect(await _download_url(datasette, request, asked))
        except HttpError as e:
            if e.status not in (400, 403):
                return await error_response(datasette, request, e)
            error, status = e.message, e.status
    body = await datasette.render_template(
        "bsky_export.html",
        await _page_context(datasette, request, asked.db, asked.config, asked.values, error),
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
        "no_posts": NO_POSTS,
    }


async def _download_url(datasette, request, asked):
    """The download the form asks for, checked as the download will check it."""
    db, values = asked.db, asked.values
    include_media = params.flag(values["include_media"], "include media")
    if include_media:
        await access.check_view(datasette, request.actor, db.name, "media", params.NO_MEDIA)
    is_zip = include_media or values["package"] == "zip"
    options = _options(request, asked, values["format"])
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


async def media_count(datasette: Datasette, request: Request) -> Response:
    """``GET .../media.json`` with ``did``, ``start_date``, ``end_date``: how
    many of the selection's media files exist under ``media_root``; it takes
    a download slot while it counts (429 beyond the limits)."""
    try:
        asked = await _prologue(datasette, request, _COUNT_PARAMS, "Use GET to count media")
        options = _options(request, asked, "json")
        root = await params.allowed_media_root(datasette, request, asked.db, asked.config)
        slot = streaming.DownloadSlots.of(datasette).take(access.download_owner(request))
    except HttpError as e:
        return await error_response(datasette, request, e)
    db = asked.db
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


def page_url(datasette: Datasette, database: str) -> str:
    return datasette.urls.database(database) + "/-/bsky-export"
