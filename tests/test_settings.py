"""Plugin settings checked once, at startup: a bad value, a top-level key in a
database block or an unknown key stops `datasette serve` with one line; a
good configuration serves, and requests read the checked settings."""

import http.client
import subprocess
import sys

import pytest

from browser import Server, config_args, free_port
from datasette_bsky_export import settings, streaming
from dsclient import make_datasette
from helpers import FIXTURES

DB = "realistic"
P = settings.PLUGIN


def config(top=None, database=None):
    """Plugin settings at the top level and/or in the realistic block."""
    block = {}
    if top is not None:
        block["plugins"] = {P: top}
    if database is not None:
        block["databases"] = {DB: {"plugins": {P: database}}}
    return block


KNOWN = ", ".join(sorted(settings.KEYS))
BAD = [  # config, the one line
    (
        config(database={"media_root": ["/srv", "/media"]}),
        "media_root in database 'realistic' must be a string, not ['/srv', '/media']",
    ),
    (
        config(top={"media_root": ""}),
        "media_root in the top-level settings must be a non-empty path without NUL "
        "characters, not ''",
    ),
    (
        config(database={"media_root": "/nonexistent/media"}),
        "media_root in database 'realistic' must be an existing folder, not '/nonexistent/media'",
    ),
    (
        config(top={"max_downloads": 0}),
        "max_downloads in the top-level settings must be a whole number of at least 1, not 0",
    ),
    (
        config(top={"max_downloads_per_actor": "5"}),
        "max_downloads_per_actor in the top-level settings must be a whole number of at "
        "least 1, not '5'",
    ),
    (
        config(top={"max_downloads": 2.5}),
        "max_downloads in the top-level settings must be a whole number of at least 1, not 2.5",
    ),
    (
        config(top={"max_downloads": True}),
        "max_downloads in the top-level settings must be a whole number of at least 1, not True",
    ),
    (
        config(database={"restrict_to_actor": "yes"}),
        "restrict_to_actor in database 'realistic' must be true or false, not 'yes'",
    ),
    (
        config(top={"allow_hard_links": 1}),
        "allow_hard_links in the top-level settings must be true or false, not 1",
    ),
    (
        config(top={"stall_timeout": 0}),
        "stall_timeout in the top-level settings must be a number of seconds greater than 0, not 0",
    ),
    (
        config(top={"max_download": 5}),
        "max_download in the top-level settings is not a setting of this plugin (known: %s)"
        % KNOWN,
    ),
    (
        config(top={"max_downloads": 5}, database={"max_downloads": 50}),
        "max_downloads in database 'realistic' holds for the whole instance: set it in the "
        "top-level settings only",
    ),
    (
        config(database={"stall_timeout": 5}),
        "stall_timeout in database 'realistic' holds for the whole instance: set it in the "
        "top-level settings only",
    ),
    (
        config(top=["restrict_to_actor"]),
        "the settings of the top-level settings must be a mapping of keys to values",
    ),
]
IDS = [
    "root-list",
    "root-empty",
    "root-missing",
    "limit-0",
    "limit-text",
    "limit-fraction",
    "limit-bool",
    "flag-text",
    "flag-number",
    "timeout-0",
    "unknown",
    "instance-key-in-database",
    "instance-timeout-in-database",
    "not-a-mapping",
]
GOOD = config(
    top={
        "restrict_to_actor": False,
        "media_root": ".",
        "max_downloads": 3,
        "max_downloads_per_actor": 2,
        "expose_session_tokens": False,
        "stall_timeout": 2.5,
        "allow_hard_links": False,
        "allow_http10": False,
    },
    database={
        "media_root": "/tmp",
        "restrict_to_actor": False,
        "allow_hard_links": True,
        "expose_session_tokens": True,
    },
)


@pytest.mark.parametrize("bad, line", BAD, ids=IDS)
def test_a_bad_setting_stops_datasette_serve_with_one_line(archive, tmp_path, bad, line):
    proc = subprocess.run(
        [sys.executable, "-m", "datasette", "serve", str(archive("realistic.db"))]
        + ["--host", "127.0.0.1", "--port", str(free_port())]
        + config_args(bad, tmp_path / "config.json"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr == "Error: %s: %s\n" % (P, line)


def test_more_problems_are_counted_on_the_one_line(archive):
    bad = config(top={"max_downloads": 0, "nope": 1}, database={"media_root": 5})
    ds = make_datasette([archive("realistic.db")], bad)
    with pytest.raises(settings.SettingsError) as raised:
        settings.check(ds)
    assert raised.value.message == (
        "%s: max_downloads in the top-level settings must be a whole number of at least 1, "
        "not 0 (and 2 more problems)" % P
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("bad, line", BAD[:1] + BAD[-3:-1], ids=IDS[:1] + IDS[-3:-1])
async def test_no_request_is_served_with_a_bad_setting(archive, bad, line):
    """In-process too, the startup check runs before the first request: no
    request reaches the export with a bad setting (no 500 from it)."""
    ds = make_datasette([archive("realistic.db")], bad)
    with pytest.raises(settings.SettingsError) as raised:
        await ds.client.get("/%s/-/bsky-export/posts.json" % DB)
    assert raised.value.message == "%s: %s" % (P, line)


def test_a_good_configuration_serves(archive, tmp_path):
    server = Server(
        archive("realistic.db"),
        tmp_path / "server.log",
        config_args(GOOD, tmp_path / "config.json"),
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", "/%s/-/bsky-export/posts.csv" % DB)
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == (FIXTURES / "expected" / "realistic-all.csv").read_bytes()
        conn.close()
    finally:
        server.stop()
    assert "Error" not in (tmp_path / "server.log").read_text()


@pytest.mark.asyncio
async def test_requests_read_the_checked_settings(archive):
    ds = make_datasette([archive("realistic.db")], GOOD)
    assert (await ds.client.get("/%s/-/bsky-export/posts.json" % DB)).status_code == 200
    assert settings.for_database(ds, DB) == {
        **GOOD["plugins"][P],
        **GOOD["databases"][DB]["plugins"][P],
    }
    slots = streaming.DownloadSlots.of(ds)
    assert (slots.most, slots.most_per_actor) == (3, 2)  # from the top level


@pytest.mark.asyncio
async def test_defaults_fill_every_key(archive):
    ds = make_datasette([archive("realistic.db")])
    assert (await ds.client.get("/%s/-/bsky-export/posts.json" % DB)).status_code == 200
    assert settings.for_database(ds, DB) == settings.instance(ds) == settings.DEFAULTS
    assert settings.DEFAULTS == {
        "restrict_to_actor": False,
        "media_root": ".",
        "allow_hard_links": False,
        "expose_session_tokens": False,
        "max_downloads": 20,
        "max_downloads_per_actor": 10,
        "stall_timeout": 60,
        "allow_http10": False,
    }
