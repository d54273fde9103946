"""The export page in headless Chromium on a real ``datasette serve``: its
layout at a phone's and a desktop's width, axe-core on its content in every
state, the way in from the posts table, and what it says to an actor who
must sign in. The downloads it starts are tested in ``test_browser.py``.
"""

import shutil
import sqlite3

import pytest

from browser import axe_violations, overflow, screenshot, set_width
from helpers import DID2, FIXTURES

WIDTHS = [420, 1280]


@pytest.fixture
def realistic(tmp_path):
    path = tmp_path / "realistic.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    return path


def labels_in_word_columns(driver):
    """The form's labels squeezed narrower than their longest word (0.65's
    ``form label {width: 15%}`` made such columns)."""
    return driver.execute_script(
        "const bad = [];"
        "for (const label of document.querySelectorAll('#bsky-export-form label')) {"
        "  const r = label.getBoundingClientRect();"
        "  const line = parseFloat(getComputedStyle(label).lineHeight) || 20;"
        "  const width = document.documentElement.clientWidth;"
        "  if (r.height > 3.5 * line || (width > 1000 && r.height > 1.6 * line))"
        "    bad.push([label.textContent.trim(), Math.round(r.width), Math.round(r.height)]);"
        "}"
        "return bad;"
    )


def button_style(driver, element_id):
    """Border radius, background colour and cursor: Datasette's button style
    (radius .25rem, a pointer), not the browser's plain button."""
    return driver.execute_script(
        "const s = getComputedStyle(document.getElementById(arguments[0]));"
        "return [s.borderTopLeftRadius, s.backgroundColor, s.cursor];",
        element_id,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_idle_page_fits_and_is_accessible(chromium, serve, realistic, width):
    server = serve(realistic)
    set_width(chromium, width)
    chromium.get(server.url + "/realistic/-/bsky-export")
    assert overflow(chromium) == [0, []]
    assert labels_in_word_columns(chromium) == []
    assert button_style(chromium, "bsky-export-submit") == ["4px", "rgb(0, 86, 179)", "pointer"]
    assert axe_violations(chromium) == []
    screenshot(chromium, "idle")


@pytest.mark.parametrize("width", WIDTHS)
def test_error_state_fits_and_is_accessible(chromium, serve, realistic, width):
    server = serve(realistic)
    set_width(chromium, width)
    chromium.get(
        server.url + "/realistic/-/bsky-export?format=json&start_date=2024-05-02"
        "&end_date=2024-05-01"
    )
    from selenium.webdriver.common.by import By

    error = chromium.find_element(By.ID, "bsky-export-error")
    assert error.text == "end date 2024-05-01 is before start date 2024-05-02"
    assert overflow(chromium) == [0, []]
    assert axe_violations(chromium) == []
    screenshot(chromium, "error")


def test_posts_table_page_shows_the_way_in(chromium, serve, realistic):
    from selenium.webdriver.common.by import By

    server = serve(realistic)
    chromium.get(server.url + "/realistic/posts")
    link = chromium.find_element(By.CSS_SELECTOR, "p.bsky-export-link a")
    assert link.is_displayed()  # on the page, not in the closed actions menu
    assert link.text == "Export these posts as the bskyarchive app did"
    top = chromium.find_element(By.CSS_SELECTOR, ".page-header").rect
    assert link.rect["y"] > top["y"]
    assert link.rect["y"] < chromium.find_element(By.CSS_SELECTOR, "table").rect["y"]
    screenshot(chromium, "posts-table")
    link.click()
    assert chromium.title == "Export posts: realistic"


def test_include_media_chooses_the_zip_and_counts_the_files(chromium, serve, realistic, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    root = tmp_path / "media"
    conn = sqlite3.connect(str(realistic))
    paths = [
        p
        for (p,) in conn.execute(
            "SELECT DISTINCT m.file_path FROM media m JOIN posts p ON p.uri = m.post_uri "
            "WHERE p.did = ? AND p.has_media = 1",
            [DID2],
        )
    ]
    conn.close()
    for file_path in paths[3:]:
        (root / file_path).parent.mkdir(parents=True, exist_ok=True)
        (root / file_path).write_bytes(b"jpeg")
    server = serve(realistic, {"plugins": {"datasette-bsky-export": {"media_root": str(root)}}})
    chromium.get(server.url + "/realistic/-/bsky-export")
    Select(chromium.find_element(By.ID, "bsky-export-did")).select_by_value(DID2)
    count = chromium.find_element(By.ID, "bsky-export-media-count")
    assert count.text == ""  # counted only once the ZIP is chosen
    assert chromium.find_element(By.ID, "bsky-export-file").is_selected()
    chromium.find_element(By.ID, "bsky-export-media").click()
    assert chromium.find_element(By.ID, "bsky-export-zip").is_selected()
    expected = "%d of %d media files found; 3 missing" % (len(paths) - 3, len(paths))
    WebDriverWait(chromium, 20).until(lambda driver: count.text == expected, count.text)
    chromium.find_element(By.ID, "bsky-export-file").click()
    assert not chromium.find_element(By.ID, "bsky-export-media").is_selected()
