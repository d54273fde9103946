"""Error responses of the downloads, before their first byte.

The export page raises Datasette's own ``NotFound``, ``Forbidden`` and
``BadRequest``, which Datasette renders as its error page. The downloads
cannot: Datasette answers in JSON only for paths ending in ``.json`` and in
HTML otherwise, so a script fetching ``posts.csv`` or ``export.zip`` would
get a web page and a browser following a ``posts.json`` link would get
JSON; and Datasette has no exception for 405 or 429. So a download's error
is an ``HttpError``, answered in JSON for API clients and as an HTML page for
browsers (by their ``Accept`` header), whatever the path.
"""

import re

from datasette import Response

from . import goscan

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


def loggable(error):
    """An error's message for the server log, its control characters
    escaped: a value from the archive (a post uri holding a newline) cannot
    forge a log line."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(error))


class HttpError(Exception):
    """An error response before the first byte: status, a message for the
    user and any extra headers (``Allow``, ``Retry-After``)."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Redirect(HttpError):
    """Not an error: the same request belongs at ``location`` (a database
    name spelled with ``%`` escapes, ``dbroute``)."""

    def __init__(self, location):
        super().__init__(302, "Moved to %s" % location, {"location": location})
        self.location = location


def failure_message(error):
    """What a user is told of a failed export: the rejected row's post and
    column, or the database's error."""
    if isinstance(error, goscan.RowError):
        return "The export failed: %s" % error
    return "The export failed: database error: %s" % error


def wants_html(request):
    return "text/html" in request.headers.get("accept", "")


async def error_response(datasette, request, error):
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
