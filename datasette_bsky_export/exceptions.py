"""The package's base error.

Every error the package raises for a reason it can name derives from
``ExportError``: a row the legacy rejects (``goscan.RowError``), options that
cannot make an export (``engine.OptionError``), a media file refused
(``media.MediaError``), a worker's failure (``parallel.WorkerError``). This
module imports nothing, so any layer can use it.
"""


class ExportError(Exception):
    """An error of datasette-bsky-export."""
