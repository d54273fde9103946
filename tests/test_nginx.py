"""Behind a real nginx, as README's Deploying section configures it (issue 17):
a real ``datasette serve`` of each Datasette line, with and without
``base_url``, behind nginx running README's two ``location`` blocks (read from
README.md, ``nginx.py``), on 127.0.0.1.

Good downloads arrive byte for byte as they leave Datasette; a failed or a
cancelled one is a failed transfer for curl, wget and Chromium; the export
page's progress and Cancel work through the proxy; nginx spools nothing to
disk and the progress stays with the client; the first byte of a 200,000-post
export comes within a second; without ``proxy_http_version 1.1`` a download
is a 505 that says what to add. ``datasette-gzip`` (test extras) runs in
every server here: a gzipped failed stream fails for ``curl --compressed``.
"""

import http.client
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import zipfile

import pytest
import sqlite_utils

from browser import COMPLETE, IN_PROGRESS, Server, download_items, require, wait_for_download
from datasette_bsky_export import streaming
from helpers import DID1, FIXTURES
from nginx import README_UPSTREAM, readme_locations, start
from test_browser import BENCHMARKS, progress_of, text_of, throttle, wait_for_state

BIG_POSTS = 200_000
PREFIX = {"plain": "", "base_url": "/archive"}  # the two sites of README
DOWNLOADS = {
    "json": "posts.json?did=" + DID1,
    "csv": "posts.csv?did=" + DID1,
    "zip": "export.zip?format=csv&did=" + DID1,
}
GZIP_TYPES = ["application/json", "text/csv", "application/zip"]  # nginx's gzip, told to try all
CURL = shutil.which("curl")
WGET = shutil.which("wget")


@pytest.fixture(scope="session")
def archive_200k(tmp_path_factory):
    """200,000 posts from the benchmark's generator (about 245 MB of JSON),
    built once per session."""
    path = tmp_path_factory.mktemp("archive-200k") / "big.db"
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "make_archive.py"), str(path), "--posts", str(BIG_POSTS)],
        check=True,
        capture_output=True,
    )
    return path


def break_oldest_post(path):
    """A NULL text in the oldest post: the export fails on its last page,
    long after its first byte. Returns the post's uri."""
    db = sqlite_utils.Database(path)
    ((uri,),) = db.execute("SELECT uri FROM posts ORDER BY created_at ASC, uri DESC LIMIT 1")
    db["posts"].update(uri, {"text": None})
    db.close()
    return uri


class Stack:
    """Two ``datasette serve`` (one under ``base_url``) of realistic, broken
    and big, and one nginx with five sites: README's two blocks, and README's
    first block without ``proxy_http_version 1.1``, ignoring
    ``X-Accel-Buffering`` (to see what that header prevents), or with nginx's
    own gzip on for the download's types."""

    def __init__(self):
        self.servers = []
        self.nginx = None

    def start(self, folder, big):
        realistic = folder / "realistic.db"
        shutil.copyfile(FIXTURES / "realistic.db", realistic)
        broken = folder / "broken.db"
        shutil.copyfile(FIXTURES / "realistic.db", broken)
        self.broken_uri = break_oldest_post(broken)
        dbs = [str(broken), str(big)]
        self.servers.append(Server(realistic, folder / "plain.log", dbs))
        self.direct = self.servers[0]
        base_url = ["--setting", "base_url", "/archive/"]
        self.servers.append(Server(realistic, folder / "base_url.log", dbs + base_url))
        self.direct_urls = {"plain": self.direct.url, "base_url": self.servers[1].url + "/archive"}
        self.logs = {"plain": self.servers[0].output, "base_url": self.servers[1].output}
        blocks = readme_locations()
        plain = blocks["/"]
        http10 = plain.replace("    proxy_http_version 1.1;\n", "")
        spooling = plain.replace("}", "    proxy_ignore_headers X-Accel-Buffering;\n}")
        gzip = plain.replace(  # nginx's gzip, with Datasette's left out
            "}",
            '    proxy_set_header Accept-Encoding "";\n    gzip on;\n    gzip_types %s;\n}'
            % " ".join(GZIP_TYPES),
        )
        assert http10 != plain and spooling != plain and gzip != plain
        self.nginx = start(
            folder / "nginx",
            {
                "plain": (plain, self.direct.url),
                "base_url": (blocks["/archive/"], self.servers[1].url),
                "http10": (http10, self.direct.url),
                "spooling": (spooling, self.direct.url),
                "gzip": (gzip, self.direct.url),
            },
        )

    def url(self, site, db, path=""):
        """The URL of ``path`` under database ``db``'s export page, through nginx."""
        prefix = PREFIX.get(site, "")
        return "%s%s/%s/-/bsky-export%s" % (self.nginx.url(site), prefix, db, path)

    def direct_url(self, site, db, path=""):
        """The same, straight from the site's Datasette."""
        return "%s/%s/-/bsky-export%s" % (self.direct_urls[site], db, path)

    def stop(self):
        if self.nginx is not None:
            self.nginx.stop()
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, archive_200k):
    built = Stack()
    try:
        built.start(tmp_path_factory.mktemp("stack"), archive_200k)
        yield built
    finally:
        built.stop()


