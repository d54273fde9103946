#!/usr/bin/env python3
"""Memory and time of one media walk on archives with many media rows.

    python benchmarks/bench_media.py [--rows 200000 1000000] [--every 20]
                                     [--data DIR] [--datasette PATH]

For each --rows it writes an archive of that many posts, each with
has_media = 1 and one media row of its own ``file_path``
(``data/media/xx/yy/<64 hex>.jpg``), and a media root in which every
--every-th file exists (100 bytes), one in ten of those under a second
name with the base name of the one before (the duplicate rule: first in
legacy order wins); the others are missing. Then it measures one walk
through each of the three paths that walk the media rows:

* media.json  ``GET /<db>/-/bsky-export/media.json`` on a fresh
              ``datasette serve`` (media_root set): its VmHWM after the
              request minus its VmRSS before it (after warm-up requests
              on an empty date window);
* zip         ``GET .../export.zip?include_media=1`` read to its end on a
              fresh server, the same way; and without include_media, for
              the posts file's own share;
* cli         ``datasette bsky-export ARCHIVE --include-media --jobs 1``
              (``os.wait4``'s ru_maxrss) minus the same export without
              --include-media.

Prints one Markdown table on stdout (progress on stderr). Run it with the
Python of the environment to test: ``datasette`` is taken from the same bin
directory unless --datasette is given.
"""

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import bench_http
from bench_http import BenchError, download, log, spawn, stop

sys.path.insert(0, os.path.dirname(bench_http.HERE))
from datasette_bsky_export import schema  # noqa: E402

DIDS = ["did:plc:%024d" % n for n in range(3)]
EMPTY = "start_date=2099-01-01"  # a window without posts: the warm-up requests


def file_path(n):
    h = hashlib.sha256(b"%d" % n).hexdigest()
    return "data/media/%s/%s/%s.jpg" % (h[:2], h[2:4], h)


def build(path, root, rows, every):
    """The archive at ``path`` and its media root; returns the files made."""
    if os.path.exists(path):
        os.remove(path)
    conn = sqlite3.connect(path)
    for statement in schema.TABLES + schema.INDEXES:
        conn.execute(statement)
    made = 0
    batch = 50_000
    for start in range(0, rows, batch):
        posts, media = [], []
        for n in range(start, min(start + batch, rows)):
            uri = "at://%s/app.bsky.feed.post/%012d" % (DIDS[n % 3], n)
            stamp = "2024-%02d-%02d %02d:%02d:%02d +0000 UTC" % (
                1 + n % 12,
                1 + n % 28,
                n % 24,
                n % 60,
                (n // 60) % 60,
            )
            posts.append((uri, "bafy", DIDS[n % 3], "post %d" % n, stamp, stamp, stamp))
            name = file_path(n)
            if n % every == 0 and (n // every) % 10 == 9:  # the base name of the previous file
                name = "dup/%d/%s" % (n, file_path(n - every).rsplit("/", 1)[1])
            media.append(("h%d" % n, uri, "image/jpeg", name, 100))
            if n % every == 0:
                target = os.path.join(root, name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(b"%100d" % n)
                made += 1
        conn.executemany(
            "INSERT INTO posts (uri, cid, did, text, created_at, indexed_at, archived_at,"
            " has_media, reply_parent, embed_type, embed_data) VALUES (?,?,?,?,?,?,?,1,'',"
            " 'app.bsky.embed.images', NULL)",
            posts,
        )
        conn.executemany(
            "INSERT INTO media (hash, post_uri, mime_type, file_path, size_bytes)"
            " VALUES (?,?,?,?,?)",
            media,
        )
    conn.commit()
    conn.close()
    return made


def config_args(data):
    """``datasette serve`` options that set media_root, on either Datasette line."""
    import datasette.version

    path = os.path.join(data, "config.json")
    with open(path, "w") as f:
        json.dump({"plugins": {"datasette-bsky-export": {"media_root": data + "/root"}}}, f)
    option = "--metadata" if datasette.version.__version__.startswith("0.") else "--config"
    return [option, path]


def server_walk(datasette, archive, data, path):
    """(MB added to the server by GET ``path``, seconds, bytes)."""
    base = "/%s/-/bsky-export/" % os.path.splitext(os.path.basename(archive))[0]
    with tempfile.TemporaryFile() as server_log:
        server = bench_http.Server(datasette, archive, server_log, config_args(data))
        try:
            server.get(base + "media.json?" + EMPTY)
            download(server.port, base + "export.zip?include_media=1&" + EMPTY)
            before = server.status("VmRSS")
            size, seconds = download(server.port, base + path)
            return server.status("VmHWM") - before, seconds, size
        finally:
            stop(server.proc)


def cli_walk(datasette, archive, data, media):
    """(peak RSS MB, seconds) of a CLI export into a directory."""
    output = os.path.join(data, "out")
    args = [datasette, "bsky-export", archive, "--output", output, "--quiet", "--jobs", "1"]
    if media:
        args += ["--include-media", "--media-root", os.path.join(data, "root")]
    started = time.perf_counter()
    proc = spawn(args, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError("the CLI failed: %s" % proc.stderr.read()[-2000:].decode())
    shutil.rmtree(output)
    return usage.ru_maxrss / 1024, seconds


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--data", default=None)
    ap.add_argument(
        "--datasette", default=os.path.join(os.path.dirname(sys.executable), "datasette")
    )
    args = ap.parse_args()
    if not shutil.which(args.datasette):
        raise BenchError("no datasette at %s (use --datasette)" % args.datasette)
    print("| media rows | files | path | added RSS | time |")
    print("|---:|---:|---|---:|---:|")
    for rows in args.rows:
        data = tempfile.mkdtemp(prefix="bench-media-", dir=args.data)
        try:
            archive = os.path.join(data, "media%d.db" % rows)
            log("building %d media rows ..." % rows)
            files = build(archive, os.path.join(data, "root"), rows, args.every)
            results = []
            for name, path in [
                ("media.json", "media.json"),
                ("ZIP with media", "export.zip?include_media=1"),
                ("ZIP, posts only", "export.zip"),
            ]:
                log("%d rows: %s ..." % (rows, name))
                added, seconds, _ = server_walk(args.datasette, archive, data, path)
                results.append((name, added, seconds))
            log("%d rows: CLI ..." % rows)
            with_media, seconds = cli_walk(args.datasette, archive, data, True)
            posts_only, posts_seconds = cli_walk(args.datasette, archive, data, False)
            results.append(
                ("CLI directory with media (over posts only)", with_media - posts_only, seconds)
            )
            results.append(("CLI directory, posts only (peak RSS)", posts_only, posts_seconds))
            for name, added, seconds in results:
                print(
                    "| %s | %s | %s | %.1f MB | %.1f s |"
                    % (format(rows, ","), format(files, ","), name, added, seconds),
                    flush=True,
                )
        finally:
            for proc in bench_http.CHILDREN:
                stop(proc)
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit("bench_media: %s" % e)
