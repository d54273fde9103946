"""What the CLI shows on the terminal while it works: click's progress bar
with posts/s beside it, and byte sizes for its summary line."""

import sys
import time

import click

from . import engine


class Progress:
    """click's progress bar on stderr, with posts/s beside it (``item_show_func``)."""

    def __init__(self, total, label):
        self.bar = click.progressbar(
            length=total,
            label=label,
            show_pos=True,
            show_percent=True,
            item_show_func=lambda rate: rate,
            file=sys.stderr,
        )
        self.bar.__enter__()
        self.started = time.monotonic()
        self.done = 0

    def __call__(self, done):
        rate = done / max(time.monotonic() - self.started, 1e-9)
        self.bar.update(done - self.done, "%s posts/s" % format(int(rate), ","))
        self.done = done

    def close(self):
        self.bar.__exit__(None, None, None)


def progress(conn, options, quiet, label):
    """A Progress over the posts ``options`` select, or None when quiet or
    stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    return Progress(engine.count(conn, options), label)


def size(n):
    """``n`` bytes for people in decimal units, as browsers' download lists and
    the export page (``size`` in static/export-page.js) show them: "512 bytes",
    "1.5 MB" (1,500,000 bytes)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return "%d %s" % (n, unit) if unit == "bytes" else "%.1f %s" % (n, unit)
        n /= 1000.0
