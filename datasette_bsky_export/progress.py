"""Live progress of downloads started from the export page: the plugin's only state.

A download that carries ``progress=<id>`` registers an entry here; the
export page polls it (``GET .../progress/<id>.json``) and may cancel it
(``POST .../progress/<id>/cancel``) while the browser saves the file itself.

Entries live in memory only, one registry per Datasette instance. Each
belongs to the actor who started the download (anonymous users are one
actor, ``None``): another actor's id answers exactly like an unknown one.
The registry is bounded, and no actor can push out another's entries:

* a finished entry is freed KEEP_FINISHED seconds after it ended;
* an actor holds at most MAX_PER_ACTOR entries: a new one frees that
  actor's own oldest finished entry;
* all actors together hold at most MAX_ENTRIES: a new one may free only its
  own actor's oldest finished entry. When there is none, the download is not
  tracked (it goes on, and the page says that live progress is
  unavailable); running entries and other actors' entries stay until they
  expire.
"""

from __future__ import annotations

import collections
import re
import time
import weakref
from typing import TYPE_CHECKING, Any

from datasette import Response

from . import dbroute
from .access import NOT_FRAMEABLE, actor_id
from .errors import HttpError, Redirect, error_response

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

Actor = dict[str, Any] | None  # Datasette's actor, None for anonymous requests

MAX_ENTRIES = 1000
MAX_PER_ACTOR = 50
KEEP_FINISHED = 300.0  # seconds a finished entry stays readable
ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
STATES = ("running", "done", "failed", "cancelled")

_registries: weakref.WeakKeyDictionary[Any, Registry] = (
    weakref.WeakKeyDictionary()
)  # Datasette -> Registry


def valid_id(value: object) -> bool:
    """True for an id the page may choose: 16-64 characters of ``[A-Za-z0-9_-]``."""
    return isinstance(value, str) and ID.fullmatch(value) is not None


class Entry:
    """The progress of one download."""

    __slots__ = (
        "id",
        "actor",
        "state",
        "posts",
        "total",
        "bytes",
        "error",
        "cancel_requested",
        "ended_at",
        "clock",
    )

    def __init__(self, entry_id, actor, total, clock=time.monotonic):
        self.id = entry_id
        self.actor = actor
        self.state = "running"
        self.posts = 0
        self.total = total
        self.bytes = 0
        self.error = None
        self.cancel_requested = False
        self.ended_at = None
        self.clock = clock

    def sent(self, posts: int, size: int) -> None:
        """``size`` more bytes went out; ``posts`` posts are exported so far."""
        self.posts = posts
        self.bytes += size

    def end(self, state: str, error: str | None = None) -> None:
        """The download ended: done, failed (with the message) or cancelled."""
        if self.state != "running":
            return
        assert state in STATES[1:], state
        self.state = state
        self.error = error
        self.ended_at = self.clock()

    def request_cancel(self) -> None:
        """The export stops before its next page (``ExportStream`` looks)."""
        if self.state == "running":
            self.cancel_requested = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "posts": self.posts,
            "total": self.total,
            "bytes": self.bytes,
            "error": self.error,
        }


class Registry:
    """Entries by (actor, id), bounded in count and age, per actor and in all."""

    def __init__(
        self,
        max_entries=MAX_ENTRIES,
        keep_finished=KEEP_FINISHED,
        clock=time.monotonic,
        max_per_actor=MAX_PER_ACTOR,
    ):
        self.max_entries = max_entries
        self.max_per_actor = max_per_actor
        self.keep_finished = keep_finished
        self.clock = clock
        self.entries = collections.OrderedDict()  # oldest first

    def __len__(self):
        return len(self.entries)

    def start(self, database: str, entry_id: str, actor: Actor, total: int) -> Entry | None:
        """A new running entry (replacing the actor's earlier one with this
        id), or None when the bounds leave no room for it (see the module)."""
        owner = actor_id(actor)
        key = (database, owner, entry_id)
        self.entries.pop(key, None)
        self.prune()
        own = [k for k in self.entries if k[1] == owner]
        finished = [k for k in own if self.entries[k].state != "running"]
        while len(own) >= self.max_per_actor or len(self.entries) >= self.max_entries:
            if not finished:
                return None
            del self.entries[finished[0]]
            own.remove(finished.pop(0))
        entry = self.entries[key] = Entry(entry_id, owner, total, self.clock)
        return entry

    def get(self, database: str, entry_id: str, actor: Actor) -> Entry | None:
        """The actor's entry with this id, or None (unknown, freed or another actor's)."""
        self.prune()
        return self.entries.get((database, actor_id(actor), entry_id))

    def prune(self) -> None:
        """Frees the entries that ended more than ``keep_finished`` seconds ago."""
        now = self.clock()
        expired = [
            key
            for key, entry in self.entries.items()
            if entry.ended_at is not None and now - entry.ended_at > self.keep_finished
        ]
        for key in expired:
            del self.entries[key]


def registry(datasette: Datasette) -> Registry:
    """The registry of this Datasette instance."""
    found = _registries.get(datasette)
    if found is None:
        found = _registries[datasette] = Registry()
    return found


class Untracked:
    """The progress of a download started without ``progress=<id>``: not kept."""

    cancel_requested = False

    def sent(self, posts: int, size: int) -> None:
        pass

    def end(self, state: str, error: str | None = None) -> None:
        pass


# --------------------------------------------------------------------------
# The two endpoints


def routes(prefix: str) -> list[tuple[str, Any]]:
    """``(regex, view)`` for the progress endpoints under ``prefix`` (the export page's)."""
    entry = prefix + r"/progress/(?P<progress_id>%s)" % ID.pattern
    return [(entry + r"\.json$", progress_json), (entry + r"/cancel$", cancel)]


def _find(datasette, request):
    """The request's entry, or None: an unknown database, id or another
    actor's id (``Redirect`` for a ``%``-escaped database name)."""
    try:
        name = dbroute.resolve(datasette, request).name
    except Redirect:
        raise
    except HttpError:
        return None
    return registry(datasette).get(name, request.url_vars["progress_id"], request.actor)


async def _answer(datasette, request, entry):
    """The entry as JSON, or 404 (``errors.error_response``)."""
    headers = {"cache-control": "no-store", **NOT_FRAMEABLE}
    if entry is None:
        error = HttpError(404, "No such export in progress", NOT_FRAMEABLE)
        return await error_response(datasette, request, error)
    return Response.json(entry.as_dict(), headers=headers)


async def progress_json(datasette: Datasette, request: Request) -> Response:
    """``GET .../progress/<id>.json``: the entry, or 404."""
    try:
        if request.method not in ("GET", "HEAD"):
            raise HttpError(405, "Use GET", {"allow": "GET, HEAD", **NOT_FRAMEABLE})
        entry = _find(datasette, request)
    except HttpError as e:
        return await error_response(datasette, request, e)
    return await _answer(datasette, request, entry)


async def cancel(datasette: Datasette, request: Request) -> Response:
    """``POST .../progress/<id>/cancel`` (behind Datasette's CSRF protection):
    the export stops before its next page. Answers the entry, or 404."""
    try:
        if request.method != "POST":
            raise HttpError(405, "Use POST to cancel", {"allow": "POST", **NOT_FRAMEABLE})
        entry = _find(datasette, request)
    except HttpError as e:
        return await error_response(datasette, request, e)
    if entry is not None:
        entry.request_cancel()
    return await _answer(datasette, request, entry)
