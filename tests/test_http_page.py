"""The export page and Datasette's menu links to it: the form, the
biggest accounts, a submitted form redirected to its download, form errors,
and the table and database actions. Runs on Datasette 0.65 and 1.0a."""

import re
import sqlite3
import urllib.parse

import pytest

from datasette_bsky_export import accounts
from dsclient import cookies, make_datasette, plugin, url
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


def beside(field_id, message):
    """The field's markup as the page shows a mistake beside it: the field
    marked invalid and described by the message that follows it."""
    return (
        ' aria-invalid="true" aria-describedby="%s-error" autofocus>' % field_id,
        '<p class="bsky-export-field-error" id="%s-error">%s</p>' % (field_id, message),
    )


def field_errors_shown(html):
    """The ids of the form's mistakes shown (their message elements not hidden)."""
    return re.findall(r'<p class="bsky-export-field-error" id="([a-z-]+)-error">', html)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query, field_id, message",
    [
        (
            {"did": DID1, "start_date": "2024-05-02", "end_date": "2024-05-01"},
            "bsky-export-end",
            "end date 2024-05-01 is before start date 2024-05-02",
        ),
        (
            {"start_date": "2024-02-30"},
            "bsky-export-start",
            "start date 2024-02-30 is not a real date",
        ),
        (
            {"end_date": "2024/01/01"},
            "bsky-export-end",
            "end date must be a date as YYYY-MM-DD, not &#39;2024/01/01&#39;",
        ),
        (
            {"did": "did:plc:nobody"},
            "bsky-export-did",
            "No posts of &#39;did:plc:nobody&#39; in this archive",
        ),
    ],
)
async def test_submitted_mistake_is_shown_beside_its_field(ds_for, query, field_id, message):
    """The form sent without JavaScript: the server's 400 says what is wrong
    beside the field, and the form keeps what was entered."""
    ds = ds_for("realistic.db")
    form = {"did": "", "format": "json", "start_date": "", "end_date": "", "package": "file"}
    response = await ds.client.get(url("/realistic/-/bsky-export", **{**form, **query}))
    assert response.status_code == 400
    html = response.text
    field, note = beside(field_id, message)
    assert ('id="%s"' % field_id) in html and field in html and note in html
    assert html.index('id="%s"' % field_id) < html.index(field) < html.index(note)
    assert field_errors_shown(html) == [field_id]
    assert 'id="bsky-export-error"' not in html  # beside the field only
    for name in ("start_date", "end_date"):
        assert (
            'name="%s" id="bsky-export-%s" value="%s"'
            % (
                name,
                name.split("_")[0],
                query.get(name, ""),
            )
            in html
        )


@pytest.mark.asyncio
async def test_submitted_did_keeps_its_choice(ds_for):
    ds = ds_for("realistic.db")
    query = {"did": DID1, "format": "json", "start_date": "2024-05-02", "end_date": "2024-05-01"}
    html = (await ds.client.get(url("/realistic/-/bsky-export", **query))).text
    assert '<option value="%s" selected>' % DID1 in html
    assert '<option value="" selected>' not in html


@pytest.mark.asyncio
async def test_unknown_did_is_kept_and_flagged(ds_for):
    """``?did=`` of an account without posts: the page keeps it chosen (not All
    accounts) and says so beside it; its download is still a valid empty export."""
    ds = ds_for("realistic.db")
    response = await ds.client.get("/realistic/-/bsky-export?did=did:plc:nobody")
    assert response.status_code == 200  # not submitted: only flagged
    html = response.text
    message = "No posts of &#39;did:plc:nobody&#39; in this archive"
    assert (
        '<option value="did:plc:nobody" selected data-error="%s">did:plc:nobody (0 posts)</option>'
        % message
    ) in html
    assert '<option value="">All accounts (1,500 posts)</option>' in html  # not selected
    field, note = beside("bsky-export-did", message)
    assert field in html and note in html
    assert 'id="bsky-export-empty"' not in html  # the field says it, once
    download = await ds.client.get("/realistic/-/bsky-export/posts.json?did=did:plc:nobody")
    assert (download.status_code, download.content) == (200, b"[]\n")


@pytest.mark.asyncio
async def test_did_beyond_the_listed_accounts_is_kept(ds_for, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_DIDS", 1)
    ds = ds_for("realistic.db")
    html = (await ds.client.get("/realistic/-/bsky-export?did=" + DID2)).text
    shown = '<option value="%s" selected>@bob.example.com · %s (101 posts)</option>'
    assert shown % (DID2, DID2) in html
    assert field_errors_shown(html) == []


@pytest.mark.asyncio
async def test_another_actors_did_is_flagged_beside_the_field(ds_for):
    """With ``restrict_to_actor``: another's DID is kept and refused beside the
    field, its posts not counted."""
    ds = ds_for("realistic.db", config=plugin(restrict_to_actor=True))
    mine = cookies(ds, {"id": DID1})
    message = "You may export only your own posts (did %s), not those of &#39;%s&#39;" % (
        DID1,
        DID2,
    )
    for query, status in (({}, 200), ({"format": "json"}, 403)):
        response = await ds.client.get(
            url("/realistic/-/bsky-export", did=DID2, **query), cookies=mine
        )
        assert response.status_code == status
        html = response.text
        assert (
            '<option value="%s" selected data-error="%s">%s</option>' % (DID2, message, DID2)
            in html
        )
        assert beside("bsky-export-did", message)[1] in html
    own = await ds.client.get(url("/realistic/-/bsky-export", did=DID1), cookies=mine)
    assert own.status_code == 200 and field_errors_shown(own.text) == []


def crumbs(html):
    """The hrefs of Datasette's breadcrumbs."""
    nav = re.search(r'<p class="crumbs">(.*?)</p>', html, re.S).group(1)
    return [
        (href.replace("&amp;", "&"), label)
        for href, label in re.findall(r'<a href="([^"]*)">([^<]*)</a>', nav)
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query, table",
    [
        ("", "/realistic/posts"),
        ("?did=" + DID1, "/realistic/posts?did=" + urllib.parse.quote(DID1, safe="")),
        (
            "?did=%s&format=json&start_date=2024-05-02&end_date=2024-05-01&package=zip"
            "&include_media=1&progress=abcdefghijklmnop" % DID1,
            "/realistic/posts?did=" + urllib.parse.quote(DID1, safe=""),
        ),
        ("?did=&format=json&start_date=2099-13-01", "/realistic/posts"),
        (
            "?text__contains=cat&_where=like_count>1&did=%s&_sort=uri" % DID2,
            "/realistic/posts?did=%s&text__contains=cat&_where=like_count%%3E1"
            % urllib.parse.quote(DID2, safe=""),
        ),
    ],
)
async def test_breadcrumbs_lead_back_to_the_posts_table(ds_for, query, table):
    """Datasette's crumbs: the instance, the database and the posts table with
    the page's selection (its query but the form's own fields)."""
    ds = ds_for("realistic.db")
    html = (await ds.client.get("/realistic/-/bsky-export" + query)).text
    assert crumbs(html) == [("/", "home"), ("/realistic", "realistic"), (table, "posts")]


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
