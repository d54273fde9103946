"""Export what you see (issue 19): from the ``posts`` table page, filtered and
searched in a real Chromium against a real ``datasette serve``, to the export
page and the downloaded file, which must hold exactly the posts the table
page shows, as the plain HTTP download of the same selection does.

The harness (server, browser, skips) is ``browser.py``.
"""

import json
import shutil
import sqlite3
import time
import urllib.parse

import pytest

from browser import axe_violations, get, overflow, set_width
from helpers import DID1, FIXTURES

FILTERS = [("has_media", "1"), ("like_count__gte", "10"), ("_search", "the")]
CONFIG = {"databases": {"realistic": {"tables": {"posts": {"fts_table": "posts_fts"}}}}}
# The same selection written by hand: the oracle the page's count is checked against.
SQL = (
    "SELECT count(*) FROM posts WHERE has_media = 1 AND like_count >= 10 AND rowid IN "
    "(SELECT rowid FROM posts_fts WHERE posts_fts MATCH '\"the\"')"
)


def text_of(driver, element_id):
    return driver.execute_script(
        "return document.getElementById(arguments[0]).textContent.trim()", element_id
    )


def wait_for_text(driver, element_id, expected, timeout=30):
    deadline = time.monotonic() + timeout
    while text_of(driver, element_id) != expected:
        assert time.monotonic() < deadline, "%s says %r, not %r" % (
            element_id,
            text_of(driver, element_id),
            expected,
        )
        time.sleep(0.1)


def count(sql, *params):
    with sqlite3.connect(FIXTURES / "realistic.db") as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.fixture
def server(serve, tmp_path):
    path = tmp_path / "realistic.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    return serve(path, CONFIG)


def test_table_page_to_export_page_to_file(chromium, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    query = urllib.parse.urlencode(FILTERS)
    chromium.get(server.url + "/realistic/posts?" + query)
    status, body = get(server, "/realistic/posts.json?_size=max&_shape=objects&" + query)
    shown = json.loads(body)["rows"]
    expected = count(SQL)
    assert status == 200 and len(shown) == expected > 0  # the table page shows these posts

    link = chromium.find_element(By.CSS_SELECTOR, ".bsky-export-link a")
    assert link.get_attribute("href") == server.url + "/realistic/-/bsky-export?" + query
    link.click()
    items = chromium.find_elements(By.CSS_SELECTOR, "#bsky-export-filters li")
    assert [item.text for item in items] == ["with media", "liked 10+ times", 'matching "the"']
    wait_for_text(
        chromium,
        "bsky-export-matching",
        'All posts with media, liked 10+ times, matching "the": %d posts match.' % expected,
    )
    # The account changes the count, live.
    Select(chromium.find_element(By.ID, "bsky-export-did")).select_by_value(DID1)
    of_did1 = count(SQL + " AND did = ?", DID1)
    handle = _latest_handle(DID1)
    wait_for_text(
        chromium,
        "bsky-export-matching",
        'Posts of @%s with media, liked 10+ times, matching "the": %d post%s match%s.'
        % (handle, of_did1, "" if of_did1 == 1 else "s", "es" if of_did1 == 1 else ""),
    )
    Select(chromium.find_element(By.ID, "bsky-export-did")).select_by_value("")
    for width in (1280, 420):
        set_width(chromium, width)
        assert overflow(chromium) == [0, []], width
    assert axe_violations(chromium) == []

    chromium.find_element(By.ID, "bsky-export-submit").click()
    deadline = time.monotonic() + 60
    while not [p for p in chromium.downloads.glob("*.json")] or list(
        chromium.downloads.glob("*.crdownload")
    ):
        assert time.monotonic() < deadline, "no download"
        time.sleep(0.2)
    (downloaded,) = chromium.downloads.glob("*.json")
    status, plain = get(server, "/realistic/-/bsky-export/posts.json?" + query)
    assert status == 200 and downloaded.read_bytes() == plain
    exported = json.loads(plain)
    assert [post["uri"] for post in exported] == [row["uri"] for row in _legacy_order(shown)]


def _latest_handle(did):
    with sqlite3.connect(FIXTURES / "realistic.db") as conn:
        sql = "SELECT handle FROM profiles WHERE did = ? ORDER BY snapshot_at DESC LIMIT 1"
        return conn.execute(sql, [did]).fetchone()[0]


def _legacy_order(rows):
    """The table page's rows in the legacy order (created_at DESC, uri ASC)."""
    rows = sorted(rows, key=lambda row: row["uri"])
    return sorted(rows, key=lambda row: row["created_at"], reverse=True)


def test_a_bad_filter_is_a_400_page_naming_it(chromium, server):
    from selenium.webdriver.common.by import By

    chromium.get(server.url + "/realistic/-/bsky-export?likes__gte=10")
    assert (
        "the posts table has no column 'likes'" in chromium.find_element(By.TAG_NAME, "body").text
    )
    status, body = get(server, "/realistic/-/bsky-export/count.json?text__bogus=1")
    assert status == 400 and "no operation 'bogus'" in json.loads(body)["error"]
