"""Sizes are printed one way (decimal units) by the CLI and the export page
(issue 19.6), and the README's demo serves an archive whose media files
exist (issue 19.7)."""

import io
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import zipfile

import pytest
from click.testing import CliRunner
from datasette.cli import cli

from browser import Server, get, require, screenshot, set_width
from datasette_bsky_export import terminal
from helpers import FIXTURES

REPO = pathlib.Path(__file__).parent.parent
SCRIPT = REPO / "datasette_bsky_export/hooks/static/export-page.js"
DEMO = FIXTURES / "demo"
MEDIA_ROWS = 814  # realistic.db's media table, one file_path each

SIZES = [
    (0, "0 bytes"),
    (1, "1 bytes"),
    (999, "999 bytes"),
    (1000, "1.0 KB"),
    (1024, "1.0 KB"),
    (1050, "1.1 KB"),
    (497_249, "497.2 KB"),
    (999_000, "999.0 KB"),
    (1_000_000, "1.0 MB"),
    (1_813_073, "1.8 MB"),
    (3_800_000, "3.8 MB"),
    (245_489_454, "245.5 MB"),
    (1_000_000_000, "1.0 GB"),
    (5_368_709_120, "5.4 GB"),
    (12_345_000_000_000, "12345.0 GB"),
]


@pytest.mark.parametrize("n, text", SIZES)
def test_cli_size_is_decimal(n, text):
    assert terminal.size(n) == text


def test_page_formats_sizes_as_the_cli_does():
    """The page's size() (run by node, as the browser runs it) gives the same
    strings as terminal.size for the same numbers."""
    require(None if shutil.which("node") else "node is not installed")
    source = SCRIPT.read_text()
    functions = [
        re.search(r"^  function fmt\(n\) \{.*\}$", source, re.M),
        re.search(r"^  function size\(bytes\) \{$.*?^  \}$", source, re.M | re.S),
    ]
    assert all(functions), "fmt() or size() not found in export-page.js"
    program = "\n".join(f.group(0) for f in functions) + (
        "\nconsole.log(JSON.stringify(%s.map(size)));" % json.dumps([n for n, _ in SIZES])
    )
    done = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [terminal.size(n) for n, _ in SIZES]
    assert json.loads(done.stdout) == [text for _, text in SIZES]


def test_cli_summary_size_is_the_directory_with_its_media(archive, tmp_path):
    output = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "bsky-export",
            str(archive("realistic.db")),
            "--output",
            str(output),
            "--include-media",
            "--media-root",
            str(DEMO),
        ],
        prog_name="datasette",
    )
    assert result.exit_code == 0, result.output
    [export] = [p for p in output.rglob("manifest.json")]
    files = [p for p in export.parent.rglob("*") if p.is_file()]
    assert len([p for p in files if p.parent.name == "media"]) == MEDIA_ROWS
    total = sum(p.stat().st_size for p in files)
    posts = (export.parent / "posts.json").stat().st_size
    assert terminal.size(total) != terminal.size(posts)  # the media are counted
    assert result.stderr.startswith(
        "Exported 1,500 posts, 814 media files, %s in " % terminal.size(total)
    )


def readme_command():
    """The datasette command of the README's first setup command."""
    [line] = [
        line
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("    python3 -m pip install -e . && datasette ")
    ]
    return shlex.split(line.split(" && ", 1)[1])


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """``datasette serve`` run as the README's first command runs it: from the
    repository's root, with the README's arguments."""
    command = readme_command()
    assert command[0] == "datasette"
    monkeypatch.chdir(REPO)
    server = Server(None, tmp_path / "server.log", command[1:])
    yield server
    server.stop()


def test_readme_demo_finds_and_zips_all_media(demo):
    status, body = get(demo, "/realistic/-/bsky-export/media.json")
    assert status == 200, demo.output()
    assert json.loads(body) == {
        "found": MEDIA_ROWS,
        "total": MEDIA_ROWS,
        "message": "814 of 814 media files found; 0 missing",
    }
    status, body = get(demo, "/realistic/-/bsky-export/export.zip?include_media=1")
    assert status == 200, demo.output()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = [n for n in archive.namelist() if n.startswith("media/") and n != "media/"]
        media = {n: archive.read(n) for n in names}
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["media_count"] == MEDIA_ROWS
    on_disk = {"media/" + p.name: p.read_bytes() for p in (DEMO / "data/media").rglob("*.jpg")}
    assert len(on_disk) == MEDIA_ROWS and media == on_disk


def test_readme_demo_page_says_all_media_found(chromium, demo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    set_width(chromium, 1280, 900)
    chromium.get(demo.url + "/realistic/-/bsky-export")
    count = chromium.find_element(By.ID, "bsky-export-media-count")
    chromium.find_element(By.ID, "bsky-export-media").click()
    expected = "814 of 814 media files found; 0 missing"
    WebDriverWait(chromium, 30).until(lambda driver: count.text == expected, count.text)
    screenshot(chromium, "demo-media")


def test_demo_media_folder_is_small():
    files = [p for p in DEMO.rglob("*") if p.is_file()]
    assert len(files) == MEDIA_ROWS + 1  # and metadata.json
    assert sum(os.path.getsize(p) for p in files) < 150_000
