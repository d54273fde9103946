"""The export page and Datasette's menu links to it: the form, the
biggest accounts, a submitted form redirected to its download, form errors,
and the table and database actions. Runs on Datasette 0.65 and 1.0a."""

import sqlite3
import urllib.parse

import pytest

from datasette_bsky_export import accounts
from dsclient import cookies, make_datasette, url
from helpers import (
    DID0,
    DID1,
    DID2,
    empty_db,
)


@pytest.mark.asyncio
async def test_export_page(ds_for):
    ds = ds_for("realistic.db")
    response = await ds.client.get("/realistic/-/bsky-export")
    assert response.status_code == 200
    html = response.text
    assert "<title>Export posts: realistic</title>" in html
    assert 'href="/realistic"' in html  # Datasette's crumbs
    assert "All accounts (1,500 posts)" in html
    for did, count in ((DID0, "1,292"), (DID1, "107"), (DID2, "101")):
        assert '<option value="%s">' % did in html and "%s (%s posts)" % (did, count) in html
    assert html.index(DID0) < html.index(DID1) < html.index(DID2)  # most posts first
    assert 'name="include_media"' in html
    assert 'type="date" name="start_date"' in html


@pytest.mark.asyncio
async def test_export_page_lists_the_biggest_accounts(ds_for, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_DIDS", 2)
    response = await ds_for("realistic.db").client.get("/realistic/-/bsky-export")
    assert DID0 in response.text and DID1 in response.text and DID2 not in response.text
    assert "All accounts (1,500 posts)" in response.text
    assert "Only the 2 accounts with the most posts are listed." in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query, target",
    [
        (
            {"did": DID1, "format": "json", "package": "file"},
            "/realistic/-/bsky-export/posts.json?did=" + urllib.parse.quote(DID1),
        ),
        (
            {
                "did": "",
                "format": "csv",
                "start_date": "2024-01-01",
                "end_date": "",
                "package": "file",
            },
            "/realistic/-/bsky-export/posts.csv?start_date=2024-01-01",
        ),
        (
            {"did": DID2, "format": "csv", "package": "zip"},
            "/realistic/-/bsky-export/export.zip?format=csv&did=" + urllib.parse.quote(DID2),
        ),
        (
            {"did": "", "format": "json", "package": "file", "include_media": "1"},
            "/realistic/-/bsky-export/export.zip?format=json&include_media=1",
        ),
    ],
)
async def test_export_page_submit_redirects_to_download(ds_for, query, target):
    ds = ds_for("realistic.db")
    response = await ds.client.get(url("/realistic/-/bsky-export", **query))
    assert response.status_code == 302
    assert response.headers["location"] == target
    download = await ds.client.get(target)
    assert download.status_code == 200


@pytest.mark.asyncio
async def test_export_page_shows_form_errors(ds_for):
    ds = ds_for("realistic.db")
    response = await ds.client.get(
        url(
            "/realistic/-/bsky-export",
            did=DID1,
            format="json",
            start_date="2024-05-02",
            end_date="2024-05-01",
        )
    )
    assert response.status_code == 400
    assert "end date 2024-05-01 is before start date 2024-05-02" in response.text
    assert 'value="2024-05-02"' in response.text  # the form keeps what was entered
    assert '<option value="%s" selected>' % DID1 in response.text


@pytest.mark.asyncio
async def test_table_and_database_actions(archive, tmp_path):
    blog = tmp_path / "blog.db"  # a posts table of another kind
    conn = sqlite3.connect(str(blog))
    conn.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title)")
    conn.close()
    ds = make_datasette([archive("realistic.db"), empty_db(tmp_path), blog])
    link = 'href="/realistic/-/bsky-export"'
    assert link in (await ds.client.get("/realistic/posts")).text
    assert link in (await ds.client.get("/realistic")).text
    assert link not in (await ds.client.get("/realistic/media")).text
    assert "bsky-export" not in (await ds.client.get("/other")).text
    assert "bsky-export" not in (await ds.client.get("/blog")).text
    assert "bsky-export" not in (await ds.client.get("/blog/posts")).text


@pytest.mark.asyncio
async def test_actions_hidden_from_actors_who_cannot_view_posts(ds_for):
    config = {"databases": {"realistic": {"tables": {"posts": {"allow": {"id": "alice"}}}}}}
    ds = ds_for("realistic.db", config=config)
    link = 'href="/realistic/-/bsky-export"'
    for actor in (None, {"id": "bob"}):
        page = await ds.client.get("/realistic", cookies=cookies(ds, actor) if actor else None)
        assert page.status_code == 200 and link not in page.text
    alice = cookies(ds, {"id": "alice"})
    assert link in (await ds.client.get("/realistic", cookies=alice)).text
    assert link in (await ds.client.get("/realistic/posts", cookies=alice)).text
