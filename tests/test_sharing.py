"""README's "Sharing an archive": the real sign-in plugins in front of
``restrict_to_actor``, on a real ``datasette serve`` with the README's own
configuration blocks; actors whose id is not a DID; the query parameters of
other plugins (``_auth_token``) left alone.

The plugins are installed per Datasette line by ``noxfile.py``: without them
these tests skip, unless CI is set, where they fail.
"""

import copy
import html
import http.cookiejar
import importlib.util
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import datasette.version
import pytest
import yaml

from browser import require
from dsclient import cookies, make_datasette, plugin
from helpers import DID0, DID1, FIXTURES

README = pathlib.Path(__file__).parent.parent / "README.md"
DATASETTE = os.path.join(os.path.dirname(sys.executable), "datasette")
ON_065 = datasette.version.__version__.startswith("0.")
BASE = "/realistic/-/bsky-export"
EMPTY = "No posts found in your archive"
NOT_A_DID = "which is not a DID"
MUST_BE = "the actor id must be the account's DID"
TOKEN = "alice-token-6c0d2a7e9b4f4f1e8d3a"


def golden(name):
    return (FIXTURES / "expected" / name).read_bytes()


def recipes():
    """The YAML blocks of README's "Sharing an archive": passwords, tokens."""
    section = README.read_text().split("\n## Sharing an archive\n", 1)[1].split("\n## ", 1)[0]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


@pytest.fixture
def auth_plugins():
    missing = [
        name
        for name in ("datasette_auth_passwords", "datasette_auth_tokens")
        if importlib.util.find_spec(name) is None
    ]
    require(missing and "%s not installed (noxfile.py installs them)" % ", ".join(missing))


