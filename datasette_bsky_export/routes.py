"""The plugin's URLs, and the links to the export page in Datasette's menus.

* ``GET /<database>/-/bsky-export/posts.json`` and ``/posts.csv`` with
  ``did``, ``start_date``, ``end_date``: the legacy posts file, streamed;
* ``GET /<database>/-/bsky-export/export.zip`` with also ``format`` and
  ``include_media``: the legacy export directory as a ZIP;
* ``GET /<database>/-/bsky-export``: the export page;
* ``GET /<database>/-/bsky-export/media.json``: how many of a selection's
  media files exist, for the page;
* ``GET /<database>/-/bsky-export/progress/<id>.json`` and ``POST .../cancel``:
  a page download's progress, and its cancel (``progress``).

``<database>`` is Datasette's tilde-encoded database route.
"""

import json

from . import access, postrow, progress, views


def routes():
    return [
        (r"^/(?P<database>[^/]+)/-/bsky-export$", views.export_page),
        (
            r"^/(?P<database>[^/]+)/-/bsky-export/(?P<filename>posts\.json|posts\.csv|export\.zip)$",
            views.download,
        ),
        (r"^/(?P<database>[^/]+)/-/bsky-export/media\.json$", views.media_count),
    ] + progress.routes(r"^/(?P<database>[^/]+)/-/bsky-export")


async def action_links(datasette, actor, database, table=None):
    """The export page link, for actors who may view the posts table."""
    if table is not None and table != "posts":
        return []
    db = datasette.databases.get(database)
    if db is None or not await db.table_exists("posts"):
        return []
    if not set(postrow.COLUMNS) <= set(await db.table_columns("posts")):
        return []  # some other kind of posts table
    if not await access.can_view_table(datasette, actor, database, "posts"):
        return []
    return [
        {
            "href": views.page_url(datasette, database),
            "label": "Export posts (legacy JSON/CSV)",
            "description": "Download the posts as the bskyarchive app exported them",
        }
    ]


async def table_link(datasette, actor, database, table):
    """The link to the export page shown at the top of the posts table page
    (HTML), for actors who may view the posts table; else None."""
    links = await action_links(datasette, actor, database, table)
    if not links:
        return None
    return await datasette.render_template("bsky_export_link.html", {"href": links[0]["href"]})


async def table_link_script(datasette, actor, database, table):
    """Datasette 0.65 has no ``top_table`` hook: a script puts the same link
    after the table page's header."""
    html = await table_link(datasette, actor, database, table)
    if html is None:
        return None
    return (
        "document.querySelector('.page-header').insertAdjacentHTML('afterend', %s);"
        % json.dumps(html.strip()).replace("</", "<\\/")
    )
