"""End to end against a real ``datasette serve`` on 127.0.0.1: headless
Chromium downloads through the export page and gets the golden bytes; a
download that fails part way is a failed transfer for an HTTP client and for
the browser, and the server log names the post and column.

The harness (server, browser, skips) is ``browser.py``.
"""

import http.client
import json
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
import sqlite_utils

from browser import (
    COMPLETE,
    IN_PROGRESS,
    axe_violations,
    download_items,
    outside_viewport,
    overflow,
    screenshot,
    set_width,
    wait_for_download,
)
from helpers import DID1, FIXTURES

BENCHMARKS = pathlib.Path(__file__).parent.parent / "benchmarks"


def corrupt_second_page(tmp_path):
    """realistic.db with a NULL text in post 1,200 of the export order (the
    second page of 1,000): the export fails after its first byte."""
    path = tmp_path / "broken.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    db = sqlite_utils.Database(path)
    uri, did = db.execute(
        "SELECT uri, did FROM posts ORDER BY created_at DESC, uri ASC LIMIT 1 OFFSET 1200"
    ).fetchone()
    db["posts"].update(uri, {"text": None})
    db.close()
    assert did != DID1
    return path, uri


def wait_for_state(driver, states=("done", "failed", "cancelled", "unavailable"), timeout=60):
    """The export page's status once it is one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        state = driver.execute_script(
            "return document.getElementById('bsky-export-status').getAttribute('data-state')"
        )
        if state in states:
            return state
        assert time.monotonic() < deadline, "the page is still %r" % state
        time.sleep(0.1)


def fits_at_both_widths(driver, name):
    """No horizontal overflow at a phone's and a desktop's width (and, with
    BSKY_SCREENSHOTS set, a screenshot at each)."""
    for width in (420, 1280):
        set_width(driver, width)
        assert overflow(driver) == [0, []], width
        screenshot(driver, name)


def text_of(driver, element_id):
    return driver.execute_script(
        "return document.getElementById(arguments[0]).textContent", element_id
    )


def test_export_page_downloads_the_golden_with_progress(chromium, serve, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path = tmp_path / "realistic.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    server = serve(path)
    chromium.get(server.url + "/realistic/posts")
    link = chromium.find_element(By.CSS_SELECTOR, 'a[href="/realistic/-/bsky-export"]')
    chromium.get(link.get_attribute("href"))  # the table action, from the actions menu
    assert chromium.title == "Export posts: realistic"
    Select(chromium.find_element(By.ID, "bsky-export-did")).select_by_value(DID1)
    chromium.find_element(By.ID, "bsky-export-json").click()
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "done"
    golden = (FIXTURES / "expected/realistic-did1.json").read_bytes()
    assert text_of(chromium, "bsky-export-numbers").startswith(
        "107 of 107 posts · %.1f KB" % (len(golden) / 1000)
    )
    assert chromium.execute_script("return document.getElementById('bsky-export-bar').value") == 107
    assert not chromium.find_element(By.ID, "bsky-export-cancel").is_displayed()
    fits_at_both_widths(chromium, "done")
    downloaded = wait_for_download(chromium.downloads, "posts_carol.bsky.social.json")
    assert downloaded.read_bytes() == golden  # saved under the name the server gave
    assert "progress=" in server.output()  # the download carried the page's progress id


def test_page_shows_a_rejected_row_and_the_download_fails(chromium, serve, tmp_path):
    from selenium.webdriver.common.by import By

    path, uri = corrupt_second_page(tmp_path)
    server = serve(path)
    chromium.get(server.url + "/broken/-/bsky-export")
    chromium.find_element(By.ID, "bsky-export-csv").click()
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "failed"
    outcome = chromium.find_element(By.ID, "bsky-export-outcome")
    assert uri in outcome.text and "column text" in outcome.text, outcome.text
    assert outcome.get_attribute("class") == "message-error"
    assert axe_violations(chromium) == []
    fits_at_both_widths(chromium, "failed")
    deadline = time.monotonic() + 30
    while True:
        items = download_items(chromium)
        if items and items[0][1] != IN_PROGRESS:
            break
        assert time.monotonic() < deadline, items
        time.sleep(0.3)
    ((name, state, reason),) = items
    assert name == "posts.csv" and state != COMPLETE
    assert reason.startswith("Failed"), reason  # "Failed - Network error"
    assert not (chromium.downloads / "posts.csv").exists()
    assert uri in server.output()


def test_http_client_sees_an_incomplete_transfer(serve, tmp_path):
    path, uri = corrupt_second_page(tmp_path)
    server = serve(path)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/broken/-/bsky-export/posts.json")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("transfer-encoding") == "chunked"
    with pytest.raises(http.client.IncompleteRead) as raised:
        response.read()
    assert raised.value.partial.startswith(b"[\n  {")
    conn.close()
    log = server.output()
    assert uri in log and "column text" in log


def test_curl_reports_a_failed_download(serve, tmp_path):
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl is not installed")
    path, uri = corrupt_second_page(tmp_path)
    server = serve(path)
    out = tmp_path / "posts.json"
    done = subprocess.run(
        [curl, "-sS", "-o", str(out), server.url + "/broken/-/bsky-export/posts.json"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 18, done.stderr  # CURLE_PARTIAL_FILE
    ok = subprocess.run(
        [
            curl,
            "-sS",
            "-o",
            str(out),
            "-w",
            "%{http_code}",
            server.url + "/broken/-/bsky-export/posts.json?did=" + DID1,
        ],
        capture_output=True,
        timeout=60,
    )
    assert ok.returncode == 0 and ok.stdout == b"200"


@pytest.fixture(scope="session")
def big_archive(tmp_path_factory):
    """30,000 posts from the benchmark's generator: about 30 MB of JSON."""
    path = tmp_path_factory.mktemp("big") / "big.db"
    subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "make_archive.py"),
            str(path),
            "--posts",
            "30000",
            "--dids",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    return path


