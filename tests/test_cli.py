"""`datasette bsky-export`: goldens through the CLI, the export directory,
media, --check, errors, and that nothing half-done is left behind."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from datasette.cli import cli

from datasette_bsky_export import __version__, exportdir
from helpers import CASES, DID0, FIXTURES, case_id, expected_bytes, interruptible

DATASETTE = [sys.executable, "-m", "datasette"]


def run(*args):
    return CliRunner().invoke(cli, ["bsky-export", *map(str, args)], prog_name="datasette")


def case_args(case):
    args = ["--format", case["format"]]
    for option in ("did", "start_date", "end_date"):
        if case[option] is not None:
            args += ["--" + option.replace("_", "-"), case[option]]
    return args


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case_to_stdout(archive, case):
    result = run(archive(case["db"]), "--stdout", *case_args(case))
    if "expect_error" in case:
        error = case["expect_error"]
        assert result.exit_code == 1
        assert error["column"] in result.stderr
        if error["uri"]:
            assert error["uri"] in result.stderr
        assert "output is incomplete" in result.stderr
        assert "Traceback" not in result.output
    else:
        assert result.exit_code == 0, result.stderr
        assert result.stdout_bytes == expected_bytes(case)


USAGE = (
    "Usage: datasette bsky-export [OPTIONS] ARCHIVE\n"
    "Try 'datasette bsky-export --help' for help.\n\n"
)


def assert_usage_error(result, message):
    """Exit 2 with click's usage message and one error line, as every bad option fails."""
    assert result.exit_code == 2
    assert result.stderr.startswith(USAGE), result.stderr
    (line,) = result.stderr[len(USAGE) :].splitlines()
    assert line.startswith("Error: ") and message in line, line
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--format", "xml"], "Invalid value for '--format': 'xml' is not one of 'json', 'csv'."),
        (["--start-date", "2024-13-01"], "start date 2024-13-01 is not a real date"),
        (["--end-date", "yesterday"], "end date must be a date as YYYY-MM-DD"),
        (["--start-date", "2024-03-01", "--end-date", "2024-02-01"], "is before start date"),
        (["--batch-size", "0"], "Invalid value for '--batch-size': 0 is not in the range"),
        (["--jobs", "0"], "Invalid value for '--jobs': 0 is not in the range"),
        (
            ["--jobs", "2", "--range-posts", "99999999999999999999"],
            "Invalid value for '--range-posts': 99999999999999999999 is not in the range "
            "1<=x<=1000000000.",
        ),
        (["--range-posts", "0"], "Invalid value for '--range-posts': 0 is not in the range"),
        (["--include-media"], "--stdout cannot be used with --include-media"),
        (["--output", "somewhere"], "--stdout cannot be used with --output"),
        (["--check"], "--check cannot be used with --stdout"),
    ],
)
def test_bad_options_fail_as_usage_errors(archive, args, message):
    assert_usage_error(run(archive("realistic.db"), "--stdout", *args), message)


def test_check_refuses_output_and_media(archive, tmp_path):
    db = archive("realistic.db")
    assert_usage_error(
        run(db, "--check", "--output", tmp_path / "out"), "--check cannot be used with --output"
    )
    assert_usage_error(
        run(db, "--check", "--include-media"), "--check cannot be used with --include-media"
    )
    assert not (tmp_path / "out").exists()


def test_bad_paths_name_the_path(tmp_path):
    (tmp_path / "notes.txt").write_text("not sqlite")
    (tmp_path / "afile").write_text("")
    import sqlite3

    sqlite3.connect(str(tmp_path / "empty.db")).execute("CREATE TABLE other (x)")
    db = tmp_path / "empty.db"
    for args, message in [
        (
            [tmp_path / "missing.db"],
            "Invalid value for 'ARCHIVE': File '%s' does not exist." % (tmp_path / "missing.db"),
        ),
        ([tmp_path], "Invalid value for 'ARCHIVE': File '%s' is a directory." % tmp_path),
        (
            [tmp_path / "notes.txt"],
            "Invalid value for 'ARCHIVE': cannot read %s as an SQLite "
            "archive" % (tmp_path / "notes.txt"),
        ),
        ([db], "Invalid value for 'ARCHIVE': %s: no posts table" % db),
        (
            [db, "--output", tmp_path / "afile"],
            "Invalid value for '--output': Directory '%s' is a file." % (tmp_path / "afile"),
        ),
        (
            [db, "--include-media", "--media-root", tmp_path / "nowhere"],
            "Invalid value for '--media-root': Directory '%s' does not exist."
            % (tmp_path / "nowhere"),
        ),
    ]:
        assert_usage_error(run(*args), message)


