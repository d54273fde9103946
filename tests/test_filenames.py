"""The posts file downloads are named after their selection (issue 19.5):
``posts_<account>_<start>_<end>[_filtered].<ext>``, safe ASCII whatever the
DID or the archive's handle holds, the handle only for actors who may view
the profiles table; the ZIP keeps its name. The naming rule (filenames),
then the Content-Disposition of the downloads on Datasette 0.65 and 1.0a."""

import io
import re
import sqlite3
import zipfile

import pytest
from datasette.database import QueryInterrupted
from hypothesis import given
from hypothesis import strategies as st

from datasette_bsky_export import access, engine, filenames
from datasette_bsky_export.pager import Filters
from dsclient import cookies, make_datasette, plugin, url
from helpers import DID0, DID1, DID2, FIXTURES
from strategies import profile

# The account part begins with a letter or digit, or is "_" when nothing of it is left.
SAFE_NAME = re.compile(r"posts(_[A-Za-z0-9_][A-Za-z0-9._-]*)?\.(json|csv)")
BASE = "/realistic/-/bsky-export/"
BY_DID = "posts_did_plc_bannd6yz2emrvftva2hipgad.json"  # DID1's file without its handle


def options(fmt="json", did=None, start=None, end=None, filtered=False):
    """Export options; ``filtered``: narrowed by a filter too."""
    chosen = engine.ExportOptions(fmt, did, start, end)
    return chosen.narrowed(Filters(("like_count >= 10",), {})) if filtered else chosen


# --------------------------------------------------------------------------
# The rule


@pytest.mark.parametrize(
    "chosen, handle, name",
    [
        (options(), None, "posts.json"),
        (options("csv"), "ignored.bsky.social", "posts.csv"),  # no DID: all accounts
        (options(did=DID1), None, "posts_did_plc_bannd6yz2emrvftva2hipgad.json"),
        (options(did=DID1), "carol.bsky.social", "posts_carol.bsky.social.json"),
        (
            options("csv", DID1, "2024-01-01", "2024-06-30"),
            "example.bsky.social",
            "posts_example.bsky.social_2024-01-01_2024-06-30.csv",
        ),
        (options(start="2024-01-01"), None, "posts_from_2024-01-01.json"),
        (options(end="2024-06-30"), None, "posts_until_2024-06-30.json"),
        (options(start="2024-03-05", end="2024-03-05"), None, "posts_2024-03-05_2024-03-05.json"),
        (options(start="0001-01-01"), None, "posts_from_0001-01-01.json"),  # as asked
        (options(filtered=True), None, "posts_filtered.json"),
        (
            options("csv", DID2, end="2025-12-31", filtered=True),
            "bob.example.com",
            "posts_bob.example.com_until_2025-12-31_filtered.csv",
        ),
        (
            options(did="did:web:example.com%3A8080", start="2024-01-01"),
            None,
            "posts_did_web_example.com_3A8080_from_2024-01-01.json",
        ),
    ],
)
def test_posts_name(chosen, handle, name):
    assert filenames.posts_name(chosen, handle) == name


@pytest.mark.parametrize(
    "text, part",
    [
        ("alice.bsky.social", "alice.bsky.social"),
        ("did:plc:bannd6yz2emrvftva2hipgad", "did_plc_bannd6yz2emrvftva2hipgad"),
        ('say "hi"', "say_hi"),  # quotes, and a run of unsafe characters is one _
        ("a/b\\c", "a_b_c"),
        ("line\nbreak\r\nx", "line_break_x"),
        ("tab\there\x01\x1b[31m\x7f", "tab_here_31m"),
        ("ünïcödé.bsky.social", "n_c_d_.bsky.social"),
        ("日本語", ""),
        ("../../etc/passwd", "etc_passwd"),
        ("..", ""),
        (".hidden", "hidden"),
        ("trailing.", "trailing"),
        ("-dash-", "dash"),
        ('a\\b;c=d"; filename=evil.exe', "a_b_c_d_filename_evil.exe"),
        ("x" * 300, "x" * 100),
        ("a" * 99 + ".b", "a" * 99),  # cut at 100, then no dot at the end
        ("", ""),
    ],
)
def test_safe_part(text, part):
    assert filenames.safe_part(text) == part


