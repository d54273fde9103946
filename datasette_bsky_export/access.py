"""Who may export what: the plugin's settings, Datasette's permission check
for every table the plugin reads, and the optional scoping of each actor to
its own DID.

The plugin reads three tables: ``posts`` (every export), ``media`` (an
export with media) and ``profiles`` (handles on the export page). Each read
is allowed only where Datasette's own check lets the actor view that table,
on 0.65 and 1.0a alike.
"""

import os

from . import media, settings
from .engine import short_repr
from .errors import HttpError
from .settings import PLUGIN

plugin_config = settings.for_database  # the settings of a database, checked at startup


async def can_view_table(datasette, actor, database, table):
    """Datasette's own check that ``actor`` may view ``database``'s ``table``."""
    if hasattr(datasette, "allowed"):  # Datasette 1.0a: resource-based permissions
        from datasette.resources import TableResource

        return await datasette.allowed(
            action="view-table", resource=TableResource(database=database, table=table), actor=actor
        )
    visible, _ = await datasette.check_visibility(  # Datasette 0.65, as its table view checks
        actor,
        permissions=[
            ("view-table", (database, table)),
            ("view-database", database),
            "view-instance",
        ],
    )
    return visible


async def check_view(datasette, actor, database, table, consequence=""):
    """HttpError 403 unless ``actor`` may view ``table``; ``consequence``
    ends the message (": media cannot be included")."""
    if not await can_view_table(datasette, actor, database, table):
        raise HttpError(
            403,
            "You do not have permission to view the %s table of %s%s"
            % (table, database, consequence),
        )


def actor_id(actor):
    """The actor's id as text, or None for anonymous requests."""
    if isinstance(actor, dict) and actor.get("id") not in (None, ""):
        return str(actor["id"])
    return None


def scoped_did(config, actor, did):
    """The DID to export. With ``restrict_to_actor``, only the actor's own."""
    if not config.get("restrict_to_actor"):
        return did or None
    own = actor_id(actor)
    if own is None:
        raise HttpError(
            403, "This archive exports each signed-in actor's own posts only: sign in first"
        )
    if did and did != own:
        raise HttpError(
            403,
            "You may export only your own posts (did %s), not those of %s" % (own, short_repr(did)),
        )
    return own


def media_root(config, log):
    """The configured media root (default: the working directory)."""
    root = config.get("media_root") or "."
    if not os.path.isdir(root):
        log.error("%s: media_root %r is not a directory", PLUGIN, root)
        raise HttpError(
            500, "Media export is not available: the configured media folder does not exist"
        )
    return media.MediaRoot(root)
