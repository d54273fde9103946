"""The test suite against both supported Datasette lines: `python3 -m nox`."""

import nox

DATASETTE_VERSIONS = {"0.65": "datasette==0.65.5", "1.0a": "datasette==1.0a41"}

nox.options.error_on_missing_interpreters = True


@nox.session
@nox.parametrize("datasette", list(DATASETTE_VERSIONS))
def tests(session, datasette):
    session.install("-e", ".[test]", DATASETTE_VERSIONS[datasette])
    session.run("python", "-c", "import datasette.version as v; print('Datasette', v.__version__)")
    session.run("pytest", *session.posargs)
