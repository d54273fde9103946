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
    selection,
    settings,
    sqlitedb,
    streaming,
    zipexport,
)
from .errors import HttpError, error_response, failure_message, loggable
from .messages import END_BEFORE_START, NO_POSTS, NOT_A_DATE, NOT_A_REAL_DATE
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
# The export page's own form fields: the rest of its query is its selection.
_PAGE_FIELDS = ("did", "start_date", "end_date")  # each shows its own mistake beside it
_ONLY_GET = {"allow": "GET, HEAD"}
_DOWNLOAD_GET = "Use GET to download an export"


@dataclasses.dataclass(frozen=True)
class Asked:
    """A request to a view, read and checked by ``_prologue``."""

    db: Any  # datasette.database.Database
    config: dict  # settings.for_database
    values: dict  # the query parameters by name
    selection: selection.Selection  # the filters beyond DID and dates


async def _prologue(datasette, request, allowed, refusal, headers=None):
    """The request read and checked, in this order: the method (405 with
    ``refusal`` unless GET or HEAD), the database (404, or ``Redirect``),
    the permission to view its posts table (403), the posts table (404), the
    settings, the query parameters (400; ``allowed`` None reads the export
    page's form, any parameter, absent ones empty), the selection's filters
    (400, 403)."""
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
    return Asked(db, config, values, await selection.read(datasette, request, db))


async def _options(datasette, request, asked, fmt):
    """The export options of the request: its DID scoped (403), its dates
    (400), its filters (400 unless SQLite can run them)."""
    did = access.scoped_did(asked.config, request.actor, asked.values.get("did"))
    options = params.options(fmt, did, asked.values, asked.selection.filters)
    if options.filtered:
        try:
            await asked.db.execute_fn(lambda conn: engine.check_filters(conn, options))
        except engine.OptionError as e:
            raise HttpError(400, str(e)) from None
    return options


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
        options = await _options(datasette, request, asked, fmt)
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
            first = await _first_chunk(chunks, label, tracked, options)
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
    """The handle of the chosen ``did`` (for the file name, the words of
    ``count.json``), where the actor may view the profiles table (one
    query); else None, also when
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


async def _first_chunk(chunks, label, tracked, options):
    try:
        return await chunks.__anext__()
    except sqlite3.OperationalError as e:
        if not _filters_failed(e, options):
            raise _failed_before_first_byte(e, label, tracked) from None
        tracked.end("failed", str(e))
        raise HttpError(400, str(engine.filters_failed(e))) from None
    except (goscan.RowError, sqlite3.Error) as e:
        raise _failed_before_first_byte(e, label, tracked) from None


def _filters_failed(error, options):
    """Whether an SQLite error is the filters' (a full-text query's syntax,
    known only once it runs), not the archive's."""
    return options.filtered and not sqlitedb.is_busy(getattr(error, "sqlite_errorcode", None))


def _failed_before_first_byte(e, label, tracked):
    log.error("%s: %s failed before its first byte: %s", PLUGIN, label, loggable(e))
    tracked.end("failed", failure_message(e))
    return HttpError(500, failure_message(e))


async def _track(datasette, db, actor, progress_id, options):
    """The progress entry of a download given ``progress=<id>`` (its total
    counted first), else (or when the registry has no room) ``progress.Untracked``."""
    if progress_id is None:
        return progress.Untracked()
    total = await _count(datasette, db, options)
    entry = progress.registry(datasette).start(db.name, progress_id, actor, total)
    if entry is None:
        log.warning(
            "%s: progress registry full; download with progress=%s goes on untracked",
            PLUGIN,
            progress_id,
        )
        return progress.Untracked()
    return entry


async def _count(datasette, db, options):
    """The posts of the selection (400 when its filters fail as they run)."""
    try:
        return await streaming.run_page(datasette, db, lambda conn: engine.count(conn, options))
    except sqlite3.OperationalError as e:
        if not _filters_failed(e, options):
            raise
        raise HttpError(400, str(engine.filters_failed(e))) from None


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
            access.SAME_ORIGIN_FRAMES,
        )
    except HttpError as e:
        return await error_response(datasette, request, e)
    error = None
    status = 403 if access.not_a_did(asked.config, request.actor) else 200  # the page says why
    if status == 200:
        submitted = "format" in request.args  # the form was submitted: to the file
        try:
            target = await _download_url(datasette, request, asked) if submitted else None
            error = await _did_error(request, asked)
            if target and error is None:
                return Response.redirect(target)
        except HttpError as e:
            if e.status not in (400, 403):
                return await error_response(datasette, request, e)
            error = e
        if submitted and error is not None:
            status = error.status
    body = await datasette.render_template(
        "bsky_export.html",
        await _page_context(datasette, request, asked, error),
        request=request,
    )
    return Response.html(
        body, status=status, headers={"cache-control": "no-store", **access.SAME_ORIGIN_FRAMES}
    )


async def _did_error(request: Request, asked: Asked) -> HttpError | None:
    """What the page says of its ``did``, beside the field: one the actor may
    not export (403), or one without posts in the archive (400; a download
    of it is a valid empty export, but on the page it is a mistake)."""
    did = asked.values["did"]
    if not did:
        return None
    try:
        access.scoped_did(asked.config, request.actor, did)
    except HttpError as e:
        return e if e.field else None  # else the page's sign-in hint says why
    if asked.config.get("restrict_to_actor"):
        return None  # the actor's own: its posts, or the page's "no posts" warning
    if await asked.db.execute_fn(lambda conn: accounts.has_posts(conn, did)):
        return None
    return HttpError(400, "No posts of %s in this archive" % engine.short_repr(did), field="did")