@pytest.mark.parametrize(
    "did, handle, part",
    [
        (DID1, "carol.bsky.social", "carol.bsky.social"),
        (DID1, None, "did_plc_bannd6yz2emrvftva2hipgad"),
        (DID1, "", "did_plc_bannd6yz2emrvftva2hipgad"),
        (DID1, "日本語", "did_plc_bannd6yz2emrvftva2hipgad"),  # nothing left of the handle
        ("日本語", None, "_"),  # nor of the DID
    ],
)
def test_account_part(did, handle, part):
    assert filenames.account_part(did, handle) == part


@profile()
@given(
    st.text(max_size=300),
    st.one_of(st.none(), st.text(max_size=300)),
    st.sampled_from(["json", "csv"]),
    st.booleans(),
)
def test_any_account_makes_a_safe_bounded_name(did, handle, fmt, filtered):
    did = "".join(c for c in did if c >= " " and c != "\x7f")  # the engine refuses the rest
    name = filenames.posts_name(options(fmt, did, "2024-01-01", "2024-06-30", filtered), handle)
    assert SAFE_NAME.fullmatch(name), name
    assert len(name) <= len("posts__2024-01-01_2024-06-30_filtered.json") + filenames.MAX_ACCOUNT


# --------------------------------------------------------------------------
# Over HTTP


def disposition(response):
    assert response.status_code == 200
    return response.headers["content-disposition"]


def attachment(name):
    return 'attachment; filename="%s"' % name


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path, name",
    [
        ("posts.json", "posts.json"),
        ("posts.csv", "posts.csv"),
        ("posts.json?did=" + DID1, "posts_carol.bsky.social.json"),
        (
            "posts.csv?did=%s&start_date=2024-01-01&end_date=2025-06-30" % DID0,
            "posts_me.bsky.social_2024-01-01_2025-06-30.csv",
        ),
        ("posts.json?start_date=2025-01-01", "posts_from_2025-01-01.json"),
        ("posts.csv?end_date=2024-12-31", "posts_until_2024-12-31.csv"),
        ("posts.json?did=did:plc:nobody", "posts_did_plc_nobody.json"),  # no profile: the DID
        ("posts.json?has_media=1", "posts_filtered.json"),
        (
            "posts.csv?did=%s&like_count__gte=10&end_date=2025-06-30" % DID1,
            "posts_carol.bsky.social_until_2025-06-30_filtered.csv",
        ),
    ],
)
async def test_download_is_named_after_its_selection(ds_for, path, name):
    ds = ds_for("realistic.db")
    assert disposition(await ds.client.get(BASE + path)) == attachment(name)
    assert disposition(await ds.client.head(BASE + path)) == attachment(name)


@pytest.mark.asyncio
async def test_handle_only_for_actors_who_may_view_profiles(ds_for):
    config = {"databases": {"realistic": {"tables": {"profiles": {"allow": {"id": "alice"}}}}}}
    ds = ds_for("realistic.db", config=config)
    path = BASE + "posts.csv?did=%s&start_date=2024-01-01" % DID1
    denied = attachment("posts_did_plc_bannd6yz2emrvftva2hipgad_from_2024-01-01.csv")
    assert disposition(await ds.client.get(path)) == denied
    assert disposition(await ds.client.get(path, cookies=cookies(ds, {"id": "bob"}))) == denied
    alice = await ds.client.get(path, cookies=cookies(ds, {"id": "alice"}))
    assert disposition(alice) == attachment("posts_carol.bsky.social_from_2024-01-01.csv")


