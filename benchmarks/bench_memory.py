#!/usr/bin/env python3
"""Peak memory of exports whose rows are hostile: one deep embed, one huge text.

    python benchmarks/bench_memory.py [--levels 9998] [--text-mb 57] [--downloads 4]
                                      [--data DIR] [--datasette PATH]

It writes two one-post archives (in --data, a temporary folder by default):
``deep``, whose post has ``embed_data`` nested --levels deep (has_media set,
so CSV reads it too), and ``huge``, whose post has --text-mb MB of text.
For each archive and format it measures the peak RSS of

* cli        ``datasette bsky-export ARCHIVE --format F --stdout``, read to
             its end through a pipe (``os.wait4``'s ru_maxrss);
* download   a fresh ``datasette serve`` (VmHWM) after one download of
             ``/<db>/-/bsky-export/posts.F`` read to its end, then after
             --downloads more at once;
* stalled    its VmRSS while --downloads clients have read 64 KB each and
             stopped reading.

Prints one Markdown table on stdout (progress on stderr). Run it with the
Python of the environment to test: ``datasette`` is taken from the same bin
directory unless --datasette is given.
"""

import argparse
import http.client
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import bench_http
from bench_http import BenchError, Server, download, log, run_cli

sys.path.insert(0, os.path.dirname(bench_http.HERE))
from datasette_bsky_export import schema  # noqa: E402

TIME = "2024-01-15 10:30:00 +0000 UTC"


def one_post_archive(path, text, embed):
    if os.path.exists(path):
        os.remove(path)
    conn = sqlite3.connect(path)
    for statement in schema.TABLES + schema.INDEXES:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO posts (uri, cid, did, text, created_at, indexed_at, archived_at, has_media,"
        " reply_parent, embed_type, embed_data) VALUES (?, 'bafy', 'did:plc:a', ?, ?, ?, ?, 1,"
        " '', 'app.bsky.embed.images', ?)",
        ("at://did:plc:a/app.bsky.feed.post/1", text, TIME, TIME, TIME, embed),
    )
    conn.commit()
    conn.close()
    return path


def build(data, levels, text_mb):
    deep = (
        '{"images":[{"fullsize":"https://cdn.example/img/h@jpeg"}],"deep":'
        + "[" * (levels - 1)
        + "]" * (levels - 1)
        + "}"
    ).encode()
    one_post_archive(os.path.join(data, "deep.db"), "deep", deep)
    one_post_archive(os.path.join(data, "huge.db"), ("x" * 999 + '"') * (text_mb * 1000), b"null")


def archives(data, levels, text_mb):
    """Built in a child process: a process started from this one would
    inherit its peak RSS (ru_maxrss survives fork and exec)."""
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--build",
            "--data",
            data,
            "--levels",
            str(levels),
            "--text-mb",
            str(text_mb),
        ],
        check=True,
    )
    return [
        ("deep (%d levels)" % levels, os.path.join(data, "deep.db")),
        ("huge (%d MB text)" % text_mb, os.path.join(data, "huge.db")),
    ]


def stalled_rss(server, path, clients):
    """Server VmRSS while ``clients`` downloads have read 64 KB and stopped."""
    conns = []
    try:
        for _ in range(clients):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            conns.append(conn)
            conn.request("GET", path)
            conn.getresponse().read(1 << 16)
        time.sleep(5)  # the server fills the socket buffers, then waits
        return server.status("VmRSS")
    finally:
        for conn in conns:
            conn.close()


def server_peaks(datasette, archive, fmt, downloads):
    """(bytes of one download, server VmHWM after it, after ``downloads`` at
    once, VmRSS with ``downloads`` stalled clients)."""
    path = "/%s/-/bsky-export/posts.%s" % (os.path.splitext(os.path.basename(archive))[0], fmt)
    with tempfile.TemporaryFile() as server_log:
        server = Server(datasette, archive, server_log)
        try:
            size, _ = download(server.port, path)
            one = server.status("VmHWM")
            errors = []

            def run():
                try:
                    download(server.port, path)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=run) for _ in range(downloads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise BenchError("a download failed: %r" % errors[0])
            return size, one, server.status("VmHWM"), stalled_rss(server, path, downloads)
        finally:
            bench_http.stop(server.proc)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--levels", type=int, default=9998)
    ap.add_argument("--text-mb", type=int, default=57)
    ap.add_argument("--downloads", type=int, default=4)
    ap.add_argument("--data", default=None)
    ap.add_argument(
        "--datasette", default=os.path.join(os.path.dirname(sys.executable), "datasette")
    )
    ap.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        return build(args.data, args.levels, args.text_mb)
    if not shutil.which(args.datasette):
        raise BenchError("no datasette at %s (use --datasette)" % args.datasette)
    data = args.data or tempfile.mkdtemp(prefix="bench-memory-")
    print(
        "| archive | format | output | CLI peak RSS | server after 1 download "
        "| after %d at once | %d stalled clients (RSS) |" % (args.downloads, args.downloads)
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    try:
        for name, archive in archives(data, args.levels, args.text_mb):
            for fmt in ("json", "csv"):
                log("%s, %s ..." % (name, fmt))
                size, _, _, _, cli_rss = run_cli(args.datasette, archive, fmt, 600)
                _, one, many, stalled = server_peaks(args.datasette, archive, fmt, args.downloads)
                print(
                    "| %s | %s | %.1f MB | %.0f MB | %.0f MB | %.0f MB | %.0f MB |"
                    % (name, fmt, size / 1e6, cli_rss, one, many, stalled),
                    flush=True,
                )
    finally:
        for proc in bench_http.CHILDREN:
            bench_http.stop(proc)
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit("bench_memory: %s" % e)