def opener():
    """A client that keeps its cookies, as a browser does."""
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def fetch(client, url, headers=None):
    """(status, body) of a GET, errors included."""
    try:
        with client.open(urllib.request.Request(url, headers=headers or {}), timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def sign_in(server, username, password):
    """A client signed in through the login form (its CSRF token, its cookie)."""
    client = opener()
    form = client.open(server.url + "/-/login", timeout=30).read().decode()
    csrftoken = re.search(r'name="csrftoken" value="([^"]+)"', form).group(1)
    data = {"username": username, "password": password, "csrftoken": csrftoken}
    with client.open(
        server.url + "/-/login", urllib.parse.urlencode(data).encode(), timeout=30
    ) as response:
        page = response.read().decode()
    return client, page


def hash_password(password):
    result = subprocess.run(
        [DATASETTE, "hash-password", "--no-confirm"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def error(body):
    return json.loads(body)["error"]


def assert_not_a_did(client, server, name):
    """Every download and media.json refuse the actor with 403 saying why;
    the export page says it too, with no form and no "No posts found"."""
    for path in ("/posts.json", "/posts.csv", "/export.zip?format=csv", "/media.json"):
        status, body = fetch(client, server.url + BASE + path)
        assert status == 403, path
        assert "You are signed in as %r, %s" % (name, NOT_A_DID) in error(body)
        assert MUST_BE in error(body)
    status, page = fetch(client, server.url + BASE)
    assert status == 403
    page = html.unescape(page.decode())
    assert 'id="bsky-export-not-a-did"' in page and MUST_BE in page
    assert EMPTY not in page and 'id="bsky-export-form"' not in page


# --------------------------------------------------------------------------
# The recipes, on a real datasette serve


def test_password_recipe(auth_plugins, serve, archive, monkeypatch, tmp_path):
    config = copy.deepcopy(recipes()[0])
    monkeypatch.setenv("ALICE_PASSWORD_HASH", hash_password("alice's passphrase"))
    # carol: an account without an actors entry, so her actor id is "carol"
    config["plugins"]["datasette-auth-passwords"]["carol_password_hash"] = {
        "$env": "CAROL_PASSWORD_HASH"
    }
    monkeypatch.setenv("CAROL_PASSWORD_HASH", hash_password("carol's passphrase"))
    config["plugins"]["datasette-bsky-export"]["media_root"] = str(tmp_path)
    server = serve(archive("realistic.db"), config)

    _, page = sign_in(server, "alice", "wrong")
    assert "Invalid username or password" in page
    alice, _ = sign_in(server, "alice", "alice's passphrase")
    assert fetch(alice, server.url + BASE + "/posts.json") == (200, golden("realistic-did0.json"))
    status, body = fetch(alice, server.url + BASE + "/posts.csv?did=" + DID0)
    assert (status, body) == (200, golden("realistic-did0.csv"))
    status, body = fetch(alice, server.url + BASE + "/posts.csv?did=" + DID1)
    assert status == 403 and "only your own posts" in error(body)
    status, page = fetch(alice, server.url + BASE)
    assert status == 200 and DID0 in page.decode() and DID1 not in page.decode()
    status, body = fetch(opener(), server.url + BASE + "/posts.json")
    assert status == 403 and "sign in first" in error(body)

    carol, _ = sign_in(server, "carol", "carol's passphrase")
    assert_not_a_did(carol, server, "carol")


def test_token_recipes(auth_plugins, serve, archive, monkeypatch):
    monkeypatch.setenv("ALICE_TOKEN", TOKEN)
    monkeypatch.setenv("DATASETTE_SECRET", "a-fixed-secret-for-create-token")
    server = serve(archive("realistic.db"), recipes()[1])
    url = server.url + BASE + "/posts.csv"
    expected = (200, golden("realistic-did0.csv"))
    assert fetch(opener(), url, {"Authorization": "Bearer " + TOKEN}) == expected
    assert fetch(opener(), url + "?_auth_token=" + TOKEN) == expected
    status, body = fetch(opener(), url + "?_auth_token=not-the-token")
    assert status == 403 and "sign in first" in error(body)
    status, body = fetch(
        opener(), server.url + BASE + "/export.zip?format=json&_auth_token=" + TOKEN
    )
    assert status == 200
    assert zipfile.ZipFile(io.BytesIO(body)).read("posts.json") == golden("realistic-did0.json")
    if ON_065:
        return  # Datasette 0.65 has no API tokens of its own (no create-token command)
    created = subprocess.run(
        [DATASETTE, "create-token", DID0], capture_output=True, text=True, check=True
    )
    token = created.stdout.strip()
    assert token.startswith("dstok_")
    headers = {"Authorization": "Bearer " + token}
    assert fetch(opener(), server.url + BASE + "/posts.json", headers) == (
        200,
        golden("realistic-did0.json"),
    )


def test_root_is_not_a_did(serve, archive):
    server = serve(archive("realistic.db"), plugin(restrict_to_actor=True), args=["--root"])
    sign_in_url = re.search(r"http://\S+/-/auth-token\?token=\w+", server.output()).group()
    root = opener()
    assert fetch(root, sign_in_url)[0] == 200  # the redirect to / after the cookie is set
    assert_not_a_did(root, server, "root")


# --------------------------------------------------------------------------
# In process: the same rules on every route


@pytest.mark.asyncio
@pytest.mark.parametrize("actor_id", ["root", "alice", "did:plc:", "DID:plc:abc", "did:plc:x y"])
async def test_actor_id_not_a_did_is_refused(archive, tmp_path, actor_id):
    ds = make_datasette(
        [archive("realistic.db")], plugin(restrict_to_actor=True, media_root=str(tmp_path))
    )
    signed = cookies(ds, {"id": actor_id})
    for path in ("/posts.json", "/posts.csv", "/export.zip", "/media.json"):
        response = await ds.client.get(BASE + path, cookies=signed)
        assert response.status_code == 403
        assert NOT_A_DID in response.json()["error"] and MUST_BE in response.json()["error"]
    for path in (BASE, BASE + "?format=json&did=" + DID0):  # the form submitted: no redirect
        page = await ds.client.get(path, cookies=signed)
        assert page.status_code == 403
        assert 'id="bsky-export-not-a-did"' in page.text and EMPTY not in page.text


@pytest.mark.asyncio
async def test_a_did_without_posts_is_not_refused(archive):
    ds = make_datasette([archive("realistic.db")], plugin(restrict_to_actor=True))
    signed = cookies(ds, {"id": "did:web:example.com"})
    response = await ds.client.get(BASE + "/posts.json", cookies=signed)
    assert response.status_code == 200 and response.content == b"[]\n"
    page = await ds.client.get(BASE, cookies=signed)
    assert page.status_code == 200 and EMPTY in page.text and NOT_A_DID not in page.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path, expected",
    [
        ("/posts.json", golden("realistic-did0.json")),
        ("/posts.csv?did=" + DID0, golden("realistic-did0.csv")),
        ("/media.json", None),
        ("", None),
    ],
)
async def test_other_plugins_parameters_pass(
    auth_plugins, archive, tmp_path, monkeypatch, path, expected
):
    """datasette-auth-tokens with ``param: _auth_token`` identifies the actor from
    the query string; the plugin ignores that parameter and any other ``_`` one."""
    monkeypatch.setenv("ALICE_TOKEN", TOKEN)
    config = copy.deepcopy(recipes()[1])
    config["plugins"]["datasette-bsky-export"]["media_root"] = str(tmp_path)
    ds = make_datasette([archive("realistic.db")], config)
    joiner = "&" if "?" in path else "?"
    url = BASE + path + joiner + "_auth_token=" + TOKEN + "&_other=1&_other=2"
    response = await ds.client.get(url)
    assert response.status_code == 200
    if expected is not None:
        assert response.content == expected
    elif path == "/media.json":
        assert response.json()["total"] > 0
    else:
        assert 'id="bsky-export-form"' in response.text and DID0 in response.text
        assert "Sign in to export yours" not in response.text
    refused = await ds.client.get(BASE + path + joiner + "auth_token=" + TOKEN)
    assert refused.status_code == 400  # not a column of posts to filter on, the page's too
    assert "unknown parameter 'auth_token'" in refused.json()["error"]
