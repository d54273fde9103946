"""A request's selection of posts beyond DID and dates: the ``posts``
table's filters in Datasette's own syntax, read by Datasette's own machinery.

The same arguments as the table page (``?has_media=1&like_count__gte=10``,
``_search``, ``_search_<column>``, ``_where``, ``_through``...) become the
engine's ``pager.Filters``: column filters through ``datasette.filters.Filters``,
the rest through every ``filters_from_request`` hook, Datasette's built-in
ones (which check ``execute-sql`` for ``_where`` and find the full-text
table for ``_search``) and any plugin's, as the table view calls them. So an
export holds the posts the table page shows, in the legacy order.

Used by the HTTP views (with the request) and by the CLI (with a fake
request on a Datasette instance of its own); every mistake is an
``HttpError`` (400, 403) naming the argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import pathlib
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterable

from datasette.filters import Filters as DatasetteFilters
from datasette.utils import escape_fts
from datasette.utils.asgi import Base400
from datasette.views.base import DatasetteError

from . import sqlitedb
from .errors import HttpError
from .goscan import short_repr
from .pager import NO_FILTERS, Filters

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.utils.asgi import Request

TABLE = "posts"
LEGACY_FTS = "posts_fts"  # the legacy app's full-text index of posts.text
# The plugin's own parameters: never filters, though ``did`` is a column.
OWN = ("did", "start_date", "end_date", "format", "package", "include_media", "progress")
# Datasette's special arguments that select rows (the others only display them).
SELECTING = ("_search", "_where", "_through", "_searchmode")
_LOOKUPS = {key: display for key, display, _ in DatasetteFilters([]).lookups()}
_ESCAPE_FTS = re.compile(r"escape_fts\(:(\w+)\)")
_SEARCH_WORDS = re.compile(r'^search matches (".*")$', re.DOTALL)
_COUNTS = {
    "like_count": "liked",
    "repost_count": "reposted",
    "reply_count": "replied to",
    "quote_count": "quoted",
}


@dataclasses.dataclass(frozen=True)
class Selection:
    """The filters of a request, and how to carry and say them."""

    filters: Filters = NO_FILTERS
    # The arguments that made them, as given: for links to other views.
    pairs: tuple[tuple[str, str], ...] = ()
    # What they select, in words ("with media", 'matching "cats"').
    words: tuple[str, ...] = ()


def is_selecting(key: str) -> bool:
    """Whether a query argument belongs to the selection: a column filter
    (anything not the plugin's and not Datasette's special ``_name``
    arguments, which hold no ``__``, as the table view reads them) or one
    of Datasette's special arguments that select rows."""
    if key in OWN:
        return False
    if key.startswith("_") and "__" not in key:
        return key in SELECTING or key.startswith("_search_")
    return True


def pairs(args: Any) -> list[tuple[str, str]]:
    """The selecting ``(key, value)`` pairs of a request's ``args``, in order."""
    return [(key, value) for key in args.keys() if is_selecting(key) for value in args.getlist(key)]


def carried(args: Any) -> list[tuple[str, str]]:
    """What a link from the table page carries to the export page: its
    selecting pairs and its first ``did`` (a column filter there, the
    page's account here)."""
    did = args.get("did")
    return ([("did", did)] if did else []) + pairs(args)


async def read(
    datasette: Datasette,
    request: Request,
    db: Database,
    given: list[tuple[str, str]] | None = None,
) -> Selection:
    """The selection of ``request`` (its query arguments, or the ``given``
    ones) on ``db``'s posts table."""
    if given is None:
        given = pairs(request.args)
    if not given:
        return Selection()
    columns = await db.table_columns(TABLE)
    column_args = sorted((k, v) for k, v in given if not k.startswith("_") or "__" in k)
    for key, value in column_args:
        _check_column_filter(key, value, columns)
    found = DatasetteFilters(column_args)
    where, params = found.build_where_clauses(TABLE)
    words = [_column_words(*selection) for selection in found.selections()]
    supports_search = False
    for arguments in await _hook_filters(datasette, request, db.name):
        where.extend(arguments.where_clauses)
        params.update(arguments.params)
        words.extend(_SEARCH_WORDS.sub(r"matching \1", w) for w in arguments.human_descriptions)
        supports_search = supports_search or arguments.extra_context.get("supports_search", False)
    words += ["where %s" % value for key, value in given if key == "_where"]
    if any(k == "_search" or k.startswith("_search_") for k, _ in given) and not supports_search:
        raise HttpError(400, "_search: %s" % await _no_search(db))
    where, params = _escaped(where, params)
    return Selection(Filters(tuple(where), params), tuple(given), tuple(w for w in words if w))


