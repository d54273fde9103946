"""``datasette bsky-export``: the legacy export from the command line.

A thin adapter: options are checked by the engine, bytes come from the
engine, the directory from exportdir. Errors the user can cause end in one
line on stderr: exit 2 for bad options or archives, 1 for a failed export.
"""

import errno
import gc
import os
import signal
import sqlite3
import sys
import time
import urllib.parse

import click

from . import engine, exportdir, posts

BUSY_TIMEOUT = 5.0


class Failure(Exception):
    """A one-line error for the user, with its exit code."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def open_archive(path):
    """A read-only connection to the archive, or Failure (exit 2)."""
    if not os.path.exists(path):
        raise Failure("no such file: %s" % path, 2)
    if os.path.isdir(path):
        raise Failure("%s is a directory, not an archive" % path, 2)
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, check_same_thread=False)
        engine.check_table(conn)
    except sqlite3.OperationalError as e:
        if _locked(e):
            raise _locked_failure(e) from None
        raise Failure("cannot read %s as an SQLite archive: %s" % (path, e), 2) from None
    except sqlite3.DatabaseError as e:
        raise Failure("cannot read %s as an SQLite archive: %s" % (path, e), 2) from None
    except engine.OptionError as e:
        raise Failure("%s: %s" % (path, e), 2) from None
    return conn


def _locked(error):
    return "locked" in str(error) or "busy" in str(error)


def _locked_failure(error):
    return Failure("the archive stayed locked by another process for %gs (%s); try again"
                   % (BUSY_TIMEOUT, error))


class Progress:
    """posts done / total, rate and ETA on one terminal line of stderr."""

    def __init__(self, total, enabled):
        self.total = total
        self.enabled = enabled
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, done, final=False):
        now = time.monotonic()
        if not self.enabled or (not final and now - self.shown < 0.2):
            return
        self.shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate and self.total > done else 0
        percent = 100.0 * done / self.total if self.total else 100.0
        sys.stderr.write(
            "\r%s/%s posts %5.1f%%  %s posts/s  ETA %d:%02d   " % (
                format(done, ","), format(self.total, ","), percent,
                format(int(rate), ","), left // 60, left % 60)
        )
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _size(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return "%d %s" % (n, unit) if unit == "bytes" else "%.1f %s" % (n, unit)
        n /= 1024.0


@click.command()
@click.argument("archive")
@click.option("--format", "fmt", default="json", show_default=True, help="json or csv")
@click.option("--did", help="Export only this account's posts (default: all posts)")
@click.option("--start-date", help="Only posts created on or after this day (YYYY-MM-DD, UTC)")
@click.option("--end-date", help="Only posts created on or before this day (YYYY-MM-DD, UTC)")
@click.option("--output", default="./exports", show_default=True,
              help="Directory in which to create <did>/<timestamp>/")
@click.option("--stdout", "to_stdout", is_flag=True, help="Stream only the posts file to stdout")
@click.option("--include-media", is_flag=True, help="Copy the exported posts' media into media/")
@click.option("--media-root", default=".", show_default=True,
              help="Directory that relative media file_path values are under")
@click.option("--batch-size", default=engine.DEFAULT_PAGE_SIZE, show_default=True,
              type=click.IntRange(1, engine.MAX_PAGE_SIZE), help="Posts per database page")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary")
@click.option("--check", is_flag=True,
              help="Write nothing; list each post the export would reject, exit 1 if any")
def bsky_export(archive, fmt, did, start_date, end_date, output, to_stdout, include_media,
                media_root, batch_size, quiet, check):
    """Export the posts of a bskyarchive ARCHIVE in the legacy app's format.

    Writes OUTPUT/<did or all>/<YYYY-MM-DD_HH-MM-SS>/ with posts.json or
    posts.csv and manifest.json (and media/ with --include-media), or with
    --stdout streams the posts file alone.
    """
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = _run(archive, fmt, did, start_date, end_date, output, to_stdout, include_media,
                    media_root, batch_size, quiet, check)
    except Failure as e:
        click.echo("Error: %s" % e, err=True)
        code = e.code
    except KeyboardInterrupt:
        click.echo("\nError: interrupted; nothing was left behind", err=True)
        code = 130
    sys.exit(code)


def _run(archive, fmt, did, start_date, end_date, output, to_stdout, include_media, media_root,
         batch_size, quiet, check):
    try:
        options = engine.ExportOptions(fmt, did, start_date, end_date, batch_size)
    except engine.OptionError as e:
        raise Failure(str(e), 2) from None
    if to_stdout and include_media:
        raise Failure("--include-media needs a directory export, not --stdout", 2)
    if include_media and not os.path.isdir(media_root):
        raise Failure("--media-root %s is not a directory" % media_root, 2)
    conn = open_archive(archive)
    try:
        if check:
            return _check(conn, options, quiet)
        shown = not quiet and sys.stderr.isatty()
        progress = Progress(engine.count(conn, options) if shown else 0, shown)
        # The objects of Datasette, click and the plugins are there to stay:
        # the cycle collector need not walk them again and again as pages
        # come and go (about a tenth of a 1M-post JSON export's time).
        gc.freeze()
        try:
            if to_stdout:
                result = exportdir.stream(conn, options, sys.stdout.buffer, progress)
            else:
                result = exportdir.write(
                    conn, options, output, include_media, media_root, progress,
                    warn=lambda message: click.echo("Warning: %s" % message, err=True))
        except posts.RowError as e:
            raise Failure("%s; %s" % (e, "the output is incomplete" if to_stdout else
                                      "no export was written")) from None
        except sqlite3.OperationalError as e:
            if _locked(e):
                raise _locked_failure(e) from None
            raise Failure("reading the archive failed: %s" % e) from None
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except OSError as e:
            reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is full",
                      errno.EFBIG: "the file size limit was reached"}.get(e.errno, e.strerror or e)
            raise Failure("writing the export failed: %s; %s" % (
                reason, "the output is incomplete" if to_stdout else "no export was written"
            )) from None
        finally:
            gc.unfreeze()
        progress(result.posts, final=True)
        if not quiet:
            click.echo("Exported %s posts, %s media files, %s in %.1fs: %s" % (
                format(result.posts, ","), format(result.media, ","), _size(result.bytes),
                result.seconds, result.path or "stdout"), err=True)
        return 0
    finally:
        conn.close()


def _check(conn, options, quiet):
    found = 0
    for problem in engine.problems(conn, options):
        found += 1
        click.echo(str(problem))
    if not quiet:
        click.echo("%d post(s) the %s export would reject" % (found, options.format), err=True)
    return 1 if found else 0
