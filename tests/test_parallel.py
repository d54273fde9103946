"""--jobs: the export cut into ranges and written by worker processes, in
order. Ranges are forced small (``range_posts``, the CLI's hidden
--range-posts) so that the small fixture archives split into many."""

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from datasette_bsky_export import engine, goscan, parallel, sqlitedb
from datasette_bsky_export.pager import range_keys
from helpers import CASES, FIXTURES, case_id, expected_bytes, interruptible, new_archive

DATASETTE = [sys.executable, "-m", "datasette", "bsky-export"]


SMALL = ["--range-posts", "7"]


def export(path, options, jobs, tmp_path, check=False, range_posts=7):
    """(bytes written, Outcome) of parallel.write (or check) into a file."""
    conn = sqlitedb.connect_read_only(path)
    target = tmp_path / ("out-%d" % jobs)
    try:
        with open(target, "wb") as out:
            outcome = (parallel.check if check else parallel.write)(
                conn, options, out, jobs, range_posts=range_posts
            )
    finally:
        conn.close()
    return target.read_bytes(), outcome


def case_options(case):
    return engine.ExportOptions(case["format"], case["did"], case["start_date"], case["end_date"])


@pytest.mark.parametrize("jobs", [1, 2, 3])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_case_in_small_ranges(archive, tmp_path, case, jobs):
    path = archive(case["db"])
    if "expect_error" in case:
        with pytest.raises(goscan.RowError) as raised:
            export(path, case_options(case), jobs, tmp_path)
        error = case["expect_error"]
        assert (raised.value.uri, raised.value.column) == (error["uri"], error["column"])
    else:
        got, outcome = export(path, case_options(case), jobs, tmp_path)
        assert got == expected_bytes(case)
        assert outcome.bytes == len(got)


def test_ranges_are_real_and_small_archives_take_one_process(archive, tmp_path, monkeypatch):
    path = archive("realistic.db")
    conn = sqlite3.connect(str(path))
    keys = list(range_keys(conn, 7))
    assert len(keys) == 1500 // 7  # the last range holds the rest
    assert list(range_keys(conn, 2000)) == []

    def no_pool(*args):
        raise AssertionError("workers started for 1,500 posts")

    monkeypatch.setattr(parallel, "_Pool", no_pool)
    got, _ = export(path, engine.ExportOptions("json"), 2, tmp_path, range_posts=2000)
    assert got == (FIXTURES / "expected" / "realistic-all.json").read_bytes()


def tie_archive(path, groups):
    """An archive whose created_at values come in tie groups of the given sizes."""
    posts, n = [], 0
    for day, size in enumerate(groups):
        created = "2024-01-%02d 10:00:00 +0000 UTC" % (day + 1)
        for _ in range(size):
            # uris out of rowid order, so ties are ordered by uri, not by insertion
            posts.append(
                {
                    "uri": "at://did:plc:a/app.bsky.feed.post/%04d" % ((n * 37) % 1000),
                    "cid": "cid",
                    "did": "did:plc:a",
                    "text": "hi",
                    "created_at": created,
                    "indexed_at": created,
                    "archived_at": created,
                    "reply_parent": "",
                    "embed_type": "",
                }
            )
            n += 1
    return new_archive(path, posts).conn


@pytest.mark.parametrize("every", [1, 2, 3, 5, 40])
def test_ranges_cut_ties_and_cover_every_post_once(tmp_path, every):
    conn = tie_archive(tmp_path / "ties.db", [7, 1, 12, 2, 9, 1, 1, 30])
    keys = list(range_keys(conn, every))
    legacy = [r[0] for r in conn.execute("SELECT uri FROM posts ORDER BY created_at DESC, uri ASC")]
    bounds = [None, *keys, None]
    options = engine.ExportOptions("json", page_size=2)
    seen = []
    for after, until in zip(bounds, bounds[1:]):
        pager = options.pager(after, until)
        in_range = []
        while not pager.done:
            in_range += [row[0] for row in pager.fetch(conn)]
        assert every >= 40 or len(in_range) == every or until is None
        seen += in_range
    assert seen == legacy  # each post exactly once, in the legacy order
    if every in (2, 5):  # some cut falls inside a tie group: both sides hold ties
        assert any(a[0] == b[0] for a, b in zip(keys, keys[1:]))


