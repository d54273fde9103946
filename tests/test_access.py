"""Trust at the edges of the HTTP adapter: plugin settings merged key by
key, Datasette's permission check on every table the plugin reads, bounded
downloads, bounded memory for a client that stops reading, and the export
page's methods. Runs on Datasette 0.65 (metadata) and 1.0a (config)."""

import asyncio
import gc
import logging
import sqlite3
import time
import tracemalloc

import pytest
from datasette.app import Datasette

from datasette_bsky_export import engine, params, settings, streaming
from dsclient import HTML, Client, cookies, make_datasette, plugin
from helpers import DID1

BASE = "/realistic/-/bsky-export"


def with_database(top=None, database=None, extra=None):
    """Config with plugin settings at the top and/or in the realistic block."""
    config = plugin(**top) if top is not None else {}
    block = dict(extra or {})
    if database is not None:
        block["plugins"] = {settings.PLUGIN: database}
    if block:
        config["databases"] = {"realistic": block}
    return config


# --------------------------------------------------------------------------
# Settings: a database block overrides only the keys it sets


MERGES = [  # top-level block, database block, restrict_to_actor in force
    ({"restrict_to_actor": True}, None, True),
    (None, {"restrict_to_actor": True}, True),
    ({"restrict_to_actor": True}, {"media_root": "/usr"}, True),
    ({"restrict_to_actor": True}, {"restrict_to_actor": True, "media_root": "/"}, True),
    ({"restrict_to_actor": True}, {"restrict_to_actor": False}, False),
    ({"media_root": "/usr"}, {"restrict_to_actor": True}, True),
    (None, {"media_root": "/usr"}, False),
    ({}, {}, False),
]


@pytest.mark.parametrize("top, database, restricted", MERGES)
def test_plugin_config_merges_key_by_key(archive, top, database, restricted):
    ds = make_datasette([archive("realistic.db")], with_database(top, database))
    config = settings.for_database(ds, "realistic")
    assert config["restrict_to_actor"] is restricted
    expected_root = (database or {}).get("media_root") or (top or {}).get("media_root") or "."
    assert config["media_root"] == expected_root


@pytest.mark.asyncio
@pytest.mark.parametrize("top, database, restricted", MERGES)
async def test_restrict_to_actor_survives_a_database_block(archive, top, database, restricted):
    ds = make_datasette([archive("realistic.db")], with_database(top, database))
    anonymous = await ds.client.get(BASE + "/posts.json")
    other = await ds.client.get(
        BASE + "/posts.json?did=did:plc:other", cookies=cookies(ds, {"id": DID1})
    )
    if restricted:
        assert anonymous.status_code == 403 and "sign in" in anonymous.json()["error"]
        assert other.status_code == 403 and "only your own posts" in other.json()["error"]
    else:
        assert anonymous.status_code == 200 and other.status_code == 200


# --------------------------------------------------------------------------
# Every table read passes Datasette's check: media and profiles too


def locked(table):
    return with_database(extra={"tables": {table: {"allow": {"id": "alice"}}}})


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_no_media_without_view_permission_on_media(archive, tmp_path, fmt):
    ds = make_datasette([archive("realistic.db")], locked("media"))
    path = BASE + "/export.zip?format=%s&include_media=1" % fmt
    for actor in (None, {"id": "bob"}):
        jar = cookies(ds, actor) if actor else None
        response = await ds.client.get(path, cookies=jar)
        assert response.status_code == 403
        assert response.json()["error"] == (
            "You do not have permission to view the media "
            "table of realistic, so media cannot be included"
        )
        page = await ds.client.get(BASE + "?format=json&package=zip&include_media=1", cookies=jar)
        assert page.status_code == 403 and "so media cannot be included" in page.text
    without_media = await ds.client.get(BASE + "/export.zip?format=" + fmt)
    assert without_media.status_code == 200
    alice = await ds.client.get(path, cookies=cookies(ds, {"id": "alice"}))
    assert alice.status_code == 200


@pytest.mark.asyncio
async def test_page_disables_media_without_view_permission_on_media(archive):
    ds = make_datasette([archive("realistic.db")], locked("media"))
    html = (await ds.client.get(BASE)).text
    media_input = html[html.index('id="bsky-export-media"') :].split(">", 1)[0]
    assert " disabled" in media_input and " checked" not in media_input
    assert "You do not have permission to view the media table" in html
    allowed = (await ds.client.get(BASE, cookies=cookies(ds, {"id": "alice"}))).text
    media_input = allowed[allowed.index('id="bsky-export-media"') :].split(">", 1)[0]
    assert " disabled" not in media_input


@pytest.mark.asyncio
async def test_page_shows_no_handles_without_view_permission_on_profiles(archive):
    ds = make_datasette([archive("realistic.db")], locked("profiles"))
    for jar in (None, cookies(ds, {"id": "bob"})):
        html = (await ds.client.get(BASE, cookies=jar)).text
        assert DID1 in html
        assert "carol.bsky.social" not in html and "me.bsky.social" not in html
    alice = (await ds.client.get(BASE, cookies=cookies(ds, {"id": "alice"}))).text
    assert "@carol.bsky.social" in alice


