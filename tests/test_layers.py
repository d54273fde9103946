"""The engine runs without Datasette: a ``--jobs`` worker, and any script
that exports, imports neither Datasette nor click."""

import subprocess
import sys

ENGINE = [
    "engine",
    "pager",
    "fastjson",
    "fastcsv",
    "exact",
    "filenames",
    "gojson",
    "gocsv",
    "gotime",
    "parallel",
    "workers",
]
CHECK = """
import sys
for name in sys.argv[1:]:
    __import__("datasette_bsky_export." + name)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("datasette", "click")))
"""


def test_engine_imports_no_datasette_and_no_click():
    result = subprocess.run(
        [sys.executable, "-c", CHECK, *ENGINE], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"


def test_the_hooks_import_datasette():
    """The other side: the check above would see Datasette if it were loaded."""
    code = CHECK.replace('"datasette_bsky_export." + name', "name")
    result = subprocess.run(
        [sys.executable, "-c", code, "datasette_bsky_export.hooks"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "'datasette'" in result.stdout