@pytest.mark.parametrize("jobs", [2, 3])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_ties_straddling_cuts_export_in_legacy_order(tmp_path, jobs, fmt):
    tie_archive(tmp_path / "ties.db", [7, 1, 12, 2, 9, 1, 1, 30]).close()
    options = engine.ExportOptions(fmt, page_size=2)
    single, _ = export(tmp_path / "ties.db", options, 1, tmp_path)
    many, outcome = export(tmp_path / "ties.db", options, jobs, tmp_path, range_posts=3)
    assert many == single and outcome.posts == 63


def with_bad_rows(path, positions):
    """Make the posts at these positions of the legacy order (realistic.db)
    rows the export rejects (text NULL); returns their uris in legacy order."""
    conn = sqlite3.connect(str(path))
    order = [r[0] for r in conn.execute("SELECT uri FROM posts ORDER BY created_at DESC, uri")]
    bad = [order[p] for p in sorted(positions)]
    conn.executemany("UPDATE posts SET text = NULL WHERE uri = ?", [(u,) for u in bad])
    conn.commit()
    conn.close()
    return bad


@pytest.mark.parametrize("positions", [[1400], [700, 701], [300, 1499], [20, 27, 900]])
@pytest.mark.parametrize("jobs", [2, 3])
def test_the_first_rejected_row_in_legacy_order_fails_the_export(
    archive, tmp_path, positions, jobs
):
    """A later range with a bad row may be met first by another worker; the
    error is still the first bad row in the legacy order."""
    path = archive("realistic.db")
    bad = with_bad_rows(path, positions)
    for fmt in ("json", "csv"):
        with pytest.raises(goscan.RowError) as raised:
            export(path, engine.ExportOptions(fmt), jobs, tmp_path, range_posts=25)
        assert (raised.value.uri, raised.value.column) == (bad[0], "text")
    got, outcome = export(
        path, engine.ExportOptions("json"), jobs, tmp_path, check=True, range_posts=25
    )
    lines = got.decode().splitlines()
    assert len(lines) == len(bad)
    assert all(line.startswith("post %s: column text: " % uri) for line, uri in zip(lines, bad))
    assert outcome.rejected == len(bad) and outcome.posts == 1500


