"""How many of a selection's media files exist under the media root, for the export page.

Counts what an export with media would copy: the distinct ``file_path``
values of ``media.MediaWalk`` (kept in a ``media.DiskSet``), each opened by
``MediaRoot.open`` (confined to the root, ``O_NONBLOCK``, a regular file by
``fstat``, one link unless ``allow_hard_links``) and closed unread. A file
the export would refuse (a symlink, a hard link...) counts as missing.
"""

import sqlite3
from typing import TYPE_CHECKING

from . import media

if TYPE_CHECKING:
    from . import engine


class MediaCount:
    """Walks an export's media rows one ``step(conn)`` (one page of posts) at a time."""

    def __init__(self, options: "engine.ExportOptions", root: media.MediaRoot) -> None:
        self.walk = media.MediaWalk(options)
        self.root = root
        self.seen = media.DiskSet()
        self.found = 0

    @property
    def done(self) -> bool:
        return self.walk.done

    def step(self, conn: sqlite3.Connection) -> None:
        """Counts the media files of the next page of posts."""
        for _, file_path in self.walk.page(conn):
            if not self.seen.add(file_path):
                continue
            try:
                self.root.open(file_path).close()
            except (media.MediaError, OSError):
                continue
            self.found += 1

    def close(self) -> None:
        self.seen.close()

    @property
    def total(self) -> int:
        return len(self.seen)

    def message(self) -> str:
        if not self.total:
            return "The selected posts have no media files."
        return "%s of %s media files found; %s missing" % (
            format(self.found, ","),
            format(self.total, ","),
            format(self.total - self.found, ","),
        )