def test_output_where_no_export_can_be_made(archive, tmp_path):
    """An --output under a file, or whose folder for the export is a file, is
    a bad path (exit 2) found before anything is written."""
    db = archive("realistic.db")
    (tmp_path / "afile").write_text("")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "all").write_text("")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    under_file = tmp_path / "afile" / "exports"
    assert_usage_error(
        run(db, "--output", under_file),
        "Invalid value for '--output': cannot create the export under %s: %s is not a "
        "directory" % (under_file, tmp_path / "afile"),
    )
    assert_usage_error(
        run(db, "--output", tmp_path / "out"),
        "Invalid value for '--output': cannot create the export under %s: %s is not a "
        "directory" % (tmp_path / "out", tmp_path / "out" / "all"),
    )
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert run(db, "--did", DID0, "--output", tmp_path / "out").exit_code == 0  # out/<did> is free


def test_output_in_a_folder_this_user_may_not_write(archive, tmp_path, monkeypatch):
    """(The tests run as root, who may write anywhere: os.access answers as
    it would for another user.)"""
    locked = tmp_path / "locked"
    locked.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: path != str(locked) and access(path, mode))
    assert_usage_error(
        run(archive("realistic.db"), "--output", locked / "exports"),
        "Invalid value for '--output': cannot create the export under %s: %s is not "
        "writable" % (locked / "exports", locked),
    )
    assert os.listdir(locked) == []


def test_help_version_and_format_choice():
    short = run("-h")
    assert short.exit_code == 0 and short.stdout == run("--help").stdout
    assert "--format [json|csv]" in short.stdout and "--jobs INTEGER RANGE" in short.stdout
    assert "--range-posts" not in short.stdout  # hidden: for tests
    version = run("--version")
    assert version.exit_code == 0
    assert version.stdout == "datasette bsky-export, version %s\n" % __version__


def only_export_dir(output, did):
    (stamp,) = os.listdir(output / did)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", stamp)
    return output / did / stamp


def manifest(path):
    text = (path / "manifest.json").read_text()
    data = json.loads(text)
    timestamp = data.pop("export_timestamp")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", timestamp)
    assert text.endswith("}\n") and text.startswith('{\n  "export_format": ')
    return data, text


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_directory_export(archive, tmp_path, fmt):
    output = tmp_path / "out"
    result = run(
        archive("realistic.db"),
        "--format",
        fmt,
        "--did",
        DID0,
        "--start-date",
        "2023-12-21",
        "--end-date",
        "2025-01-19",
        "--output",
        output,
    )
    assert result.exit_code == 0, result.stderr
    path = only_export_dir(output, DID0)
    assert sorted(os.listdir(path)) == ["manifest.json", "posts." + fmt]
    golden = FIXTURES / "expected" / ("realistic-did0-window0." + fmt)
    assert (path / ("posts." + fmt)).read_bytes() == golden.read_bytes()
    data, text = manifest(path)
    assert list(data) == [
        "export_format",
        "post_count",
        "media_count",
        "date_range",
        "version",
        "files",
    ]
    posts = len(json.loads((FIXTURES / "expected" / "realistic-did0-window0.json").read_bytes()))
    assert data == {
        "export_format": fmt,
        "post_count": posts,
        "media_count": 0,
        "date_range": {"start_date": "2023-12-21T00:00:00Z", "end_date": "2025-01-19T23:59:59Z"},
        "version": data["version"],
        "files": ["posts." + fmt],
    }
    assert data["version"].startswith("datasette-bsky-export ")
    assert "Exported %d posts, 0 media files" % posts in result.stderr
    assert str(path) in result.stderr


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_posts_file_handed_to_writeback_stays_whole(archive, tmp_path, monkeypatch):
    calls = []
    fadvise = os.posix_fadvise

    def record(fd, offset, length, advice):
        calls.append((offset, length, advice))
        fadvise(fd, offset, length, advice)

    monkeypatch.setattr(exportdir, "_WRITEBACK_BYTES", 4096)
    monkeypatch.setattr(os, "posix_fadvise", record)
    output = tmp_path / "out"
    result = run(archive("realistic.db"), "--batch-size", "7", "--output", output)
    assert result.exit_code == 0, result.stderr
    posts = (only_export_dir(output, "all") / "posts.json").read_bytes()
    assert posts == (FIXTURES / "expected" / "realistic-all.json").read_bytes()
    assert len(calls) > 10 and {advice for _, _, advice in calls} == {os.POSIX_FADV_DONTNEED}
    # each call goes back to where the one before started: no gap, in order
    assert calls[0][0] == 0
    for (offset, length, _), (next_offset, next_length, _) in zip(calls, calls[1:]):
        assert offset <= next_offset <= offset + length < next_offset + next_length
    assert calls[-1][0] + calls[-1][1] <= len(posts)