def fetch(url):
    """(status, headers, body) of a GET with http.client."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def zip_entries(body):
    """The ZIP's entries, the manifest's export_timestamp blanked."""
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries["manifest.json"])
    manifest["export_timestamp"] = None
    entries["manifest.json"] = manifest
    return entries


def run(args, timeout=120):
    return subprocess.run(args, capture_output=True, timeout=timeout)


def need(tool, name):
    require(None if tool else "%s is not installed" % name)


# --------------------------------------------------------------------------
# README's configuration


def test_readme_shows_the_configuration_the_tests_run():
    blocks = readme_locations()
    assert sorted(blocks) == ["/", "/archive/"]
    for block in blocks.values():
        assert "proxy_pass %s;" % README_UPSTREAM in block  # no path: the URL passes as sent
        assert "proxy_http_version 1.1;" in block
        assert "proxy_buffering" not in block  # buffering left on: the header turns it off


# --------------------------------------------------------------------------
# Good, failed and cancelled downloads


@pytest.mark.parametrize("kind", DOWNLOADS)
@pytest.mark.parametrize("site", PREFIX)
def test_good_download_is_byte_identical(stack, site, kind):
    status, headers, body = fetch(stack.url(site, "realistic", "/" + DOWNLOADS[kind]))
    direct = fetch(stack.direct_url(site, "realistic", "/" + DOWNLOADS[kind]))
    assert status == direct[0] == 200
    assert headers["transfer-encoding"] == "chunked"
    assert "x-accel-buffering" not in headers  # read by nginx, not passed on
    if kind == "zip":
        assert headers["content-encoding"] == "identity"
        assert zip_entries(body) == zip_entries(direct[2])
        golden = (FIXTURES / "expected/realistic-did1.csv").read_bytes()
        assert zip_entries(body)["posts.csv"] == golden
    else:
        assert body == direct[2] == (FIXTURES / ("expected/realistic-did1." + kind)).read_bytes()


def clients(out):
    """The command lines README recommends, saving to ``out``."""
    return {
        "curl": [CURL, "--fail", "-sS", "-o", str(out)],
        "wget": [WGET, "-q", "--tries=1", "-O", str(out)],
    }


@pytest.mark.parametrize("client", ["curl", "wget"])
@pytest.mark.parametrize("kind", DOWNLOADS)
@pytest.mark.parametrize("site", PREFIX)
def test_failed_download_fails_for_curl_and_wget(stack, tmp_path, site, kind, client):
    need(CURL if client == "curl" else WGET, client)
    out = tmp_path / "out"
    command = clients(out)[client]
    path = "/" + DOWNLOADS[kind].split("?")[0]
    failed = run(command + [stack.url(site, "broken", path)])
    if client == "curl":
        assert failed.returncode == 18, failed.stderr  # CURLE_PARTIAL_FILE
    else:
        assert failed.returncode == 4, failed.stderr  # network failure
    assert stack.broken_uri in stack.logs[site]()
    good = run(command + [stack.url(site, "broken", "/" + DOWNLOADS[kind])])  # not the bad post
    assert good.returncode == 0, good.stderr
    body = zip_entries(out.read_bytes())["posts.csv"] if kind == "zip" else out.read_bytes()
    golden = "csv" if kind == "zip" else kind
    assert body == (FIXTURES / ("expected/realistic-did1." + golden)).read_bytes()


def test_resuming_cannot_stitch_a_partial_file(stack, tmp_path):
    """The downloads take no Range: curl -C - and wget -c refuse to add a new
    export to what a failed one left."""
    need(CURL, "curl")
    need(WGET, "wget")
    out = tmp_path / "posts.json"
    url = stack.url("plain", "broken", "/posts.json")
    assert run([CURL, "-sS", "-o", str(out), url]).returncode == 18
    partial = out.read_bytes()
    curl = run([CURL, "-sS", "-C", "-", "-o", str(out), url])
    assert curl.returncode == 33, curl.stderr  # CURLE_RANGE_ERROR: "Cannot resume"
    assert out.read_bytes() == partial
    wget = run([WGET, "-q", "-c", "--tries=1", "-O", str(out), url])
    assert wget.returncode == 4 and out.read_bytes() == partial


def page_form(url):
    """The export page's csrftoken and the cookies it set."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", parts.path)
    response = conn.getresponse()
    page = response.read().decode()
    conn.close()
    token = re.search(r'name="csrftoken" value="([^"]*)"', page).group(1)
    cookies = "; ".join(c.split(";")[0] for c in response.headers.get_all("set-cookie") or [])
    return token, cookies


