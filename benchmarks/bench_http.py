#!/usr/bin/env python3
"""Benchmark the streaming download of a real ``datasette serve`` on 127.0.0.1.

    python benchmarks/bench_http.py [--posts 1000000] [--seed 1] [--format json]
                                    [--data DIR] [--datasette PATH] [--repeat 2]
                                    [--downloads 4] [--seconds 60]

It builds (or reuses, from the cache bench.py also uses: benchmarks/data/,
keyed by size, seed and a hash of make_archive.py) an archive with
benchmarks/make_archive.py, then measures on it, every process on loopback:

* cli        ``datasette bsky-export ARCHIVE --format F --stdout``, its output
             read through a pipe and hashed by this script; posts/s over the
             time from its first byte to its last (so interpreter start-up is
             not counted against it), best of --repeat;
* download   one ``GET /<db>/-/bsky-export/posts.F``, read and hashed the same
             way, timed from the request to the last byte, best of --repeat
             (each run right after a CLI run, so both see the same machine);
             its bytes must equal the CLI's;
* in flight  --downloads simultaneous downloads for at most --seconds, while
             ``/-/versions.json`` is requested every 50 ms on a new connection:
             its latency (p50, p95, max) and the downloads' combined posts/s;
             then the clients disconnect and the server's CPU time over the next
             2 s shows whether it stopped exporting;
* server RSS the peak resident size (VmHWM) of the ``datasette serve`` process.

Targets (issue 4): one download >= 80 % of the CLI's posts/s; p95 of
/-/versions.json < 250 ms with 4 downloads in flight; server RSS <= 150 MB.
Prints one Markdown table on stdout (progress on stderr); exits 1 when a
target is missed. Run it with the Python of the environment to test:
``datasette`` is taken from the same bin directory unless --datasette is given.
"""

import argparse
import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
READ = 1 << 20
TARGET_RATIO = 0.80
TARGET_P95_MS = 250
TARGET_RSS_MB = 150
PROBE_EVERY = 0.05
CHILDREN = []


def log(message):
    print("[bench_http] " + message, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# Archive


def archive_for(posts, seed, data_dir):
    """The cached archive for (posts, seed), built by make_archive.py when missing."""
    maker = os.path.join(HERE, "make_archive.py")
    with open(maker, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:8]
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, "archive-%d-seed%d-%s.db" % (posts, seed, digest))
    if not os.path.exists(path):
        log("building %s ..." % path)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, maker, path, "--posts", str(posts), "--seed", str(seed), "--quiet"],
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=3600,
        )
        log("built in %.0f s" % (time.monotonic() - started))
    with open(path, "rb") as f:  # a warm page cache for every measurement
        while f.read(1 << 24):
            pass
    return path


# --------------------------------------------------------------------------
# Processes


def spawn(argv, **kwargs):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
    CHILDREN.append(proc)
    return proc


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def read_all(stream, digest=None):
    """(bytes, seconds from the first byte to the last, seconds until the first byte)."""
    started = time.perf_counter()
    first = None
    size = 0
    while True:
        block = stream.read(READ)
        if not block:
            break
        if first is None:
            first = time.perf_counter()
        size += len(block)
        if digest is not None:
            digest.update(block)
    end = time.perf_counter()
    first = first or end
    return size, end - first, first - started


