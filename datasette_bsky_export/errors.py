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
from typing import TYPE_CHECKING, NamedTuple

from datasette import Response

from . import goscan
from .exceptions import ExportError

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request


class Status(NamedTuple):
    """An HTTP status the plugin answers: the heading of its error page, and
    when it is answered (Markdown: README's list of statuses is made of
    these, ``tests/test_statuses.py`` checks them against the code)."""

    title: str
    when: str


STATUSES = {
    200: Status(
        "OK",
        "A download streams: `posts.json`, `posts.csv`, `export.zip` (`HEAD` sends their "
        "headers and runs no export). The export page, `media.json`'s and `count.json`'s "
        "counts, a progress entry "
        "(`GET …/progress/<id>.json`, `POST …/cancel`). A download that fails after its first "
        "byte keeps its 200 but ends without its final chunk: clients report it failed.",
    ),
    302: Status(
        "Found",
        "A database name spelled with `%` escapes (`my%20posts`), on every route: to the same "
        "URL as Datasette spells it (`my~20posts`). The export page's form, submitted without "
        "error: to the download it asks for.",
    ),
    400: Status(
        "Bad request",
        "A query parameter no export can take, before any export runs: a date that is not "
        "`YYYY-MM-DD` or not a real day, an end date before the start date, an unknown "
        "`format`, an unknown parameter (names starting with `_` are left to Datasette and "
        "other plugins), a parameter given twice, a `did` over 2,048 characters or with "
        "control characters, an `include_media` other than `1`/`0` (`true`/`false`, "
        "`on`/`off`, `yes`/`no`), `include_media=1` in an archive without a `media` table, a "
        "`progress` id that is not 16–64 characters of `A-Za-z0-9_-`. A filter on a column "
        "the `posts` table lacks or with an operation Datasette lacks, `_search` where "
        "Datasette has no full-text table for `posts`, a `_where` that is not one expression, "
        "filters SQLite cannot run (an unknown column in `_where`, a full-text query it "
        "cannot parse). The export page shows its form again, saying what is wrong.",
    ),
    403: Status(
        "Forbidden",
        "Datasette's permissions do not let the actor view the `posts` table (every route), "
        "or the `media` table (`include_media=1`, `media.json`). With `restrict_to_actor`: "
        "nobody signed in, a `did` other than the actor's own, an actor id that is not a DID "
        "(the export page is still shown, saying why). The database file "
        "(`/<database>.db`) of an archive with a `sessions` table, unless "
        "`expose_session_tokens`. `_where` from an actor Datasette does not let execute SQL "
        "on the database. (Datasette itself refuses a `POST …/cancel` without its "
        "CSRF token with a 403.)",
    ),
    404: Status(
        "Not found",
        "An unknown database, or one without a `posts` table (or without one of its columns), "
        "on every route. A progress id that is unknown, another actor's, of a download that "
        "was not tracked, or freed 5 minutes after its download ended.",
    ),
    405: Status(
        "Method not allowed",
        "A method other than `GET` or `HEAD` (the downloads, the export page, `media.json`, a "
        "progress entry) or other than `POST` (`…/cancel`); `Allow` names the right ones.",
    ),
    429: Status(
        "Too many downloads",
        "A download or `media.json` beyond the download limits (`max_downloads` in all, "
        "`max_downloads_per_actor` per actor or, for anonymous requests, per client address), "
        "with `Retry-After: 30`.",
    ),
    500: Status(
        "Export failed",
        "A download whose first page fails, before its first byte: a row the legacy app "
        "would have rejected (the message names the post's uri and the column, as the CLI's "
        "does) or a database error; the archive is at fault, not the request. A download "
        "with media or `media.json` when `media_root` was removed after Datasette started.",
    ),
    505: Status(
        "HTTP/1.1 needed",
        "A download (`GET` or `HEAD`) asked over HTTP/1.0, whose end cannot tell a complete "
        "export from a cut-off one, unless `allow_http10` (see [Deploying](#deploying)); the "
        "other routes answer HTTP/1.0 too.",
    ),
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
        {"error": error.message, "status": error.status, "title": STATUSES[error.status].title},
        request=request,
    )
    return Response.html(body, status=error.status, headers=headers)
