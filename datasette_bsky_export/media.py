"""Media files of exported posts, found through the archive's ``media`` table.

The legacy copied, for every exported post whose has_media is true, each
``media.file_path`` of that post into ``media/`` under its base name. Paths
are resolved against a media root and must stay inside it: an absolute path
elsewhere, ``..`` or a symlink out of the root is refused, never copied.
"""

import os

from . import posts

_IN_CHUNK = 500


class MediaError(ValueError):
    """A media file that cannot be exported (missing, or outside the root)."""


def media_uris(rows):
    """URIs of the rows (raw page rows) whose has_media the legacy reads as true."""
    uris = []
    for row in rows:
        try:
            if posts._as_bool(row[6]):
                uris.append(row[0])
        except ValueError:
            continue
    return uris


def media_paths(conn, uris):
    """``(post_uri, file_path)`` of the media rows of these posts, in table order."""
    found = []
    for start in range(0, len(uris), _IN_CHUNK):
        chunk = uris[start:start + _IN_CHUNK]
        sql = "SELECT post_uri, file_path FROM media WHERE post_uri IN (%s) ORDER BY rowid" % (
            ",".join("?" * len(chunk)))
        found.extend(conn.execute(sql, chunk).fetchall())
    return found


class MediaRoot:
    """Resolves ``file_path`` values inside one directory."""

    def __init__(self, root):
        self.root = os.path.realpath(root)

    def resolve(self, file_path):
        """The real path of an existing regular file inside the root, or MediaError."""
        if not isinstance(file_path, str) or not file_path or "\x00" in file_path:
            raise MediaError("unusable file_path %r" % (file_path,))
        candidate = os.path.join(self.root, file_path)  # an absolute file_path replaces root
        real = os.path.realpath(candidate)
        if os.path.commonpath([real, self.root]) != self.root:
            raise MediaError("%s is outside the media root %s" % (file_path, self.root))
        if not os.path.isfile(real):
            raise MediaError("%s: no such file under %s" % (file_path, self.root))
        return real
