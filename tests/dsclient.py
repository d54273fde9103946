"""Datasette for the tests, on 0.65 and 1.0a alike, and a client that calls
its ASGI app directly (to see every message and to disconnect at will)."""

import asyncio
import urllib.parse

import datasette.version
from datasette.app import Datasette

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def make_datasette(paths, config=None):
    """Datasette on copies of fixtures; ``config`` (permissions, plugin
    settings) goes where this Datasette version reads it. By version, not by
    ``Datasette.__init__``'s signature: 1.0a's pytest plugin wraps it in
    ``(*args, **kwargs)``, which hid ``config`` and gave 1.0a metadata."""
    files = [str(p) for p in paths]
    if datasette.version.__version__.startswith("0."):
        return Datasette(files, metadata=config)  # 0.65: metadata
    return Datasette(files, config=config)  # 1.0a: datasette.yaml


def plugin(**settings):
    return {"plugins": {"datasette-bsky-export": settings}}


def cookies(ds, actor):
    return {"ds_actor": ds.sign({"a": actor}, "actor")}


def url(path, **params):
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return path + ("?" + query if query else "")


class Client:
    """One request to the ASGI app, with control of ``http.disconnect``."""

    def __init__(
        self,
        ds,
        path,
        query="",
        disconnect_after=None,
        actor=None,
        address="127.0.0.1",
        http_version="1.1",
        method="GET",
    ):
        self.ds = ds
        self.address = address  # the client's address in the ASGI scope
        self.http_version = http_version
        self.method = method
        self.path = path
        self.query = query
        self.disconnect_after = disconnect_after  # body messages before the client leaves
        self.messages = []
        self.gone = asyncio.Event()
        self.requested = False
        self.headers = [(b"host", b"localhost")]
        if actor is not None:  # the signed actor cookie, as a browser sends it
            self.headers.append((b"cookie", b"ds_actor=" + ds.sign({"a": actor}, "actor").encode()))

    async def receive(self):
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message):
        self.messages.append(message)
        bodies = [m for m in self.messages if m["type"] == "http.response.body"]
        if self.disconnect_after is not None and len(bodies) >= self.disconnect_after:
            self.gone.set()

    async def run(self):
        await self.ds.invoke_startup()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": self.http_version,
            "method": self.method,
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": self.query.encode(),
            "root_path": "",
            "headers": self.headers,
            "client": (self.address, 50000),
            "server": ("127.0.0.1", 8001),
        }
        await asyncio.wait_for(self.ds.app()(scope, self.receive, self.send), 60)
        self.gone.set()
        return self

    @property
    def start(self):
        return self.messages[0]

    @property
    def bodies(self):
        return [m for m in self.messages if m["type"] == "http.response.body"]

    @property
    def body(self):
        return b"".join(m["body"] for m in self.bodies)

    @property
    def complete(self):
        return bool(self.bodies) and self.bodies[-1].get("more_body", False) is False