def cancel(stack, site, db, progress_id):
    """POST the cancel, through nginx, as the export page's script does."""
    page = stack.url(site, db)
    token, cookies = page_form(page)
    parts = urllib.parse.urlsplit(page)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(
        "POST",
        parts.path + "/progress/%s/cancel" % progress_id,
        body=urllib.parse.urlencode({"csrftoken": token}),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "cookie": cookies,
            "origin": "%s://%s" % (parts.scheme, parts.netloc),
            "sec-fetch-site": "same-origin",
        },
    )
    response = conn.getresponse()
    answer = (response.status, response.read())
    conn.close()
    assert answer[0] == 200, answer
    return json.loads(answer[1])


def progress(stack, site, db, progress_id):
    status, _, body = fetch(stack.url(site, db, "/progress/%s.json" % progress_id))
    return json.loads(body) if status == 200 else None


def wait_for_posts(stack, site, db, progress_id, posts, proc=None):
    deadline = time.monotonic() + 60
    while True:
        entry = progress(stack, site, db, progress_id)
        if entry and (entry["posts"] >= posts or entry["state"] != "running"):
            return entry
        assert proc is None or proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, entry
        time.sleep(0.1)


@pytest.mark.parametrize("client", ["curl", "wget"])
@pytest.mark.parametrize("site", PREFIX)
def test_cancelled_download_fails_for_curl_and_wget(stack, tmp_path, site, client):
    need(CURL if client == "curl" else WGET, client)
    progress_id = "cancel-%s-%s-0123456789" % (site.replace("_", "-"), client)
    rate = ["--limit-rate", "8M"] if client == "curl" else ["--limit-rate=8m"]
    command = clients(tmp_path / "out")[client] + rate
    url = stack.url(site, "big", "/posts.json?progress=" + progress_id)
    proc = subprocess.Popen(command + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_posts(stack, site, "big", progress_id, 2000, proc)
        cancel(stack, site, "big", progress_id)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (18 if client == "curl" else 4), stderr
    entry = progress(stack, site, "big", progress_id)
    assert entry["state"] == "cancelled" and 2000 <= entry["posts"] < BIG_POSTS, entry
    assert (tmp_path / "out").stat().st_size <= entry["bytes"]  # a partial file


# --------------------------------------------------------------------------
# HTTP/1.0 upstream


@pytest.mark.parametrize("kind", DOWNLOADS)
def test_nginx_without_http11_gets_505(stack, kind):
    status, headers, body = fetch(stack.url("http10", "realistic", "/" + DOWNLOADS[kind]))
    assert status == 505
    assert json.loads(body) == {"ok": False, "error": streaming.HTTP10_REFUSED, "status": 505}
    assert "proxy_http_version 1.1;" in json.loads(body)["error"]
    for path in ("", "/media.json?did=" + DID1):  # the page and its media count still answer
        assert fetch(stack.url("http10", "realistic", path))[0] == 200


def test_curl_sees_the_505(stack, tmp_path):
    need(CURL, "curl")
    out = tmp_path / "out"
    done = run(clients(out)["curl"] + [stack.url("http10", "broken", "/posts.csv")])
    assert done.returncode == 22 and b"505" in done.stderr, done.stderr  # CURLE_HTTP_RETURNED_ERROR
    assert not out.exists()


# --------------------------------------------------------------------------
# Streaming through nginx's buffering (17.2)


def socket_window():
    """The most the sockets between the client and Datasette can hold: the
    kernel's largest send buffer on both hops, its largest receive buffer at
    nginx, and our client's small one."""
    wmem = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
    rmem = int(open("/proc/sys/net/ipv4/tcp_rmem").read().split()[2])
    return 2 * wmem + rmem + 2 * streaming.MESSAGE_SIZE


def send_get(url, receive_buffer=None):
    """A socket that has sent a GET of ``url`` (and has this receive buffer)."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    request = "GET %s?%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (parts.path, parts.query)
    sock.sendall(request.encode())
    return sock


def stall(url, received=256 * 1024):
    """A client that reads ``received`` bytes of ``url``, then stops reading.
    Returns its socket and the bytes it read."""
    sock = send_get(url, receive_buffer=64 * 1024)
    got = 0
    while got < received:
        data = sock.recv(64 * 1024)
        assert data, "the download ended early"
        got += len(data)
    return sock, got


def settled(stack, progress_id):
    """The progress once it stops moving (or its download ended)."""
    entry = progress(stack, "plain", "big", progress_id)
    deadline = time.monotonic() + 60
    while True:
        time.sleep(1)
        now = progress(stack, "plain", "big", progress_id)
        if now == entry or now["state"] != "running":
            return now
        assert time.monotonic() < deadline, now
        entry = now


def test_nginx_streams_without_a_temp_file(stack):
    """README's block: the header keeps nginx streaming, and the progress
    stops where the client stops, give or take what the sockets hold."""
    progress_id = "stall-plain-0123456789"
    sock, received = stall(stack.url("plain", "big", "/posts.json?progress=" + progress_id))
    try:
        entry = settled(stack, progress_id)
        temp = stack.nginx.temp_bytes()
    finally:
        sock.close()
    assert temp == 0 and spooled(stack, progress_id) == []
    assert entry["state"] == "running" and entry["posts"] < BIG_POSTS
    assert entry["bytes"] - received <= socket_window(), (received, entry)


def test_without_the_header_nginx_spools_the_export(stack):
    """The same block ignoring the header: what the header prevents."""
    progress_id = "stall-spooling-0123456789"
    sock, received = stall(stack.url("spooling", "big", "/posts.json?progress=" + progress_id))
    try:
        deadline = time.monotonic() + 60
        while stack.nginx.temp_bytes() <= socket_window():
            assert time.monotonic() < deadline, stack.nginx.temp_bytes()
            time.sleep(0.2)
        entry = progress(stack, "spooling", "big", progress_id)
    finally:
        sock.close()
    assert spooled(stack, progress_id)
    assert entry["bytes"] - received > socket_window()


def spooled(stack, progress_id):
    """nginx's warnings that it buffered this download to a temporary file."""
    return [
        line
        for line in stack.nginx.errors().splitlines()
        if "progress=" + progress_id in line and "buffered to a temporary file" in line
    ]


# --------------------------------------------------------------------------
# Time to first byte on 200,000 posts


@pytest.mark.parametrize("kind", ["posts.json", "posts.csv", "export.zip"])
def test_first_byte_within_a_second(stack, kind):
    """As the export page asks: with a progress id, whose total is counted first."""
    url = stack.url(
        "plain", "big", "/%s?progress=ttfb-%s-0123456789" % (kind, kind.replace(".", "-"))
    )
    started = time.monotonic()
    sock = send_get(url)
    try:
        head = b""
        while not head.partition(b"\r\n\r\n")[2]:  # the headers and a first byte of body
            data = sock.recv(65536)
            assert data
            head += data
        first_byte = time.monotonic() - started
    finally:
        sock.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert first_byte < 1.0, first_byte


# --------------------------------------------------------------------------
# datasette-gzip, in every server here (17.4)


def test_gzip_plugin_runs_in_the_servers(stack):
    status, _, body = fetch(stack.direct.url + "/-/plugins.json")
    assert "datasette-gzip" in [p["name"] for p in json.loads(body)]


@pytest.mark.parametrize("via", ["direct", "nginx"])
def test_curl_compressed_gets_the_exact_bytes_and_sees_a_failure(stack, tmp_path, via):
    need(CURL, "curl")
    base = stack.direct_url("plain", "{db}") if via == "direct" else stack.url("plain", "{db}")
    out, head = tmp_path / "out", tmp_path / "headers"
    command = [CURL, "--compressed", "--fail", "-sS", "-D", str(head), "-o", str(out)]
    good = run(command + [base.format(db="realistic") + "/" + DOWNLOADS["json"]])
    assert good.returncode == 0
    assert "content-encoding: gzip" in head.read_text().lower()
    assert out.read_bytes() == (FIXTURES / "expected/realistic-did1.json").read_bytes()
    failed = run(command + [base.format(db="broken") + "/posts.json"])
    assert "content-encoding: gzip" in head.read_text().lower()
    assert failed.returncode == 18, failed.stderr
    zipped = run(command + [base.format(db="realistic") + "/" + DOWNLOADS["zip"]])
    assert zipped.returncode == 0
    assert "content-encoding: identity" in head.read_text().lower()
    assert (
        zip_entries(out.read_bytes())["posts.csv"]
        == (FIXTURES / "expected/realistic-did1.csv").read_bytes()
    )


@pytest.mark.parametrize("kind, encoding", [("json", "gzip"), ("csv", "gzip"), ("zip", "identity")])
def test_nginx_gzip_leaves_the_zip_alone(stack, tmp_path, kind, encoding):
    """nginx's own gzip, on for all three types (and datasette-gzip left
    out), compresses the posts files and leaves the ZIP as it is."""
    need(CURL, "curl")
    out, head = tmp_path / "out", tmp_path / "headers"
    url = stack.url("gzip", "realistic", "/" + DOWNLOADS[kind])
    done = run([CURL, "--compressed", "--fail", "-sS", "-D", str(head), "-o", str(out), url])
    assert done.returncode == 0, done.stderr
    assert "content-encoding: %s\n" % encoding in head.read_text().lower()
    body = zip_entries(out.read_bytes())["posts.csv"] if kind == "zip" else out.read_bytes()
    golden = "csv" if kind == "zip" else kind
    assert body == (FIXTURES / ("expected/realistic-did1." + golden)).read_bytes()


# --------------------------------------------------------------------------
# The export page in Chromium, through nginx


def page(chromium, stack, site, db):
    chromium.get(stack.url(site, db))
    assert chromium.title == "Export posts: " + db


def ended_downloads(chromium):
    """Chromium's downloads, once the first one has ended."""
    deadline = time.monotonic() + 60
    while True:
        items = download_items(chromium)
        if items and items[0][1] != IN_PROGRESS:
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.3)


