"""README's lists of HTTP statuses and exit statuses, made from
``errors.STATUSES`` and ``cli.EXIT_STATUSES``, checked against the code:
every status the package's source can answer and every exit status the
command can end with (read from the source's syntax tree) is listed, and
nothing else; each HTTP status is answered in a situation its list gives.
Runs on Datasette 0.65 and 1.0a."""

import ast
import inspect
import json
import pathlib
import shutil

import click
import datasette.utils.asgi
import markupsafe
import pytest
from datasette import Response

import datasette_bsky_export
from datasette_bsky_export import streaming
from datasette_bsky_export.cli import EXIT_STATUSES
from datasette_bsky_export.errors import STATUSES, HttpError
from dsclient import HTML, Client, make_datasette, plugin
from helpers import DID1, FIXTURES

PACKAGE = pathlib.Path(datasette_bsky_export.__file__).parent


def modules():
    """(file name, syntax tree) of every module of the package, each node
    knowing its parent."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                child.parent = node
        yield path.relative_to(PACKAGE), tree


def enclosing(node, kinds):
    while not isinstance(node, kinds):
        node = node.parent
    return node


def scope(node):
    return enclosing(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module))


def assigned(name):
    """The values assigned to the variable ``name`` (an ast.Name) in its function."""
    for node in ast.walk(scope(name)):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id == name.id:
                yield node.value
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                for part, value in zip(target.elts, node.value.elts, strict=True):
                    if isinstance(part, ast.Name) and part.id == name.id:
                        yield value


def function_named(tree, name):
    """The module-level function ``name`` of ``tree``, or None."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def returned(function):
    return [node.value for node in ast.walk(function) if isinstance(node, ast.Return)]


def called(call):
    """The name of the function ``call`` calls (``ctx.exit``: ``exit``)."""
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def where(path, node):
    return "%s:%d: %s" % (path, node.lineno, ast.unparse(node))


# --------------------------------------------------------------------------
# HTTP statuses


def statuses(path, expr):
    """The statuses the expression ``expr`` can hold."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, int):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        return statuses(path, expr.body) | statuses(path, expr.orelse)
    if isinstance(expr, ast.Attribute) and expr.attr == "status":
        return set()  # an HttpError's, found where that error is made
    if isinstance(expr, ast.Name):
        values = list(assigned(expr))
        if values:
            return set().union(*(statuses(path, value) for value in values))
    pytest.fail("cannot tell which status this answers: %s" % where(path, expr))


HTTP_ERRORS = {cls.__name__ for cls in [HttpError, *HttpError.__subclasses__()]}


def status_argument(call, function):
    """The expression ``call`` passes as ``function``'s ``status``, or None."""
    names = [p for p in inspect.signature(function).parameters if p != "self"]
    position = names.index("status")
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == "status"), None)


def answered(path, call):
    """The statuses a call answers: an HttpError made, or a Response."""
    func = call.func
    is_super_init = (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and ast.unparse(func.value.func) == "super"
    )
    bases = set()
    if is_super_init:
        bases = {ast.unparse(b) for b in enclosing(call, ast.ClassDef).bases}
    if called(call) == "HttpError" or bases & HTTP_ERRORS:
        return statuses(path, call.args[0])
    if ast.unparse(func) == "Response" or "Response" in bases:
        function = Response.__init__
    elif isinstance(func, ast.Attribute) and ast.unparse(func.value) == "Response":
        function = getattr(Response, func.attr)
    else:
        return set()
    given = status_argument(call, function)
    if given is None:
        return {inspect.signature(function).parameters["status"].default}
    return statuses(path, given)


DATASETTE_ERRORS = {
    name
    for name, value in vars(datasette.utils.asgi).items()
    if isinstance(value, type) and issubclass(value, Exception)
} | {"DatasetteError"}


def statuses_in_source():
    found = set()
    for path, tree in modules():
        caught = {  # Datasette's exceptions may be caught (and answered as HttpError)
            id(name)
            for handler in ast.walk(tree)
            if isinstance(handler, ast.ExceptHandler) and handler.type is not None
            for name in ast.walk(handler.type)
        }
        for node in ast.walk(tree):
            if id(node) in caught:
                continue
            if isinstance(node, ast.Call):
                found |= answered(path, node)
            elif isinstance(node, ast.Dict):  # an ASGI http.response.start
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "status":
                        found |= statuses(path, value)
            elif isinstance(node, (ast.Name, ast.Attribute)):
                name = node.id if isinstance(node, ast.Name) else node.attr
                assert name not in DATASETTE_ERRORS, (
                    "answer through errors.HttpError, not Datasette's exceptions: %s"
                    % where(path, node)
                )
    return found


def test_every_http_status_the_code_answers_is_listed():
    assert statuses_in_source() == set(STATUSES)


# --------------------------------------------------------------------------
# Exit statuses