@pytest.mark.parametrize("jobs", ["2", "3"])
def test_check_in_parallel_lists_what_one_process_lists(archive, jobs):
    path = str(archive("rejects.db"))
    one = subprocess.run(DATASETTE + [path, "--check", "--jobs", "1"], capture_output=True)
    many = subprocess.run(
        DATASETTE + [path, "--check", "--jobs", jobs, *SMALL], capture_output=True
    )
    assert one.returncode == many.returncode == 1
    assert many.stdout == one.stdout and one.stdout.count(b"\n") > 20
    assert many.stderr == one.stderr == b"%d posts would be rejected\n" % one.stdout.count(b"\n")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_cli_directory_and_stdout_with_jobs(archive, tmp_path, fmt):
    path = str(archive("realistic.db"))
    golden = (FIXTURES / "expected" / ("realistic-all." + fmt)).read_bytes()
    piped = subprocess.run(
        DATASETTE + [path, "--format", fmt, "--stdout", "--jobs", "2", *SMALL],
        capture_output=True,
    )
    assert piped.returncode == 0 and piped.stdout == golden
    out = tmp_path / "out"
    done = subprocess.run(
        DATASETTE
        + [path, "--format", fmt, "--output", str(out), "--jobs", "3", "--batch-size", "3"]
        + SMALL,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    (stamp,) = os.listdir(out / "all")
    assert (out / "all" / stamp / ("posts." + fmt)).read_bytes() == golden
    manifest = json.loads((out / "all" / stamp / "manifest.json").read_text())
    assert manifest["post_count"] == 1500


# ---------------------------------------------------------------------------
# Processes killed and interrupted


def workers_of(pid, count, timeout=30):
    """The pids of ``count`` worker processes of ``pid``, once they run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                children = [int(c) for c in f.read().split()]
        except FileNotFoundError:
            children = []
        if len([c for c in children if is_worker(c)]) >= count:
            return children
        time.sleep(0.005)
    raise AssertionError("the workers never started")


def is_worker(pid):
    """Whether ``pid`` runs a worker already (a child not yet exec'ed does not)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"workers.main()" in f.read()
    except FileNotFoundError:
        return False


def gone(pid, timeout=10):
    """True once ``pid`` has exited (a zombie nobody reaps counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.02)
    return False


TAG = "BSKY_EXPORT_TEST_TAG"


def tagged_pids(env):
    """The processes that carry ``env``'s tag: an export and its workers."""
    tag = ("%s=%s" % (TAG, env[TAG])).encode()
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                if tag in f.read().split(b"\0"):
                    found.append(int(entry))
        except (OSError, ValueError):  # not a process, gone, or a zombie
            continue
    return found


@pytest.fixture
def tagged(tmp_path):
    """An environment whose processes are found by a tag; whatever of them
    still runs at the end (a stopped worker of a failed test) is killed."""
    env = dict(os.environ, **{TAG: str(tmp_path)})
    yield env
    for pid in tagged_pids(env):
        os.kill(pid, signal.SIGKILL)


def start_export(path, output, extra=(), **kwargs):
    args = ["--stdout"] if output is None else ["--output", str(output)]
    return subprocess.Popen(
        DATASETTE
        + [str(path), "--jobs", "2", "--batch-size", "1", "--range-posts", "5", *args, *extra],
        **kwargs,
    )


def stopped_workers(proc):
    """Freeze the export mid-way: stop both workers as soon as they run."""
    workers = workers_of(proc.pid, 2)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    return workers


def test_worker_killed_fails_the_export_and_leaves_nothing(archive, tmp_path, tagged):
    output = tmp_path / "out"
    proc = start_export(
        archive("realistic.db"), output, stderr=subprocess.PIPE, text=True, env=tagged
    )
    workers = stopped_workers(proc)
    assert any(".partial-" in name for name in os.listdir(output / "all"))
    os.kill(workers[1], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "a worker process of the export ended (killed by signal 9)" in err
    assert "no export was written" in err and "Traceback" not in err
    assert not output.exists()
    assert all(gone(pid) for pid in workers)


def test_worker_killed_on_stdout_never_ends_cleanly(archive, tmp_path, tagged):
    with open(tmp_path / "stdout", "wb") as out:
        proc = start_export(
            archive("realistic.db"), None, stdout=out, stderr=subprocess.PIPE, env=tagged
        )
        workers = stopped_workers(proc)
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and b"the output is incomplete" in err
    assert not (tmp_path / "stdout").read_bytes().endswith(b"\n]\n")
    assert all(gone(pid) for pid in workers)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_parent_ends_its_workers(archive, tmp_path, tagged, sig):
    output = tmp_path / "out"
    proc = start_export(
        archive("realistic.db"),
        output,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=interruptible,
        env=tagged,
    )
    workers = stopped_workers(proc)
    os.killpg(proc.pid, sig)  # as the terminal's Ctrl-C: the parent's process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert not output.exists()
    assert all(gone(pid) for pid in workers)


def test_parent_killed_leaves_no_worker_behind(archive, tmp_path, tagged):
    output = tmp_path / "out"
    proc = start_export(archive("realistic.db"), output, stderr=subprocess.DEVNULL, env=tagged)
    workers = workers_of(proc.pid, 2)
    proc.kill()
    proc.wait(timeout=30)
    assert all(gone(pid) for pid in workers), "a worker outlived its parent"
    leftovers = os.listdir(output / "all")
    assert leftovers and all(".partial-" in name for name in leftovers)  # nothing looks done


INTERRUPTED = "\nError: interrupted; nothing was left behind\n"


# `datasette bsky-export` without Datasette's own command line (half of its
# start-up): the same command, sooner at its export, for the many runs below.
COMMAND = [
    sys.executable,
    "-c",
    "from datasette_bsky_export.cli import bsky_export; bsky_export()",
]


def interrupted_run(path, output, env, sig, delay):
    """(exit status, stderr, seconds from the start of the export to its
    end) of an export to ``output`` sent ``sig`` ``delay`` seconds after the
    export began (its first directory appeared), unless it ended before."""
    proc = subprocess.Popen(
        COMMAND + [str(path), "--jobs", "2", "--range-posts", "100", "--output", str(output)],
        cwd=output.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 60
    while not output.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    began = time.monotonic()
    try:
        proc.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode(), time.monotonic() - began


def what_is_on_disk(output):
    """None (nothing), or the one complete export's path; fails on anything else."""
    if not output.exists():
        return None
    (did,) = os.listdir(output)
    (stamp,) = os.listdir(output / did)  # no partial directory beside it
    assert not stamp.startswith("."), stamp
    assert sorted(os.listdir(output / did / stamp)) == ["manifest.json", "posts.json"]
    posts_file = output / did / stamp / "posts.json"
    assert posts_file.read_bytes() == (FIXTURES / "expected" / "realistic-all.json").read_bytes()
    return str(output / did / stamp)


def test_interrupts_at_random_moments_leave_nothing_or_the_export(archive, tmp_path, tagged):
    """200 SIGINTs and 50 SIGTERMs, each at a random moment of a --jobs 2
    export (from the moment its first directory appears to its end): each
    run leaves either nothing, and says so, or the complete export, and says
    where; no process stays."""
    import concurrent.futures
    import random

    path = archive("realistic.db")
    status, err, length = interrupted_run(path, tmp_path / "whole", tagged, signal.SIGINT, 120)
    assert status == 0 and err.startswith("Exported 1,500 posts")
    seed = random.randrange(1 << 32)
    chance = random.Random(seed)
    plan = [signal.SIGINT] * 200 + [signal.SIGTERM] * 50
    runs = [(n, sig, chance.uniform(0, length)) for n, sig in enumerate(plan)]

    def one(run):
        n, sig, delay = run
        output = tmp_path / ("out-%d" % n)
        status, err, _ = interrupted_run(path, output, tagged, sig, delay)
        return run, status, err, what_is_on_disk(output)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, runs))
    outcomes = collections.Counter()
    for (n, sig, delay), status, err, export in results:
        where = "run %d (seed %d, %s after %.3fs): %d %r" % (n, seed, sig.name, delay, status, err)
        if export is not None:  # the signal came too late to stop it
            # Ignored once the export is in place; after the summary, as for
            # any command, SIGTERM ends the process and Ctrl-C is click's Abort,
            # or Python's own note when it comes as the interpreter shuts down.
            late = {0: "", -sig: "", 1: "\nAborted!\n"}
            assert status in late, where
            assert err.startswith("Exported 1,500 posts, 0 media files, 1.8 MB in "), where
            summary, _, after = err.partition("\n")
            assert summary.endswith(": %s" % export), where
            at_exit = (
                status == 0
                and sig == signal.SIGINT
                and after.startswith("Exception ignored in")
                and after.endswith("KeyboardInterrupt: \n")
            )
            assert at_exit or err.endswith(": %s\n%s" % (export, late[status])), where
            outcomes["complete"] += 1
        elif status == 130:
            assert err.endswith(INTERRUPTED) and "Traceback" not in err, where
            outcomes["interrupted"] += 1
        else:  # before the command ran: killed by the signal, or click's Abort
            assert status in (-sig, 1) and "Exported" not in err, where
            outcomes["before it ran"] += 1
    assert tagged_pids(tagged) == [], "a process of an export was left behind"
    assert outcomes["interrupted"] > 100, outcomes


@pytest.mark.parametrize("window", [(None, None), ("2024-01-01", "2025-01-01")])
def test_range_queries_stay_on_the_created_at_index(connect, window):
    """A range's pages scan idx_posts_created_at between both of its keys (its
    last page stops at its end), and the cuts count on that index alone."""
    conn = connect("realistic.db")
    options = engine.ExportOptions("json", "did:plc:454ml6lg4tjfcz4kaedcmpb5", *window)
    statements = []
    conn.set_trace_callback(statements.append)
    keys = list(range_keys(conn, 100, options.start_bound, options.end_bound))
    conn.set_trace_callback(None)
    pager = options.pager(keys[2], keys[3])
    pager.last = keys[2]
    plan = [
        row[3]
        for row in conn.execute("EXPLAIN QUERY PLAN " + pager.page_sql()[0], pager.page_sql()[1])
    ]
    assert plan[0] == (
        "SEARCH posts USING INDEX idx_posts_created_at (created_at>? AND created_at<?)"
    )
    counting = [s for s in statements if s.startswith(("SELECT created_at FROM", "SELECT count"))]
    assert len(counting) > len(keys)
    for statement in counting:
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement))
        assert "COVERING INDEX idx_posts_created_at" in plan and "posts USING INDEX" not in plan


