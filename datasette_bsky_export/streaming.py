"""Moving an export's chunks to ASGI: pages on Datasette's SQL threads, the
bounds on concurrent downloads, and the response that never looks complete
when it is not.

* ``run_page`` runs one export page (SQL and encoding) with ``execute_fn``:
  on one of Datasette's SQL threads, never on the event loop (unless
  Datasette itself runs with ``num_sql_threads`` 0, where every query runs
  on the loop). All downloads together use at most ``num_sql_threads - 1``
  threads, so one is always left for the rest of Datasette.
* ``DownloadSlots`` bounds downloads in flight: ``max_downloads_per_actor``
  (default 10, as the legacy app allowed each user) and ``max_downloads``
  (default 20) in all; beyond them a 429 with ``Retry-After``.
* ``check_http_version`` refuses a download asked over HTTP/1.0 (505),
  unless ``allow_http10`` is set: without chunked encoding, a response
  cut off part way ends like a complete one.
* ``ExportStream`` sends the chunks as ``http.response.body`` messages of at
  most ``MESSAGE_SIZE`` bytes, holding one chunk at a time: a client that
  stops reading holds the export back instead of filling memory. Under
  backpressure the server's ``send`` waits until the client has taken the
  bytes already written (uvicorn: while its transport's write buffer is
  full); a ``send`` that waits ``stall_timeout`` seconds ends the download
  as failed, so a stalled client gives its slot back.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import weakref
from typing import TYPE_CHECKING, Any, Callable, Hashable, TypeVar

from datasette import Response

from . import goscan, settings
from .errors import HttpError, failure_message, loggable
from .settings import PLUGIN, log

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.utils.asgi import Request

T = TypeVar("T")

MESSAGE_SIZE = 64 * 1024  # largest http.response.body message we send
RETRY_AFTER = 30  # seconds, in the 429's Retry-After
HTTP10_REFUSED = (
    "This download needs HTTP/1.1: over HTTP/1.0 an export that fails or is cancelled part "
    "way ends like a complete one. Use an HTTP/1.1 client; behind nginx, add "
    "'proxy_http_version 1.1;' where it proxies Datasette. (The server's owner can accept "
    "HTTP/1.0 with the allow_http10 setting, knowing that.)"
)

# Datasette -> (event loop, asyncio.Semaphore), and Datasette -> DownloadSlots
_page_slots: weakref.WeakKeyDictionary[Any, tuple] = weakref.WeakKeyDictionary()
_download_slots: weakref.WeakKeyDictionary[Any, DownloadSlots] = weakref.WeakKeyDictionary()


async def run_page(datasette: Datasette, db: Database, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn(conn)`` (one export page) on one of Datasette's SQL threads.

    Export pages hold the GIL while they encode, so more of them at once do
    not make downloads faster; all downloads share ``num_sql_threads - 1``
    slots, in turn, which leaves a thread (and the GIL, often enough) to
    the rest of Datasette however many downloads run."""
    loop = asyncio.get_running_loop()
    loop_slots = _page_slots.get(datasette)
    if loop_slots is None or loop_slots[0] is not loop:
        threads = datasette.setting("num_sql_threads") or 1
        loop_slots = _page_slots[datasette] = (loop, asyncio.Semaphore(max(1, threads - 1)))
    async with loop_slots[1]:
        return await db.execute_fn(fn)


class DownloadSlots:
    """Downloads in flight, per actor and in all."""

    def __init__(self, most, most_per_actor):
        self.most = most
        self.most_per_actor = most_per_actor
        self.per_actor = collections.Counter()

    @classmethod
    def of(cls, datasette: Datasette) -> DownloadSlots:
        """The instance's slots, with the top-level limits (checked at startup)."""
        slots = _download_slots.get(datasette)
        if slots is None:
            limits = settings.instance(datasette)
            slots = _download_slots[datasette] = cls(
                limits["max_downloads"], limits["max_downloads_per_actor"]
            )
        return slots

    def take(self, actor: Hashable) -> _Slot:
        """A slot for ``actor`` (``access.download_owner``), or HttpError 429."""
        if self.per_actor[actor] >= self.most_per_actor:
            raise _too_many(
                "You have %d downloads running already; wait for one to finish"
                % self.per_actor[actor]
            )
        if sum(self.per_actor.values()) >= self.most:
            raise _too_many(
                "The server is running as many downloads as it allows; try again in a moment"
            )
        self.per_actor[actor] += 1
        return _Slot(self, actor)


class _Slot:
    def __init__(self, slots, actor):
        self.slots, self.actor = slots, actor

    def release(self) -> None:
        if self.slots is not None:
            self.slots.per_actor[self.actor] -= 1
            if not self.slots.per_actor[self.actor]:
                del self.slots.per_actor[self.actor]
            self.slots = None


def check_http_version(request: Request, config: dict[str, Any], label: str) -> None:
    """HttpError 505 for a download asked over HTTP/1.0 (ASGI ``http_version``),
    whose end cannot tell a complete export from a cut-off one, unless the
    ``allow_http10`` setting is true: then each such download is logged."""
    if request.scope.get("http_version") != "1.0":
        return
    if not config["allow_http10"]:
        raise HttpError(505, HTTP10_REFUSED)
    if request.method == "GET":
        log.warning(
            "%s: %s over HTTP/1.0 (allow_http10): if it fails or is cancelled, the client "
            "cannot tell",
            PLUGIN,
            label,
        )


