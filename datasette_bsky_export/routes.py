"""The plugin's URLs (the links to them in Datasette's menus: ``menus``).

* ``GET /<database>/-/bsky-export/posts.json`` and ``/posts.csv`` with
  ``did``, ``start_date``, ``end_date``: the legacy posts file, streamed;
* ``GET /<database>/-/bsky-export/export.zip`` with also ``format`` and
  ``include_media``: the legacy export directory as a ZIP;
* ``GET /<database>/-/bsky-export``: the export page;
* ``GET /<database>/-/bsky-export/media.json``: how many of a selection's
  media files exist, for the page;
* ``GET /<database>/-/bsky-export/count.json``: how many posts a selection
  holds, and the selection in words, for the page;

Each takes, besides its own parameters, the posts table's filters in
Datasette's syntax (``selection``).
* ``GET /<database>/-/bsky-export/progress/<id>.json`` and ``POST .../cancel``:
  a page download's progress, and its cancel (``progress``).

``<database>`` is Datasette's tilde-encoded database route.
"""

from . import progress, views


def routes() -> list:
    """``(regex, view)`` for Datasette's ``register_routes`` hook."""
    return [
        (r"^/(?P<database>[^/]+)/-/bsky-export$", views.export_page),
        (
            r"^/(?P<database>[^/]+)/-/bsky-export/(?P<filename>posts\.json|posts\.csv|export\.zip)$",
            views.download,
        ),
        (r"^/(?P<database>[^/]+)/-/bsky-export/media\.json$", views.media_count),
        (r"^/(?P<database>[^/]+)/-/bsky-export/count\.json$", views.post_count),
    ] + progress.routes(r"^/(?P<database>[^/]+)/-/bsky-export")
