"""An export while another process writes to the archive, and while a
writer holds it locked."""

import json
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from helpers import FIXTURES

DATASETTE = [sys.executable, "-m", "datasette", "bsky-export"]

WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    path, victims = sys.argv[1], sys.argv[2:]
    conn = sqlite3.connect(path, timeout=30)
    columns = ("cid, did, text, created_at, indexed_at, has_media, like_count, repost_count, "
               "reply_count, quote_count, is_reply, reply_parent, embed_type, embed_data, "
               "labels, archived_at")
    template = conn.execute("SELECT " + columns + " FROM posts LIMIT 1").fetchone()
    for n in range(400):
        row = list(template)
        # newer than everything, older than everything, and amid the others
        row[3] = ["2030-01-01 00:00:00 +0000 UTC", "2001-01-01 00:00:00 +0000 UTC",
                  "2024-06-01 12:00:00 +0000 UTC"][n % 3]
        conn.execute("INSERT INTO posts (uri, " + columns + ") VALUES (?" + ", ?" * 16 + ")",
                     ["at://did:plc:writer/app.bsky.feed.post/%05d" % n] + row)
        if victims:
            conn.execute("DELETE FROM posts WHERE uri = ?", (victims.pop(),))
        conn.commit()
        time.sleep(0.002)
    print("done", flush=True)
""")


def legacy_order(path):
    conn = sqlite3.connect(str(path))
    return [r[0] for r in conn.execute("SELECT uri FROM posts ORDER BY created_at DESC, uri ASC")]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_export_while_another_process_inserts_and_deletes(tmp_path, jobs):
    db = tmp_path / "live.db"
    db.write_bytes((FIXTURES / "realistic.db").read_bytes())
    conn = sqlite3.connect(str(db))
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.close()
    before = legacy_order(db)
    victims = before[::7]  # spread over the whole order
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), *victims], stdout=subprocess.PIPE, text=True
    )
    export = subprocess.run(  # --jobs 2: 75 ranges
        DATASETTE
        + [str(db), "--stdout", "--batch-size", "3", "--jobs", jobs, "--range-posts", "20"],
        capture_output=True,
        timeout=300,
    )
    assert writer.communicate(timeout=120)[0].strip() == "done"
    assert export.returncode == 0, export.stderr
    got = [post["uri"] for post in json.loads(export.stdout)]
    assert len(got) == len(set(got)), "a post was exported twice"
    throughout = [u for u in before if u not in set(victims)]
    assert [u for u in got if u in set(throughout)] == throughout, "a post was skipped"
    assert set(got) - set(before) <= {
        "at://did:plc:writer/app.bsky.feed.post/%05d" % n for n in range(400)
    }


def test_locked_archive_fails_clearly_after_the_busy_timeout(tmp_path):
    db = tmp_path / "locked.db"
    db.write_bytes((FIXTURES / "realistic.db").read_bytes())
    holder = sqlite3.connect(str(db))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        export = subprocess.run(
            DATASETTE + [str(db), "--stdout"], capture_output=True, text=True, timeout=120
        )
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert export.returncode == 1
    assert "stayed locked by another process" in export.stderr
    assert "Traceback" not in export.stderr
    assert export.stderr.count("\n") == 1
    assert 4 < waited < 60
