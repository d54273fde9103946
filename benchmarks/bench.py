#!/usr/bin/env python3
"""Benchmark the export on synthetic archives and print one Markdown table.

    python benchmarks/bench.py [--sizes 100000,1000000 | --posts N] [--seed S]
                               [--order random|feed] [--repeat R] [--jobs 1,2]
                               [--data DIR] [--keep DIR] [--datasette PATH]
                               [--serve-datasette PATH] [--datasette-seconds T]

For each size it builds (or reuses, cached under benchmarks/data/ by size,
seed, order and a hash of make_archive.py) an archive and measures on it:

* bare read    Python sqlite3 reading every posts column in the export order;
* engine       engine.Export stepped to the end (json, csv) in a worker process;
* cli stdout   ``datasette bsky-export ARCHIVE --format F --stdout --jobs N`` >
               /dev/null, for each N of --jobs;
* cli output   the same without --stdout, writing into a temporary directory;
* cli check    ``datasette bsky-export ARCHIVE --check --jobs N`` (JSON);
* datasette    Datasette's own ``/<db>/posts.csv?_stream=1&_size=max`` from a
               real ``datasette serve`` on 127.0.0.1, read for at most
               --datasette-seconds (a prefix of the table when that runs out).

Bare read and engine are timed inside the worker (no interpreter start-up);
CLI rows are wall time of the whole command, start-up included; the Datasette
row times the HTTP read only; "x bare" is a row's time over the bare read's
on the same archive. Peak RSS is that of the measured command's whole process
tree (its workers included): the largest sum of their resident sets, sampled
every 10 ms, or the command's own ``os.wait4`` peak if larger. Every number
printed is measured in the run that prints it.
Run it with the Python of the environment to test: ``datasette`` is taken
from the same bin directory unless --datasette is given.
"""

import argparse
import csv
import hashlib
import http.client
import io
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = (
    "uri, cid, did, text, created_at, indexed_at, has_media, like_count, "
    "repost_count, reply_count, quote_count, is_reply, reply_parent, embed_type, "
    "embed_data, labels, archived_at"
)
BARE_SQL = "SELECT %s FROM posts ORDER BY created_at DESC, uri ASC" % COLUMNS
# The engine's targets hold at every size; the CLI's (which pays Datasette's
# start-up, about 0.6 s) on CLI_TARGET_SIZE posts and up, with the RSS bound.
TARGET_POSTS_S = {"json": 60_000, "csv": 100_000}
TARGET_RSS_MB = 150  # the whole process tree
CLI_TARGET_SIZE = 1_000_000
TARGET_RATIO = 11
# The largest --jobs (2 on a 2-core machine) on CLI_TARGET_SIZE posts: --stdout
# time over the bare read's, by order, and --output time over --stdout time.
TARGET_OVER_BARE = {"random": {"json": 1.6, "csv": 1.1}, "feed": {"json": 2.0, "csv": 1.4}}
TARGET_DIRECTORY = 1.10
TARGET_CHECK = 1.5  # --check time over the JSON --stdout time


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# Worker: runs in a child process, prints one JSON line


def worker(kind, fmt, path):
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    if kind == "bare":
        plan = [r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + BARE_SQL)]
        t0, c0 = time.perf_counter(), time.process_time()
        cur = conn.execute(BARE_SQL)
        posts = 0
        while True:
            rows = cur.fetchmany(1000)
            if not rows:
                break
            posts += len(rows)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        out = {"posts": posts, "seconds": seconds, "cpu": cpu, "bytes": None, "plan": plan}
    else:
        from datasette_bsky_export import engine

        opts = engine.ExportOptions(fmt)
        t0, c0 = time.perf_counter(), time.process_time()
        nbytes, export = 0, engine.Export(opts)
        while (chunk := export.step(conn)) is not None:
            nbytes += len(chunk)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        out = {"posts": engine.count(conn, opts), "seconds": seconds, "cpu": cpu, "bytes": nbytes}
    print(json.dumps(out))


