"""The export page in headless Chromium on a real ``datasette serve``: its
layout at a phone's and a desktop's width, axe-core on its content in every
state, the way in from the posts table, what it says to an actor who must
sign in, a mistake in the form shown beside its field before any request,
and a download refused before its first byte. The downloads it starts are
tested in ``test_browser.py``.
"""

import shutil
import sqlite3

import pytest

from browser import axe_violations, outside_viewport, overflow, screenshot, set_width
from helpers import DID2, FIXTURES
from test_browser import text_of, wait_for_state

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


def field_error(driver, field_id):
    """The mistake shown beside a field: the field's aria-invalid, the id its
    aria-describedby names, and that element's text if it is shown."""
    return driver.execute_script(
        "const field = document.getElementById(arguments[0]);"
        "const note = document.getElementById(field.getAttribute('aria-describedby'));"
        "return [field.getAttribute('aria-invalid'), note && note.id,"
        "        note && !note.hidden ? note.textContent : null];",
        field_id,
    )


def export_requests(server):
    """The server log's lines of requests for a download."""
    return [
        line
        for line in server.output().splitlines()
        if "/-/bsky-export/posts." in line or "/-/bsky-export/export.zip" in line
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_error_state_fits_and_is_accessible(chromium, serve, realistic, width):
    """The form sent without JavaScript's checks: the server's word on a
    mistake is beside its field, in view."""
    server = serve(realistic)
    set_width(chromium, width, 800)
    chromium.get(
        server.url + "/realistic/-/bsky-export?format=json&start_date=2024-05-02"
        "&end_date=2024-05-01"
    )
    assert field_error(chromium, "bsky-export-end") == [
        "true",
        "bsky-export-end-error",
        "end date 2024-05-01 is before start date 2024-05-02",
    ]
    assert outside_viewport(chromium, "bsky-export-end-error") == []
    assert chromium.execute_script("return document.activeElement.id") == "bsky-export-end"
    assert overflow(chromium) == [0, []]
    assert axe_violations(chromium) == []
    screenshot(chromium, "error")


def set_date(driver, field_id, value):
    driver.execute_script(
        "const field = document.getElementById(arguments[0]); field.value = arguments[1];"
        "field.dispatchEvent(new Event('change', {bubbles: true}));",
        field_id,
        value,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_form_mistakes_are_shown_before_any_request(chromium, serve, realistic, width):
    from selenium.webdriver.common.by import By

    server = serve(realistic)
    set_width(chromium, width, 800)
    chromium.get(server.url + "/realistic/-/bsky-export")
    submit = chromium.find_element(By.ID, "bsky-export-submit")
    set_date(chromium, "bsky-export-start", "2024-05-02")
    set_date(chromium, "bsky-export-end", "2024-05-01")
    submit.click()
    reversed_dates = "end date 2024-05-01 is before start date 2024-05-02"
    assert field_error(chromium, "bsky-export-end") == [
        "true",
        "bsky-export-end-error",
        reversed_dates,
    ]
    assert field_error(chromium, "bsky-export-start") == [None, None, None]
    assert chromium.execute_script("return document.activeElement.id") == "bsky-export-end"
    assert outside_viewport(chromium, "bsky-export-end-error") == []
    assert not chromium.find_element(By.ID, "bsky-export-status").is_displayed()
    assert overflow(chromium) == [0, []]
    assert axe_violations(chromium) == []
    screenshot(chromium, "mistake", full_page=False)
    set_date(chromium, "bsky-export-start", "")  # corrected: the mistake goes
    assert field_error(chromium, "bsky-export-end") == [None, None, None]
    start = chromium.find_element(By.ID, "bsky-export-start")
    start.send_keys("02302024")  # no such day: the date field holds no value
    assert start.get_attribute("value") == ""
    submit.click()
    assert field_error(chromium, "bsky-export-start")[2] == (
        "start date is not a complete, real date: complete it or clear it"
    )
    chromium.get(server.url + "/realistic/-/bsky-export?did=did:plc:nobody")
    nobody = "No posts of 'did:plc:nobody' in this archive"
    assert field_error(chromium, "bsky-export-did") == ["true", "bsky-export-did-error", nobody]
    did = chromium.find_element(By.ID, "bsky-export-did")
    assert did.get_attribute("value") == "did:plc:nobody"
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert field_error(chromium, "bsky-export-did")[2] == nobody
    assert outside_viewport(chromium, "bsky-export-did-error") == []
    assert axe_violations(chromium) == []
    screenshot(chromium, "unknown-did", full_page=False)
    assert export_requests(server) == []


def test_a_mistake_the_server_finds_is_shown_beside_its_field(chromium, serve, realistic):
    """A DID the page's checks let through (too long): the form's target, the
    page in a hidden frame, answers 400 with the mistake beside the field,
    and the page shows it beside its own field."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = serve(realistic)
    chromium.get(server.url + "/realistic/-/bsky-export")
    chromium.execute_script(
        "const did = document.getElementById('bsky-export-did');"
        "did.options[1].value = 'did:plc:' + 'x'.repeat(3000); did.selectedIndex = 1;"
    )
    chromium.find_element(By.ID, "bsky-export-submit").click()
    message = "did must be at most 2048 characters, without control characters"
    WebDriverWait(chromium, 20).until(lambda d: field_error(d, "bsky-export-did")[2] == message)
    assert field_error(chromium, "bsky-export-did")[:2] == ["true", "bsky-export-did-error"]
    assert not chromium.find_element(By.ID, "bsky-export-status").is_displayed()
    assert chromium.find_element(By.ID, "bsky-export-submit").is_enabled()
    sent = [
        line for line in server.output().splitlines() if "GET /realistic/-/bsky-export?" in line
    ]
    assert len(sent) == 1 and '" 400 ' in sent[0], sent
    assert export_requests(server) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_failure_before_the_first_byte_stops_the_bar(chromium, serve, tmp_path, width):
    """The first row the legacy rejects: the download never starts; the page
    says so, in view, with the post and column, and its bar stands still."""
    from selenium.webdriver.common.by import By

    path = tmp_path / "rejects.db"
    shutil.copyfile(FIXTURES / "rejects.db", path)
    server = serve(path)
    set_width(chromium, width, 800)
    chromium.get(server.url + "/rejects/-/bsky-export?did=did:plc:rej-text-null")
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "failed"
    assert text_of(chromium, "bsky-export-status-title") == "Export failed"
    assert text_of(chromium, "bsky-export-outcome") == (
        "The export failed: post at://did:plc:rej-text-null/app.bsky.feed.post/3kmefidp6w2j4: "
        "column text: is NULL; the legacy format needs a string here"
    )
    assert chromium.execute_script(
        "const bar = document.getElementById('bsky-export-bar');"
        "return [bar.matches(':indeterminate'), bar.value, bar.max];"
    ) == [False, 0, 1]
    assert outside_viewport(chromium, "bsky-export-outcome") == []
    assert outside_viewport(chromium, "bsky-export-status-title") == []
    assert not chromium.find_element(By.ID, "bsky-export-cancel").is_displayed()
    assert chromium.find_element(By.ID, "bsky-export-submit").is_enabled()
    assert overflow(chromium) == [0, []]
    assert axe_violations(chromium) == []
    screenshot(chromium, "failed-first-byte", full_page=False)


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