def exit_codes(path, tree, expr):
    """The exit statuses the expression ``expr`` (passed to an exit) can hold."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, int):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        return exit_codes(path, tree, expr.body) | exit_codes(path, tree, expr.orelse)
    if isinstance(expr, ast.Name):
        values = list(assigned(expr))
        if values:
            return set().union(*(exit_codes(path, tree, value) for value in values))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        function = function_named(tree, expr.func.id)
        if function is not None:
            return set().union(*(exit_codes(path, tree, v) for v in returned(function)))
    pytest.fail("cannot tell which exit status this is: %s" % where(path, expr))


def raised_codes(path, tree, exc):
    """The exit statuses of the exception ``exc`` raised: a click exception's
    ``exit_code``; others are caught where they are raised, or are a bug
    (exit 1, with a traceback)."""
    if not isinstance(exc, ast.Call):
        return set()
    name = ast.unparse(exc.func)
    if name.startswith("click."):
        return {getattr(click, name.split(".", 1)[1]).exit_code}
    if name == "SystemExit":
        return exit_codes(path, tree, exc.args[0]) if exc.args else {0}
    function = function_named(tree, name)
    if function is not None:
        return set().union(*(raised_codes(path, tree, v) for v in returned(function)))
    return set()


def exit_statuses_in_source():
    found = set()
    for path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise):
                found |= raised_codes(path, tree, node.exc)
            elif isinstance(node, ast.Call) and called(node) in ("exit", "_exit"):
                found |= exit_codes(path, tree, node.args[0]) if node.args else {0}
            elif isinstance(node, ast.Attribute) and ast.unparse(node) == "click.command":
                # click itself: --help exits 0, an option it cannot parse 2
                found |= {0, click.UsageError.exit_code}
    return found


def test_every_exit_status_the_command_has_is_listed():
    assert exit_statuses_in_source() == set(EXIT_STATUSES)


# --------------------------------------------------------------------------
# Each status in a situation the list gives


BASE = "/realistic/-/bsky-export/"
REJECTED = "did:plc:rej-has-media-2"


def realistic(path, query="", config=None, **request):
    """A request to a Datasette serving realistic.db with ``config``."""

    def ask(tmp_path):
        shutil.copyfile(FIXTURES / "realistic.db", tmp_path / "realistic.db")
        return Client(make_datasette([tmp_path / "realistic.db"], config), path, query, **request)

    return ask


def downloads_in_all_taken(tmp_path):
    client = realistic(BASE + "posts.json", config=plugin(max_downloads=1))(tmp_path)
    streaming.DownloadSlots.of(client.ds).take(("actor", "someone else"))
    return client


def escaped_name(tmp_path):
    shutil.copyfile(FIXTURES / "realistic.db", tmp_path / "my posts.db")
    return Client(
        make_datasette([tmp_path / "my posts.db"]), "/my%20posts/-/bsky-export/posts.json"
    )


def rejected_first_row(tmp_path):
    shutil.copyfile(FIXTURES / "rejects.db", tmp_path / "rejects.db")
    ds = make_datasette([tmp_path / "rejects.db"])
    return Client(ds, "/rejects/-/bsky-export/posts.json", "did=" + REJECTED)


# status: (the request, the headers it gets or the error it says)
SITUATIONS = {
    200: (
        realistic(BASE + "posts.csv", "did=" + DID1),
        {"content-type": "text/csv; charset=utf-8"},
    ),
    302: (escaped_name, {"location": "/my~20posts/-/bsky-export/posts.json"}),
    400: (
        realistic(BASE + "posts.json", "start_date=2024-02-30"),
        "start date 2024-02-30 is not a real date",
    ),
    403: (
        realistic(BASE + "export.zip", config=plugin(restrict_to_actor=True)),
        "This archive exports each signed-in actor's own posts only: sign in first",
    ),
    404: (realistic("/nope/-/bsky-export/posts.json"), "Database not found: 'nope'"),
    405: (realistic(BASE + "media.json", method="POST"), "Use GET to count media"),
    429: (
        downloads_in_all_taken,
        "The server is running as many downloads as it allows; try again in a moment",
    ),
    500: (
        rejected_first_row,
        "The export failed: post at://%s/app.bsky.feed.post/3kbl3qxbp6bmd: column has_media: "
        "is 2; a boolean must be 0 or 1" % REJECTED,
    ),
    505: (realistic(BASE + "posts.csv", http_version="1.0"), streaming.HTTP10_REFUSED),
}


def header(client, name):
    (value,) = [v.decode() for k, v in client.start["headers"] if k.decode().lower() == name]
    return value


@pytest.mark.asyncio
@pytest.mark.parametrize("status", sorted(STATUSES))
async def test_each_status_is_answered_where_the_list_says(tmp_path, status):
    ask, expected = SITUATIONS[status]
    client = await ask(tmp_path).run()
    assert client.start["status"] == status
    if isinstance(expected, dict):
        assert {name: header(client, name) for name in expected} == expected
        return
    assert json.loads(client.body) == {"ok": False, "error": expected, "status": status}
    browser = ask(tmp_path)
    browser.headers.append((b"accept", HTML["accept"].encode()))
    await browser.run()
    assert browser.start["status"] == status
    page = browser.body.decode()
    assert "<h1>%s</h1>" % STATUSES[status].title in page
    assert str(markupsafe.escape(expected)) in page
