"""The links to the export page in Datasette's menus (the database and
table action menus) and at the top of the posts table's page, for actors
who may view the posts table. From the table page, they carry its
filters and search (``selection``): the page exports what the table shows.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from . import access, postrow, selection, views

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

Actor = dict[str, Any] | None  # Datasette's actor, None for anonymous requests


async def action_links(
    datasette: Datasette,
    actor: Actor,
    database: str,
    table: str | None = None,
    request: Request | None = None,
) -> list[dict[str, str]]:
    """The export page link, for actors who may view the posts table; from
    the table page (``request``), with its selection."""
    if table is not None and table != "posts":
        return []
    db = datasette.databases.get(database)
    if db is None or not await db.table_exists("posts"):
        return []
    if not set(postrow.COLUMNS) <= set(await db.table_columns("posts")):
        return []  # some other kind of posts table
    if not await access.can_view_table(datasette, actor, database, "posts"):
        return []
    carried = selection.carried(request.args) if request is not None and table else []
    query = "?" + urllib.parse.urlencode(carried) if carried else ""
    return [
        {
            "href": views.page_url(datasette, database) + query,
            "label": "Export posts (legacy JSON/CSV)",
            "description": "Download the posts as the bskyarchive app exported them",
        }
    ]


async def table_link(
    datasette: Datasette, actor: Actor, database: str, table: str, request: Request | None
) -> str | None:
    """The link to the export page shown at the top of the posts table page
    (HTML), for actors who may view the posts table; else None."""
    links = await action_links(datasette, actor, database, table, request)
    if not links:
        return None
    return await datasette.render_template("bsky_export_link.html", {"href": links[0]["href"]})


async def table_link_script(
    datasette: Datasette, actor: Actor, database: str, table: str, request: Request | None
) -> str | None:
    """Datasette 0.65 has no ``top_table`` hook: a script puts the same link
    after the table page's header."""
    html = await table_link(datasette, actor, database, table, request)
    if html is None:
        return None
    return (
        "document.querySelector('.page-header').insertAdjacentHTML('afterend', %s);"
        % json.dumps(html.strip()).replace("</", "<\\/")
    )
