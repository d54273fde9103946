"""Who may export what through the plugin's routes: Datasette's permission
checks at table, database and instance level (the permission matrix), and
the actor scoping of restrict_to_actor. Runs on Datasette 0.65 and 1.0a."""

import io
import json
import sqlite3
import zipfile

import pytest

from dsclient import HTML, cookies, make_datasette, plugin
from helpers import (
    DID0,
    DID1,
    DID2,
    FIXTURES,
)

DENIALS = {
    "table": {"databases": {"realistic": {"tables": {"posts": {"allow": {"id": "alice"}}}}}},
    "database": {"databases": {"realistic": {"allow": {"id": "alice"}}}},
    "instance": {"allow": {"id": "alice"}},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("level", DENIALS)
@pytest.mark.parametrize(
    "path",
    [
        "/realistic/-/bsky-export/posts.json",
        "/realistic/-/bsky-export/posts.csv?did=" + DID1,
        "/realistic/-/bsky-export/export.zip",
        "/realistic/-/bsky-export",
    ],
)
async def test_permission_denied(ds_for, steps, level, path):
    ds = ds_for("realistic.db", config=DENIALS[level])
    for actor in (None, {"id": "bob"}):
        jar = cookies(ds, actor) if actor else None
        response = await ds.client.get(path, cookies=jar)
        assert response.status_code == 403
        if "." in path.rsplit("/", 1)[1]:
            assert response.json()["error"] == (
                "You do not have permission to view the posts table of realistic"
            )
        response = await ds.client.get(path, cookies=jar, headers=HTML)
        assert response.status_code == 403
        assert "text/html" in response.headers["content-type"]
    assert steps == []
    allowed = await ds.client.get(path, cookies=cookies(ds, {"id": "alice"}))
    assert allowed.status_code == 200


@pytest.mark.asyncio
async def test_allowed_actor_gets_the_golden(ds_for):
    ds = ds_for("realistic.db", config=DENIALS["table"])
    response = await ds.client.get(
        "/realistic/-/bsky-export/posts.json?did=" + DID1, cookies=cookies(ds, {"id": "alice"})
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert response.content == (FIXTURES / "expected/realistic-did1.json").read_bytes()


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["top", "database"])
async def test_restrict_to_actor(ds_for, steps, where):
    config = plugin(restrict_to_actor=True)
    if where == "database":  # per-database plugin config, next to a permission block
        config = {"databases": {"realistic": dict(config, tables={"media": {"allow": True}})}}
    ds = ds_for("realistic.db", config=config)
    own = cookies(ds, {"id": DID1})
    base = "/realistic/-/bsky-export/"
    anonymous = await ds.client.get(base + "posts.json")
    assert anonymous.status_code == 403
    assert "sign in" in anonymous.json()["error"]
    other = await ds.client.get(base + "posts.csv?did=" + DID0, cookies=own)
    assert other.status_code == 403
    assert other.json()["error"] == (
        "You may export only your own posts (did %s), not those of %r" % (DID1, DID0)
    )
    assert steps == []
    for path in (base + "posts.json", base + "posts.json?did=" + DID1):
        response = await ds.client.get(path, cookies=own)
        assert response.status_code == 200
        assert response.content == (FIXTURES / "expected/realistic-did1.json").read_bytes()
    response = await ds.client.get(base + "export.zip?format=csv", cookies=own)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "_did_plc_bannd6yz2emrvftva2hipgad_" in response.headers["content-disposition"]
    assert archive.read("posts.csv") == (FIXTURES / "expected/realistic-did1.csv").read_bytes()
    page = await ds.client.get(base[:-1], cookies=own)
    assert DID1 in page.text and DID0 not in page.text and "All accounts" not in page.text
    page = await ds.client.get(base[:-1])
    assert "Sign in to export yours" in page.text and DID1 not in page.text


@pytest.mark.asyncio
async def test_without_restriction_any_did(ds_for):
    ds = ds_for("realistic.db", config=plugin(restrict_to_actor=False))
    response = await ds.client.get(
        "/realistic/-/bsky-export/posts.json?did=" + DID2, cookies=cookies(ds, {"id": DID1})
    )
    assert response.content == (FIXTURES / "expected/realistic-did2.json").read_bytes()


NOT_ACTORS = [{"id": 1}, {"id": True}, {"id": ["a"]}, {"id": {}}, {"id": ""}, {}]


def with_dids(path, *dids):
    """Gives the newest posts of DID2 these dids, one each."""
    conn = sqlite3.connect(str(path))
    uris = conn.execute(
        "SELECT uri FROM posts WHERE did = ? ORDER BY created_at DESC, uri LIMIT ?",
        [DID2, len(dids)],
    ).fetchall()
    for (uri,), did in zip(uris, dids):
        conn.execute("UPDATE posts SET did = ? WHERE uri = ?", [did, uri])
    conn.commit()
    conn.close()
    return [uri for (uri,) in uris]


@pytest.mark.asyncio
@pytest.mark.parametrize("actor", NOT_ACTORS, ids=json.dumps)
async def test_actor_without_a_string_id_is_no_actor(archive, steps, actor):
    """Only a non-empty string id is an actor's: with restrict_to_actor, an
    id of 1, true, ["a"], {} or "" (or none) is a 403, never the posts of
    did "1" or "True"."""
    path = archive("realistic.db")
    with_dids(path, "1", "True", "['a']", "{}")
    ds = make_datasette([path], plugin(restrict_to_actor=True))
    base = "/realistic/-/bsky-export/"
    for name in ("posts.json", "posts.csv?did=1", "posts.json?did=True", "export.zip"):
        response = await ds.client.get(base + name, cookies=cookies(ds, actor))
        assert response.status_code == 403, name
        assert response.json()["error"] == (
            "This archive exports each signed-in actor's own posts only: sign in first"
        )
    page = await ds.client.get(base[:-1], cookies=cookies(ds, actor))
    assert "Sign in to export yours" in page.text
    assert steps == []


@pytest.mark.asyncio
async def test_string_id_exports_exactly_its_did(archive):
    path = archive("realistic.db")
    one, _ = with_dids(path, "did:web:1", "True")
    ds = make_datasette([path], plugin(restrict_to_actor=True))
    response = await ds.client.get(
        "/realistic/-/bsky-export/posts.json", cookies=cookies(ds, {"id": "did:web:1"})
    )
    assert response.status_code == 200
    assert [(p["uri"], p["did"]) for p in response.json()] == [(one, "did:web:1")]