# ---------------------------------------------------------------------------
# Workers import only the plugin

PLANTED = ["struct.py", "pickle.py", "sqlite3/__init__.py", "datasette_bsky_export/__init__.py"]


def plant(directory, markers):
    """Modules in ``directory`` that leave a marker in ``markers`` and fail
    when imported: stdlib names, a package and a decoy of this plugin."""
    for name in PLANTED:
        path = directory / name
        path.parent.mkdir(exist_ok=True)
        marker = markers / name.replace("/", "-")
        path.write_text("open(%r, 'w').close()\nraise ImportError('planted')\n" % str(marker))


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_workers_import_nothing_from_the_current_directory(archive, tmp_path, fmt):
    path = str(archive("realistic.db"))
    here, markers = tmp_path / "here", tmp_path / "markers"
    here.mkdir()
    markers.mkdir()
    plant(here, markers)
    # The planted modules are real traps: a plain `python -c` meets them all.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "for m in ('struct', 'pickle', 'sqlite3', 'datasette_bsky_export'):"
            "\n  try: __import__(m)\n  except ImportError: pass",
        ],
        cwd=here,
        check=True,
    )
    assert len(os.listdir(markers)) == len(PLANTED)
    for marker in markers.iterdir():
        marker.unlink()
    # `datasette` as installed (its script's directory, not the current one, on sys.path)
    command = [os.path.join(os.path.dirname(sys.executable), "datasette"), "bsky-export", path]
    command += ["--format", fmt, "--stdout", "--batch-size", "1", "--quiet"]
    outputs = {}
    for jobs in ("1", "2"):
        with open(tmp_path / ("out-" + jobs), "wb") as out:
            proc = subprocess.Popen(
                command + ["--jobs", jobs, "--range-posts", "50"],
                cwd=here,
                stdout=out,
                stderr=subprocess.PIPE,
            )
            if jobs == "2":
                workers_of(proc.pid, 2)  # they do run
            _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and err == b"", err
        outputs[jobs] = (tmp_path / ("out-" + jobs)).read_bytes()
    assert os.listdir(markers) == []
    assert (
        outputs["2"]
        == outputs["1"]
        == (FIXTURES / "expected" / ("realistic-all." + fmt)).read_bytes()
    )


