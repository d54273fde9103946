"""The export page in headless Chromium on a real ``datasette serve``: its
layout at a phone's and a desktop's width, axe-core on its content in every
state, the way in from the posts table, and what it says to an actor who
must sign in. The downloads it starts are tested in ``test_browser.py``.
"""

import shutil

import pytest

from browser import (  # noqa: F401 (chromium and serve are fixtures)
    axe_violations, chromium, overflow, screenshot, serve, set_width)
from helpers import FIXTURES

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
        "return bad;")


@pytest.mark.parametrize("width", WIDTHS)
def test_idle_page_fits_and_is_accessible(chromium, serve, realistic, width):
    server = serve(realistic)
    set_width(chromium, width)
    chromium.get(server.url + "/realistic/-/bsky-export")
    assert overflow(chromium) == [0, []]
    assert labels_in_word_columns(chromium) == []
    assert axe_violations(chromium) == []
    screenshot(chromium, "idle")


@pytest.mark.parametrize("width", WIDTHS)
def test_error_state_fits_and_is_accessible(chromium, serve, realistic, width):
    server = serve(realistic)
    set_width(chromium, width)
    chromium.get(server.url + "/realistic/-/bsky-export?format=json&start_date=2024-05-02"
                 "&end_date=2024-05-01")
    from selenium.webdriver.common.by import By

    error = chromium.find_element(By.ID, "bsky-export-error")
    assert error.text == "end date 2024-05-01 is before start date 2024-05-02"
    assert overflow(chromium) == [0, []]
    assert axe_violations(chromium) == []
    screenshot(chromium, "error")
