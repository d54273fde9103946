"""The database a plugin URL names, spelled as Datasette spells it.

Datasette's database routes take a name tilde-encoded (``my~20posts``,
``my~2Eposts``, ``p~C3~B6sts``) and read it with ``tilde_decode``, which
also reads ``+`` as a space. A name spelled with ``%`` escapes
(``my%20posts``, as browsers and curl send ``my posts``) names no database
there, and Datasette redirects such a path to the same path with ``%`` made
``~`` (its ``handle_404``). The plugin's routes do both the same way; the
redirect keeps the rest of the path, the query and any ``base_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datasette.utils import tilde_decode

from .engine import short_repr
from .errors import HttpError, Redirect

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.utils.asgi import Request


def resolve(datasette: Datasette, request: Request) -> Database:
    """The database the URL names; ``Redirect`` for a name with ``%``
    escapes, else HttpError 404."""
    segment = request.url_vars["database"]
    route = tilde_decode(segment)
    try:
        return datasette.get_database(route=route)
    except KeyError:
        pass
    if "%" in segment:
        raise Redirect(_tilde_path(request, segment))
    raise HttpError(404, "Database not found: %s" % short_repr(route))


def _tilde_path(request, segment):
    """The request's path and query, its database segment rewritten as
    Datasette rewrites a ``%``-escaped path."""
    path = request.path  # as sent, with base_url
    route_path = request.scope.get("route_path", path)  # what the route matched
    prefix = path[: len(path) - len(route_path)]
    tilde = segment.replace("~", "~7E").replace("%", "~").replace(".", "~2E")
    location = prefix + "/" + tilde + route_path[len(segment) + 1 :]
    if request.query_string:
        location += "?" + request.query_string
    return location
