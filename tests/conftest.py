import shutil
import sqlite3

import pytest

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
