"""``datasette bsky-export``: the legacy export from the command line.

A thin adapter: options are checked by click and the engine, bytes come
from the engine (parallel.py runs it in several processes), the directory
from exportdir. Every error the user can cause is a click exception: bad
options or archives exit 2 with click's usage message, a failed export 1
with one line; Ctrl-C or SIGTERM exits 130, having removed everything the
export wrote (once the export directory is in place, they are ignored: the
summary then says where it is). ``EXIT_STATUSES`` lists them all.
"""

import errno
import gc
import os
import signal
import sqlite3
import sys

import click
from click.core import ParameterSource

from . import (
    engine,
    exportdir,
    goscan,
    media,
    pager,
    parallel,
    selection,
    sqlitedb,
    terminal,
    workers,
)
from .errors import HttpError
from .messages import NO_POSTS
from .version import __version__

BUSY_TIMEOUT = sqlitedb.BUSY_TIMEOUT

# Every exit status of the command, with when (Markdown: README's list is made
# of these, tests/test_statuses.py checks them against the code).
EXIT_STATUSES = {
    0: "The export is written; `--check` finds no post it would reject; `--help`, `--version`.",
    1: "The export fails, with one line `Error: …` naming the post, the path or the reason, "
    "and no partial export left behind: a rejected row, a full disk, the archive locked by "
    "another process for more than %g seconds, a worker process that died. `--check` finds "
    "posts it would reject. Silently: the reader of `--stdout` goes away (`| head`). (An "
    "error nobody foresaw, a bug, exits 1 too, with Python's traceback.)" % BUSY_TIMEOUT,
    2: "A bad option, archive or path, every one alike, with click's usage message and one "
    "line `Error: …` naming it: an unknown `--format`, a date that is not a real day, an end "
    "date before the start date, options that do not go together (`--stdout` with "
    "`--output`), an ARCHIVE that is missing, unreadable or not a bskyarchive archive, an "
    "`--output` under a file or in a folder this user may not write to, a `--media-root` "
    "that is not a folder, a `--filter` on a column `posts` lacks or with an operation "
    "Datasette lacks, a `--search` in an archive without `posts_fts`, a `--where` that is not "
    "one expression, filters SQLite cannot run (an unknown column in `--where`, a full-text "
    "query it cannot parse).",
    130: "Interrupted (Ctrl-C, SIGTERM) before the export is in place, having removed all it "
    'wrote ("interrupted; nothing was left behind"). Once the export is in place, interrupts '
    "are ignored until the summary naming it is printed.",
}


def open_archive(path):
    """A read-only connection to the archive; click.BadParameter if it is not one."""
    try:
        conn = sqlitedb.connect_read_only(path, BUSY_TIMEOUT)
        engine.check_posts_table(conn)
    except sqlite3.OperationalError as e:
        if _locked(e):
            raise _locked_failure(e) from None
        raise _bad_archive(path, e) from None
    except (sqlite3.DatabaseError, engine.OptionError) as e:
        raise _bad_archive(path, e) from None
    return conn


def _bad_archive(path, error):
    if isinstance(error, engine.OptionError):
        message = "%s: %s" % (path, error)
    else:
        message = "cannot read %s as an SQLite archive: %s" % (path, error)
    return click.BadParameter(message, param_hint="'ARCHIVE'")


def _locked(error):
    return sqlitedb.is_busy(getattr(error, "sqlite_errorcode", None))