async def _page_context(datasette, request, asked, error):
    db, config, values = asked.db, asked.config, asked.values
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
    listed = dids[: accounts.MAX_DIDS]
    chosen = values["did"] or (own if any(d["did"] == own for d in dids) else "")
    unlisted = None
    if chosen and not any(d["did"] == chosen for d in listed):
        unlisted = await _unlisted(db, chosen, restricted, handles)
    shown = listed + ([unlisted] if unlisted else [])
    has_media = await db.table_exists("media")
    media_allowed = has_media and await access.can_view_table(
        datasette, request.actor, db.name, "media"
    )
    field = error.field if error is not None and error.field in _PAGE_FIELDS else None
    base = page_url(datasette, db.name)
    return {
        "database": db.name,
        "page_url": base,
        "json_url": base + "/posts.json",
        "csv_url": base + "/posts.csv",
        "zip_url": base + "/export.zip",
        "posts_url": datasette.urls.table(db.name, "posts"),
        "posts_table_url": posts_table_url(datasette, db.name, selection.carried(request.args)),
        "dids": listed,
        "unlisted": unlisted,
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
        "chosen_count": next((d["count"] for d in shown if d["did"] == chosen), None),
        "has_media": has_media,
        "media_allowed": media_allowed,
        "media_reason": None
        if media_allowed or not has_media
        else "You do not have permission to view the media table, so media cannot be included.",
        "error": error.message if error is not None and field is None else None,
        "field_errors": {field: error.message} if error is not None and field else {},
        "no_posts": NO_POSTS,
        "selection_pairs": asked.selection.pairs,
        "selection_words": asked.selection.words,
        "count_url": base + "/count.json",
        "date_messages": {
            "not_a_date": NOT_A_DATE,
            "not_a_real_date": NOT_A_REAL_DATE,
            "end_before_start": END_BEFORE_START,
        },
    }


async def _unlisted(db: Any, did: str, restricted: bool, handles: bool) -> dict[str, Any]:
    """The page's ``did`` when the accounts listed lack it: its count and
    handle, or (another's DID, with ``restrict_to_actor``) neither."""
    if restricted:
        return {"did": did, "count": None, "handle": None}
    found, _ = await db.execute_fn(lambda conn: accounts.did_counts(conn, did, handles))
    return found[0]


async def _download_url(datasette, request, asked):
    """The download the form asks for, checked as the download will check it."""
    db, values = asked.db, asked.values
    include_media = params.flag(values["include_media"], "include media")
    if include_media:
        await access.check_view(datasette, request.actor, db.name, "media", params.NO_MEDIA)
    is_zip = include_media or values["package"] == "zip"
    options = await _options(datasette, request, asked, values["format"])
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
    ] + list(asked.selection.pairs)
    name = "export.zip" if is_zip else "posts." + options.format
    url = page_url(datasette, db.name) + "/" + name
    return url + ("?" + urllib.parse.urlencode(query) if query else "")


async def media_count(datasette: Datasette, request: Request) -> Response:
    """``GET .../media.json`` with ``did``, ``start_date``, ``end_date``: how
    many of the selection's media files exist under ``media_root``; it takes
    a download slot while it counts (429 beyond the limits)."""
    try:
        asked = await _prologue(datasette, request, _COUNT_PARAMS, "Use GET to count media")
        options = await _options(datasette, request, asked, "json")
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


async def post_count(datasette: Datasette, request: Request) -> Response:
    """``GET .../count.json`` with the page's form: how many posts the
    selection holds, and the selection in words."""
    try:
        asked = await _prologue(datasette, request, _COUNT_PARAMS, "Use GET to count posts")
        options = await _options(datasette, request, asked, "json")
        posts = await _count(datasette, asked.db, options)
    except HttpError as e:
        return await error_response(datasette, request, e)
    words = await _words(datasette, request, asked, options)
    return Response.json(
        {
            "posts": posts,
            "selection": words,
            "message": "%s post%s match%s"
            % (format(posts, ","), "" if posts == 1 else "s", "es" if posts == 1 else ""),
        },
        headers={"cache-control": "no-store"},
    )


async def _words(datasette, request, asked, options):
    """The selection in words, its account by handle where the actor may
    view the profiles table."""
    handle = await _handle(datasette, request, asked.db, options.did)
    return selection.sentence(
        "@" + handle if handle else options.did,
        options.start_date and str(options.start_date),
        options.end_date and str(options.end_date),
        asked.selection.words,
    )


def page_url(datasette: Datasette, database: str) -> str:
    return datasette.urls.database(database) + "/-/bsky-export"


def posts_table_url(datasette: Datasette, database: str, selection: list[tuple[str, str]]) -> str:
    """The posts table of ``database`` showing ``selection``: query pairs
    as Datasette's table page reads them (``did``, ``<column>__<op>``,
    ``_search``, ``_where``...)."""
    url = datasette.urls.table(database, "posts")
    return url + "?" + urllib.parse.urlencode(selection) if selection else url
