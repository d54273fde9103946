"""Deployed as Datasette is deployed (issue 17), in process on Datasette 0.65
and 1.0a: downloads over HTTP/1.0 refused unless ``allow_http10`` is set,
the ``X-Accel-Buffering`` that keeps nginx from spooling them, and
``datasette-gzip`` (installed with the test extras) compressing the posts
files but never the ZIP. Through a real nginx and a real ``datasette serve``:
``test_nginx.py``."""

import gzip
import io
import json
import logging
import time
import zipfile

import pytest
from datasette.app import Datasette
from datasette.database import QueryInterrupted

from datasette_bsky_export import engine, streaming
from dsclient import HTML, Client, make_datasette, plugin
from helpers import DID1, FIXTURES

BASE = "/realistic/-/bsky-export/"
DOWNLOADS = ["posts.json", "posts.csv", "export.zip"]
GOLDEN = {
    "posts.json": FIXTURES / "expected/realistic-did1.json",
    "posts.csv": FIXTURES / "expected/realistic-did1.csv",
}


def header(client, name):
    values = [v.decode() for k, v in client.start["headers"] if k.decode().lower() == name]
    return values[0] if values else None


def check_zip(body, fmt="json"):
    """``body`` is the export ZIP of DID1, readable as it came."""
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    assert archive.namelist() == ["posts." + fmt, "manifest.json"]
    assert archive.read("posts." + fmt) == GOLDEN["posts." + fmt].read_bytes()


# --------------------------------------------------------------------------
# HTTP/1.0 (17.1)


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", DOWNLOADS)
async def test_http10_download_is_refused(archive, steps, name, method):
    ds = make_datasette([archive("realistic.db")])
    client = await Client(ds, BASE + name, "did=" + DID1, http_version="1.0", method=method).run()
    assert client.start["status"] == 505
    assert client.complete and len(client.bodies) == 1  # an ordinary, whole response
    assert json.loads(client.body) == {
        "ok": False,
        "error": streaming.HTTP10_REFUSED,
        "status": 505,
    }
    assert "proxy_http_version 1.1;" in streaming.HTTP10_REFUSED
    assert steps == []


@pytest.mark.asyncio
async def test_http10_refusal_is_a_page_for_browsers(archive):
    ds = make_datasette([archive("realistic.db")])
    client = Client(ds, BASE + "posts.csv", http_version="1.0")
    client.headers.append((b"accept", HTML["accept"].encode()))
    await client.run()
    assert client.start["status"] == 505
    assert header(client, "content-type") == "text/html; charset=utf-8"
    page = client.body.decode()
    assert "<h1>HTTP/1.1 needed</h1>" in page
    assert "add &#39;proxy_http_version 1.1;&#39; where it proxies Datasette" in page


@pytest.mark.asyncio
@pytest.mark.parametrize("name", DOWNLOADS)
async def test_allow_http10_streams_and_logs_each_download(archive, caplog, name):
    ds = make_datasette([archive("realistic.db")], plugin(allow_http10=True))
    with caplog.at_level(logging.INFO, logger="datasette_bsky_export"):
        client = await Client(ds, BASE + name, "did=" + DID1, http_version="1.0").run()
        await Client(ds, BASE + name, "did=" + DID1, http_version="1.0", method="HEAD").run()
    assert client.start["status"] == 200 and client.complete
    if name == "export.zip":
        check_zip(client.body)
    else:
        assert client.body == GOLDEN[name].read_bytes()
    (record,) = [r for r in caplog.records if r.name == "datasette_bsky_export"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "datasette-bsky-export: GET %s%s?did=%s over HTTP/1.0 (allow_http10): if it fails or "
        "is cancelled, the client cannot tell" % (BASE, name, DID1)
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path, query, status",
    [
        ("/realistic/-/bsky-export", "", 200),
        ("/realistic/-/bsky-export", "did=%s&format=csv&package=file" % DID1, 302),
        (BASE + "media.json", "did=" + DID1, 200),
        (BASE + "progress/no-such-progress-id.json", "", 404),
    ],
)
async def test_http10_pages_still_work(archive, path, query, status):
    """The page, the media count and progress are whole responses, not
    streamed exports: HTTP/1.0 carries them as it should."""
    ds = make_datasette([archive("realistic.db")])
    client = await Client(ds, path, query, http_version="1.0").run()
    assert client.start["status"] == status and client.complete


@pytest.mark.asyncio
async def test_http11_and_http2_downloads_are_not_refused(archive):
    ds = make_datasette([archive("realistic.db")])
    for version in ("1.1", "2"):
        client = await Client(ds, BASE + "posts.json", "did=" + DID1, http_version=version).run()
        assert client.start["status"] == 200
        assert client.body == GOLDEN["posts.json"].read_bytes()


# --------------------------------------------------------------------------
# Headers for proxies and compression middlewares (17.2, 17.4)


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", DOWNLOADS)
async def test_downloads_tell_proxies_not_to_buffer(archive, name, method):
    ds = make_datasette([archive("realistic.db")])
    client = await Client(ds, BASE + name, "did=" + DID1, method=method).run()
    assert client.start["status"] == 200
    assert header(client, "x-accel-buffering") == "no"
    expected = "identity" if name == "export.zip" else None
    assert header(client, "content-encoding") == expected


async def gzip_installed(ds):
    plugins = (await ds.client.get("/-/plugins.json")).json()
    assert "datasette-gzip" in [p["name"] for p in plugins], plugins


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["posts.json", "posts.csv"])
async def test_gzip_compresses_posts_files_to_the_exact_bytes(archive, name):
    ds = make_datasette([archive("realistic.db")])
    await gzip_installed(ds)
    client = Client(ds, BASE + name, "did=" + DID1)
    client.headers.append((b"accept-encoding", b"gzip"))
    await client.run()
    assert header(client, "content-encoding") == "gzip" and client.complete
    golden = GOLDEN[name].read_bytes()
    assert len(client.body) < len(golden) / 3
    assert gzip.decompress(client.body) == golden


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_gzip_leaves_the_zip_alone(archive, fmt):
    ds = make_datasette([archive("realistic.db")])
    await gzip_installed(ds)
    client = Client(ds, BASE + "export.zip", "format=%s&did=%s" % (fmt, DID1))
    client.headers.append((b"accept-encoding", b"gzip"))
    await client.run()
    assert header(client, "content-encoding") == "identity" and client.complete
    check_zip(client.body, fmt)  # the bytes on the wire are the ZIP


# --------------------------------------------------------------------------
# Datasette's sql_time_limit_ms (17.8)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", DOWNLOADS)
async def test_sql_time_limit_does_not_cut_an_export(archive, monkeypatch, name):
    """Each page takes longer than the 25 ms limit, and queries after that
    time: the export still runs to the end. (A limit of 1 ms cut Datasette's
    own startup and permission queries on a loaded machine.)"""
    original = engine.Export.step

    def slow_step(self, conn):
        time.sleep(0.05)
        return original(self, conn)

    monkeypatch.setattr(engine.Export, "step", slow_step)
    ds = Datasette([str(archive("realistic.db"))], settings={"sql_time_limit_ms": 25})
    with pytest.raises(QueryInterrupted):  # Datasette's own queries are limited
        await ds.get_database("realistic").execute(
            "with recursive c(x) as (select 1 union all select x + 1 from c "
            "where x < 100000000) select count(*) from c"
        )
    client = await Client(ds, BASE + name, "did=" + DID1).run()
    assert client.complete
    if name == "export.zip":
        check_zip(client.body)
    else:
        assert client.body == GOLDEN[name].read_bytes()
