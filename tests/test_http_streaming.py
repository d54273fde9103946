"""The download response, calling the ASGI app directly: bounded
messages, disconnects, failures after the first byte (no final message),
rejected rows page by page, the shared SQL threads, a slow client holding
the export back. Runs on Datasette 0.65 and 1.0a."""

import asyncio
import io
import json
import logging
import sqlite3
import time
import urllib.parse
import zipfile

import pytest

from datasette_bsky_export import engine, params, streaming
from dsclient import Client, make_datasette
from helpers import (
    CASES,
    DID0,
    DID1,
    FIXTURES,
    case_id,
    corrupt,
    file_url,
)


@pytest.mark.asyncio
async def test_streams_bytes_in_bounded_messages(ds_for, steps, monkeypatch):
    monkeypatch.setattr(params, "PAGE_SIZE", 100)
    seen = []
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/posts.json")
    original = client.send

    async def send(message):
        if message["type"] == "http.response.body" and not seen:
            seen.append(len(steps))  # pages run when the first byte goes out
        await original(message)

    client.send = send
    await client.run()
    assert client.start["status"] == 200
    headers = dict(client.start["headers"])
    assert b"content-length" not in headers
    assert headers[b"content-type"] == b"application/json; charset=utf-8"
    assert seen == [1]  # the response started after one page
    assert len(steps) == 16  # 15 pages of 100 and the empty 16th
    assert client.complete
    sizes = [len(m["body"]) for m in client.bodies[:-1]]
    assert all(isinstance(m["body"], bytes) for m in client.bodies)
    assert max(sizes) <= streaming.MESSAGE_SIZE and len(sizes) >= 15
    assert sum(sizes) / len(sizes) > 20_000  # tens of KB, not a message per post
    assert client.body == (FIXTURES / "expected/realistic-all.json").read_bytes()


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["posts.json", "posts.csv", "export.zip"])
async def test_disconnect_stops_paging(ds_for, steps, monkeypatch, name):
    monkeypatch.setattr(params, "PAGE_SIZE", 10)
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/" + name, disconnect_after=2)
    pages_when_gone = []
    client.gone.wait = _recording(client.gone.wait, lambda: pages_when_gone.append(len(steps)))
    await client.run()
    assert client.start["status"] == 200
    assert not client.complete
    assert pages_when_gone and len(steps) <= pages_when_gone[0] + 1
    assert len(steps) < 30  # of 152


def _recording(wait, record):
    async def recorded():
        await wait()
        record()

    return recorded


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["posts.json", "posts.csv", "export.zip"])
async def test_error_after_first_byte_ends_without_final_message(
    archive, steps, monkeypatch, caplog, name
):
    monkeypatch.setattr(params, "PAGE_SIZE", 10)
    path = archive("realistic.db")
    uri = corrupt(path, 55, "reply_parent")
    client = Client(make_datasette([path]), "/realistic/-/bsky-export/" + name)
    with caplog.at_level(logging.ERROR, logger="datasette_bsky_export"):
        await client.run()
    assert client.start["status"] == 200
    assert client.bodies and all(m.get("more_body") for m in client.bodies)
    assert not client.complete
    assert len(steps) == 6  # stopped at the bad page
    (record,) = [r for r in caplog.records if r.name == "datasette_bsky_export"]
    assert uri in record.getMessage() and "column reply_parent" in record.getMessage()
    assert "after 50 posts" in record.getMessage()
    if name == "export.zip":
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(client.body))


@pytest.mark.asyncio
async def test_database_error_after_first_byte(ds_for, monkeypatch, caplog):
    monkeypatch.setattr(params, "PAGE_SIZE", 10)
    original = engine.Export.step

    def step(self, conn):
        if self.posts >= 30:
            raise sqlite3.OperationalError("disk I/O error")
        return original(self, conn)

    monkeypatch.setattr(engine.Export, "step", step)
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/posts.csv")
    with caplog.at_level(logging.ERROR, logger="datasette_bsky_export"):
        await client.run()
    assert client.start["status"] == 200 and not client.complete
    assert any("disk I/O error" in r.getMessage() for r in caplog.records)


REJECTS = [c for c in CASES if "expect_error" in c]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", REJECTS, ids=case_id)
async def test_rejected_rows_page_by_page(ds_for, monkeypatch, caplog, case):
    """One post per page: each rejected row fails before the first byte (a
    500 naming it) or after it (cut off, the log naming it), never a clean end."""
    monkeypatch.setattr(params, "PAGE_SIZE", 1)
    path, _, query = file_url(case).partition("?")
    client = Client(ds_for(case["db"]), path, query)
    with caplog.at_level(logging.ERROR, logger="datasette_bsky_export"):
        await client.run()
    error = case["expect_error"]
    if client.start["status"] == 500:
        text = json.loads(client.body)["error"]
    else:
        assert client.start["status"] == 200 and not client.complete
        text = " ".join(r.getMessage() for r in caplog.records)
    assert "column %s" % error["column"] in text
    if error["uri"]:
        assert error["uri"] in text


@pytest.mark.asyncio
async def test_concurrent_downloads_share_sql_threads(ds_for, monkeypatch):
    """Four downloads at once: each gets its exact bytes, and export pages
    never take more than num_sql_threads - 1 of Datasette's SQL threads."""
    monkeypatch.setattr(params, "PAGE_SIZE", 50)
    running = []
    most = []
    original = engine.Export.step

    def step(self, conn):
        running.append(self)
        most.append(len(running))
        try:
            time.sleep(0.002)
            return original(self, conn)
        finally:
            running.remove(self)

    monkeypatch.setattr(engine.Export, "step", step)
    ds = ds_for("realistic.db")
    assert ds.setting("num_sql_threads") == 3
    cases = [("json", None), ("csv", None), ("json", DID1), ("csv", DID0)]
    clients = [
        Client(
            ds,
            "/realistic/-/bsky-export/posts." + fmt,
            urllib.parse.urlencode({"did": did}) if did else "",
        )
        for fmt, did in cases
    ]
    await asyncio.gather(*(client.run() for client in clients))
    for client, (fmt, did) in zip(clients, cases):
        assert client.complete
        golden = "realistic-%s.%s" % ({None: "all", DID0: "did0", DID1: "did1"}[did], fmt)
        assert client.body == (FIXTURES / "expected" / golden).read_bytes()
    assert max(most) == 2


@pytest.mark.asyncio
async def test_slow_client_holds_back_the_export(ds_for, steps, monkeypatch):
    """Backpressure: while the client reads nothing (send() does not return),
    no further page is read, so memory holds about one page however slow the
    client is; once it reads again the download completes, byte-exact."""
    monkeypatch.setattr(params, "PAGE_SIZE", 50)
    client = Client(ds_for("realistic.db"), "/realistic/-/bsky-export/posts.json")
    reading = asyncio.Event()
    original = client.send

    async def send(message):
        await original(message)
        if len(client.bodies) == 2:
            await reading.wait()  # a client that stopped reading

    client.send = send
    task = asyncio.ensure_future(client.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(client.bodies) == 2:
            break
    held = len(steps)
    await asyncio.sleep(0.5)
    assert len(steps) == held <= 2  # nothing read ahead while the client is stalled
    reading.set()
    await task
    assert client.complete and len(steps) > 30
    assert client.body == (FIXTURES / "expected" / "realistic-all.json").read_bytes()
