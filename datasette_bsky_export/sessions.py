"""The archive's own secrets: the legacy app keeps the signed-in account's
OAuth tokens in ``sessions.access_token`` and ``sessions.refresh_token``,
which Datasette would serve like any other column.

Every connection Datasette opens goes through its ``prepare_connection``
hook (the read connections, the write connection, the ``_memory``
connection that ``--crossdb`` attaches every database to); there a SQLite
authorizer makes each read of those two columns of any ``sessions`` table,
in any attached schema, read as NULL. SQLite applies it when a statement is
compiled, so it holds for every query: table, row, view and facet pages,
arbitrary and canned SQL, expressions and views over the columns. Datasette
1.0a analyses a query with an authorizer of its own on a separate
connection that it opens and closes for that (``execute_isolated_fn``), so
the one installed here stays on the connections that run queries.

The database file, which Datasette serves for immutable databases, holds
the tokens as stored: its download (``view-database-download``) is refused
for a database whose ``sessions`` table holds rows.

``expose_session_tokens: true`` (top level, or a database's block) turns
both off for that database.
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from typing import TYPE_CHECKING, Any

from . import settings
from .errors import HttpError, error_response

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

TABLE = "sessions"
COLUMNS = frozenset({"access_token", "refresh_token"})
DOWNLOAD = "view-database-download"


def exposed(datasette: Datasette, database: str) -> bool:
    """True only where the owner set ``expose_session_tokens: true`` (read
    before the startup check too: connections are prepared first)."""
    return settings.for_database(datasette, database)["expose_session_tokens"] is True


def authorizer(shown_schemas):
    """A SQLite authorizer that makes reads of the tokens of a ``sessions``
    table read as NULL, except in the schemas named in ``shown_schemas``."""

    def authorize(action, table, column, schema, source):
        if (
            action == sqlite3.SQLITE_READ
            and table is not None
            and column is not None
            and table.lower() == TABLE
            and column.lower() in COLUMNS
            and schema not in shown_schemas
        ):
            return sqlite3.SQLITE_IGNORE
        return sqlite3.SQLITE_OK

    return authorize


def shown_schemas(datasette, database):
    """The schemas of ``database``'s connection whose tokens may be read:
    ``main`` where its owner exposes them, and, on the ``_memory``
    connection of ``--crossdb``, each attached database that does."""
    shown = set()
    if database == "_memory":
        shown.update(
            name
            for name in datasette.databases
            if name not in ("main", "temp") and exposed(datasette, name)
        )
    if exposed(datasette, database):
        shown.add("main")
    return frozenset(shown)


def prepare_connection(conn: sqlite3.Connection, database: str, datasette: Datasette) -> None:
    conn.set_authorizer(authorizer(shown_schemas(datasette, database)))


# The last answer of holds_sessions for each database: final for an
# immutable database (its file never changes), and what the 403 of a refused
# download reads back, since Datasette's forbidden hook cannot wait for a query.
_holds: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


async def holds_sessions(db):
    """Whether ``db`` has a ``sessions`` table with at least one row."""
    if not db.is_mutable and db in _holds:
        return _holds[db]
    found = await db.execute(
        "select name from sqlite_master where type = 'table' and name = ? collate nocase",
        [TABLE],
    )
    holds = False
    if found.rows:
        name = found.rows[0][0].replace('"', '""')
        holds = bool((await db.execute('select 1 from "%s" limit 1' % name)).rows)
    _holds[db] = holds
    return holds


def database_named(datasette, key):
    """The database whose name or route (Datasette checks the download
    permission against the route in the URL) is ``key``."""
    for db in list(datasette.databases.values()):
        if key in (db.name, getattr(db, "route", None)):
            return db
    return None


async def download_refused(datasette, db):
    """Whether the file of ``db`` must not be downloaded."""
    if db is None or db.is_memory or exposed(datasette, db.name):
        return False
    return await holds_sessions(db)


def permission_allowed(datasette: Datasette, action: str, resource: object) -> Any:
    """Datasette 0.65: no download of a database whose tokens it holds."""
    if action != DOWNLOAD or not isinstance(resource, str):
        return None

    async def check():
        if await download_refused(datasette, database_named(datasette, resource)):
            return False
        return None

    return check


def permission_resources_sql(datasette: Datasette, action: str) -> Any:
    """Datasette 1.0a: a deny rule for each database whose file holds tokens
    (a database-level deny wins over instance-level allows, and over allows
    at the same level)."""
    if action != DOWNLOAD:
        return None

    async def rules():
        refused = set()
        for db in list(datasette.databases.values()):
            if await download_refused(datasette, db):
                refused.update(key for key in (db.name, db.route) if key)
        if not refused:
            return None
        from datasette.permissions import PermissionSQL

        return PermissionSQL(
            sql="SELECT value AS parent, NULL AS child, 0 AS allow, :bsky_export_reason AS reason"
            " FROM json_each(:bsky_export_refused)",
            params={
                "bsky_export_refused": json.dumps(sorted(refused)),
                "bsky_export_reason": "its sessions table holds sign-in tokens",
            },
        )

    return rules


def forbidden(datasette: Datasette, request: Request, message: str) -> Any:
    """The refused download's 403 says why, and how to allow it. (Datasette
    uses the first response a forbidden hook gives, so this one answers only
    for a download that ``download_refused`` has just refused.)"""
    if message != DOWNLOAD or not request.path.endswith(".db"):
        return None
    from datasette.utils import tilde_decode

    db = database_named(datasette, tilde_decode(request.url_vars.get("database", "")))
    if db is None or db.is_memory or exposed(datasette, db.name) or not _holds.get(db):
        return None
    error = HttpError(
        403,
        "The file of database %s is not served: its sessions table holds the archive's "
        "OAuth sign-in tokens. Set expose_session_tokens: true in the datasette-bsky-export "
        "settings to serve it." % db.name,
    )
    return error_response(datasette, request, error)