def test_manifest_open_date_range_and_all(archive, tmp_path):
    import sqlite3

    db = archive("realistic.db")
    output = tmp_path / "out"
    assert run(db, "--start-date", "2024-05-01", "--output", output).exit_code == 0
    data, text = manifest(only_export_dir(output, "all"))
    (count,) = (
        sqlite3.connect(str(db))
        .execute("SELECT count(*) FROM posts WHERE created_at >= '2024-05-01 00:00:00 +0000 UTC'")
        .fetchone()
    )
    assert 0 < data["post_count"] == count < 1500
    assert data["date_range"] == {
        "start_date": "2024-05-01T00:00:00Z",
        "end_date": "0001-01-01T00:00:00Z",
    }


def test_zero_posts_directory_holds_the_manifest_and_empty_media(archive, tmp_path):
    output = tmp_path / "out"
    result = run(
        archive("realistic.db"), "--did", "did:plc:nobody", "--include-media", "--output", output
    )
    assert result.exit_code == 0
    path = only_export_dir(output, "did:plc:nobody")
    assert sorted(os.listdir(path)) == ["manifest.json", "media"]  # as the legacy left it
    assert os.listdir(path / "media") == []
    data, text = manifest(path)
    assert data == {
        "export_format": "json",
        "post_count": 0,
        "media_count": 0,
        "version": data["version"],
        "files": [],
    }
    assert '"files": []\n}\n' in text


def media_root_for(db_path, root, skip=()):
    """Create the media files of DID0's posts under root (all but `skip`)."""
    import sqlite3

    conn = sqlite3.connect(str(db_path))
    rows = conn.execute(
        "SELECT m.file_path FROM media m JOIN posts p ON p.uri = m.post_uri "
        "WHERE p.did = ? AND p.has_media = 1",
        (DID0,),
    ).fetchall()
    made = []
    for (file_path,) in rows:
        if file_path in skip:
            continue
        target = root / file_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"image " + file_path.encode())
        made.append(file_path)
    return [r[0] for r in rows], made


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_media_copied_and_missing_reported(archive, tmp_path, monkeypatch, jobs):
    db = archive("realistic.db")
    root = tmp_path / "media-root"
    all_paths, _ = media_root_for(db, root)
    missing = all_paths[0]
    (root / missing).unlink()
    output = tmp_path / "out"
    result = run(
        db,
        "--did",
        DID0,
        "--include-media",
        "--media-root",
        root,
        "--output",
        output,
        "--jobs",
        jobs,
        "--range-posts",
        "50",  # --jobs 2 splits 1,500 posts
    )
    assert result.exit_code == 0, result.stderr
    path = only_export_dir(output, DID0)
    names = sorted(os.listdir(path / "media"))
    assert names == sorted({os.path.basename(p) for p in all_paths} - {os.path.basename(missing)})
    for name in names:
        source = next(p for p in all_paths if p.endswith("/" + name))
        assert (path / "media" / name).read_bytes() == b"image " + source.encode()
    assert missing in result.stderr and "Warning" in result.stderr
    data, _ = manifest(path)
    assert data["media_count"] == len(names)
    assert data["files"] == ["media/ (%d files)" % len(names), "posts.json"]
    assert (path / "posts.json").read_bytes() == (
        FIXTURES / "expected" / "realistic-did0.json"
    ).read_bytes()


