"""End to end against a real ``datasette serve`` on 127.0.0.1: headless
Chromium downloads through the export page and gets the golden bytes; a
download that fails part way is a failed transfer for an HTTP client and for
the browser, and the server log names the post and column.

Needs Debian's ``chromium`` and ``chromium-driver`` and PyPI's ``selenium``.
Without them the browser tests skip, unless the environment variable CI is
set: then they fail.
"""

import http.client
import importlib.util
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import sqlite_utils

from helpers import FIXTURES

DID1 = "did:plc:bannd6yz2emrvftva2hipgad"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def browser_missing():
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed"
    if not CHROMIUM:
        return "chromium is not installed"
    if not os.path.exists(CHROMEDRIVER):
        return "chromium-driver is not installed"
    return None


@pytest.fixture
def chromium(tmp_path):
    missing = browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail("CI is set and %s: the end-to-end test cannot run" % missing)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ["--user-data-dir=%s" % (tmp_path / "profile")]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(downloads)})
        driver.downloads = downloads
        yield driver
    finally:
        driver.quit()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``datasette serve`` of one archive on 127.0.0.1, stopped afterwards."""

    def __init__(self, path, log_path):
        self.port = free_port()
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "datasette", "serve", str(path), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.log_path = log_path
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("datasette serve exited: %s" % self.output())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/-/versions.json")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    def output(self):
        self.log.flush()
        return pathlib.Path(self.log_path).read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(path):
        servers.append(Server(path, tmp_path / ("server-%d.log" % len(servers))))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def wait_for_download(directory, name, timeout=60):
    path = directory / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partial = list(directory.glob("*.crdownload"))
        if path.exists() and not partial:
            return path
        time.sleep(0.2)
    raise AssertionError("no complete %s in %s: %s" % (name, directory,
                                                       sorted(os.listdir(directory))))


def corrupt_second_page(tmp_path):
    """realistic.db with a NULL text in post 1,200 of the export order (the
    second page of 1,000): the export fails after its first byte."""
    path = tmp_path / "broken.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    db = sqlite_utils.Database(path)
    uri, did = db.execute("SELECT uri, did FROM posts ORDER BY created_at DESC, uri ASC "
                          "LIMIT 1 OFFSET 1200").fetchone()
    db["posts"].update(uri, {"text": None})
    db.close()
    assert did != DID1
    return path, uri


def test_export_page_downloads_the_golden(chromium, serve, tmp_path):
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
    downloaded = wait_for_download(chromium.downloads, "posts.json")
    assert downloaded.read_bytes() == (FIXTURES / "expected/realistic-did1.json").read_bytes()


def download_items(driver):
    """(file name, state, reason) of each download, from chrome://downloads."""
    driver.get("chrome://downloads")
    return driver.execute_script(
        "const m = document.querySelector('downloads-manager');"
        "const list = m && m.shadowRoot.querySelector('#downloadsList');"
        "return list ? list.items.map(i => [i.fileName, i.state, i.lastReasonText]) : null;")


IN_PROGRESS, COMPLETE = 0, 1  # Chromium's downloads.mojom State


def test_browser_download_failing_part_way_is_not_completed(chromium, serve, tmp_path):
    from selenium.webdriver.common.by import By

    path, uri = corrupt_second_page(tmp_path)
    server = serve(path)
    chromium.get(server.url + "/broken/-/bsky-export")
    chromium.find_element(By.ID, "bsky-export-csv").click()
    chromium.find_element(By.ID, "bsky-export-submit").click()
    deadline = time.monotonic() + 30
    while True:
        items = download_items(chromium)
        if items and items[0][1] != IN_PROGRESS:
            break
        assert time.monotonic() < deadline, items
        time.sleep(0.3)
    (name, state, reason), = items
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
    done = subprocess.run([curl, "-sS", "-o", str(out),
                           server.url + "/broken/-/bsky-export/posts.json"],
                          capture_output=True, timeout=60)
    assert done.returncode == 18, done.stderr  # CURLE_PARTIAL_FILE
    ok = subprocess.run([curl, "-sS", "-o", str(out), "-w", "%{http_code}",
                         server.url + "/broken/-/bsky-export/posts.json?did=" + DID1],
                        capture_output=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout == b"200"
