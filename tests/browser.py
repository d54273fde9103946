"""The end-to-end harness: a real ``datasette serve`` on 127.0.0.1, headless
Chromium driven by Selenium, and axe-core injected into its pages. Its
fixtures (``chromium``, ``serve``) reach the tests through ``conftest.py``.

Needs Debian's ``chromium`` and ``chromium-driver``, PyPI's ``selenium`` and
npm's ``axe-core`` (``npm install --prefix tests``, as ``.ci/run`` does).
Without them the browser tests skip, unless the environment variable CI is
set: then they fail. With ``BSKY_SCREENSHOTS=<folder>`` set, the page tests
save screenshots of each state there.
"""

import http.client
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
AXE = pathlib.Path(__file__).parent / "node_modules/axe-core/axe.min.js"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    "--hide-scrollbars",
]
IN_PROGRESS, COMPLETE = 0, 1  # Chromium's downloads.mojom State


def browser_missing():
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed"
    if not CHROMIUM:
        return "chromium is not installed"
    if not os.path.exists(CHROMEDRIVER):
        return "chromium-driver is not installed"
    return None


def require(missing):
    if missing:
        if os.environ.get("CI"):
            pytest.fail("CI is set and %s: the end-to-end test cannot run" % missing)
        pytest.skip(missing)


@pytest.fixture
def chromium(tmp_path):
    require(browser_missing())
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ["--user-data-dir=%s" % (tmp_path / "profile")]:
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        driver.downloads = downloads
        yield driver
    finally:
        driver.quit()


def set_width(driver, width, height=1000):
    """The viewport ``width`` CSS pixels wide (as a phone or a desktop window)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_args(config, path):
    """The command-line options that give ``datasette serve`` this configuration
    (plugin settings, permissions) on this Datasette version."""
    if not config:
        return []
    path.write_text(json.dumps(config))
    import datasette.version

    if datasette.version.__version__.startswith("0."):
        return ["--metadata", str(path)]
    return ["--config", str(path)]


def stop_group(proc, log):
    """Ends the process group of ``proc`` (SIGTERM, SIGKILL after 10 s) and
    closes its log."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()


def get(server, path):
    """(status, body) of a GET of ``path`` from ``server``."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """``datasette serve`` of one archive on 127.0.0.1, stopped afterwards
    (``path`` None: ``args`` name the databases, as ``-i`` does; ``python``:
    the interpreter of the environment to serve from)."""

    def __init__(self, path, log_path, args=(), python=sys.executable):
        self.port = free_port()
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                python,
                "-m",
                "datasette",
                "serve",
                *([] if path is None else [str(path)]),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
        stop_group(self.proc, self.log)


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(path, config=None, args=()):
        args = config_args(config, tmp_path / ("config-%d.json" % len(servers))) + list(args)
        servers.append(Server(path, tmp_path / ("server-%d.log" % len(servers)), args))
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
    raise AssertionError(
        "no complete %s in %s: %s" % (name, directory, sorted(os.listdir(directory)))
    )


def download_items(driver):
    """(file name, state, reason) of each download, from chrome://downloads."""
    driver.get("chrome://downloads")
    return driver.execute_script(
        "const m = document.querySelector('downloads-manager');"
        "const list = m && m.shadowRoot.querySelector('#downloadsList');"
        "return list ? list.items.map(i => [i.fileName, i.state, i.lastReasonText]) : null;"
    )


def axe_violations(driver):
    """axe-core's serious and critical violations in the page's own content
    (Datasette's ``section.content``): ``[(rule id, [html of each node])]``."""
    require(None if AXE.exists() else "axe-core is not installed (npm install --prefix tests)")
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document.querySelector('section.content'), {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => [v.id, v.impact, v.nodes.map(n => n.html)])),"
        "      e => done(String(e)));"
    )
    assert isinstance(result, list), result
    return [(rule, nodes) for rule, impact, nodes in result if impact in ("serious", "critical")]


def overflow(driver):
    """How far the page is wider than the viewport, and the elements of the
    page's content that stick out of it or whose content spills out of them
    (tag#id.class and right edge)."""
    return driver.execute_script(
        "const w = document.documentElement.clientWidth;"
        "const out = [];"
        "for (const el of document.querySelectorAll('section.content *')) {"
        "  const r = el.getBoundingClientRect();"
        "  const spill = el.scrollWidth > el.clientWidth + 1"
        "    && getComputedStyle(el).overflowX === 'visible';"
        "  if ((r.width && r.right > w + 0.5) || spill) out.push("
        "    el.tagName + '#' + el.id + '.' + el.className + ' ' + Math.round(r.right));"
        "}"
        "return [document.documentElement.scrollWidth - w, out];"
    )


def outside_viewport(driver, element_id):
    """How the element sticks out of the viewport: [] if it is wholly in
    view (to within half a pixel: layout is fractional, scrolling whole
    pixels), else its bounding rect and the viewport's size."""
    return driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "const w = document.documentElement.clientWidth, h = window.innerHeight;"
        "const inside = r.width > 0 && r.height > 0 && r.top >= -0.5 && r.left >= -0.5"
        "  && r.bottom <= h + 0.5 && r.right <= w + 0.5;"
        "return inside ? [] : [r.top, r.right, r.bottom, r.left, w, h];",
        element_id,
    )


def screenshot(driver, name, full_page=True):
    """Saves the page (or only the viewport, as the user sees it) as
    ``<BSKY_SCREENSHOTS>/<name>-<Datasette version>-<width>.png`` when that
    is set."""
    folder = os.environ.get("BSKY_SCREENSHOTS")
    if folder:
        import datasette.version

        os.makedirs(folder, exist_ok=True)
        width = driver.execute_script("return document.documentElement.clientWidth")
        if full_page:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            set_width(driver, width, min(max(600, height), 1200))
        driver.save_screenshot(
            os.path.join(folder, "%s-%s-%d.png" % (name, datasette.version.__version__, width))
        )
