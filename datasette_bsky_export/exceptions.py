"""The package's errors: every error it raises on purpose derives from ExportError."""


class ExportError(Exception):
    """Base of every error this package raises on purpose."""