def test_media_outside_the_root_is_refused(archive, tmp_path):
    import sqlite3

    db = archive("realistic.db")
    root = tmp_path / "media-root"
    all_paths, _ = media_root_for(db, root)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    os.symlink(secret, root / "link.jpg")
    conn = sqlite3.connect(str(db))
    hostile = [str(secret), "../secret.jpg", "link.jpg"]
    for bad, good in zip(hostile, all_paths):
        conn.execute("UPDATE media SET file_path = ? WHERE file_path = ?", (bad, good))
    conn.commit()
    conn.close()
    output = tmp_path / "out"
    result = run(db, "--did", DID0, "--include-media", "--media-root", root, "--output", output)
    assert result.exit_code == 0
    path = only_export_dir(output, DID0)
    for name in os.listdir(path / "media"):
        assert (path / "media" / name).read_bytes() != b"secret"
    assert result.stderr.count("outside the media root") == 3


def test_check_lists_rejects(archive):
    result = run(archive("rejects.db"), "--check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    expected = [
        c["expect_error"]
        for c in CASES
        if c["db"] == "rejects.db" and c["format"] == "json" and "expect_error" in c
    ]
    assert len(lines) == len(expected)
    for error in expected:
        assert any(
            error["column"] in line and (error["uri"] or "NULL uri") in line for line in lines
        ), error
    assert result.stderr == "%d posts would be rejected\n" % len(expected)
    one = run(archive("rejects.db"), "--check", "--did", "did:plc:rej-text-null")
    assert one.exit_code == 1 and one.stdout.count("\n") == 1
    assert one.stderr == "1 post would be rejected\n"
    clean = run(archive("rejects.db"), "--check", "--did", "did:plc:rejects-clean")
    assert clean.exit_code == 0 and clean.stdout == ""
    assert clean.stderr == "no post would be rejected\n"
    assert run(archive("rejects.db"), "--check", "--quiet").stderr == ""


def test_archive_is_opened_read_only(archive, tmp_path):
    db = archive("realistic.db")
    before = (db.read_bytes(), os.stat(db).st_mtime_ns)
    os.chmod(db, 0o444)
    assert run(db, "--output", tmp_path / "out").exit_code == 0
    assert run(db, "--check").exit_code == 0
    assert (db.read_bytes(), os.stat(db).st_mtime_ns) == before
    assert sorted(os.listdir(tmp_path)) == ["out", "realistic.db"]  # no -journal, -wal


def test_failed_export_leaves_nothing(archive, tmp_path):
    output = tmp_path / "out"
    result = run(archive("rejects.db"), "--did", "did:plc:rej-text-null", "--output", output)
    assert result.exit_code == 1
    assert "column text" in result.stderr and "no export was written" in result.stderr
    assert not output.exists()


SMALL_RANGES = ["--range-posts", "50"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_full_disk_says_so_and_leaves_nothing(archive, tmp_path, jobs):
    """A size limit on the output stands in for a full disk."""
    import resource

    output = tmp_path / "out"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run(
        DATASETTE
        + ["bsky-export", str(archive("realistic.db")), "--output", str(output), "--jobs", jobs]
        + SMALL_RANGES,
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error: writing the export under %s failed: the file size limit was "
        "reached; no export was written\n" % output
    )
    assert "Traceback" not in proc.stderr
    assert not output.exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_full_disk_on_stdout(archive, jobs):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            DATASETTE
            + ["bsky-export", str(archive("realistic.db")), "--stdout", "--jobs", jobs]
            + SMALL_RANGES,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error: writing to stdout failed: the disk is full; the output is incomplete\n"
    )


