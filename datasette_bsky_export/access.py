"""Who may export what: the plugin's settings, Datasette's permission check
for every table the plugin reads, and the optional scoping of each actor to
its own DID.

The plugin reads three tables: ``posts`` (every export), ``media`` (an
export with media) and ``profiles`` (handles on the export page). Each read
is allowed only where Datasette's own check lets the actor view that table,
on 0.65 and 1.0a alike.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from . import media, settings
from .engine import short_repr
from .errors import HttpError

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

Actor = dict[str, Any] | None  # Datasette's actor, None for anonymous requests

# The AT Protocol's DID syntax: did:<method>:<method-specific id>.
_DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._-]\Z")
# Sent by the progress endpoints: no site may frame them.
NOT_FRAMEABLE = {"x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'"}
# Sent by the export page: no other site may frame it. The page frames itself: its
# form's target is a hidden frame, which shows the page's word on a mistake.
SAME_ORIGIN_FRAMES = {
    "x-frame-options": "SAMEORIGIN",
    "content-security-policy": "frame-ancestors 'self'",
}


async def can_view_table(datasette: Datasette, actor: Actor, database: str, table: str) -> bool:
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


async def check_view(
    datasette: Datasette, actor: Actor, database: str, table: str, consequence: str = ""
) -> None:
    """HttpError 403 unless ``actor`` may view ``table``; ``consequence``
    ends the message (": media cannot be included")."""
    if not await can_view_table(datasette, actor, database, table):
        raise HttpError(
            403,
            "You do not have permission to view the %s table of %s%s"
            % (table, database, consequence),
        )


def actor_id(actor: Actor) -> str | None:
    """The actor's id, or None for anonymous requests. Only a non-empty
    string ``id`` identifies an actor (for ``restrict_to_actor``, the
    download limits and progress ownership): ``{"id": 1}`` is not
    ``{"id": "1"}``, as in Datasette, and an actor whose ``id`` is a number,
    a boolean, a list, missing or empty counts as no actor."""
    if isinstance(actor, dict) and isinstance(actor.get("id"), str) and actor["id"]:
        return actor["id"]
    return None


def not_a_did(config: dict[str, Any], actor: Actor) -> str | None:
    """With ``restrict_to_actor``, why a signed-in actor whose id is not a
    DID (``--root``'s "root", a login name) may export nothing; else None."""
    own = actor_id(actor)
    if not config.get("restrict_to_actor") or own is None or _DID.match(own):
        return None
    return (
        "You are signed in as %s, which is not a DID: this archive exports each signed-in "
        "actor's own posts, so the actor id must be the account's DID, such as "
        "did:plc:z72i7hdynmk6r22z27h6tvur or did:web:example.com (as in the posts' did "
        "column). Ask the administrator to give your account its DID as actor id." % short_repr(own)
    )


def download_owner(request: Request) -> tuple[str, str | None]:
    """Whose download slots a request takes: a signed-in actor's, else its
    client address (the ASGI scope's ``client``), so that one anonymous
    client cannot take another's slots."""
    own = actor_id(request.actor)
    if own is not None:
        return ("actor", own)
    client = request.scope.get("client")
    return ("address", client[0] if client else None)


def scoped_did(config: dict[str, Any], actor: Actor, did: str | None) -> str | None:
    """The DID to export. With ``restrict_to_actor``, only the actor's own,
    and the actor id must be a DID (403)."""
    if not config.get("restrict_to_actor"):
        return did or None
    own = actor_id(actor)
    if own is None:
        raise HttpError(
            403, "This archive exports each signed-in actor's own posts only: sign in first"
        )
    refusal = not_a_did(config, actor)
    if refusal:
        raise HttpError(403, refusal)
    if did and did != own:
        raise HttpError(
            403,
            "You may export only your own posts (did %s), not those of %s" % (own, short_repr(did)),
            field="did",
        )
    return own


def media_root(config: dict[str, Any]) -> media.MediaRoot:
    """The configured media root (default: the working directory), with
    ``allow_hard_links``."""
    root = config["media_root"]
    if not os.path.isdir(root):
        settings.log.error("%s: media_root %r is not a directory", settings.PLUGIN, root)
        raise HttpError(
            500, "Media export is not available: the configured media folder does not exist"
        )
    return media.MediaRoot(root, config["allow_hard_links"])
