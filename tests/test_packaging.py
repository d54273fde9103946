"""The package as it ships: importable from a checkout that is not
installed, and package data that names files which exist."""

import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).parent.parent

WITHOUT_METADATA = """
import importlib.metadata, sys
def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)
importlib.metadata.version = missing
sys.path.insert(0, sys.argv[1])
import datasette_bsky_export, datasette_bsky_export.manifest as manifest, datasette_bsky_export.cli
print(manifest.VERSION)
"""


def test_importable_without_installed_metadata():
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_METADATA, str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "datasette-bsky-export 0.1.0"


def test_package_data_globs_match_files():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package, globs in config["tool"]["setuptools"]["package-data"].items():
        for glob in globs:
            folder = ROOT / package.replace(".", "/")
            assert list(folder.glob(glob)), "%s/%s matches nothing" % (package, glob)


def test_license_is_the_declared_one():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["project"]["license"] == "Apache-2.0"  # SPDX
    assert config["project"]["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert not any(c.startswith("License ::") for c in config["project"]["classifiers"])


def test_python_classifiers_follow_requires_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minors = [
        int(c.rsplit(".", 1)[1])
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    ]
    assert project["requires-python"] == ">=3.%d" % minors[0]
    assert minors == list(range(minors[0], minors[0] + len(minors)))
    assert "Operating System :: POSIX" in project["classifiers"]  # O_NOFOLLOW, dir_fd
