"""Live progress of page downloads, in process on Datasette 0.65 and 1.0a: the
progress and cancel endpoints, who may read and cancel an entry, CSRF, the
registry's bounds, and the states an export ends in."""

import re
import shutil

import pytest

from datasette_bsky_export import engine, params, progress
from dsclient import Client, cookies, make_datasette
from helpers import DID1, FIXTURES, corrupt

ID = "page-made-id_0123456789"
OTHER_ID = "another-id_9876543210"
GOLDEN = FIXTURES / "expected/realistic-did1.json"


@pytest.fixture
def ds(archive):
    return make_datasette([archive("realistic.db")])


def as_actor(ds, actor_id):
    """The cookies of this actor, or none for an anonymous user."""
    return cookies(ds, {"id": actor_id}) if actor_id else None


def progress_url(entry_id, suffix=".json"):
    return "/realistic/-/bsky-export/progress/%s%s" % (entry_id, suffix)


async def download(ds, entry_id, actor=None, did=DID1):
    return await ds.client.get(
        "/realistic/-/bsky-export/posts.json?did=%s&progress=%s" % (did, entry_id),
        cookies=as_actor(ds, actor),
    )


# --------------------------------------------------------------------------
# The endpoints


@pytest.mark.asyncio
async def test_finished_download_reports_done(ds):
    response = await download(ds, ID)
    assert response.status_code == 200
    assert response.content == GOLDEN.read_bytes()
    answer = await ds.client.get(progress_url(ID))
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "id": ID,
        "state": "done",
        "posts": 107,
        "total": 107,
        "bytes": len(GOLDEN.read_bytes()),
        "error": None,
    }


@pytest.mark.asyncio
async def test_total_is_the_export_count(ds):
    response = await ds.client.get("/realistic/-/bsky-export/export.zip?format=csv&progress=" + ID)
    answer = (await ds.client.get(progress_url(ID))).json()
    assert (answer["state"], answer["posts"], answer["total"]) == ("done", 1500, 1500)
    assert answer["bytes"] == len(response.content)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "bad",
    ["short", "x" * 65, "has space in it!!", "semi;colon_0123456789", "ünïcödé_0123456789", ""],
)
async def test_bad_progress_id_is_a_400(ds, bad):
    response = await ds.client.get("/realistic/-/bsky-export/posts.json?progress=" + bad)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "progress must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -"
    )
    assert len(progress.registry(ds)) == 0


@pytest.mark.asyncio
async def test_unknown_id_is_a_404(ds):
    for path in (progress_url(ID), "/nope/-/bsky-export/progress/%s.json" % ID):
        response = await ds.client.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "ok": False,
            "error": "No such export in progress",
            "status": 404,
        }


@pytest.mark.asyncio
async def test_another_actor_cannot_read_or_cancel(ds):
    await download(ds, ID, actor="alice")
    entry = progress.registry(ds).get("realistic", ID, {"id": "alice"})
    entry.state, entry.ended_at = "running", None  # as if it were still going
    unknown = await ds.client.get(progress_url(OTHER_ID))
    for actor in ("bob", None):
        theirs = await ds.client.get(progress_url(ID), cookies=as_actor(ds, actor))
        assert (theirs.status_code, theirs.json()) == (404, unknown.json())
        cancel = await post(ds, progress_url(ID, "/cancel"), actor)
        assert (cancel.status_code, cancel.json()) == (404, unknown.json())
    assert not entry.cancel_requested
    mine = await ds.client.get(progress_url(ID), cookies=as_actor(ds, "alice"))
    assert mine.status_code == 200 and mine.json()["posts"] == 107
    cancel = await post(ds, progress_url(ID, "/cancel"), "alice")
    assert cancel.status_code == 200 and entry.cancel_requested


@pytest.mark.asyncio
async def test_same_id_for_two_actors_is_two_entries(ds):
    await download(ds, ID, actor="alice")
    await download(ds, ID, actor="bob", did="did:plc:nobody")
    alice = await ds.client.get(progress_url(ID), cookies=as_actor(ds, "alice"))
    bob = await ds.client.get(progress_url(ID), cookies=as_actor(ds, "bob"))
    assert (alice.json()["total"], bob.json()["total"]) == (107, 0)


@pytest.mark.asyncio
@pytest.mark.parametrize("owner", ["1", "True"])
async def test_only_a_string_id_owns_an_entry(ds, owner):
    """{"id": 1} is not {"id": "1"}, nor {"id": true} {"id": "True"}: an
    id that is not a string is no actor, as anonymous."""
    await download(ds, ID, actor=owner)
    entry = progress.registry(ds).get("realistic", ID, {"id": owner})
    entry.state, entry.ended_at = "running", None
    for other in (1, True, ["a"], None):
        theirs = await ds.client.get(progress_url(ID), cookies=as_actor(ds, other))
        assert theirs.status_code == 404
        assert (await post(ds, progress_url(ID, "/cancel"), other)).status_code == 404
    assert not entry.cancel_requested
    mine = await ds.client.get(progress_url(ID), cookies=as_actor(ds, owner))
    assert mine.status_code == 200 and mine.json()["posts"] == 107
    await download(ds, OTHER_ID, actor=int(owner) if owner == "1" else True)
    for actor, status in (({"id": owner}, 404), (None, 200), ({"id": {}}, 200), ({}, 200)):
        sent = cookies(ds, actor) if actor is not None else None
        answer = await ds.client.get(progress_url(OTHER_ID), cookies=sent)
        assert answer.status_code == status, actor


