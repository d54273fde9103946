"""The error responses of the plugin's routes: one model, one function.

Every error a route answers (the downloads before their first byte, the
export page, the media count, the progress endpoints) is an ``HttpError``
with the status it means, and ``error_response`` answers it: in JSON for API
clients and as an HTML page for browsers (by their ``Accept`` header),
whatever the path. Datasette's own exceptions would not do: Datasette
answers in JSON only for paths ending in ``.json`` and in HTML otherwise
(a script fetching ``posts.csv`` or ``export.zip`` would get a web page),
and it has none for 405 or 429.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from datasette import Response

from . import goscan
from .exceptions import ExportError

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

_TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    429: "Too many downloads",
    500: "Export failed",
    505: "HTTP/1.1 needed",
}


_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")


def loggable(error: BaseException) -> str:
    """An error's message for the server log, its control characters
    escaped: a value from the archive (a post uri holding a newline) cannot
    forge a log line."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(error))


class HttpError(ExportError):
    """An error response before the first byte: status, a message for the
    user, any extra headers (``Allow``, ``Retry-After``) and the query
    parameter at fault, where one is (the export page shows the message
    next to that field)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        field: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.field = field


class Redirect(HttpError):
    """Not an error: the same request belongs at ``location`` (a database
    name spelled with ``%`` escapes, ``dbroute``)."""

    def __init__(self, location: str):
        super().__init__(302, "Moved to %s" % location, {"location": location})
        self.location = location


def failure_message(error: BaseException) -> str:
    """What a user is told of a failed export: the rejected row's post and
    column, or the database's error."""
    if isinstance(error, goscan.RowError):
        return "The export failed: %s" % error
    return "The export failed: database error: %s" % error


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def error_response(datasette: Datasette, request: Request, error: HttpError) -> Response:
    """``error`` as JSON, or as an HTML page for a browser."""
    if isinstance(error, Redirect):
        return Response.redirect(error.location)
    headers = {"cache-control": "no-store", **error.headers}
    if not wants_html(request):
        return Response.json(
            {"ok": False, "error": error.message, "status": error.status},
            status=error.status,
            headers=headers,
        )
    body = await datasette.render_template(
        "bsky_export_error.html",
        {"error": error.message, "status": error.status, "title": _TITLES.get(error.status)},
        request=request,
    )
    return Response.html(body, status=error.status, headers=headers)
