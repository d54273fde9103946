"""How many of a selection's media files exist under the media root, for the export page.

Counts what the ZIP's media walk would copy: the distinct ``file_path`` values
of the exported posts' media rows, each checked with ``media.MediaRoot``'s
confinement rules (a path outside the root counts as missing). Files are
looked up, never opened or read.
"""

from . import media
from .pager import KeysetPager


class MediaCount:
    """Walks an export's pages one ``step(conn)`` at a time (as the download does)."""

    def __init__(self, options, root):
        # the JSON pager reads every column the media walk needs (has_media), whatever the format
        self.pager = KeysetPager(options.did, options.start_bound, options.end_bound,
                                 options.page_size)
        self.root = root
        self.seen = set()
        self.found = 0

    @property
    def done(self):
        return self.pager.done

    def step(self, conn):
        """Counts the media files of the next page of posts."""
        uris = media.media_uris(self.pager.fetch(conn))
        for _, file_path in media.media_paths(conn, uris):
            if file_path in self.seen:
                continue
            self.seen.add(file_path)
            try:
                self.root.resolve(file_path)
            except media.MediaError:
                continue
            self.found += 1

    @property
    def total(self):
        return len(self.seen)

    def message(self):
        if not self.total:
            return "The selected posts have no media files."
        return "%s of %s media files found; %s missing" % (
            format(self.found, ","), format(self.total, ","), format(self.total - self.found, ","))