def throttle(driver, bytes_per_second):
    """Chromium's network emulation: downloads arrive this fast at most."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": bytes_per_second,
            "uploadThroughput": -1,
        },
    )


def fetch_json(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    try:
        return json.loads(response.read())
    finally:
        conn.close()


def progress_of(driver):
    return driver.execute_script(
        "return [document.getElementById('bsky-export-bar').value,"
        " document.getElementById('bsky-export-numbers').textContent]"
    )


def test_cancel_mid_way_cuts_the_download_off(chromium, serve, big_archive):
    from selenium.webdriver.common.by import By

    server = serve(big_archive)
    # datasette-gzip (a test extra) sends the JSON about 7 times smaller: slow
    # enough that the cancel lands well before the end
    throttle(chromium, 150_000)
    chromium.get(server.url + "/big/-/bsky-export")
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium, ("running",)) == "running"
    deadline = time.monotonic() + 30
    while progress_of(chromium)[0] < 2000:
        assert time.monotonic() < deadline, progress_of(chromium)
        time.sleep(0.1)
    while " posts/s · about " not in progress_of(chromium)[1]:  # after a few polls
        assert time.monotonic() < deadline, progress_of(chromium)
        time.sleep(0.1)
    posts, numbers = progress_of(chromium)
    assert " of 30,000 posts · " in numbers and " posts/s · about " in numbers, numbers
    assert axe_violations(chromium) == []
    fits_at_both_widths(chromium, "running")
    chromium.find_element(By.ID, "bsky-export-cancel").click()
    assert wait_for_state(chromium) == "cancelled"
    stopped_at = progress_of(chromium)[0]
    assert 2000 <= stopped_at < 30000
    outcome = chromium.find_element(By.ID, "bsky-export-outcome").text
    assert outcome.startswith("Cancelled after %s of 30,000 posts." % format(stopped_at, ","))
    fits_at_both_widths(chromium, "cancelled")
    assert "ASGI callable returned without completing response" in server.output()
    progress_id = chromium.execute_script(
        "return document.getElementById('bsky-export-progress-id').value"
    )
    time.sleep(1)  # no page runs after the cancel: the server's count stays
    entry = fetch_json(server, "/big/-/bsky-export/progress/%s.json" % progress_id)
    assert (entry["state"], entry["posts"], entry["total"]) == ("cancelled", stopped_at, 30000)
    items = download_items(chromium)
    ((name, state, reason),) = items
    assert name == "posts.json" and state != COMPLETE, items
    assert not (chromium.downloads / "posts.json").exists()


@pytest.mark.parametrize("width", [1280, 420])
def test_a_running_download_keeps_cancel_in_view(chromium, serve, big_archive, width):
    """The status and Cancel come into view when the download starts, on a
    desktop's and a phone's screen."""
    from selenium.webdriver.common.by import By

    server = serve(big_archive)
    throttle(chromium, 150_000)
    set_width(chromium, width, 800)
    chromium.get(server.url + "/big/-/bsky-export")
    submit = chromium.find_element(By.ID, "bsky-export-submit")
    chromium.execute_script("arguments[0].scrollIntoView({block: 'end'})", submit)
    assert outside_viewport(chromium, "bsky-export-submit") == []
    assert outside_viewport(chromium, "bsky-export-cancel") != []  # the page must scroll
    submit.click()
    assert wait_for_state(chromium, ("running",)) == "running"
    for element_id in ("bsky-export-status-title", "bsky-export-bar", "bsky-export-cancel"):
        assert outside_viewport(chromium, element_id) == [], element_id
    assert overflow(chromium) == [0, []]
    screenshot(chromium, "running-in-view", full_page=False)
    chromium.find_element(By.ID, "bsky-export-cancel").click()
    assert wait_for_state(chromium) == "cancelled"
    assert outside_viewport(chromium, "bsky-export-outcome") == []


def test_download_goes_on_when_progress_is_unreachable(chromium, serve, tmp_path):
    from selenium.webdriver.common.by import By

    path = tmp_path / "realistic.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    server = serve(path)
    chromium.execute_cdp_cmd("Network.enable", {})
    chromium.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/-/bsky-export/progress/*"]})
    chromium.get(server.url + "/realistic/-/bsky-export")
    chromium.find_element(By.ID, "bsky-export-csv").click()
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "unavailable"
    assert text_of(chromium, "bsky-export-outcome").startswith(
        "Live progress is unavailable from this server. The download goes on"
    )
    downloaded = wait_for_download(chromium.downloads, "posts.csv")
    assert downloaded.read_bytes() == (FIXTURES / "expected/realistic-all.csv").read_bytes()


def test_no_matching_posts_says_what_the_legacy_said(chromium, serve, tmp_path):
    from selenium.webdriver.common.by import By

    path = tmp_path / "realistic.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    server = serve(path)
    chromium.get(server.url + "/realistic/-/bsky-export")
    chromium.execute_script("document.getElementById('bsky-export-start').value = '2099-01-01'")
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "done"
    assert text_of(chromium, "bsky-export-outcome") == (
        "No posts found in your archive matching the selected criteria. Try adjusting your "
        "date range or archive some posts first."
    )
    saved = wait_for_download(chromium.downloads, "posts_from_2099-01-01.json")
    assert saved.read_bytes() == b"[]\n"