def _locked_failure(error):
    return click.ClickException(
        "the archive stayed locked by another process for %gs (%s); "
        "try again" % (BUSY_TIMEOUT, error)
    )


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _completed(path):
    """The export directory is in place (SIGINT and SIGTERM held): an
    interrupt from now on would leave it, so it no longer stops the run
    that says where it is."""
    for interrupt in workers.INTERRUPTS:
        signal.signal(interrupt, signal.SIG_IGN)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datasette bsky-export")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(engine.FORMATS),
    default="json",
    show_default=True,
    help="Format of the posts file",
)
@click.option("--did", help="Export only this account's posts (default: all posts)")
@click.option("--start-date", help="Only posts created on or after this day (YYYY-MM-DD, UTC)")
@click.option("--end-date", help="Only posts created on or before this day (YYYY-MM-DD, UTC)")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="COLUMN__OP=VALUE",
    help="Only posts this Datasette table filter selects, e.g. like_count__gte=10 "
    "(repeatable; all must hold)",
)
@click.option("--search", help="Only posts matching this full-text search, as Datasette's _search")
@click.option(
    "--where",
    "wheres",
    multiple=True,
    metavar="SQL",
    help="Only posts for which this SQL expression holds, as Datasette's _where (repeatable)",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default="./exports",
    show_default=True,
    help="Directory in which to create <did>/<timestamp>/",
)
@click.option("--stdout", "to_stdout", is_flag=True, help="Stream only the posts file to stdout")
@click.option("--include-media", is_flag=True, help="Copy the exported posts' media into media/")
@click.option(
    "--media-root",
    type=click.Path(exists=True, file_okay=False),
    default=".",
    show_default=True,
    help="Directory that relative media file_path values are under",
)
@click.option(
    "--allow-hard-links",
    is_flag=True,
    help="Copy media files that have more than one hard link (skipped by default)",
)
@click.option(
    "--batch-size",
    default=None,
    show_default="%d, or %s with --filter, --search or --where"
    % (engine.DEFAULT_PAGE_SIZE, format(engine.FILTERED_PAGE_SIZE, ",")),
    type=click.IntRange(1, engine.MAX_PAGE_SIZE),
    help="Posts per database page",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=parallel.default_jobs,
    show_default="the usable CPUs, at most %d" % parallel.MAX_JOBS,
    help="Processes that encode the export (1: this process alone)",
)
@click.option(
    "--range-posts",
    type=click.IntRange(1, parallel.MAX_RANGE_POSTS),
    default=parallel.RANGE_POSTS,
    hidden=True,
    help="Posts per range of a --jobs export (for tests)",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no summary")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; list each post the export would reject, exit 1 if any",
)
@click.pass_context
def bsky_export(
    ctx,
    archive,
    fmt,
    did,
    start_date,
    end_date,
    filters,
    search,
    wheres,
    output,
    to_stdout,
    include_media,
    media_root,
    allow_hard_links,
    batch_size,
    jobs,
    range_posts,
    quiet,
    check,
):
    """Export the posts of a bskyarchive ARCHIVE in the legacy app's format.

    Writes OUTPUT/<did or all>/<YYYY-MM-DD_HH-MM-SS>/ with posts.json or
    posts.csv and manifest.json (and media/ with --include-media), or with
    --stdout streams the posts file alone.
    """
    _refuse_conflicts(ctx, to_stdout, include_media, check)
    try:
        options = engine.ExportOptions(fmt, did, start_date, end_date, batch_size)
    except engine.OptionError as e:
        raise click.UsageError(str(e), ctx) from None
    if not (to_stdout or check):
        _check_output(ctx, output, options.did)
    handlers = {interrupt: signal.getsignal(interrupt) for interrupt in workers.INTERRUPTS}
    signal.signal(signal.SIGTERM, _terminate)
    conn = None
    try:
        conn = open_archive(archive)
        options = _selected(ctx, conn, archive, options, (filters, search, wheres))
        if check:
            code = _check(conn, options, (jobs, range_posts), quiet)
        else:
            code = _export(
                conn,
                options,
                (jobs, range_posts),
                quiet,
                to_stdout and sys.stdout.buffer,
                (output, include_media, media_root, allow_hard_links),
            )
    except KeyboardInterrupt:
        click.echo("\nError: interrupted; nothing was left behind", err=True)
        code = 130
    finally:
        if conn is not None:
            conn.close()
        for interrupt, handler in handlers.items():
            signal.signal(interrupt, handler)
    ctx.exit(code)


def _selected(ctx, conn, archive, options, selection_options):
    """``options`` narrowed by --filter, --search and --where, read by
    Datasette's own machinery (``selection``); a usage error unless SQLite
    can run them."""
    chosen = _selection(ctx, archive, *selection_options)
    if not chosen.where:
        return options
    try:
        options = options.narrowed(chosen)
        engine.check_filters(conn, options)
    except engine.OptionError as e:
        raise click.UsageError(str(e), ctx) from None
    return options


def _selection(ctx, archive, filters, search, wheres):
    """The --filter, --search and --where options as the engine's filters."""
    given = []
    for text in filters:
        key, equals, value = text.partition("=")
        if not equals or not key:
            raise click.UsageError(
                "--filter must be COLUMN=VALUE or COLUMN__OP=VALUE, not %s"
                % goscan.short_repr(text),
                ctx,
            )
        given.append((key, value))
    given += [("_search", search)] if search is not None else []
    given += [("_where", where) for where in wheres]
    if not given:
        return pager.NO_FILTERS
    try:
        return selection.command_line(os.path.abspath(archive), given).filters
    except HttpError as e:
        raise click.UsageError(e.message, ctx) from None


