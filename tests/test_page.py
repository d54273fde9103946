"""The export page in process, on Datasette 0.65 and 1.0a: the way in from
the posts table page, what it says with no posts or no actor, and the count
of media files it shows before a ZIP with media."""

import asyncio
import os
import sqlite3

import pytest
from datasette import hookspecs

from dsclient import cookies, make_datasette, plugin
from helpers import DID0, DID2, FIXTURES

LINK = '<a href="/realistic/-/bsky-export">Export these posts as the bskyarchive app did</a>'
EMPTY = (
    "No posts found in your archive matching the selected criteria. Try adjusting your "
    "date range or archive some posts first."
)


def way_in(html):
    """The link at the top of a table page: in the page on 1.0a (``top_table``),
    in a script that puts it after the header on 0.65."""
    if hasattr(hookspecs, "top_table"):
        return LINK in html
    return (
        "insertAdjacentHTML('afterend', " in html
        and LINK.replace("</", "<\\/").replace('"', '\\"') in html
    )


@pytest.mark.asyncio
async def test_posts_table_page_links_to_the_export(archive):
    only_al = {"databases": {"realistic": {"tables": {"posts": {"allow": {"id": "al"}}}}}}
    ds = make_datasette([archive("realistic.db")], only_al)
    page = await ds.client.get("/realistic/posts", cookies=cookies(ds, {"id": "al"}))
    assert page.status_code == 200 and way_in(page.text)
    media = await ds.client.get("/realistic/media", cookies=cookies(ds, {"id": "al"}))
    assert not way_in(media.text) and "bsky-export-link" not in media.text
    database = await ds.client.get("/realistic", cookies=cookies(ds, {"id": "bob"}))
    assert "bsky-export-link" not in database.text


@pytest.mark.asyncio
async def test_sign_in_hint_with_restrict_to_actor(archive):
    ds = make_datasette([archive("realistic.db")], plugin(restrict_to_actor=True))
    page = await ds.client.get("/realistic/-/bsky-export")
    assert page.status_code == 200
    assert 'id="bsky-export-signin"' in page.text
    assert "Sign in to export yours" in page.text and "actor id must be your" in page.text
    assert 'id="bsky-export-form"' not in page.text
    signed_in = await ds.client.get("/realistic/-/bsky-export", cookies=cookies(ds, {"id": DID0}))
    assert 'id="bsky-export-signin"' not in signed_in.text
    assert 'id="bsky-export-form"' in signed_in.text


@pytest.mark.asyncio
async def test_zero_posts_says_what_the_legacy_said(archive):
    ds = make_datasette([archive("realistic.db")], plugin(restrict_to_actor=True))
    page = await ds.client.get(
        "/realistic/-/bsky-export", cookies=cookies(ds, {"id": "did:plc:nopostsatall"})
    )
    shown = '<p class="message-warning" id="bsky-export-empty">%s</p>' % EMPTY
    assert shown in page.text
    own = await ds.client.get("/realistic/-/bsky-export", cookies=cookies(ds, {"id": DID0}))
    assert 'id="bsky-export-empty"' not in own.text
    # The page's script says it after an empty download: from the page, not a copy.
    assert 'data-no-posts="%s"' % EMPTY in own.text


def media_rows(did):
    conn = sqlite3.connect(str(FIXTURES / "realistic.db"))
    rows = conn.execute(
        "SELECT DISTINCT m.file_path FROM media m JOIN posts p ON p.uri = m.post_uri "
        "WHERE p.did = ? AND p.has_media = 1",
        [did],
    ).fetchall()
    conn.close()
    return [path for (path,) in rows]


@pytest.mark.asyncio
async def test_media_count_before_a_zip_with_media(archive, tmp_path):
    root = tmp_path / "media"
    paths = media_rows(DID2)
    assert len(paths) > 8
    for i, file_path in enumerate(paths):
        target = root / file_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if i % 5 == 1:
            continue  # missing
        if i == 2:
            os.mkfifo(target)  # not a regular file: missing, and never opened
        else:
            target.write_bytes(b"x" * 10)
    missing = len([i for i in range(len(paths)) if i % 5 == 1 or i == 2])
    ds = make_datasette([archive("realistic.db")], plugin(media_root=str(root)))
    response = await asyncio.wait_for(
        ds.client.get("/realistic/-/bsky-export/media.json?did=" + DID2), 30
    )
    assert response.status_code == 200
    found = len(paths) - missing
    assert response.json() == {
        "found": found,
        "total": len(paths),
        "message": "%d of %d media files found; %d missing" % (found, len(paths), missing),
    }
    window = await ds.client.get(
        "/realistic/-/bsky-export/media.json?did=%s&start_date=2099-01-01" % DID2
    )
    assert window.json() == {
        "found": 0,
        "total": 0,
        "message": "The selected posts have no media files.",
    }


@pytest.mark.asyncio
async def test_media_count_follows_permissions_and_scoping(archive, tmp_path):
    config = plugin(restrict_to_actor=True, media_root=str(tmp_path))
    config["databases"] = {"realistic": {"tables": {"media": {"allow": {"id": DID0}}}}}
    ds = make_datasette([archive("realistic.db")], config)
    other = await ds.client.get(
        "/realistic/-/bsky-export/media.json?did=" + DID0, cookies=cookies(ds, {"id": DID2})
    )
    assert other.status_code == 403
    mine = await ds.client.get(
        "/realistic/-/bsky-export/media.json", cookies=cookies(ds, {"id": DID0})
    )
    assert mine.status_code == 200 and mine.json()["total"] == len(media_rows(DID0))
    no_media = await ds.client.get(
        "/realistic/-/bsky-export/media.json", cookies=cookies(ds, {"id": DID2})
    )
    assert no_media.status_code == 403
