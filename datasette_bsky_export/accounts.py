"""The accounts of an archive, for the export page: each DID with its post
count and, where the actor may read ``profiles``, its latest handle (also
the account in a download's file name)."""

import sqlite3
from typing import Any

from . import sqlitedb

MAX_DIDS = 1000  # DIDs listed on the export page


def did_counts(
    conn: sqlite3.Connection, did: str | None = None, handles: bool = True
) -> tuple[list[dict[str, Any]], int]:
    """``([{did, count, handle}], posts in all)``, the DIDs with the most
    posts first (or the one DID given); ``handle`` is None unless
    ``handles`` (the actor may view the profiles table) and one is known."""
    with sqlitedb.text_factory(conn, lambda b: b.decode("utf-8", "replace")):
        rows, total = _counts(conn, did)
        found = _handles(conn, [d for d, _ in rows]) if handles else {}
    return [{"did": d, "count": n, "handle": found.get(d)} for d, n in rows], total


def has_posts(conn: sqlite3.Connection, did: str) -> bool:
    """Whether the archive holds a post of ``did``."""
    return conn.execute("SELECT 1 FROM posts WHERE did = ? LIMIT 1", [did]).fetchone() is not None


def handle(conn: sqlite3.Connection, did: str) -> str | None:
    """The latest handle of ``did`` in profiles, or None (no profiles table,
    no row, a handle that is not text)."""
    with sqlitedb.text_factory(conn, lambda b: b.decode("utf-8", "replace")):
        found = _handles(conn, [did]).get(did)
    return found if isinstance(found, str) else None


def _counts(conn, did):
    if did is None:
        rows = conn.execute(
            "SELECT did, count(*) FROM posts GROUP BY did ORDER BY 2 DESC, 1 LIMIT ?",
            [MAX_DIDS + 1],
        ).fetchall()
    else:
        rows = [
            (did, conn.execute("SELECT count(*) FROM posts WHERE did = ?", [did]).fetchone()[0])
        ]
    total = sum(n for _, n in rows)
    if len(rows) > MAX_DIDS:
        total = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    return [(d, n) for d, n in rows if isinstance(d, str) and (n or did is not None)], total


def _handles(conn, dids):
    """The latest handle of each DID (by snapshot_at), where profiles has one."""
    try:  # each chunk by snapshot_at, and a DID is in one chunk: the latest wins
        return dict(
            sqlitedb.rows_in(
                conn,
                "SELECT did, handle FROM profiles WHERE did IN (%s) ORDER BY snapshot_at",
                dids,
            )
        )
    except sqlite3.Error:  # no profiles table: DIDs alone
        return {}