@pytest.mark.asyncio
async def test_an_interrupted_profiles_check_names_the_did(ds_for, monkeypatch):
    """sql_time_limit_ms can interrupt 1.0a's permission query: the file is
    then named by the DID, and the download goes on."""
    checked = access.can_view_table

    async def interrupted(datasette, actor, database, table):
        if table == "profiles":
            raise QueryInterrupted(sqlite3.OperationalError("interrupted"), "select 1", {})
        return await checked(datasette, actor, database, table)

    monkeypatch.setattr(access, "can_view_table", interrupted)
    response = await ds_for("realistic.db").client.get(BASE + "posts.json?did=" + DID1)
    assert disposition(response) == attachment(BY_DID)
    assert response.content == (FIXTURES / "expected/realistic-did1.json").read_bytes()


@pytest.mark.asyncio
async def test_restrict_to_actor_names_the_actors_own_account(ds_for):
    ds = ds_for("realistic.db", config=plugin(restrict_to_actor=True))
    response = await ds.client.get(BASE + "posts.json", cookies=cookies(ds, {"id": DID1}))
    assert disposition(response) == attachment("posts_carol.bsky.social.json")


def change(path, sql, params):
    conn = sqlite3.connect(str(path))
    conn.execute(sql, params)
    conn.commit()
    conn.close()


NEWER = "INSERT INTO profiles (did, handle, snapshot_at) VALUES (?, ?, '2099-01-01 00:00:00')"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "statement, name",
    [
        ((NEWER, [DID1, "carol.example.org"]), "posts_carol.example.org.json"),  # the latest
        (
            (NEWER, [DID1, 'x"\r\n/..\\ünï\x01' + "y" * 500]),
            "posts_x_.._n_" + "y" * 93 + ".json",
        ),
        (("UPDATE profiles SET handle = X'80ff' WHERE did = ?", [DID1]), BY_DID),  # not text
        (("UPDATE profiles SET handle = CAST(X'80ff' AS TEXT) WHERE did = ?", [DID1]), BY_DID),
        (("UPDATE profiles SET handle = '' WHERE did = ?", [DID1]), BY_DID),
        (("DROP TABLE profiles", []), BY_DID),
        (("ALTER TABLE profiles RENAME COLUMN snapshot_at TO taken_at", []), BY_DID),
    ],
)
async def test_handle_from_the_archive(archive, statement, name):
    path = archive("realistic.db")
    change(path, *statement)
    ds = make_datasette([path])
    response = await ds.client.get(BASE + "posts.json?did=" + DID1)
    assert disposition(response) == attachment(name)


@pytest.mark.asyncio
async def test_zip_keeps_its_name_and_its_files_their_legacy_names(ds_for):
    ds = ds_for("realistic.db")
    response = await ds.client.get(
        url(BASE + "export.zip", format="csv", did=DID1, start_date="2024-01-01")
    )
    stamp = r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d"
    expected = 'attachment; filename="bsky-export_did_plc_bannd6yz2emrvftva2hipgad_%s.zip"'
    assert re.fullmatch(expected % stamp, disposition(response))
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert names == ["posts.csv", "manifest.json"]


@pytest.mark.asyncio
async def test_page_shows_names_the_rule_makes(ds_for):
    """The page names no posts file the download would not be saved as."""
    html = (await ds_for("realistic.db").client.get(BASE[:-1])).text
    example = filenames.posts_name(
        options("json", DID1, "2024-01-01", "2024-06-30"), "alice.bsky.social"
    )
    hint = html.split('id="bsky-export-file-name">', 1)[1].split("</p>", 1)[0]
    assert hint == "Named after the selection, such as <code>%s</code>" % example
    form = html.split('id="bsky-export-form"', 1)[1].split("</form>", 1)[0]
    file_only = form.split('id="bsky-export-zip"', 1)[0]
    assert "posts.json" not in file_only and "posts.csv" not in file_only