async def page_token(ds, actor):
    """The csrftoken the export page's cancel form carries, and the cookies it set."""
    page = await ds.client.get("/realistic/-/bsky-export", cookies=as_actor(ds, actor))
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    sent = dict(as_actor(ds, actor) or {})
    sent.update(page.cookies)
    return token, sent


async def post(ds, path, actor, token=True, headers=None):
    """A POST as the export page's script sends it (same origin, the page's token)."""
    csrftoken, page_cookies = await page_token(ds, actor)
    sent = {"sec-fetch-site": "same-origin", "origin": "http://localhost"}
    sent.update(headers or {})
    return await ds.client.post(
        path,
        cookies=page_cookies,
        headers=sent,
        data={"csrftoken": csrftoken if token else "forged"},
    )


@pytest.mark.asyncio
async def test_cancel_is_csrf_protected(ds):
    await download(ds, ID, actor="alice")
    entry = progress.registry(ds).get("realistic", ID, {"id": "alice"})
    entry.state, entry.ended_at = "running", None
    forged = await post(
        ds,
        progress_url(ID, "/cancel"),
        "alice",
        token=False,
        headers={"sec-fetch-site": "cross-site", "origin": "http://evil.test"},
    )
    assert forged.status_code == 403
    assert not entry.cancel_requested
    response = await post(ds, progress_url(ID, "/cancel"), "alice")
    assert response.status_code == 200 and entry.cancel_requested


@pytest.mark.asyncio
async def test_methods(ds):
    await download(ds, ID)
    assert (await ds.client.get(progress_url(ID, "/cancel"))).status_code == 405
    response = await post(ds, progress_url(ID), None)
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


# --------------------------------------------------------------------------
# Bounds


def test_registry_bounds_per_actor_and_age():
    now = [1000.0]
    registry = progress.Registry(clock=lambda: now[0])
    entries = []
    for i in range(1000):
        entries.append(registry.start("db", "id-%016d" % i, {"id": "alice"}, 10))
        entries[-1].end("done")
        assert len(registry) <= progress.MAX_PER_ACTOR
    assert list(registry.entries.values()) == entries[-progress.MAX_PER_ACTOR :]
    running = registry.start("db", "still-running-0001", {"id": "alice"}, 10)
    assert registry.get("db", entries[-progress.MAX_PER_ACTOR].id, {"id": "alice"}) is None
    now[0] += progress.KEEP_FINISHED + 1
    assert registry.get("db", entries[-1].id, {"id": "alice"}) is None
    assert list(registry.entries.values()) == [running]  # running entries never expire
    running.end("cancelled")
    now[0] += progress.KEEP_FINISHED + 1
    assert registry.get("db", running.id, {"id": "alice"}) is None and len(registry) == 0


def test_full_registry_drops_only_the_starting_actors_own_entries():
    """The global cap never frees another actor's entry before it expires:
    with no finished entry of its own to free, a new download is not tracked."""
    now = [1000.0]
    registry = progress.Registry(max_entries=10, max_per_actor=4, clock=lambda: now[0])
    for actor, finish in (("a", True), ("b", True), ("c", False)):
        for i in range(4 if finish else 2):
            entry = registry.start("db", "%s-%014d" % (actor, i), {"id": actor}, 1)
            if finish:
                entry.end("done")
    before = list(registry.entries)
    assert len(before) == 10
    assert registry.start("db", "d-00000000000000", {"id": "d"}, 1) is None
    assert registry.start("db", "c-00000000000009", {"id": "c"}, 1) is None
    assert registry.start("db", "anonymous-000000", None, 1) is None
    assert list(registry.entries) == before  # nobody else's entry was freed
    mine = registry.start("db", "a-00000000000009", {"id": "a"}, 1)
    assert mine is not None and len(registry) == 10
    assert list(registry.entries) == before[1:] + [("db", "a", mine.id)]  # a's oldest went
    now[0] += progress.KEEP_FINISHED + 1  # a's and b's finished entries expire
    assert registry.start("db", "d-00000000000000", {"id": "d"}, 1) is not None
    assert len(registry) == 4  # c's two running, a's new one, d's


