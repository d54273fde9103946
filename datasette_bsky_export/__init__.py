"""datasette-bsky-export: the legacy bskyarchive export, exactly, from Datasette.

The hooks here stay thin: each hands over to an adapter module.
"""

from datasette import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_commands(cli):
    from .cli import bsky_export

    cli.add_command(bsky_export, name="bsky-export")


@hookimpl
def register_routes():
    from .routes import routes

    return routes()


@hookimpl
def table_actions(datasette, actor, database, table):
    from .routes import action_links

    return lambda: action_links(datasette, actor, database, table)


@hookimpl
def database_actions(datasette, actor, database):
    from .routes import action_links

    return lambda: action_links(datasette, actor, database)
