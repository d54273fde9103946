"""CI's sessions: `python3 -m nox` runs them all.

- tests: the suite against both supported Datasette lines;
- lint: ruff's formatter and linter;
- docs: README.md and docs/ checked against what the code prints (cog).
"""

import nox

DATASETTE_VERSIONS = {"0.65": "datasette==0.65.5", "1.0a": "datasette==1.0a41"}
RUFF = "ruff==0.17.6"
COG = "cogapp==3.6.0"
DOCS = ["README.md", "docs/reliability.md"]

nox.options.error_on_missing_interpreters = True


@nox.session
@nox.parametrize("datasette", list(DATASETTE_VERSIONS))
def tests(session, datasette):
    session.install("-e", ".[test]", DATASETTE_VERSIONS[datasette])
    session.run("python", "-c", "import datasette.version as v; print('Datasette', v.__version__)")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session):
    session.install(RUFF)
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")


@nox.session
def docs(session):
    """`nox -s docs -- -r` rewrites the generated parts instead of checking them."""
    session.install("-e", ".[test]", DATASETTE_VERSIONS["1.0a"], COG)
    session.run("cog", *(session.posargs or ["--check"]), *DOCS)
