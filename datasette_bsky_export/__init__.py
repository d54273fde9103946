"""datasette-bsky-export: the legacy bskyarchive export, exactly, from Datasette.

The hooks are in ``hooks``: importing the package (a ``--jobs`` worker
does) imports no Datasette.
"""

from .version import __version__

__all__ = ["__version__"]
