"""The built wheel as a user installs it: ``python3 -m nox -s package`` builds
it and runs this module (it is not collected by a plain ``pytest``). For each
Datasette line, a fresh virtualenv gets the wheel (not the checkout, not
editable) and that line's Datasette; then, from that virtualenv and outside
the checkout, one CLI export, one download from a real ``datasette serve``
and the export page, against the legacy app's goldens. The sdist holds the
package without the tests (they need the repository's fixtures).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

from browser import Server, get

WHEEL = os.environ.get("BSKY_WHEEL")
SDIST = os.environ.get("BSKY_SDIST")
PINS = json.loads(os.environ.get("BSKY_DATASETTE_PINS", "{}"))
FIXTURES = pathlib.Path(__file__).parent / "fixtures"
STATIC = pathlib.Path(__file__).parent.parent / "datasette_bsky_export/hooks/static/export-page.js"
DID0 = "did:plc:454ml6lg4tjfcz4kaedcmpb5"
# The environment of the commands: nothing that could point back at the checkout.
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.fixture(scope="module", params=sorted(PINS) or ["(none)"])
def venv(request, tmp_path_factory):
    if not WHEEL:
        pytest.fail("BSKY_WHEEL is not set: run python3 -m nox -s package, which builds the wheel")
    path = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run(
        [path / "bin/python", "-m", "pip", "install", "--quiet", WHEEL, PINS[request.param]],
        check=True,
        cwd=path,
        env=ENV,
    )
    return path


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A working directory outside the checkout, holding a copy of realistic.db."""
    shutil.copyfile(FIXTURES / "realistic.db", tmp_path / "realistic.db")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_installed_from_the_wheel(venv, outside):
    found = subprocess.run(
        [venv / "bin/python", "-c", "import datasette_bsky_export as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    assert pathlib.Path(found.stdout.strip()).is_relative_to(venv / "lib")
    listed = subprocess.run(
        [venv / "bin/python", "-m", "pip", "list", "--editable", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_cli_export(venv, outside, fmt):
    result = subprocess.run(
        [venv / "bin/datasette", "bsky-export", "realistic.db", "--did", DID0, "--format", fmt]
        + ["--stdout", "--quiet"],
        capture_output=True,
        check=False,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (FIXTURES / ("expected/realistic-did0." + fmt)).read_bytes()


def test_download_and_export_page(venv, outside):
    server = Server(outside / "realistic.db", outside / "server.log", python=venv / "bin/python")
    try:
        for fmt in ("json", "csv"):
            status, body = get(server, "/realistic/-/bsky-export/posts.%s?did=%s" % (fmt, DID0))
            assert status == 200
            assert body == (FIXTURES / ("expected/realistic-did0." + fmt)).read_bytes()
        status, page = get(server, "/realistic/-/bsky-export")
        assert status == 200
        assert b'<form class="core bsky-export" id="bsky-export-form"' in page
        script = "/-/static-plugins/datasette_bsky_export/export-page.js"
        assert script.encode() in page
        assert get(server, script) == (200, STATIC.read_bytes())
    finally:
        server.stop()


def test_sdist_holds_the_package_without_tests():
    if not SDIST:
        pytest.fail("BSKY_SDIST is not set: run python3 -m nox -s package, which builds the sdist")
    with tarfile.open(SDIST) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", "MANIFEST.in"} <= names
    source = pathlib.Path(__file__).parent.parent / "datasette_bsky_export"
    assert {n for n in names if n.startswith("datasette_bsky_export/") and "." in n} == {
        str(p.relative_to(source.parent))
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert not [n for n in names if n.startswith("tests")]