@pytest.mark.parametrize("site", PREFIX)
def test_browser_downloads_through_nginx(chromium, stack, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page(chromium, stack, site, "realistic")
    Select(chromium.find_element(By.ID, "bsky-export-did")).select_by_value(DID1)
    chromium.find_element(By.ID, "bsky-export-json").click()
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "done"
    assert text_of(chromium, "bsky-export-numbers").startswith("107 of 107 posts")
    golden = (FIXTURES / "expected/realistic-did1.json").read_bytes()
    saved = wait_for_download(chromium.downloads, "posts_carol.bsky.social.json")
    assert saved.read_bytes() == golden
    page(chromium, stack, site, "realistic")  # and the ZIP, which gzip leaves alone
    Select(chromium.find_element(By.ID, "bsky-export-did")).select_by_value(DID1)
    chromium.find_element(By.ID, "bsky-export-zip").click()
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "done"
    deadline = time.monotonic() + 30
    while not list(chromium.downloads.glob("*.zip")) or list(
        chromium.downloads.glob("*.crdownload")
    ):
        assert time.monotonic() < deadline, list(chromium.downloads.iterdir())
        time.sleep(0.2)
    (saved,) = chromium.downloads.glob("*.zip")
    assert zip_entries(saved.read_bytes())["posts.json"] == golden


@pytest.mark.parametrize("site", PREFIX)
def test_browser_failed_download_through_nginx(chromium, stack, site):
    from selenium.webdriver.common.by import By

    page(chromium, stack, site, "broken")
    chromium.find_element(By.ID, "bsky-export-csv").click()
    chromium.find_element(By.ID, "bsky-export-submit").click()
    assert wait_for_state(chromium) == "failed"
    outcome = chromium.find_element(By.ID, "bsky-export-outcome").text
    assert stack.broken_uri in outcome and "column text" in outcome, outcome
    ((name, state, reason),) = items = ended_downloads(chromium)
    assert name == "posts.csv" and state != COMPLETE and reason.startswith("Failed"), items
    assert not (chromium.downloads / "posts.csv").exists()


@pytest.mark.parametrize("site", PREFIX)
def test_browser_cancel_through_nginx(chromium, stack, site):
    from selenium.webdriver.common.by import By

    throttle(chromium, 4_000_000)
    page(chromium, stack, site, "big")
    chromium.find_element(By.ID, "bsky-export-submit").click()
    deadline = time.monotonic() + 60
    while progress_of(chromium)[0] < 2000:
        assert time.monotonic() < deadline, progress_of(chromium)
        time.sleep(0.1)
    assert " of 200,000 posts · " in progress_of(chromium)[1]
    chromium.find_element(By.ID, "bsky-export-cancel").click()
    assert wait_for_state(chromium) == "cancelled"
    stopped_at = progress_of(chromium)[0]
    assert 2000 <= stopped_at < BIG_POSTS
    ((name, state, reason),) = items = ended_downloads(chromium)
    assert name == "posts.json" and state != COMPLETE and reason.startswith("Failed"), items
    assert not (chromium.downloads / "posts.json").exists()