def command_line(path: str, given: list[tuple[str, str]]) -> Selection:
    """The selection of the CLI's ``--filter``, ``--search`` and ``--where``
    (as ``given`` pairs) on the archive at ``path``: read as the table page
    would read them, by a Datasette of its own on that file, for an
    anonymous actor (who may run SQL: the file is the user's). The legacy
    ``posts_fts`` is the posts table's ``fts_table`` there, as README's
    configuration makes it for a served archive."""
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

    async def run():
        name = pathlib.Path(path).stem  # Datasette's name for the file
        with contextlib.closing(sqlitedb.connect_read_only(path)) as conn:
            has_fts = sqlitedb.table_exists(conn, LEGACY_FTS)
        tables = {TABLE: {"fts_table": LEGACY_FTS}} if has_fts else {}
        datasette = Datasette([path], metadata={"databases": {name: {"tables": tables}}})
        await datasette.invoke_startup()
        db = datasette.get_database(name)
        request = Request.fake("/%s/%s?%s" % (db.name, TABLE, urllib.parse.urlencode(given)))
        return await read(datasette, request, db, given)

    return asyncio.run(run())


async def _no_search(db):
    """Why ``_search`` cannot select posts on ``db``."""
    if await db.table_exists(LEGACY_FTS):
        return (
            "Datasette does not search %s's posts until the posts table's "
            "configuration says fts_table: %s (README: Search)" % (db.name, LEGACY_FTS)
        )
    return "%s has no full-text index of its posts" % db.name


def _check_column_filter(key: str, value: str, columns: Iterable[str]) -> None:
    column, _, lookup = key.rpartition("__") if "__" in key else (key, "", "exact")
    if column not in columns:
        raise HttpError(
            400,
            "unknown parameter %s: the posts table has no column %s to filter on"
            % (short_repr(key), short_repr(column)),
        )
    if lookup not in _LOOKUPS:
        raise HttpError(
            400,
            "filter %s: no operation %s; use %s"
            % (short_repr(key), short_repr(lookup), ", ".join(sorted(_LOOKUPS))),
        )
    if lookup in ("in", "notin") and value.startswith("["):  # Datasette reads it as JSON
        try:
            json.loads(value)
        except ValueError as e:
            raise HttpError(
                400,
                "filter %s: %s is not a JSON list: %s" % (short_repr(key), short_repr(value), e),
            ) from None


async def _hook_filters(datasette, request, database):
    """The ``FilterArguments`` of every ``filters_from_request`` hook."""
    from datasette.plugins import pm
    from datasette.utils import await_me_maybe

    found = []
    try:
        for hook in pm.hook.filters_from_request(
            request=request, table=TABLE, database=database, datasette=datasette
        ):
            arguments = await await_me_maybe(hook)
            if arguments:
                found.append(arguments)
    except (DatasetteError, Base400) as e:
        raise HttpError(403 if getattr(e, "status", 400) == 403 else 400, str(e)) from None
    return found


def _escaped(where, params):
    """The clauses with ``escape_fts(:name)`` as ``:name``, and Datasette's
    ``escape_fts`` applied to those parameters here instead: so that the
    clauses need no function of Datasette's on the connections that run
    them (the CLI's, the workers')."""
    escaped = {name for clause in where for name in _ESCAPE_FTS.findall(clause)}
    where = [_ESCAPE_FTS.sub(r":\1", clause) for clause in where]
    return where, {k: escape_fts(v) if k in escaped else v for k, v in params.items()}


def _column_words(column: str, lookup: str, value: str) -> str:
    """A column filter in words: the posts table's own columns as people say
    them where there is a phrase, else as Datasette says them."""
    if column == "has_media" and lookup == "exact" and value in ("0", "1"):
        return "with media" if value == "1" else "without media"
    if column == "is_reply" and lookup == "exact" and value in ("0", "1"):
        return "replies" if value == "1" else "not replies"
    verb = _COUNTS.get(column)
    if verb and value.isdigit():
        n, times = format(int(value), ","), "time" if value == "1" else "times"
        phrase = {
            "exact": "%s exactly %s %s" % (verb, n, times),
            "gte": "%s %s+ times" % (verb, n),
            "gt": "%s more than %s %s" % (verb, n, times),
            "lte": "%s at most %s %s" % (verb, n, times),
            "lt": "%s fewer than %s %s" % (verb, n, times),
        }.get(lookup)
        if phrase:
            return phrase
    key = column if lookup == "exact" else "%s__%s" % (column, lookup)
    return DatasetteFilters([(key, value)]).human_description_en()


def sentence(account: str | None, start: str | None, end: str | None, words: Iterable[str]) -> str:
    """The whole selection in words: 'posts of @alice.bsky.social with
    media, liked 10+ times, from 2024-01-01 to 2024-06-30'."""
    parts = ["posts of %s" % account if account else "all posts"]
    parts += words
    if start and end:
        parts.append("from %s to %s" % (start, end))
    elif start:
        parts.append("from %s on" % start)
    elif end:
        parts.append("until %s" % end)
    return ", ".join([" ".join(parts[:2])] + parts[2:]) if len(parts) > 1 else parts[0]
