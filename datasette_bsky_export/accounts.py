"""The accounts of an archive, for the export page: each DID with its post
count and, where the actor may read ``profiles``, its latest handle."""

import sqlite3

MAX_DIDS = 1000  # DIDs listed on the export page
_IN_CHUNK = 500


def did_counts(conn, did=None, handles=True):
    """``([{did, count, handle}], posts in all)``, the DIDs with the most
    posts first (or the one DID given); ``handle`` is None unless
    ``handles`` (the actor may view the profiles table) and one is known."""
    factory = conn.text_factory
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        rows, total = _counts(conn, did)
        found = _handles(conn, [d for d, _ in rows]) if handles else {}
    finally:
        conn.text_factory = factory
    return [{"did": d, "count": n, "handle": found.get(d)} for d, n in rows], total


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
    found = {}
    try:
        for start in range(0, len(dids), _IN_CHUNK):
            chunk = dids[start : start + _IN_CHUNK]
            found.update(
                conn.execute(
                    "SELECT did, handle FROM profiles WHERE did IN (%s) ORDER BY snapshot_at"
                    % ",".join("?" * len(chunk)),
                    chunk,
                ).fetchall()
            )
    except sqlite3.Error:  # no profiles table: DIDs alone
        pass
    return found
