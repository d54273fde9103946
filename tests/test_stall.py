"""Clients that stop reading, against a real ``datasette serve`` (uvicorn's
flow control: its ``send`` waits while the connection's write buffer is
full) on both Datasette lines: after ``stall_timeout`` seconds such a
download is cut off (no final chunk) and its slot given back, a client that
pauses for less is not, and anonymous downloads are counted per client
address."""

import http.client
import json
import pathlib
import socket
import subprocess
import sys
import time

import pytest

from dsclient import plugin

BENCHMARKS = pathlib.Path(__file__).parent.parent / "benchmarks"


def send_buffer_max():
    """The most the kernel buffers for one sending socket (tcp_wmem's maximum)."""
    try:
        return int(pathlib.Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 << 20


# Posts of about 1.2 KB of JSON each: the response is more than twice what a
# stalled socket can take (about 3 MB here, with tcp_wmem's 4 MB maximum).
POSTS = max(8000, 2 * send_buffer_max() // 1000)
PATH = "/stalls/-/bsky-export/posts.json"
STALLED = 10


@pytest.fixture(scope="module")
def stalls(tmp_path_factory):
    """An archive from the benchmark's generator, and its posts.json as the
    CLI writes it."""
    path = tmp_path_factory.mktemp("stalls") / "stalls.db"
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "make_archive.py"), str(path), "--posts", str(POSTS)],
        check=True,
        capture_output=True,
    )
    expected = subprocess.run(
        [sys.executable, "-m", "datasette", "bsky-export", str(path), "--stdout", "--jobs", "1"],
        check=True,
        capture_output=True,
    ).stdout
    assert len(expected) > 2 * send_buffer_max()
    return path, expected


@pytest.fixture
def sockets():
    """Raw client sockets, closed before the server stops."""
    opened = []
    yield opened
    for sock in opened:
        sock.close()


def stalled_socket(sockets, server, path, source="127.0.0.1"):
    """A client from ``source`` that sends its request and never reads, with a
    small receive buffer."""
    sock = socket.socket()
    sockets.append(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
    return sock


def get(server, path, source="127.0.0.1", headers=None):
    """(status, headers, body) of a GET from ``source``, read to the end."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, 30, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def entry(server, entry_id):
    return json.loads(get(server, "/stalls/-/bsky-export/progress/%s.json" % entry_id)[2])


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def read_chunked(sock, data=b""):
    """A stalled client that reads at last (``data`` it read already): (status
    line, body, whether the chunked body had its final chunk), reading until
    the server closes."""
    sock.settimeout(30)
    data = bytearray(data)
    while more := sock.recv(1 << 20):
        data += more
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    status_line, body = head.split(b"\r\n")[0], []
    while True:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            return status_line, b"".join(body), False
        size = int(size_line, 16)
        if size == 0:
            return status_line, b"".join(body), True
        body.append(rest[:size])
        if len(rest) < size + 2:
            return status_line, b"".join(body), False
        rest = rest[size + 2 :]


def test_stalled_clients_lose_their_slots(stalls, serve, sockets):
    path, expected = stalls
    server = serve(path, plugin(stall_timeout=2))
    ids = ["stalled-client-%04d" % i for i in range(STALLED)]
    stalled = [stalled_socket(sockets, server, PATH + "?progress=" + i) for i in ids]
    started = time.monotonic()
    wait_until(lambda: all("state" in entry(server, i) for i in ids), 10, "not started")
    # Another address's download is not refused, whatever 127.0.0.1 holds.
    assert get(server, PATH, source="127.0.0.2")[::2] == (200, expected)
    # Within 10 s the stalled downloads are cut off, and 127.0.0.1 downloads again.
    while True:
        status, _, body = get(server, PATH)
        if status == 200:
            break
        assert status == 429 and time.monotonic() - started < 10
        time.sleep(0.2)
    assert body == expected
    assert time.monotonic() - started < 10
    for i in ids:
        ended = entry(server, i)
        assert ended["state"] == "failed"
        assert ended["error"] == (
            "The download was stopped: the client accepted no data for 2 seconds"
        )
        assert 0 < ended["bytes"] < len(expected) // 2
    for sock in stalled:  # what they were sent ends without the final chunk
        status_line, body, complete = read_chunked(sock)
        assert status_line == b"HTTP/1.1 200 OK"
        assert not complete and 0 < len(body) < len(expected)
        assert expected.startswith(body)
    log = server.output()
    for i in ids:
        assert (
            "datasette-bsky-export: GET %s?progress=%s: the client accepted no bytes for 2 s "
            "after " % (PATH, i)
        ) in log
    assert log.count("export stopped, response cut off, slot released") == STALLED


def test_client_that_pauses_less_than_stall_timeout_is_not_cut_off(stalls, serve, sockets):
    path, expected = stalls
    server = serve(path, plugin(stall_timeout=2))
    sock = stalled_socket(sockets, server, PATH + "?progress=slow-client-00001")
    received = bytearray()
    for _ in range(6):  # six pauses of 1 s, reading 1.5 MB between them
        time.sleep(1)
        goal = len(received) + 1_500_000
        while len(received) < goal:
            received += sock.recv(1 << 16)
    status_line, body, complete = read_chunked(sock, received)
    assert status_line == b"HTTP/1.1 200 OK"
    assert complete and body == expected
    assert entry(server, "slow-client-00001")["state"] == "done"
    assert "accepted no bytes" not in server.output()


def test_anonymous_downloads_are_counted_per_address(stalls, serve, sockets):
    """With the default stall_timeout (60 s), ten stalled anonymous downloads
    from 127.0.0.1 take 127.0.0.1's ten slots only."""
    path, expected = stalls
    server = serve(path)
    ids = ["per-address-%04d" % i for i in range(STALLED)]
    for i in ids:
        stalled_socket(sockets, server, PATH + "?progress=" + i)
    wait_until(
        lambda: all(entry(server, i).get("state") == "running" for i in ids), 10, "not started"
    )
    status, headers, body = get(server, PATH)
    assert status == 429 and headers["retry-after"] == "30"
    assert json.loads(body)["error"] == (
        "You have 10 downloads running already; wait for one to finish"
    )
    assert get(server, PATH, source="127.0.0.2")[::2] == (200, expected)
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (a proxy on this host):
    # the forwarded address counts.
    forwarded = get(server, PATH, headers={"x-forwarded-for": "203.0.113.7"})
    assert forwarded[::2] == (200, expected)
    assert all(entry(server, i)["state"] == "running" for i in ids)
    # The export page, as served, can be framed by itself only.
    status, headers, _ = get(server, "/stalls/-/bsky-export")
    assert status == 200
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["content-security-policy"] == "frame-ancestors 'self'"
