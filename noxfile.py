"""CI's sessions: `python3 -m nox` runs them all.

- tests: the suite against both supported Datasette lines;
- lint: ruff's formatter and linter, and mypy's type check;
- docs: README.md and docs/ checked against what the code prints (cog);
- package: the sdist and wheel built without a warning, checked by twine,
  and the wheel installed into a fresh virtualenv per Datasette line.
"""

import glob
import json
import os
import re
import time

import nox

DATASETTE_VERSIONS = {"0.65": "datasette==0.65.5", "1.0a": "datasette==1.0a41"}
# The sign-in plugins of README's "Sharing an archive", per line: datasette-auth-tokens
# 0.4a releases need Datasette 1.0a, 0.3 is the last for 0.65.
AUTH_PLUGINS = {
    "0.65": ["datasette-auth-passwords==1.1.1", "datasette-auth-tokens==0.3"],
    "1.0a": ["datasette-auth-passwords==1.1.1", "datasette-auth-tokens==0.4a13"],
}
BUILD = ["build==1.6.1", "twine==6.2.0"]
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"  # configured in pyproject.toml's [tool.mypy]
COG = "cogapp==3.6.0"
DOCS = ["README.md", "docs/reliability.md"]

nox.options.error_on_missing_interpreters = True


@nox.session
@nox.parametrize("datasette", list(DATASETTE_VERSIONS))
def tests(session, datasette):
    session.install("-e", ".[test]", DATASETTE_VERSIONS[datasette], *AUTH_PLUGINS[datasette])
    session.run("python", "-c", "import datasette.version as v; print('Datasette', v.__version__)")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session):
    session.install(RUFF, MYPY)
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy")


@nox.session
def docs(session):
    """`nox -s docs -- -r` rewrites the generated parts instead of checking them."""
    session.install("-e", ".[test]", DATASETTE_VERSIONS["1.0a"], COG)
    session.run("cog", *(session.posargs or ["--check"]), *DOCS)


@nox.session
def package(session):
    """Builds the sdist and the wheel (any warning fails), checks them with
    twine, then installs the wheel, not the checkout, into a fresh
    virtualenv with each Datasette line: tests/installed_wheel.py."""
    session.install(*BUILD, "pytest", "pytest-asyncio")
    dist = os.path.abspath(os.path.join(session.create_tmp(), "dist"))
    for old in glob.glob(os.path.join(dist, "*")):
        os.remove(old)
    started = time.monotonic()
    # PYTHONDONTWRITEBYTECODE would make setuptools warn that it skips byte-compiling.
    output = session.run(
        "python",
        "-m",
        "build",
        "--outdir",
        dist,
        ".",
        env={"PYTHONDONTWRITEBYTECODE": None},
        silent=True,
    )
    warnings = [line for line in output.splitlines() if re.search("warn", line, re.IGNORECASE)]
    if warnings:
        session.error("the build warned:\n" + "\n".join(warnings))
    session.log("built in %.1f s: %s", time.monotonic() - started, os.listdir(dist))
    session.run("twine", "check", "--strict", *glob.glob(os.path.join(dist, "*")))
    (wheel,) = glob.glob(os.path.join(dist, "*.whl"))
    (sdist,) = glob.glob(os.path.join(dist, "*.tar.gz"))
    session.run(
        "pytest",
        "--noconftest",
        "-p",
        "no:cacheprovider",
        "tests/installed_wheel.py",
        *session.posargs,
        env={
            "BSKY_WHEEL": wheel,
            "BSKY_SDIST": sdist,
            "BSKY_DATASETTE_PINS": json.dumps(DATASETTE_VERSIONS),
        },
    )
