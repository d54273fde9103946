"""The package's version, in a module that imports nothing: ``__init__``
re-exports it, ``pyproject.toml`` reads it, and the engine (``manifest``)
takes it from here without importing the package's hooks."""

__version__ = "0.1.0"
