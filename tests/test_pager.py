"""Keyset paging: legacy order, ties, an archive changing under the export,
and query plans that stay on the created_at index."""

import json

import pytest
import sqlite_utils

from datasette_bsky_export import engine
from datasette_bsky_export.pager import KeysetPager
from encoding import export_chunks
from helpers import new_archive


def post(uri, created, **columns):
    """A post of did:plc:a as the legacy stored it, created at ``created``."""
    return dict(
        uri=uri,
        cid="cid",
        did="did:plc:a",
        text="hi",
        created_at=created,
        indexed_at=created,
        reply_parent="",
        embed_type="",
        embed_data=b"null",
        labels=b"null",
        archived_at=created,
        **columns,
    )


def make_archive(path, created_ats):
    uri = "at://did:plc:a/app.bsky.feed.post/%04d"
    return new_archive(path, [post(uri % n, c) for n, c in enumerate(created_ats)]).conn


def insert(conn, uri, created):
    sqlite_utils.Database(conn)["posts"].insert(post(uri, created))


def day(n):
    return "2024-01-%02d 10:00:00 +0000 UTC" % n


def uris(chunks):
    return [post["uri"] for post in json.loads(b"".join(chunks))]


def legacy_order(conn):
    return [r[0] for r in conn.execute("SELECT uri FROM posts ORDER BY created_at DESC, uri ASC")]


@pytest.mark.parametrize("page_size", [1, 2, 3, 10])
def test_ties_across_page_boundaries(tmp_path, page_size):
    conn = make_archive(tmp_path / "a.db", [day(5)] * 7 + [day(6)] * 2 + [day(4)] * 3)
    options = engine.ExportOptions("json", page_size=page_size)
    got = uris(export_chunks(conn, options))
    assert got == legacy_order(conn)
    assert len(got) == len(set(got)) == 12


def export_with_change(conn, page_size, change):
    """Run an export, calling change(conn, first_page_uris) after page one."""
    export = engine.Export(engine.ExportOptions("json", page_size=page_size))
    first_page = legacy_order(conn)[:page_size]
    chunks = [export.step(conn)]
    change(conn, first_page)
    conn.commit()
    while True:
        chunk = export.step(conn)
        if chunk is None:
            return uris(chunks)
        chunks.append(chunk)


@pytest.mark.parametrize(
    "change",
    ["insert newer", "insert older", "delete ahead", "delete last of page", "delete exported"],
)
def test_archive_modified_between_pages(tmp_path, change):
    created = [day(1 + n % 9) for n in range(40)]  # many ties
    conn = make_archive(tmp_path / "a.db", created)
    before = legacy_order(conn)
    touched = set()

    def modify(conn, first_page):
        if change == "insert newer":
            insert(conn, "at://did:plc:a/app.bsky.feed.post/new", day(20))
            touched.add("at://did:plc:a/app.bsky.feed.post/new")
        elif change == "insert older":
            insert(conn, "at://did:plc:a/app.bsky.feed.post/old", "2023-01-01 00:00:00 +0000 UTC")
            touched.add("at://did:plc:a/app.bsky.feed.post/old")
        else:
            victim = {
                "delete ahead": before[-3],
                "delete last of page": first_page[-1],
                "delete exported": first_page[0],
            }[change]
            conn.execute("DELETE FROM posts WHERE uri = ?", (victim,))
            touched.add(victim)

    got = export_with_change(conn, 6, modify)
    assert len(got) == len(set(got)), "duplicate posts"
    throughout = [u for u in before if u not in touched]
    assert [u for u in got if u not in touched] == throughout, "skipped or reordered posts"
    if change == "insert older":
        assert got[-1] == "at://did:plc:a/app.bsky.feed.post/old"
    if change == "delete ahead":
        assert before[-3] not in got


@pytest.mark.parametrize("did", [None, "did:plc:454ml6lg4tjfcz4kaedcmpb5"])
@pytest.mark.parametrize("window", [(None, None), ("2024-01-01", "2025-01-01")])
@pytest.mark.parametrize("after", [None, ("2024-06-01 00:00:00 +0000 UTC", "at://x", 5)])
def test_page_queries_stay_on_the_created_at_index(connect, did, window, after):
    """No page sorts the filtered set: SQLite walks idx_posts_created_at in
    order and only orders ties by uri ('RIGHT PART'); never idx_posts_did."""
    conn = connect("realistic.db")
    options = engine.ExportOptions("json", did, *window)
    pager = options.pager()
    pager.last = after
    sql, params = pager.page_sql()
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert any("USING INDEX idx_posts_created_at" in step for step in plan), plan
    assert not any("idx_posts_did" in step for step in plan), plan
    sorts = [step for step in plan if "TEMP B-TREE" in step]
    assert sorts == ["USE TEMP B-TREE FOR RIGHT PART OF ORDER BY"], plan
    if after or window[0]:
        assert any(
            step.startswith("SEARCH posts USING INDEX idx_posts_created_at") for step in plan
        ), plan


def test_plain_did_filter_would_sort_everything(connect):
    """Why '+did': the legacy's plain 'did = ?' makes SQLite take idx_posts_did
    and sort that DID's posts for every page (the test above would catch a
    regression to it)."""
    conn = connect("realistic.db")
    pager = KeysetPager("did:plc:454ml6lg4tjfcz4kaedcmpb5")
    sql, params = pager.page_sql()
    plan = " ".join(
        r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql.replace("+did", "did"), params)
    )
    assert "idx_posts_did" in plan and "TEMP B-TREE FOR ORDER BY" in plan


def test_null_keys_do_not_stop_paging(tmp_path):
    """Rows with a NULL uri (rejected rows) still page past in --check."""
    conn = make_archive(tmp_path / "a.db", [day(3)] * 3)
    for _ in range(2):
        insert(conn, None, day(3))
    pager = KeysetPager(page_size=1)
    seen = []
    while not pager.done:
        seen += [row[0] for row in pager.fetch(conn)]
    assert seen == [None, None] + legacy_order(conn)[2:]