# --------------------------------------------------------------------------
# Child processes: timed, bounded, reaped with os.wait4.
#
# On Linux a process's peak RSS (ru_maxrss) starts at the peak of the process
# it was exec'ed from, so measuring a child of this (large) process directly
# would report this process's size. Each measured command is therefore
# started by a tiny launcher (a bare ``python -S``, ~10 MB), which
# posix_spawns it, waits for it with os.wait4 and writes wall time, CPU time,
# peak RSS and exit status to a file. Meanwhile a thread sums the resident
# sets of the command and all its descendants every 10 ms (``--jobs`` runs
# workers); the larger of that peak and the command's own is written. The
# launcher ignores SIGINT (the command gets it).

LAUNCHER = r"""
import os, signal, sys, threading, time
res, argv = sys.argv[1], sys.argv[2:]
signal.signal(signal.SIGINT, signal.SIG_IGN)
PAGE = os.sysconf("SC_PAGE_SIZE")
peak, done = [0], threading.Event()

def tree_rss(pid):
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/statm" % p) as f:
                total += int(f.read().split()[1]) * PAGE
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError, IndexError):
            pass
    return total

def sample(pid):
    while not done.wait(0.01):
        peak[0] = max(peak[0], tree_rss(pid))

t0 = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ, setsigdef=(signal.SIGINT,))
sampler = threading.Thread(target=sample, args=(pid,))
sampler.start()
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
done.set()
sampler.join()
with open(res, "w") as f:
    f.write("%r %r %d %d" % (wall, usage.ru_utime + usage.ru_stime,
                             max(usage.ru_maxrss, peak[0] // 1024),
                             os.waitstatus_to_exitcode(status)))
"""
CHILDREN = set()  # pids of live launchers (each leads its own process group)


def kill_group(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def cleanup():
    for pid in list(CHILDREN):
        kill_group(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        CHILDREN.discard(pid)


class Child:
    """A measured command: started at once, ``finish`` waits (bounded) and
    returns (wall seconds, CPU seconds, peak RSS MB, exit status)."""

    def __init__(self, argv, stdout=None):
        self.argv = argv
        fd, self.res = tempfile.mkstemp(prefix="bench-", suffix=".res")
        os.close(fd)
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, self.res] + argv,
            stdin=subprocess.DEVNULL,
            stdout=self.out if stdout is None else stdout,
            stderr=self.err,
            start_new_session=True,
        )
        CHILDREN.add(self.proc.pid)

    def signal(self, sig):
        kill_group(self.proc.pid, sig)

    def finish(self, timeout):
        timer = threading.Timer(timeout, kill_group, (self.proc.pid,))
        timer.start()
        try:
            self.proc.wait()
        finally:
            timer.cancel()
        CHILDREN.discard(self.proc.pid)
        try:
            with open(self.res) as f:
                wall, cpu, rss, status = f.read().split()
        except (OSError, ValueError):
            raise BenchError(
                "%s was killed after the %d s timeout:\n  %s"
                % (self.argv[0], timeout, shlex.join(self.argv))
            ) from None
        return float(wall), float(cpu), int(rss) / 1024, int(status)

    def stderr_tail(self, lines=12):
        self.err.seek(0)
        text = self.err.read()[-20000:].decode("utf-8", "replace").strip()
        return "\n".join(text.splitlines()[-lines:])

    def stdout(self):
        self.out.seek(0)
        return self.out.read()

    def close(self):
        self.out.close()
        self.err.close()
        if os.path.exists(self.res):
            os.unlink(self.res)


def run_timed(argv, timeout, stdout=None):
    """Run argv; return (wall s, CPU s, peak RSS MB, stdout bytes). Raises
    BenchError on a non-zero exit or timeout, with the tail of stderr."""
    child = Child(argv, stdout)
    try:
        wall, cpu, rss, status = child.finish(timeout)
        if status != 0:
            raise BenchError(
                "%s failed (exit status %d):\n  %s\n%s"
                % (argv[0], status, shlex.join(argv), child.stderr_tail())
            )
        return wall, cpu, rss, child.stdout()
    finally:
        child.close()


# --------------------------------------------------------------------------
# Archives


def archive_for(size, seed, order, data_dir):
    """Path of the archive for (size, seed, order), building it when missing;
    and the seconds it took to build (None when cached)."""
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True  # no __pycache__ in the work tree
    import make_archive

    with open(make_archive.__file__, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:8]
    os.makedirs(data_dir, exist_ok=True)
    tag = "" if order == "random" else order + "-"  # same names as bench_http.py's
    path = os.path.join(data_dir, "archive-%d-seed%d-%s%s.db" % (size, seed, tag, digest))
    if os.path.exists(path):
        return path, None
    log("building %s ..." % path)
    t0 = time.perf_counter()
    make_archive.build(path, size, seed, order=order)
    took = time.perf_counter() - t0
    log("built %d posts in %.1f s" % (size, took))
    return path, took


