"""datasette-bsky-export: the legacy bskyarchive export, exactly, from Datasette.

The hooks here stay thin: each hands over to an adapter module.
"""

from datasette import hookimpl


@hookimpl
def register_commands(cli):
    from .cli import bsky_export

    cli.add_command(bsky_export, name="bsky-export")