def test_check_to_a_full_disk(archive):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            DATASETTE + ["bsky-export", str(archive("rejects.db")), "--check"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert proc.stderr == "Error: writing to stdout failed: the disk is full\n"


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 130)])
def test_interrupted_export_leaves_nothing(archive, tmp_path, sig, code):
    output = tmp_path / "out"
    proc = subprocess.Popen(
        DATASETTE
        + [
            "bsky-export",
            str(archive("realistic.db")),
            "--batch-size",
            "1",
            "--output",
            str(output),
        ],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    wait_for_partial(output / "all")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert "interrupted" in err
    assert not output.exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_while_waiting_for_a_locked_archive(archive, tmp_path, sig):
    """Ctrl-C or SIGTERM while another process's lock keeps the archive from
    opening: 130 like any interrupt (not click's "Aborted!", 1)."""
    import sqlite3

    db = archive("realistic.db")
    holder = sqlite3.connect(str(db))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = subprocess.Popen(
            DATASETTE + ["bsky-export", str(db), "--output", str(tmp_path / "out")],
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=interruptible,
        )
        wait_for_open(proc.pid, db)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert proc.returncode == 130
    assert err == "\nError: interrupted; nothing was left behind\n"
    assert not (tmp_path / "out").exists()


def wait_for_open(pid, path):
    """Until process ``pid`` has the file ``path`` open."""
    deadline = time.monotonic() + 30
    fds = "/proc/%d/fd" % pid
    while time.monotonic() < deadline:
        try:
            if any(os.readlink(os.path.join(fds, fd)) == str(path) for fd in os.listdir(fds)):
                return
        except FileNotFoundError:  # a descriptor closed between listdir and readlink
            pass
        time.sleep(0.01)
    raise AssertionError("the command never opened %s" % path)


def wait_for_partial(parent):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if parent.exists() and any(n.startswith(".") for n in os.listdir(parent)):
            return
        time.sleep(0.01)
    raise AssertionError("the export never started")


def test_killed_export_looks_unfinished_and_next_run_works(archive, tmp_path):
    output = tmp_path / "out"
    db = str(archive("realistic.db"))
    proc = subprocess.Popen(
        DATASETTE + ["bsky-export", db, "--batch-size", "1", "--output", str(output)],
        stderr=subprocess.DEVNULL,
    )
    wait_for_partial(output / "all")
    proc.kill()
    proc.wait(timeout=30)
    leftovers = os.listdir(output / "all")
    assert leftovers and all(n.startswith(".") and ".partial-" in n for n in leftovers)
    assert run(db, "--output", output).exit_code == 0
    (stamp,) = os.listdir(output / "all")  # the stale partial is gone too
    assert (output / "all" / stamp / "posts.json").read_bytes() == (
        FIXTURES / "expected" / "realistic-all.json"
    ).read_bytes()


def on_a_terminal(argv):
    """(exit status, what stderr showed) of argv run with stderr on a pty."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stderr=follower, stdout=subprocess.DEVNULL)
    os.close(follower)
    shown = b""
    try:
        while True:
            data = os.read(leader, 4096)
            if not data:
                break
            shown += data
    except OSError:
        pass
    os.close(leader)
    return proc.wait(timeout=120), shown.decode()


def test_quiet_and_progress(archive, tmp_path):
    db = archive("realistic.db")
    quiet = run(db, "--stdout", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    plain = run(db, "--stdout")
    assert "\r" not in plain.stderr  # no progress bar when stderr is not a terminal
    code, shown = on_a_terminal(
        DATASETTE + ["bsky-export", str(db), "--output", str(tmp_path / "o")]
    )
    assert code == 0
    assert re.search(r"Exporting  \[#+\]  1500/1500  100%  [0-9,]+ posts/s", shown), shown
    code, shown = on_a_terminal(DATASETTE + ["bsky-export", str(archive("rejects.db")), "--check"])
    assert code == 1
    assert re.search(r"Checking  \[#+\]  120/120  100%  [0-9,]+ posts/s", shown), shown


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_reader_that_goes_away_ends_it_quietly(archive, jobs):
    """`datasette bsky-export ... | head`: no message, no traceback."""
    export = subprocess.Popen(
        DATASETTE
        + ["bsky-export", str(archive("realistic.db")), "--stdout", "--jobs", jobs]
        + SMALL_RANGES,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.run(
        ["head", "-c", "100"], stdin=export.stdout, capture_output=True, timeout=60
    )
    export.stdout.close()
    err = export.stderr.read()
    assert export.wait(timeout=60) == 1
    assert err == b""
    assert head.stdout == (FIXTURES / "expected" / "realistic-all.json").read_bytes()[:100]


@pytest.mark.parametrize("to_stdout", [True, False])
def test_no_posts_is_a_warning(archive, tmp_path, to_stdout):
    where = ["--stdout"] if to_stdout else ["--output", tmp_path / "out"]
    result = run(archive("realistic.db"), "--did", "did:plc:nobody", "--quiet", *where)
    assert result.exit_code == 0
    assert result.stderr == (
        "Warning: No posts found in your archive matching the selected criteria. "
        "Try adjusting your date range or archive some posts first.\n"
    )


def test_missing_media_warns_ten_times_then_counts(archive, tmp_path):
    db = archive("realistic.db")
    root = tmp_path / "media-root"
    all_paths, made = media_root_for(db, root)
    for file_path in all_paths[:15]:
        (root / file_path).unlink()
    result = run(
        db,
        "--did",
        DID0,
        "--include-media",
        "--media-root",
        root,
        "--output",
        tmp_path / "out",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 11
    assert all(line.startswith("Warning: media of ") for line in lines[:10])
    assert lines[10] == "Warning: 15 media files not exported in all (5 more than shown)"


def test_partial_of_a_dead_pid_whose_lock_is_held_is_kept(archive, tmp_path):
    """A writer in another PID namespace: its PID means nothing here (no such
    process), but it holds the lock on its partial directory."""
    output = tmp_path / "out"
    dead = next(
        pid for pid in range(4_000_000, 3_000_000, -1) if not os.path.exists("/proc/%d" % pid)
    )
    partial = output / "all" / (".2026-01-01_00-00-00.partial-%d-0a1b2c3d" % dead)
    partial.mkdir(parents=True)
    (partial / "posts.json").write_bytes(b"[\n  {")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            str(partial),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert run(archive("realistic.db"), "--output", output).exit_code == 0
        assert (partial / "posts.json").read_bytes() == b"[\n  {"  # left alone
    finally:
        holder.communicate("", timeout=30)  # the writer ends: its lock goes with it
    assert run(archive("realistic.db"), "--output", output).exit_code == 0
    assert not partial.exists()


def test_partial_of_a_live_pid_without_its_lock_is_removed(archive, tmp_path):
    """The PID in the name decides nothing: this one is alive (ours), but no
    process holds the directory's lock, so its writer is gone."""
    output = tmp_path / "out"
    partial = output / "all" / (".2026-01-01_00-00-00.partial-%d-0a1b2c3d" % os.getpid())
    partial.mkdir(parents=True)
    (partial / "posts.json").write_bytes(b"[")
    assert run(archive("realistic.db"), "--output", output).exit_code == 0
    assert not partial.exists()
    assert all(not name.startswith(".") for name in os.listdir(output / "all"))


@pytest.mark.parametrize(
    "did",
    [
        "../../escape",
        "/etc/passwd",
        "a/../../b",
        "..",
        ".",
        "did:plc:x'; DROP TABLE posts; --",
        "did:plc:" + "é" * 300,
        "did:web:ex ample.com\\..\\x",
        "did:plc:\u202eevil",
    ],
)
def test_hostile_did_writes_nothing_outside_the_output(archive, tmp_path, did):
    output = tmp_path / "out"
    db = archive("realistic.db")
    before = set(os.listdir(tmp_path))
    result = run(db, "--did", did, "--output", output)
    assert result.exit_code == 0, result.stderr
    assert set(os.listdir(tmp_path)) == before | {"out"}
    (folder,) = os.listdir(output)
    assert "/" not in folder and not folder.startswith(".") and len(folder) <= 200
    (stamp,) = os.listdir(output / folder)
    assert json.loads((output / folder / stamp / "manifest.json").read_text())["post_count"] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--did", "did:plc:a\nb"], "without control characters"),
        (["--did", "did:plc:" + "a" * 3000], "at most 2048 characters"),
        (["--batch-size", "-5"], "--batch-size"),
        (["--batch-size", "99999999999"], "--batch-size"),
        (["--start-date", "0000-00-00"], "not a real date"),
        (["--end-date", "2024-01-01\n"], "YYYY-MM-DD"),
    ],
)
def test_hostile_options_exit_2(archive, tmp_path, args, message):
    assert_usage_error(run(archive("realistic.db"), "--output", tmp_path / "out", *args), message)
    assert not (tmp_path / "out").exists()
