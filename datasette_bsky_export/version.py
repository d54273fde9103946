"""The package's version, importable without Datasette."""

__version__ = "0.1.0"