# --------------------------------------------------------------------------
# Downloads in flight are bounded, per actor and in all


class Stalled(Client):
    """A download whose client stops reading after the first body message."""

    def __init__(self, ds, path, actor=None):
        super().__init__(ds, path, actor=actor)
        self.reading = asyncio.Event()
        self.started = asyncio.Event()

    async def send(self, message):
        await super().send(message)
        if message["type"] == "http.response.body":
            self.started.set()
            await self.reading.wait()
        elif message["status"] != 200:
            self.started.set()


async def stalled(ds, actor=None, path=BASE + "/posts.json"):
    client = Stalled(ds, path, actor)
    task = asyncio.ensure_future(client.run())
    await asyncio.wait_for(client.started.wait(), 30)
    return client, task


async def finish(*pairs):
    for client, task in pairs:
        client.reading.set()
        await task


@pytest.mark.asyncio
async def test_downloads_per_actor_are_bounded(archive):
    ds = make_datasette(
        [archive("realistic.db")], plugin(max_downloads_per_actor=2, max_downloads=5)
    )
    running = [await stalled(ds, {"id": "alice"}) for _ in range(2)]
    assert all(c.start["status"] == 200 for c, _ in running)
    refused = await ds.client.get(BASE + "/posts.csv", cookies=cookies(ds, {"id": "alice"}))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == str(streaming.RETRY_AFTER)
    assert "You have 2 downloads running already" in refused.json()["error"]
    html = await ds.client.get(
        BASE + "/posts.csv", cookies=cookies(ds, {"id": "alice"}), headers=HTML
    )
    assert html.status_code == 429 and "<!DOCTYPE html>" in html.text
    other = await ds.client.get(BASE + "/posts.csv", cookies=cookies(ds, {"id": "bob"}))
    assert other.status_code == 200  # another actor's download is not refused
    await finish(running.pop())
    again = await ds.client.get(BASE + "/posts.json", cookies=cookies(ds, {"id": "alice"}))
    assert again.status_code == 200  # the finished download gave its slot back
    await finish(*running)


@pytest.mark.asyncio
async def test_downloads_in_all_are_bounded(archive):
    ds = make_datasette(
        [archive("realistic.db")], plugin(max_downloads_per_actor=10, max_downloads=3)
    )
    running = [await stalled(ds, {"id": name}) for name in ("a", "b", None)]
    refused = await ds.client.get(BASE + "/posts.json", cookies=cookies(ds, {"id": "c"}))
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert "as many downloads as it allows" in refused.json()["error"]
    head = await ds.client.head(BASE + "/posts.json")
    assert head.status_code == 200  # HEAD runs no export and takes no slot
    await finish(*running)
    assert (await ds.client.get(BASE + "/posts.json")).status_code == 200


@pytest.mark.asyncio
async def test_default_bounds_and_released_slots(archive, monkeypatch):
    """Ten per actor by default; slots come back after a disconnect, a failure
    before the first byte and a failure mid-stream."""
    ds = make_datasette([archive("realistic.db")])
    running = [await stalled(ds) for _ in range(settings.DEFAULTS["max_downloads_per_actor"])]
    assert (await ds.client.get(BASE + "/posts.json")).status_code == 429
    for client, task in running:
        client.gone.set()  # the clients leave
        client.reading.set()
        await task
    slots = streaming.DownloadSlots.of(ds)
    assert not slots.per_actor
    original = engine.Export.step
    fail_after = []

    def failing(self, conn):
        if self.posts >= fail_after[0]:
            raise sqlite3.OperationalError("disk I/O error")
        return original(self, conn)

    monkeypatch.setattr(engine.Export, "step", failing)
    for posts_first in (0, 500):  # before the first byte, then mid-stream
        fail_after[:] = [posts_first]
        for _ in range(settings.DEFAULTS["max_downloads_per_actor"] + 1):
            client = await Client(ds, BASE + "/posts.json").run()
            assert client.start["status"] == (500 if posts_first == 0 else 200)
            assert posts_first == 0 or not client.complete
        assert not slots.per_actor


@pytest.mark.asyncio
@pytest.mark.parametrize("name, query", [("posts.json", ""), ("export.zip", "format=csv&")])
async def test_stalled_download_is_cut_off_after_stall_timeout(archive, caplog, name, query):
    ds = make_datasette(
        [archive("realistic.db")], plugin(stall_timeout=1, max_downloads_per_actor=1)
    )
    client = Stalled(ds, BASE + "/" + name)
    client.query = query + "progress=stalled-download-01"
    started = time.monotonic()
    await asyncio.wait_for(client.run(), 10)  # returns although the client never reads
    assert 1 <= time.monotonic() - started < 5
    assert client.start["status"] == 200 and len(client.bodies) == 1 and not client.complete
    assert not streaming.DownloadSlots.of(ds).per_actor
    answer = (await ds.client.get(BASE + "/progress/stalled-download-01.json")).json()
    assert (answer["state"], answer["error"]) == (
        "failed",
        "The download was stopped: the client accepted no data for 1 seconds",
    )
    assert "the client accepted no bytes for 1 s after " in caplog.text
    assert (await Client(ds, BASE + "/" + name, query).run()).complete