def _too_many(message):
    return HttpError(429, message, {"retry-after": str(RETRY_AFTER)})


class ExportStream(Response):
    """A streamed download: bytes chunks from an async iterator, sent as
    ``http.response.body`` messages of at most MESSAGE_SIZE bytes.

    The first chunk is computed before the response starts. The response
    ends with the empty final message only when every chunk was sent; an
    error from the iterator, or the client's ``http.disconnect``, ends it
    without one, and the iterator is closed so that no further page runs.
    The download's slot is released when the response ends, however. Its
    progress entry gets the posts and bytes sent after each chunk and how
    the download ended; a cancel asked on it stops the export before its
    next page, cut off like a failure. A message the client does not take
    within ``stall_timeout`` seconds ends it as a failure too."""

    def __init__(
        self,
        first,
        chunks,
        export,
        receive,
        headers,
        content_type,
        label,
        slot,
        tracked,
        stall_timeout=settings.DEFAULTS["stall_timeout"],
    ):
        super().__init__(b"", headers=headers, content_type=content_type)
        self.stall_timeout = stall_timeout
        self.tracked = tracked  # a progress entry (or Untracked): posts and bytes sent, cancel
        self.first = first
        self.chunks = chunks
        self.export = export
        self.receive = receive
        self.label = label
        self.slot = slot

    def _start(self):
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        headers.append((b"content-type", self.content_type.encode("latin-1")))
        headers += [
            (b"set-cookie", c.encode("latin-1")) for c in getattr(self, "_set_cookie_headers", ())
        ]
        return {"type": "http.response.start", "status": 200, "headers": headers}

    async def asgi_send(self, send):
        gone = asyncio.ensure_future(_disconnect(self.receive))
        try:
            await self._send(send, self._start())
            if await self._send_all(send, gone):
                await self._send(
                    send, {"type": "http.response.body", "body": b"", "more_body": False}
                )
                self.tracked.end("done")
        except _Stalled:
            log.warning(
                "%s: %s: the client accepted no bytes for %s s after %d posts; "
                "export stopped, response cut off, slot released",
                PLUGIN,
                self.label,
                self.stall_timeout,
                self.export.posts,
            )
            self.tracked.end(
                "failed",
                "The download was stopped: the client accepted no data for %s seconds"
                % self.stall_timeout,
            )
        except OSError as e:  # a server that raises on sending to a closed connection
            log.info("%s: %s: sending failed (%s); export stopped", PLUGIN, self.label, loggable(e))
        finally:
            self.tracked.end("failed", "The download stopped before it was complete")
            gone.cancel()
            self.slot.release()
            await self.chunks.aclose()

    async def _send_all(self, send, gone):
        """Send every chunk; False if the client left, the download was
        cancelled or the export failed. Only the chunk being sent is held:
        the next page is computed after it has gone out, and the last one is
        dropped before that."""
        chunk, self.first = self.first, None
        while True:
            await self._send_chunk(send, chunk, gone)
            self.tracked.sent(self.export.posts, len(chunk))
            chunk = None
            await asyncio.sleep(0)  # let the disconnect watcher run
            if self._stopped(gone):
                return False
            try:
                chunk = await self.chunks.__anext__()
            except StopAsyncIteration:
                return True
            except Exception as e:
                log.error(
                    "%s: %s failed after %d posts, response cut off: %s",
                    PLUGIN,
                    self.label,
                    self.export.posts,
                    loggable(e),
                    exc_info=not isinstance(e, (goscan.RowError, sqlite3.Error)),
                )
                self.tracked.end("failed", failure_message(e))
                return False

    async def _send_chunk(self, send, chunk, gone):
        """One chunk as messages of at most MESSAGE_SIZE bytes, until the client leaves."""
        for start in range(0, len(chunk), MESSAGE_SIZE):
            if gone.done():
                return
            body = chunk[start : start + MESSAGE_SIZE]
            await self._send(send, {"type": "http.response.body", "body": body, "more_body": True})

    def _stopped(self, gone):
        """True (the download's end recorded) once the client has left or
        a cancel was asked."""
        if gone.done():
            log.info(
                "%s: %s: client disconnected after %d posts; export stopped",
                PLUGIN,
                self.label,
                self.export.posts,
            )
            self.tracked.end("failed", "The connection closed before the download was complete")
            return True
        if self.tracked.cancel_requested:
            log.info(
                "%s: %s: cancelled after %d posts, response cut off",
                PLUGIN,
                self.label,
                self.export.posts,
            )
            self.tracked.end("cancelled")
            return True
        return False

    async def _send(self, send, message):
        """``send(message)``, or _Stalled when it waits ``stall_timeout`` seconds."""
        timer = asyncio.timeout(self.stall_timeout)
        try:
            async with timer:
                await send(message)
        except TimeoutError:
            if timer.expired():
                raise _Stalled from None
            raise


class _Stalled(Exception):
    """The client accepted no bytes for ``stall_timeout`` seconds."""


async def _disconnect(receive):
    """Returns when the client has gone (``http.disconnect``)."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a server that raises instead: gone as well
        return
