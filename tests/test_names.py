"""Database names as Datasette spells them in URLs (issue 17.6): every route of
the plugin takes every spelling of a database's name that Datasette's own
pages take (``~20``, ``+``, ``~2E``, ``~C3~B6`` in either case) and redirects a
``%``-escaped name to its tilde form as Datasette does, keeping the rest of
the path, the query and ``base_url``. In process, on Datasette 0.65 and 1.0a."""

import io
import re
import shutil
import zipfile

import pytest
from datasette.app import Datasette

from datasette_bsky_export import progress
from dsclient import Client, make_datasette
from helpers import DID1, FIXTURES

ID = "spelling-test-id_0123"
NAMES = ["my posts", "my.posts", "pösts"]  # database names, from "<name>.db"

# (database, spelling in the URL, the spelling Datasette redirects it to or None)
SPELLINGS = [
    ("my posts", "my~20posts", None),
    ("my posts", "my+posts", None),
    ("my posts", "my%20posts", "my~20posts"),
    ("my.posts", "my~2Eposts", None),
    ("my.posts", "my~2eposts", None),
    ("my.posts", "my%2Eposts", "my~2Eposts"),
    ("pösts", "p~C3~B6sts", None),
    ("pösts", "p~c3~b6sts", None),
    ("pösts", "p%C3%B6sts", "p~C3~B6sts"),
    ("pösts", "p%c3%b6sts", "p~c3~b6sts"),
]
GETS = {  # each route of the plugin: its path and query after the database
    "json": "/-/bsky-export/posts.json?did=" + DID1,
    "csv": "/-/bsky-export/posts.csv?did=" + DID1,
    "zip": "/-/bsky-export/export.zip?format=csv&did=" + DID1,
    "page": "/-/bsky-export",
    "form": "/-/bsky-export?did=%s&format=json&package=file" % DID1,  # the page, submitted
    "media": "/-/bsky-export/media.json?did=" + DID1,
    "progress": "/-/bsky-export/progress/%s.json" % ID,
}


@pytest.fixture
def ds(tmp_path):
    paths = []
    for name in NAMES:
        paths.append(tmp_path / (name + ".db"))
        shutil.copyfile(FIXTURES / "realistic.db", paths[-1])
    return make_datasette(paths)


def spelling_id(spelling):
    return spelling[1]


def check_answer(ds, name, route, response):
    """The answer of ``route`` for database ``name``, whatever its spelling."""
    if route == "form":  # the submitted page sends the browser to the download
        assert response.status_code == 302
        download = ds.urls.database(name) + "/-/bsky-export/posts.json?did="
        assert response.headers["location"] == download + DID1.replace(":", "%3A")
        return
    assert response.status_code == 200
    if route in ("json", "csv"):
        golden = FIXTURES / ("expected/realistic-did1." + route)
        assert response.content == golden.read_bytes()
    elif route == "zip":
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        golden = FIXTURES / "expected/realistic-did1.csv"
        assert archive.read("posts.csv") == golden.read_bytes()
    elif route == "media":
        assert set(response.json()) == {"found", "total", "message"}
    elif route == "progress":
        assert response.json()["id"] == ID
    else:
        assert 'action="%s/-/bsky-export"' % ds.urls.database(name) in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize("route", GETS)
@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
async def test_every_route_takes_every_spelling(ds, spelling, route):
    name, written, redirected_to = spelling
    progress.registry(ds).start(name, ID, None, 107)
    response = await ds.client.get("/" + written + GETS[route])
    if redirected_to is None:
        check_answer(ds, name, route, response)
        return
    assert response.status_code == 302
    assert response.headers["location"] == "/" + redirected_to + GETS[route]
    check_answer(ds, name, route, await ds.client.get(response.headers["location"]))


@pytest.mark.asyncio
@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
async def test_datasette_spells_them_alike(ds, spelling):
    """Datasette's own pages take the same spellings and redirect the same ones."""
    name, written, redirected_to = spelling
    for suffix in ("", "/posts"):
        response = await ds.client.get("/" + written + suffix)
        if redirected_to is None:
            assert response.status_code == 200
        else:
            assert response.status_code == 302
            assert response.headers["location"] == "/" + redirected_to + suffix


async def page_token(ds, name):
    """The export page's csrftoken, and the cookies it set."""
    page = await ds.client.get(ds.urls.database(name) + "/-/bsky-export")
    return re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1), page.cookies


@pytest.mark.asyncio
@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
async def test_cancel_takes_every_spelling(ds, spelling):
    name, written, redirected_to = spelling
    entry = progress.registry(ds).start(name, ID, None, 107)
    token, page_cookies = await page_token(ds, name)
    response = await ds.client.post(
        "/%s/-/bsky-export/progress/%s/cancel" % (written, ID),
        cookies=page_cookies,
        headers={"sec-fetch-site": "same-origin", "origin": "http://localhost"},
        data={"csrftoken": token},
    )
    if redirected_to is None:
        assert response.status_code == 200 and entry.cancel_requested
    else:  # as Datasette answers a POST to a %-escaped path
        assert response.status_code == 302 and not entry.cancel_requested
        assert response.headers["location"] == "/%s/-/bsky-export/progress/%s/cancel" % (
            redirected_to,
            ID,
        )


@pytest.mark.asyncio
async def test_unknown_escaped_name_is_redirected_then_not_found(ds):
    response = await ds.client.get("/nope%20x/-/bsky-export/posts.json?did=" + DID1)
    assert response.status_code == 302
    assert response.headers["location"] == "/nope~20x/-/bsky-export/posts.json?did=" + DID1
    missing = await ds.client.get(response.headers["location"])
    assert missing.status_code == 404
    assert missing.json()["error"] == "Database not found: 'nope x'"


def header(client, name):
    (value,) = [v for k, v in client.start["headers"] if k.lower() == name]
    return value.decode()


@pytest.mark.asyncio
@pytest.mark.parametrize("route", GETS)
async def test_redirect_keeps_base_url(tmp_path, route):
    path = tmp_path / "my posts.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    ds = Datasette([str(path)], settings={"base_url": "/archive/"})
    progress.registry(ds).start("my posts", ID, None, 107)
    target, _, query = GETS[route].partition("?")
    client = await Client(ds, "/archive/my%20posts" + target, query).run()
    assert client.start["status"] == 302
    location = header(client, b"location")
    assert location == "/archive/my~20posts" + GETS[route]
    own = await Client(ds, "/archive/my%20posts/posts").run()  # Datasette's own table page
    assert header(own, b"location") == "/archive/my~20posts/posts"
    path, _, query = location.partition("?")
    followed = await Client(ds, path, query).run()
    assert followed.start["status"] == (302 if route == "form" else 200)
