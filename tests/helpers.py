"""What the tests share besides fixtures: the golden cases and a builder of
small archives with the legacy schema."""

import json
import pathlib
import signal

import sqlite_utils

from datasette_bsky_export import schema

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "cases.json").read_text())


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