@pytest.mark.asyncio
async def test_one_actors_downloads_leave_anothers_entry_readable(ds):
    await download(ds, OTHER_ID, actor="bob")
    for i in range(250):
        response = await download(ds, "alice-ids-%012d" % i, actor="alice", did="did:plc:nobody")
        assert response.status_code == 200
    bob = await ds.client.get(progress_url(OTHER_ID), cookies=as_actor(ds, "bob"))
    assert bob.status_code == 200 and bob.json()["state"] == "done"
    assert len(progress.registry(ds)) == progress.MAX_PER_ACTOR + 1
    for i, status in ((0, 404), (199, 404), (200, 200), (249, 200)):
        alice = await ds.client.get(
            progress_url("alice-ids-%012d" % i), cookies=as_actor(ds, "alice")
        )
        assert alice.status_code == status, i


@pytest.mark.asyncio
async def test_full_registry_download_goes_on_untracked(ds, caplog):
    progress._registries[ds] = progress.Registry(max_entries=1)
    await download(ds, OTHER_ID, actor="bob")
    response = await download(ds, ID, actor="alice")
    assert response.status_code == 200
    assert response.content == GOLDEN.read_bytes()
    assert (await ds.client.get(progress_url(ID), cookies=as_actor(ds, "alice"))).status_code == 404
    assert "progress registry full; download with progress=%s goes on untracked" % ID in (
        caplog.text
    )
    bob = await ds.client.get(progress_url(OTHER_ID), cookies=as_actor(ds, "bob"))
    assert bob.status_code == 200


# --------------------------------------------------------------------------
# How exports end: cancelled within one page, failed with the post and column


class Stream(Client):
    """A download through the ASGI app that calls ``on_body`` at each body message."""

    def __init__(self, ds, query, on_body=None):
        super().__init__(ds, "/realistic/-/bsky-export/posts.json", query)
        self.on_body = on_body

    async def send(self, message):
        await super().send(message)
        if message["type"] == "http.response.body" and self.on_body:
            self.on_body(self)


@pytest.mark.asyncio
async def test_cancel_stops_before_the_next_page(ds, monkeypatch):
    monkeypatch.setattr(params, "PAGE_SIZE", 100)
    steps = []
    original = engine.Export.step
    monkeypatch.setattr(
        engine.Export, "step", lambda self, conn: steps.append(1) or original(self, conn)
    )
    at_cancel = []

    def cancel_after_three_messages(stream):
        if len(stream.bodies) == 3:
            at_cancel.append(len(steps))
            progress.registry(ds).get("realistic", ID, None).request_cancel()

    stream = await Stream(ds, "progress=" + ID, cancel_after_three_messages).run()
    assert len(steps) == at_cancel[0]  # no page ran after the cancel
    assert not stream.complete  # cut off, never complete-looking
    entry = (await ds.client.get(progress_url(ID))).json()
    assert entry["state"] == "cancelled" and entry["error"] is None
    assert entry["posts"] == 100 * at_cancel[0] and entry["total"] == 1500
    assert entry["bytes"] == sum(len(m["body"]) for m in stream.bodies)


@pytest.mark.asyncio
@pytest.mark.parametrize("index", [5, 420], ids=["before the first byte", "after it"])
async def test_rejected_row_fails_with_uri_and_column(tmp_path, monkeypatch, index):
    monkeypatch.setattr(params, "PAGE_SIZE", 100)
    path = tmp_path / "realistic.db"
    shutil.copyfile(FIXTURES / "realistic.db", path)
    uri = corrupt(path, index, "reply_parent")
    ds = make_datasette([path])
    stream = await Stream(ds, "progress=" + ID).run()
    if index >= 100:  # a 200 cut off
        assert stream.bodies and not stream.complete
    entry = (await ds.client.get(progress_url(ID))).json()
    assert entry["state"] == "failed"
    assert entry["error"].startswith("The export failed: post %s: column reply_parent: " % uri)
    assert entry["posts"] == (index // 100) * 100


# --------------------------------------------------------------------------
# Not frameable: the export page and the progress endpoints


PAGE = "/realistic/-/bsky-export"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", PAGE, 200),
        ("HEAD", PAGE, 200),
        ("GET", PAGE + "?format=json&start_date=2024-02-30", 400),
        ("POST", PAGE, 405),
        ("GET", progress_url(ID), 200),
        ("GET", progress_url(OTHER_ID), 404),
        ("POST", progress_url(ID), 405),
        ("POST", progress_url(ID, "/cancel"), 200),
        ("POST", progress_url(OTHER_ID, "/cancel"), 404),
        ("GET", progress_url(ID, "/cancel"), 405),
    ],
)
async def test_no_other_site_can_frame_the_page_or_progress(ds, method, path, status):
    """No other site may frame them; the page frames itself (its form's target)."""
    await download(ds, ID)
    if method == "POST" and path.endswith("/cancel"):
        response = await post(ds, path, None)
    else:
        response = await ds.client.request(method, path)
    assert response.status_code == status
    if path.startswith(PAGE + "/progress/"):
        expected = ("DENY", "frame-ancestors 'none'")
    else:
        expected = ("SAMEORIGIN", "frame-ancestors 'self'")
    assert (
        response.headers["x-frame-options"],
        response.headers["content-security-policy"],
    ) == expected