def run_cli(datasette, archive, fmt, timeout):
    """(bytes, seconds first to last byte, wall seconds, sha256, peak RSS MB)."""
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = spawn(
            [datasette, "bsky-export", archive, "--format", fmt, "--stdout", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=err,
        )
        timer = threading.Timer(timeout, stop, (proc,))
        timer.start()
        try:
            size, seconds, _ = read_all(proc.stdout, digest)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise BenchError("the CLI failed: %s" % err.read()[-2000:].decode("utf-8", "replace"))
    return size, seconds, wall, digest.hexdigest(), usage.ru_maxrss / 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, datasette, archive, log_file, args=()):
        self.port = free_port()
        self.proc = spawn(
            [datasette, "serve", archive, "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=log_file,
            stderr=log_file,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise BenchError("datasette serve exited with status %s" % self.proc.returncode)
            try:
                self.get("/-/versions.json", timeout=5)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError("datasette serve did not answer within 120 s") from None
                time.sleep(0.2)

    def get(self, path, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise BenchError("GET %s: %d %s" % (path, response.status, body[:300]))
            return body
        finally:
            conn.close()

    def status(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB to MB

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def download(port, path, digest=None, timeout=600):
    """One download read to its end: (bytes, seconds from the request to the last byte)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        if response.status != 200:
            raise BenchError("GET %s: %d %s" % (path, response.status, response.read()[:300]))
        size, _, _ = read_all(response, digest)  # IncompleteRead if the stream was cut off
        return size, time.perf_counter() - started
    finally:
        conn.close()


class Reader(threading.Thread):
    """A download read (and discarded) until it ends or ``stop`` is set."""

    def __init__(self, port, path, stop_event):
        super().__init__(daemon=True)
        self.port, self.path, self.stop_event = port, path, stop_event
        self.size = 0
        self.done = False
        self.error = None
        self.conn = None

    def run(self):
        try:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.conn.request("GET", self.path)
            response = self.conn.getresponse()
            while not self.stop_event.is_set():
                block = response.read1(READ) if hasattr(response, "read1") else response.read(READ)
                if not block:
                    self.done = True
                    break
                self.size += len(block)
        except Exception as e:  # noqa: BLE001 - reported in the table
            if not self.stop_event.is_set():
                self.error = e
        finally:
            self.conn.close()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def in_flight(server, path, count, seconds, bytes_per_post):
    """Latency of /-/versions.json while ``count`` downloads stream."""
    stop_event = threading.Event()
    readers = [Reader(server.port, path, stop_event) for _ in range(count)]
    started = time.perf_counter()
    for reader in readers:
        reader.start()
    time.sleep(1.0)  # all started and streaming
    sizes_at_start = sum(r.size for r in readers)
    probe_start = time.perf_counter()
    latencies = []
    deadline = started + seconds
    while time.perf_counter() < deadline and not any(r.done or r.error for r in readers):
        t0 = time.perf_counter()
        server.get("/-/versions.json")
        latencies.append(time.perf_counter() - t0)
        time.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - t0)))
    elapsed = time.perf_counter() - probe_start
    streamed = sum(r.size for r in readers) - sizes_at_start
    finished_early = [r for r in readers if r.done]
    errors = [r.error for r in readers if r.error]
    stop_event.set()
    for reader in readers:  # the clients leave
        try:
            reader.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
    for reader in readers:
        reader.join(30)
    time.sleep(0.5)  # the page in flight, if any, completes
    cpu0 = server.cpu_seconds()
    time.sleep(2.0)
    idle_cpu = server.cpu_seconds() - cpu0
    if errors:
        raise BenchError("a download failed: %r" % errors[0])
    return {
        "latencies": latencies,
        "posts_s": streamed / bytes_per_post / elapsed,
        "seconds": elapsed,
        "finished_early": len(finished_early),
        "idle_cpu": idle_cpu,
    }


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", default="json", choices=("json", "csv"))
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument(
        "--datasette", default=os.path.join(os.path.dirname(sys.executable), "datasette")
    )
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--downloads", type=int, default=4)
    ap.add_argument(
        "--seconds", type=float, default=60.0, help="at most this long with the downloads in flight"
    )
    args = ap.parse_args()
    if not shutil.which(args.datasette):
        raise BenchError("no datasette at %s (use --datasette)" % args.datasette)
    archive = archive_for(args.posts, args.seed, args.data)
    load_before = os.getloadavg()[0]
    fmt = args.format
    timeout = max(600, args.posts / 500)

    name = os.path.splitext(os.path.basename(archive))[0]
    path = "/%s/-/bsky-export/posts.%s" % (name, fmt)
    cli, single = [], []
    with tempfile.TemporaryFile() as server_log:
        server = Server(args.datasette, archive, server_log)
        try:
            server.get(path + "?did=none")  # first request: Datasette's lazy start-up
            for i in range(args.repeat):  # interleaved, so both see the same machine
                log("cli run %d/%d ..." % (i + 1, args.repeat))
                cli.append(run_cli(args.datasette, archive, fmt, timeout))
                log("single download %d/%d ..." % (i + 1, args.repeat))
                digest = hashlib.sha256()
                size, seconds = download(server.port, path, digest, timeout)
                if size != cli[-1][0] or digest.hexdigest() != cli[-1][3]:
                    raise BenchError(
                        "the download (%d bytes) differs from the CLI's (%d bytes)"
                        % (size, cli[-1][0])
                    )
                single.append(seconds)
            cli_bytes, cli_seconds, cli_wall, cli_hash, cli_rss = min(cli, key=lambda r: r[1])
            log("%d downloads in flight ..." % args.downloads)
            flight = in_flight(server, path, args.downloads, args.seconds, cli_bytes / args.posts)
            rss = server.status("VmHWM")
        finally:
            stop(server.proc)
    cli_rate = args.posts / cli_seconds
    single_s = min(single)
    rate = args.posts / single_s
    ratio = rate / cli_rate
    lat = [x * 1000 for x in flight["latencies"]]
    p95 = percentile(lat, 95)
    results = []

    def mark(ok):
        results.append(ok)
        return "ok" if ok else "**MISSED**"

    rows = [
        (
            "CLI `--stdout` (%s)" % fmt,
            "%s posts/s (%.1f s first to last byte, %.1f s wall, RSS %.0f MB)"
            % (format(int(cli_rate), ","), cli_seconds, cli_wall, cli_rss),
            "",
            "",
        ),
        (
            "one download",
            "%s posts/s (%.1f s), %.0f %% of the CLI; bytes identical"
            % (format(int(rate), ","), single_s, ratio * 100),
            ">= %d %%" % (TARGET_RATIO * 100),
            mark(ratio >= TARGET_RATIO),
        ),
        (
            "/-/versions.json, %d downloads in flight" % args.downloads,
            "p50 %.0f ms, p95 %.0f ms, max %.0f ms (%d requests over %.0f s)"
            % (percentile(lat, 50), p95, max(lat), len(lat), flight["seconds"]),
            "p95 < %d ms" % TARGET_P95_MS,
            mark(p95 < TARGET_P95_MS),
        ),
        (
            "%d downloads together" % args.downloads,
            "%s posts/s" % format(int(flight["posts_s"]), ","),
            "",
            "",
        ),
        (
            "server CPU in the 2 s after the clients left",
            "%.2f s" % flight["idle_cpu"],
            "< 0.5 s",
            mark(flight["idle_cpu"] < 0.5),
        ),
        (
            "server peak RSS",
            "%.0f MB" % rss,
            "<= %d MB" % TARGET_RSS_MB,
            mark(rss <= TARGET_RSS_MB),
        ),
    ]
    print(
        "Archive: %s posts (seed %d, %.0f MB), format %s; %s; %d CPUs, load average "
        "%.1f before, %.1f after"
        % (
            format(args.posts, ","),
            args.seed,
            os.path.getsize(archive) / 1e6,
            fmt,
            subprocess.run(
                [args.datasette, "--version"], capture_output=True, text=True
            ).stdout.strip(),
            os.cpu_count(),
            load_before,
            os.getloadavg()[0],
        )
    )
    print()
    print("| measurement | result | target | |")
    print("|---|---|---|---|")
    for row in rows:
        print("| %s |" % " | ".join(row))
    return 0 if all(results) else 1


def run(main):
    """Exit with ``main()``'s status: 2 on a BenchError, 130 when
    interrupted, every child process stopped."""
    try:
        code = main()
    except BenchError as e:
        log("error: %s" % e)
        code = 2
    except KeyboardInterrupt:
        code = 130
    finally:
        for child in CHILDREN:
            stop(child)
    sys.exit(code)


if __name__ == "__main__":
    run(main)