@pytest.mark.asyncio
async def test_slots_are_per_string_id_else_per_address(archive):
    """{"id": 1} is no actor: its downloads take its address's slots, as
    anonymous ones do, and not those of {"id": "1"}."""
    ds = make_datasette([archive("realistic.db")], plugin(max_downloads_per_actor=2))
    running = [await stalled(ds, {"id": 1}), await stalled(ds)]
    assert {c.start["status"] for c, _ in running} == {200}
    for actor in ({"id": 1}, {"id": True}, None):
        refused = await Client(ds, BASE + "/posts.json", actor=actor).run()
        assert refused.start["status"] == 429
    assert (await Client(ds, BASE + "/posts.json", actor={"id": "1"}).run()).complete
    elsewhere = await Client(ds, BASE + "/posts.json", actor={"id": 1}, address="192.0.2.1").run()
    assert elsewhere.start["status"] == 200 and elsewhere.complete
    await finish(*running)


# --------------------------------------------------------------------------
# Memory: a client that stops reading holds about one copy of the row


def one_huge_post(path, size):
    conn = sqlite3.connect(str(path))
    uri = conn.execute("SELECT uri FROM posts ORDER BY created_at DESC, uri LIMIT 1").fetchone()
    conn.execute("UPDATE posts SET text = ? WHERE uri = ?", ["x" * size, uri[0]])
    conn.commit()
    conn.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["posts.json", "posts.csv"])
async def test_stalled_client_holds_one_copy_of_a_huge_row(archive, name):
    size = 16 << 20
    path = archive("realistic.db")
    one_huge_post(path, size)
    ds = make_datasette([path])
    await ds.invoke_startup()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        client, task = await stalled(ds, path=BASE + "/" + name)
        await asyncio.sleep(0.2)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        sizes = [len(m["body"]) for m in client.bodies]
    finally:
        tracemalloc.stop()
    assert held <= 1.5 * size, held
    await finish((client, task))
    assert max(sizes + [len(m["body"]) for m in client.bodies]) <= streaming.MESSAGE_SIZE
    assert client.complete and len(client.body) > size


# --------------------------------------------------------------------------
# The export page answers GET and HEAD only


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_export_page_refuses_other_methods(archive, method):
    ds = make_datasette([archive("realistic.db")])
    response = await ds.client.request(method, BASE)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert (await ds.client.head(BASE)).status_code == 200


# --------------------------------------------------------------------------
# Few SQL threads: other requests keep answering while downloads run


@pytest.mark.asyncio
@pytest.mark.parametrize("threads", [0, 1])
async def test_table_pages_answer_during_downloads(archive, monkeypatch, threads):
    monkeypatch.setattr(params, "PAGE_SIZE", 10)
    original = engine.Export.step
    pages = []

    def slow_step(self, conn):
        time.sleep(0.01)  # a page that takes a while to encode
        pages.append(self)
        return original(self, conn)

    monkeypatch.setattr(engine.Export, "step", slow_step)
    ds = Datasette([str(archive("realistic.db"))], settings={"num_sql_threads": threads})
    clients = [Client(ds, BASE + "/posts.json") for _ in range(4)]
    tasks = [asyncio.ensure_future(c.run()) for c in clients]
    while len(pages) < 8:
        await asyncio.sleep(0.01)
    for _ in range(3):
        response = await asyncio.wait_for(ds.client.get("/realistic/posts.json?_size=5"), 10)
        assert response.status_code == 200 and len(response.json()["rows"]) == 5
    assert not any(task.done() for task in tasks)  # the downloads were still running
    for client in clients:
        client.gone.set()
    await asyncio.gather(*tasks)
    assert all(not c.complete for c in clients)


# --------------------------------------------------------------------------
# Values from the archive cannot forge a log line


@pytest.mark.asyncio
@pytest.mark.parametrize("index", [0, 600])  # before the first byte, after it
async def test_rejected_uri_with_newline_stays_on_one_log_line(archive, caplog, index):
    path = archive("realistic.db")
    forged = "at://x\nERROR datasette: forged line\r\u2028"
    conn = sqlite3.connect(str(path))
    uri = conn.execute(
        "SELECT uri FROM posts ORDER BY created_at DESC, uri LIMIT 1 OFFSET ?", [index]
    ).fetchone()[0]
    conn.execute("UPDATE posts SET uri = ?, text = NULL WHERE uri = ?", [forged, uri])
    conn.commit()
    conn.close()
    with caplog.at_level(logging.ERROR, logger="datasette_bsky_export"):
        client = await Client(make_datasette([path]), BASE + "/posts.json").run()
    assert client.start["status"] == 500 if index == 0 else not client.complete
    (record,) = [r for r in caplog.records if r.name == "datasette_bsky_export"]
    message = record.getMessage()
    assert "column text" in message and "at://x\\nERROR datasette: forged line\\r\\u2028" in message
    assert not set(message) & {"\n", "\r", "\u2028"}
