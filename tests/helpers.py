"""What the tests share besides fixtures: the golden cases, the fixture
archive's accounts, the URL of a case's download, a builder of small
archives with the legacy schema and a corrupter of one post."""

import json
import pathlib
import signal
import sqlite3

import sqlite_utils

from datasette_bsky_export import postrow, schema
from dsclient import url

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "cases.json").read_text())
# Accounts of tests/fixtures/realistic.db, with their numbers of posts.
DID0 = "did:plc:454ml6lg4tjfcz4kaedcmpb5"  # 1,292 posts
DID1 = "did:plc:bannd6yz2emrvftva2hipgad"  # 107
DID2 = "did:plc:u4mos7af5r2fquosbegzgsye"  # 101
CSV_EMPTY = b"\xef\xbb\xbf" + postrow.CSV_HEADER.encode()


def file_url(case, db=None):
    """The URL of a case's posts file, from database ``db`` (default: the case's)."""
    db = db or case["db"][:-3]
    return url(
        "/%s/-/bsky-export/posts.%s" % (db, case["format"]),
        did=case["did"],
        start_date=case["start_date"],
        end_date=case["end_date"],
    )


def corrupt(path, index, column="text"):
    """Sets ``column`` to NULL in the post at ``index`` of the export order
    (a row the legacy app rejects); returns its uri."""
    conn = sqlite3.connect(str(path))
    uri = conn.execute(
        "SELECT uri FROM posts ORDER BY created_at DESC, uri ASC LIMIT 1 OFFSET ?", [index]
    ).fetchone()[0]
    conn.execute("UPDATE posts SET %s = NULL WHERE uri = ?" % column, [uri])
    conn.commit()
    conn.close()
    return uri


def case_id(case):
    return case["name"]


def expected_bytes(case):
    if "expect" in case:
        return (FIXTURES / case["expect"]).read_bytes()
    if "expect_empty" in case:
        return b"[]\n" if case["format"] == "json" else None
    return None


def new_archive(path, posts=()):
    """An archive at ``path`` with the legacy tables and indexes, holding
    ``posts`` (dicts of posts columns, the rest left to the defaults)."""
    db = sqlite_utils.Database(str(path))
    for statement in schema.TABLES + schema.INDEXES:
        db.execute(statement)
    db["posts"].insert_all(posts)
    return db


def interruptible():
    """A ``preexec_fn`` for a child that must take SIGINT: the default
    disposition, even when the tests run with SIGINT ignored (``nohup``,
    ``&``), which Python's subprocess passes on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def empty_db(tmp_path, name="other"):
    """An archive with no posts table: ``<name>.db`` in tmp_path."""
    path = tmp_path / (name + ".db")
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    return path