def _refuse_conflicts(ctx, to_stdout, include_media, check):
    given = {
        name
        for name in ("output", "media_root")
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    pairs = [
        (to_stdout and "output" in given, "--stdout", "--output"),
        (to_stdout and include_media, "--stdout", "--include-media"),
        (check and to_stdout, "--check", "--stdout"),
        (check and "output" in given, "--check", "--output"),
        (check and include_media, "--check", "--include-media"),
    ]
    for conflict, one, other in pairs:
        if conflict:
            raise click.UsageError("%s cannot be used with %s" % (one, other), ctx)


def _check_output(ctx, output, did):
    """A usage error (exit 2) for an --output under which no export can be made."""
    problem = exportdir.output_problem(output, did)
    if problem:
        raise click.BadParameter(problem, ctx, param_hint="'--output'")


def _export(conn, options, jobs, quiet, stdout, directory):
    progress = terminal.progress(conn, options, quiet, "Exporting")
    warnings = media.Warnings(lambda message: click.echo("Warning: %s" % message, err=True))
    # The objects of Datasette, click and the plugins are there to stay:
    # the cycle collector need not walk them again and again as pages
    # come and go (about a tenth of a 1M-post JSON export's time).
    gc.freeze()
    try:
        result = _write(conn, options, jobs, progress, stdout, directory, warnings)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        gc.unfreeze()
        if progress:
            progress.close()
    warnings.summary()
    if result.posts == 0:
        click.echo("Warning: %s" % NO_POSTS, err=True)
    if not quiet:
        click.echo(
            "Exported %s posts, %s media files, %s in %.1fs: %s"
            % (
                format(result.posts, ","),
                format(result.media, ","),
                terminal.size(result.bytes),
                result.seconds,
                result.path or "stdout",
            ),
            err=True,
        )
    return 0


def _write(conn, options, jobs, progress, stdout, directory, warnings):
    """The export (``jobs``: processes, posts per range); its failures as
    click exceptions."""
    lost = "the output is incomplete" if stdout else "no export was written"
    jobs, range_posts = jobs
    try:
        if stdout:
            return exportdir.stream(conn, options, stdout, progress, jobs, range_posts)
        output, include_media, media_root, allow_hard_links = directory
        return exportdir.write(
            conn,
            options,
            output,
            include_media,
            media_root,
            progress,
            warnings,
            jobs=jobs,
            allow_hard_links=allow_hard_links,
            range_posts=range_posts,
            completed=_completed,
        )
    except goscan.RowError as e:
        raise click.ClickException("%s; %s" % (e, lost)) from None
    except sqlite3.OperationalError as e:
        if _locked(e):
            raise _locked_failure(e) from None
        if options.filtered:  # a full-text query's syntax is only checked as it runs
            raise click.UsageError("%s; %s" % (engine.filters_failed(e), lost)) from None
        raise click.ClickException("reading the archive failed: %s; %s" % (e, lost)) from None
    except parallel.WorkerError as e:
        raise click.ClickException("%s; %s" % (e, lost)) from None
    except BrokenPipeError:
        raise
    except OSError as e:
        where = "to stdout" if stdout else "the export under %s" % directory[0]
        raise click.ClickException(
            "writing %s failed: %s; %s" % (where, _reason(e), lost)
        ) from None


def _reason(error):
    return {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is full",
        errno.EFBIG: "the file size limit was reached",
    }.get(error.errno, error.strerror or str(error))


def _check(conn, options, jobs, quiet):
    progress = terminal.progress(conn, options, quiet, "Checking")
    try:
        outcome = parallel.check(
            conn, options, sys.stdout.buffer, jobs[0], progress, range_posts=jobs[1]
        )
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        raise click.ClickException("writing to stdout failed: %s" % _reason(e)) from None
    except sqlite3.OperationalError as e:
        raise click.ClickException("reading the archive failed: %s" % e) from None
    except parallel.WorkerError as e:
        raise click.ClickException(str(e)) from None
    finally:
        if progress:
            progress.close()
    if not quiet:
        count = outcome.rejected
        click.echo(
            "%s %s would be rejected"
            % (format(count, ",") if count else "no", "post" if count < 2 else "posts"),
            err=True,
        )
    return 1 if outcome.rejected else 0
