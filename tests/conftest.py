"""The fixtures the tests share: copies of the fixture archives, Datasette
instances serving them, and a count of the engine's page steps."""

import shutil
import sqlite3

import pytest

from datasette_bsky_export import engine
from dsclient import make_datasette
from helpers import FIXTURES

pytest_plugins = ["browser"]  # the chromium and serve fixtures of the browser tests


@pytest.fixture
def archive(tmp_path):
    """Copy a fixture archive into tmp_path (tests never touch tests/fixtures)."""

    def copy(name):
        target = tmp_path / name
        if not target.exists():
            shutil.copyfile(FIXTURES / name, target)
        return target

    return copy


@pytest.fixture
def connect(archive):
    opened = []

    def open_db(name):
        conn = sqlite3.connect(str(archive(name)))
        opened.append(conn)
        return conn

    yield open_db
    for conn in opened:
        conn.close()


@pytest.fixture
def ds_for(archive):
    """A Datasette serving copies of these fixture archives, with ``config``."""

    def make(*names, config=None):
        return make_datasette([archive(name) for name in names], config)

    return make


@pytest.fixture
def steps(monkeypatch):
    """Counts the engine's page steps (one per database call)."""
    calls = []
    original = engine.Export.step

    def step(self, conn):
        calls.append(self)
        return original(self, conn)

    monkeypatch.setattr(engine.Export, "step", step)
    return calls