def test_the_worker_command_is_isolated_and_names_this_package():
    command = parallel.worker_command()
    assert command[:3] == [sys.executable, "-I", "-c"]
    code = command[3]
    assert repr(os.path.dirname(os.path.abspath(parallel.__file__))) in code
    assert "''" not in code and repr(os.getcwd()) not in code


def test_worker_sqlite_error_keeps_its_code(tmp_path):
    """A worker's SQLite error crosses the pipe with its error code: a range
    read while a writer holds the archive comes back as SQLITE_BUSY, which
    the CLI reports as a locked archive (by code, not by message)."""
    from datasette_bsky_export import cli, workers

    db = tmp_path / "locked.db"
    db.write_bytes((FIXTURES / "realistic.db").read_bytes())
    holder = sqlite3.connect(str(db))
    holder.execute("BEGIN EXCLUSIVE")
    conn = sqlitedb.connect_read_only(str(db), timeout=0)
    read, write = os.pipe()
    try:
        message = workers._one_range(
            conn, engine.ExportOptions("json"), False, (None, None), None, -1, 3
        )
        workers.send(write, message)
        kind, index, payload = workers.receive(read)
    finally:
        os.close(read)
        os.close(write)
        conn.close()
        holder.rollback()
        holder.close()
    assert (kind, index, payload[0]) == ("error", 3, "sqlite")
    error = parallel._error(payload)
    assert isinstance(error, sqlite3.OperationalError)
    assert error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    assert cli._locked(error)
    assert not cli._locked(sqlite3.OperationalError("no such table: locked_busy"))
