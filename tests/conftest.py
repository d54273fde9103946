import json
import pathlib
import shutil
import sqlite3

import pytest

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "cases.json").read_text())


def case_id(case):
    return case["name"]


def expected_bytes(case):
    if "expect" in case:
        return (FIXTURES / case["expect"]).read_bytes()
    if "expect_empty" in case:
        return b"[]\n" if case["format"] == "json" else None
    return None


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
