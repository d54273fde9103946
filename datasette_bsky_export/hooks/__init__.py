"""The plugin's Datasette hooks (the ``datasette`` entry point in
``pyproject.toml``). They stay thin: each hands over to an adapter module.
Only this package and the adapters import Datasette: the engine and the
``--jobs`` workers run without it.

It is a package because Datasette looks for a plugin's ``templates/`` and
``static/`` in the package its entry point names: the export page's
template and script live here.
"""

from datasette import hookimpl


@hookimpl
def startup(datasette):
    from ..settings import check

    check(datasette)


@hookimpl
def register_commands(cli):
    from ..cli import bsky_export

    cli.add_command(bsky_export, name="bsky-export")


@hookimpl
def register_routes():
    from ..routes import routes

    return routes()


@hookimpl
def table_actions(datasette, actor, database, table, request):
    from ..menus import action_links

    return lambda: action_links(datasette, actor, database, table, request)


@hookimpl
def database_actions(datasette, actor, database):
    from ..menus import action_links

    return lambda: action_links(datasette, actor, database)


@hookimpl
def top_table(datasette, request, database, table):  # Datasette 1.0a
    from ..menus import table_link

    return lambda: table_link(datasette, request.actor, database, table, request)


@hookimpl
def extra_body_script(datasette, request, database, table, view_name):
    from datasette import hookspecs

    if view_name != "table" or hasattr(hookspecs, "top_table"):
        return None  # 1.0a shows the link through top_table
    from ..menus import table_link_script

    actor = request.actor if request is not None else None
    return lambda: table_link_script(datasette, actor, database, table, request)


@hookimpl
def prepare_connection(conn, database, datasette):
    from ..sessions import prepare_connection

    prepare_connection(conn, database, datasette)


@hookimpl(trylast=True)  # Datasette 0.65: the last opinion is the one it keeps
def permission_allowed(datasette, actor, action, resource):
    from ..sessions import permission_allowed

    return permission_allowed(datasette, action, resource)


@hookimpl
def permission_resources_sql(datasette, actor, action):  # Datasette 1.0a
    from ..sessions import permission_resources_sql

    return permission_resources_sql(datasette, action)


@hookimpl
def forbidden(datasette, request, message):
    from ..sessions import forbidden

    return forbidden(datasette, request, message)