def warm(path):
    """Read the file once so that every measurement sees a warm page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# --------------------------------------------------------------------------
# Datasette's own streaming CSV


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def datasette_csv(datasette, path, seconds, startup_timeout=60):
    """(posts read, seconds, server peak RSS MB, note)."""
    port = free_port()
    argv = [
        datasette,
        "serve",
        path,
        "-p",
        str(port),
        "--host",
        "127.0.0.1",
        "--setting",
        "max_csv_mb",
        "0",
    ]  # the 100 MB default would cut the CSV short
    server = Child(argv)
    db = os.path.splitext(os.path.basename(path))[0]
    note = ""
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if server.proc.poll() is not None:
                raise BenchError(
                    "datasette serve exited at start-up:\n  %s\n%s"
                    % (shlex.join(argv), server.stderr_tail())
                )
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/-/versions.json")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("datasette serve did not answer within %d s" % startup_timeout)
            time.sleep(0.2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t0 = time.perf_counter()
        conn.request("GET", "/%s/posts.csv?_stream=1&_size=max" % db)
        resp = conn.getresponse()
        if resp.status != 200:
            raise BenchError("datasette answered %d for posts.csv" % resp.status)
        reader = csv.reader(io.TextIOWrapper(resp, encoding="utf-8", newline=""))
        width = len(next(reader))
        rows = 0
        for record in reader:
            if len(record) != width:  # Datasette reports a mid-stream error this way
                note = "stream broke off: %r" % ",".join(record)[:200]
                break
            rows += 1
            if rows % 1000 == 0 and time.perf_counter() - t0 > seconds:
                note = "prefix: stopped reading after %g s" % seconds
                break
        took = time.perf_counter() - t0
        conn.close()
    except BaseException:
        server.signal(signal.SIGKILL)
        server.close()
        raise
    # uvicorn shuts down on SIGINT, but waits for the CSV stream, which goes on
    # after the client has gone; a second SIGINT makes it exit at once.
    server.signal(signal.SIGINT)
    try:
        server.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.signal(signal.SIGINT)
    try:
        rss = server.finish(30)[2]
    except BenchError:
        rss = None
    server.close()
    return rows, took, rss, note


# --------------------------------------------------------------------------
# The benchmark


def file_size(top, name):
    for root, _dirs, files in os.walk(top):
        if name in files:
            return os.path.getsize(os.path.join(root, name))
    return None


def version_of(datasette):
    try:
        out = subprocess.run(
            [datasette, "--version"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return (out.split()[-1] if out else "?") + " (%s)" % datasette


def machine(a):
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = [
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("CPU", model),
        ("RAM", "%.0f GiB" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)),
        ("Python", "%s (%s)" % (platform.python_version(), sys.executable)),
        ("SQLite", sqlite3.sqlite_version),
        ("Datasette", version_of(a.datasette)),
    ]
    if a.serve_datasette != a.datasette:
        info.append(("Datasette for the .csv row", version_of(a.serve_datasette)))
    info.append(("OS", platform.platform()))
    info.append(
        ("Load average (1 min) at start, at end", "%.2f, %.2f" % (a.load_start, os.getloadavg()[0]))
    )
    return info


def cli_available(datasette):
    try:
        r = subprocess.run(
            [datasette, "bsky-export", "--help"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    lines = (r.stderr or r.stdout).strip().splitlines()
    return r.returncode == 0, lines[-1] if lines else "exit status %d" % r.returncode


def bench_size(a, size, results, notes):
    path, built = archive_for(size, a.seed, a.order, a.data)
    if built is not None:
        notes.append(
            "Generating the %s-post archive took %.1f s (%.0f MB)."
            % (f"{size:,}", built, os.path.getsize(path) / 2**20)
        )
    warm(path)
    timeout = max(120, size / 2000)  # 500 posts/s would be far too slow anyway

    def measure(method, fmt, once, repeat=a.repeat):
        """Run ``once`` (-> posts, seconds, CPU seconds, peak RSS MB, note)
        ``repeat`` times; keep the fastest run and the largest peak RSS."""
        log("%s: %s %s" % (f"{size:,}", method, fmt))
        best, rss = None, 0
        try:
            for _ in range(repeat):
                run = once()
                rss = max(rss, run[3] or 0)
                if best is None or run[1] < best[1]:
                    best = run
        except BenchError as e:
            a.failures.append(str(e))
            best = (None, None, None, None, "FAILED")
        results.append(
            {
                "size": size,
                "method": method,
                "format": fmt,
                "posts": best[0],
                "seconds": best[1],
                "cpu": best[2],
                "rss": rss or None,
                "note": best[4],
            }
        )
        return best

    def in_worker(kind, fmt):
        _, _, rss, out = run_timed(
            [sys.executable, os.path.abspath(__file__), "--worker", kind, fmt, path], timeout
        )
        r = json.loads(out)
        if r["posts"] != size:
            raise BenchError("%s %s exported %d posts, not %d" % (kind, fmt, r["posts"], size))
        if r.get("plan") and not any(p.startswith("SCAN posts USING INDEX") for p in r["plan"]):
            notes.append("Bare read query plan on %d: %s" % (size, "; ".join(r["plan"])))
        sizes[fmt] = r["bytes"]
        return r["posts"], r["seconds"], r["cpu"], rss, ""

    sizes = {}
    measure("bare sqlite3 read", "-", lambda: in_worker("bare", "-"))
    for fmt in ("json", "csv"):
        measure("engine.Export", fmt, lambda fmt=fmt: in_worker("engine", fmt))

    def cli_stdout(fmt, jobs):
        with open(os.devnull, "wb") as null:
            wall, cpu, rss, _ = run_timed(
                [
                    a.datasette,
                    "bsky-export",
                    path,
                    "--format",
                    fmt,
                    "--stdout",
                    "--jobs",
                    str(jobs),
                ],
                timeout,
                stdout=null,
            )
        return size, wall, cpu, rss, ""

    def cli_output(fmt, jobs):
        out_dir = tempfile.mkdtemp(prefix="bench-export-", dir=a.keep)
        try:
            wall, cpu, rss, _ = run_timed(
                [
                    a.datasette,
                    "bsky-export",
                    path,
                    "--format",
                    fmt,
                    "--output",
                    out_dir,
                    "--jobs",
                    str(jobs),
                ],
                timeout,
            )
            written = file_size(out_dir, "posts." + fmt)
        finally:
            if not a.keep:
                shutil.rmtree(out_dir, ignore_errors=True)
        note = ""
        if written != sizes.get(fmt):
            note = "posts.%s is %s bytes, the engine gave %s" % (fmt, written, sizes.get(fmt))
            a.failures.append("CLI --output %s on %d: %s" % (fmt, size, note))
        return size, wall, cpu, rss, note

    def cli_check(jobs):
        wall, cpu, rss, _ = run_timed(
            [a.datasette, "bsky-export", path, "--check", "--jobs", str(jobs)], timeout
        )
        return size, wall, cpu, rss, ""

    if a.cli_ok:
        for jobs in a.jobs:
            for fmt in ("json", "csv"):
                measure(
                    "CLI --stdout --jobs %d" % jobs,
                    fmt,
                    lambda fmt=fmt, jobs=jobs: cli_stdout(fmt, jobs),
                )
            for fmt in ("json", "csv"):
                measure(
                    "CLI --output --jobs %d" % jobs,
                    fmt,
                    lambda fmt=fmt, jobs=jobs: cli_output(fmt, jobs),
                )
            measure("CLI --check --jobs %d" % jobs, "json", lambda jobs=jobs: cli_check(jobs))

    def datasette_row():
        n, secs, rss, note = datasette_csv(a.serve_datasette, path, a.datasette_seconds)
        if not note and n != size:
            note = "read %d of %d rows" % (n, size)
        if note.startswith("stream broke") and not a.ds_broke:
            a.ds_broke = True
            notes.append(
                "Datasette's streaming CSV broke off with an error (%s); "
                "--serve-datasette PATH picks another Datasette for that row "
                "(0.65.x streams this table)." % version_of(a.serve_datasette)
            )
        return n, secs, None, rss, note

    if a.datasette_seconds > 0:
        measure("datasette .csv?_stream=1", "csv", datasette_row, repeat=1)


def fmt_num(v, spec):
    return "—" if v is None else format(v, spec)


def report(a, results, notes, info, startup):
    out = []
    add = out.append
    add("## Export benchmark\n")
    add("Command: `%s`\n" % shlex.join([sys.executable] + sys.argv))
    add("| | |\n|---|---|")
    for k, v in info:
        add("| %s | %s |" % (k, v))
    add("")
    add(
        "| method | format | size | posts | seconds | x bare | posts/s | CPU s | peak RSS MB "
        "| note |"
    )
    add("|---|---|--:|--:|--:|--:|--:|--:|--:|---|")
    bare = {r["size"]: r["seconds"] for r in results if r["method"] == "bare sqlite3 read"}
    for r in results:
        rate = r["posts"] / r["seconds"] if r["posts"] and r["seconds"] else None
        over = r["seconds"] / bare[r["size"]] if r["seconds"] and bare.get(r["size"]) else None
        add(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                r["method"],
                r["format"],
                f"{r['size']:,}",
                fmt_num(r["posts"], ","),
                fmt_num(r["seconds"], ".2f"),
                fmt_num(over, ".2f"),
                fmt_num(rate, ",.0f"),
                fmt_num(r["cpu"], ".2f"),
                fmt_num(r["rss"], ".0f"),
                r["note"],
            )
        )
    add("")
    if startup is not None:
        add(
            "CLI start-up alone (`datasette bsky-export --help`): %.2f s wall, "
            "included in the CLI rows.\n" % startup
        )
    checks = rate_targets(results) + ratio_targets(a, results, bare)
    if checks:
        add("| target | measured | goal | result |\n|---|--:|--:|---|")
        for what, got, goal, ok in checks:
            add("| %s | %s | %s | %s |" % (what, got, goal, "pass" if ok else "**FAIL**"))
        add("")
    for n in dict.fromkeys(notes):
        add("- " + n)
    return "\n".join(out)


def rate_targets(results):
    """posts/s of the engine and of CLI exports on big archives; peak RSS of every CLI row."""
    checks = []
    for r in results:
        if r["posts"] is None:
            continue
        what = "%s %s on %s" % (r["method"], r["format"], f"{r['size']:,}")
        cli = r["method"].startswith("CLI")
        if r["method"].startswith("engine") or (
            cli and r["size"] >= CLI_TARGET_SIZE and "--check" not in r["method"]
        ):
            rate = r["posts"] / r["seconds"]
            goal = TARGET_POSTS_S[r["format"]]
            checks.append((what + " posts/s", f"{rate:,.0f}", f">= {goal:,}", rate >= goal))
        if cli:
            checks.append(
                (
                    what + " peak RSS",
                    "%.0f MB" % r["rss"],
                    "<= %d MB" % TARGET_RSS_MB,
                    r["rss"] <= TARGET_RSS_MB,
                )
            )
    return checks


def ratio_targets(a, results, bare):
    """Times over other times: the bare read, --stdout, JSON, and 100k."""
    by = {(r["method"], r["format"], r["size"]): r["seconds"] for r in results if r["seconds"]}
    sizes = sorted({r["size"] for r in results})
    checks = []

    def ratio(what, top, bottom, limit):
        if top and bottom:
            checks.append((what, "%.2f" % (top / bottom), "<= %.3g" % limit, top / bottom <= limit))

    for size in sizes:
        for jobs in a.jobs:
            stdout, output = "CLI --stdout --jobs %d" % jobs, "CLI --output --jobs %d" % jobs
            on = " on %s" % f"{size:,}"
            ratio(
                "%s json time / --stdout json%s" % ("CLI --check --jobs %d" % jobs, on),
                by.get(("CLI --check --jobs %d" % jobs, "json", size)),
                by.get((stdout, "json", size)),
                TARGET_CHECK,
            )
            parallel = jobs == max(a.jobs) > 1  # issue 12's targets are for --jobs 2
            for f in ("json", "csv") if size >= CLI_TARGET_SIZE and parallel else ():
                ratio(
                    "%s %s time / --stdout%s" % (output, f, on),
                    by.get((output, f, size)),
                    by.get((stdout, f, size)),
                    TARGET_DIRECTORY,
                )
                ratio(
                    "%s %s time / bare read%s" % (stdout, f, on),
                    by.get((stdout, f, size)),
                    bare.get(size),
                    TARGET_OVER_BARE[a.order][f],
                )
            if len(sizes) > 1 and size == sizes[-1]:
                for method in (stdout, output):
                    for f in ("json", "csv"):
                        ratio(
                            "%s %s time(%s)/time(%s)" % (method, f, f"{size:,}", f"{sizes[0]:,}"),
                            by.get((method, f, size)),
                            by.get((method, f, sizes[0])),
                            TARGET_RATIO * size / sizes[0] / 10,
                        )
    return checks


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        return worker(*sys.argv[2:])
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = ap.add_mutually_exclusive_group()
    g.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated archive sizes (default: %(default)s)",
    )
    g.add_argument("--posts", type=int, help="a single size (same as --sizes N)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--order",
        choices=("random", "feed"),
        default="random",
        help="posts' order on disk in the archives (make_archive.py --order)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each export measurement this many times, keep the fastest",
    )
    ap.add_argument(
        "--jobs",
        default="1,2",
        help="comma-separated --jobs values for the CLI rows (default: %(default)s)",
    )
    ap.add_argument(
        "--data",
        default=os.path.join(HERE, "data"),
        help="where archives are cached (default: benchmarks/data/)",
    )
    ap.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the CLI's export directories under DIR (default: deleted)",
    )
    ap.add_argument(
        "--datasette",
        default=os.path.join(os.path.dirname(sys.executable), "datasette"),
        help="datasette executable (default: the one beside this Python)",
    )
    ap.add_argument(
        "--serve-datasette",
        metavar="PATH",
        help="datasette executable for the Datasette CSV row (default: --datasette)",
    )
    ap.add_argument(
        "--datasette-seconds",
        type=float,
        default=60,
        help="read Datasette's CSV for at most this long; 0 skips it",
    )
    a = ap.parse_args()
    a.serve_datasette = a.serve_datasette or a.datasette
    sizes = [a.posts] if a.posts else [int(s.replace("_", "")) for s in a.sizes.split(",")]
    a.jobs = [int(j) for j in a.jobs.split(",")]
    if any(s <= 0 for s in sizes + a.jobs) or a.repeat < 1:
        ap.error("sizes, --jobs and --repeat must be positive")
    a.failures = []
    a.load_start = os.getloadavg()[0]
    a.ds_broke = False
    a.cli_ok, why = cli_available(a.datasette)
    notes = []
    startup = None
    if a.cli_ok:
        startup = run_timed([a.datasette, "bsky-export", "--help"], 60)[0]
    else:
        notes.append("`datasette bsky-export` is not available (%s): CLI rows skipped." % why)
    if a.keep:
        a.keep = os.path.abspath(a.keep)
        os.makedirs(a.keep, exist_ok=True)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    results = []
    try:
        for size in sorted(sizes):
            bench_size(a, size, results, notes)
    finally:
        cleanup()
    if a.cli_ok:
        notes.append(
            "CLI rows: `datasette bsky-export ARCHIVE --format F --stdout --jobs N > "
            "/dev/null`, `datasette bsky-export ARCHIVE --format F --output TMPDIR "
            "--jobs N` and `datasette bsky-export ARCHIVE --check --jobs N` (wall "
            "time, start-up included); the CLI --output rows check that posts.F has "
            "the engine's size."
        )
    if a.datasette_seconds > 0:
        notes.append(
            "Datasette row: `datasette serve ARCHIVE -p PORT --host 127.0.0.1 --setting "
            "max_csv_mb 0`, then GET `/<db>/posts.csv?_stream=1&_size=max` read and "
            "parsed over loopback (server start-up excluded). Datasette streams in "
            "rowid order, the export in created_at order."
        )
    notes.append("Archives: %s order on disk (make_archive.py --order %s)." % (a.order, a.order))
    notes.append(
        "Bare read and engine rows are timed inside a worker process (no start-up). "
        "Warm page cache: each archive is read once before it is measured."
    )
    notes.append(
        "seconds and posts/s are wall time; CPU s is the measured process's user + "
        "system time (CLI: the whole command), less sensitive to other load on the "
        "machine. With --repeat, the fastest run is shown."
    )
    print(report(a, results, notes, machine(a), startup))
    if a.failures:
        print("\nFailures:\n\n" + "\n\n".join(a.failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
