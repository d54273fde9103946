"""A request read into export options: its database, its parameters (each
known and given once), its flags and its progress id, checked before any
export starts; every failure is an ``HttpError`` with the status to answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import access, dbroute, engine, media, progress, selection
from .errors import HttpError
from .pager import NO_FILTERS, Filters

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.utils.asgi import Request

PAGE_SIZE: int | None = None  # the engine's default for the selection
TRUE = ("1", "true", "on", "yes")
_FALSE = ("", "0", "false", "off", "no")
NO_MEDIA = ", so media cannot be included"


def database(datasette: Datasette, request: Request) -> Database:
    """The database the URL names, in any spelling Datasette takes (404 if
    none; ``Redirect`` for a ``%``-escaped name): ``dbroute``."""
    return dbroute.resolve(datasette, request)


async def require_posts_table(db: Database) -> None:
    """404 unless ``db`` has a posts table the export can read."""
    try:
        await db.execute_fn(engine.check_posts_table)
    except engine.OptionError as e:
        raise HttpError(404, "%s: %s" % (db.name, e)) from None


def args(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters by name: each one of ``allowed``, given once (400).
    The selection's filters are ``selection``'s to read; others whose names
    start with ``_`` are left alone: they belong to Datasette or another
    plugin (``datasette-auth-tokens``' ``_auth_token``)."""
    values = {}
    for key in request.args.keys():
        if key.startswith("_") or (key not in allowed and selection.is_selecting(key)):
            continue
        if key not in allowed:
            raise HttpError(
                400, "unknown parameter %s: use %s" % (engine.short_repr(key), ", ".join(allowed))
            )
        given = request.args.getlist(key)
        if len(given) > 1:
            raise HttpError(400, "%s is given more than once" % key)
        values[key] = given[0]
    return values


def flag(value: str | None, name: str) -> bool:
    """A 1/0 (true/false, on/off, yes/no) parameter; absent is False (400)."""
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in TRUE:
        return True
    raise HttpError(400, "%s must be 1 or 0, not %s" % (name, engine.short_repr(value)))


def options(
    fmt: str, did: str | None, values: dict[str, str], filters: Filters = NO_FILTERS
) -> engine.ExportOptions:
    """The engine's ExportOptions for these parameters (400)."""
    try:
        return engine.ExportOptions(
            fmt,
            did,
            values.get("start_date"),
            values.get("end_date"),
            page_size=PAGE_SIZE,
            filters=filters,
        )
    except engine.OptionError as e:
        raise HttpError(400, str(e), field=e.option) from None


async def allowed_media_root(
    datasette: Datasette, request: Request, db: Database, config: dict[str, Any]
) -> media.MediaRoot:
    """The media root for an export with media (``access.media_root``), once
    ``db`` has a media table (400) that the actor may view (403)."""
    if not await db.table_exists("media"):
        raise HttpError(400, "include_media: %s has no media table" % db.name)
    await access.check_view(datasette, request.actor, db.name, "media", NO_MEDIA)
    return access.media_root(config)


def progress_id(values: dict[str, str]) -> str | None:
    """The page's ``progress=<id>``, checked, or None."""
    progress_id = values.get("progress")
    if progress_id is not None and not progress.valid_id(progress_id):
        raise HttpError(400, "progress must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -")
    return progress_id
