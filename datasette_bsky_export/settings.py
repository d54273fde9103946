"""The plugin's settings: its name, its logger, every key with its type,
default and scope, the merge of the top-level and database blocks, and the
check that Datasette's ``startup`` hook runs once over all of them.

A key of scope ``database`` may be set at the top level (for every
database) and in a database's block (for that database, key by key); a key
of scope ``top`` holds for the whole instance and may be set at the top
level only. A bad value, a top-level key in a database block or an unknown
key stops ``datasette serve`` with one line (a ``click.ClickException``,
which both Datasette lines print as ``Error: ...``). Requests then read
settings that are known to be good: no request fails because of one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import TYPE_CHECKING, Any, Callable

import click

if TYPE_CHECKING:
    from datasette.app import Datasette

PLUGIN = "datasette-bsky-export"
log = logging.getLogger("datasette_bsky_export")

TOP = "top"
DATABASE = "database"


def _flag(value):
    if type(value) is not bool:
        return "must be true or false"
    return None


def _text(value):
    if not isinstance(value, str):
        return "must be a string"
    if not value or "\0" in value:
        return "must be a non-empty path without NUL characters"
    return None


def _folder(value):
    """A media root: a path to a folder that exists when Datasette starts
    (one removed later is refused at request time, as ``access.media_root``
    says)."""
    why = _text(value)
    if why is None and not os.path.isdir(value):
        why = "must be an existing folder"
    return why


def _whole(value):
    if type(value) is not int or value < 1:
        return "must be a whole number of at least 1"
    return None


def _seconds(value):
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        return "must be a number of seconds greater than 0"
    return None


@dataclasses.dataclass(frozen=True)
class Key:
    """A settings key: its name, the check of a value (why it is bad, or
    None), its default and its scope (TOP or DATABASE)."""

    name: str
    check: Callable[[object], str | None]
    default: Any
    scope: str


KEYS = {
    key.name: key
    for key in [
        Key("restrict_to_actor", _flag, False, DATABASE),
        Key("media_root", _folder, ".", DATABASE),
        Key("allow_hard_links", _flag, False, DATABASE),
        Key("expose_session_tokens", _flag, False, DATABASE),
        Key("max_downloads", _whole, 20, TOP),
        Key("max_downloads_per_actor", _whole, 10, TOP),
        Key("stall_timeout", _seconds, 60, TOP),
        Key("allow_http10", _flag, False, TOP),
    ]
}
DEFAULTS = {name: key.default for name, key in KEYS.items()}


class SettingsError(click.ClickException):
    """A bad setting, named with its block: stops ``datasette serve``."""


def problems(block: object, database: str | None = None) -> list[str]:
    """One line for each bad key of a settings block (the top level's when
    ``database`` is None), in key order."""
    where = "the top-level settings" if database is None else "database %r" % database
    if block is None:
        return []
    if not isinstance(block, dict):
        return ["%s: the settings of %s must be a mapping of keys to values" % (PLUGIN, where)]
    found = []
    for name in sorted(block):
        value = block[name]
        key = KEYS.get(name)
        why: str | None
        if key is None:
            why = "is not a setting of this plugin (known: %s)" % ", ".join(sorted(KEYS))
        elif database is not None and key.scope == TOP:
            why = "holds for the whole instance: set it in the top-level settings only"
        else:
            why = key.check(value)
            if why:
                why = "%s, not %s" % (why, _shown(value))
        if why:
            found.append("%s: %s in %s %s" % (PLUGIN, name, where, why))
    return found


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _blocks(datasette):
    """(database or None, its block) for the top level and every database
    that is attached or named in the configuration."""
    if hasattr(datasette, "config"):  # Datasette 1.0a: datasette.yaml
        configured = (datasette.config or {}).get("databases") or {}
    else:  # Datasette 0.65: metadata
        configured = datasette.metadata("databases") or {}
    yield None, datasette.plugin_config(PLUGIN)
    for name in dict.fromkeys([*datasette.databases, *configured]):
        yield name, datasette.plugin_config(PLUGIN, database=name, fallback=False)


def check(datasette: Datasette) -> None:
    """SettingsError (one line: the first problem, and how many more) unless
    every block of the plugin's settings is good."""
    found = [line for database, block in _blocks(datasette) for line in problems(block, database)]
    if found:
        more = len(found) - 1
        raise SettingsError(found[0] + ("" if not more else " (and %d more problems)" % more))


def instance(datasette: Datasette) -> dict[str, Any]:
    """The top-level settings, every key present (defaults filled in)."""
    merged = dict(DEFAULTS)
    merged.update(_mapping(datasette.plugin_config(PLUGIN)))
    return merged


def _mapping(block):
    """A settings block, or {} for one that is not a mapping: ``check``
    stops the server for it, but Datasette 1.0a opens connections (whose
    ``prepare_connection`` reads settings) before the ``startup`` hook runs."""
    return block if isinstance(block, dict) else {}


def for_database(datasette: Datasette, database: str) -> dict[str, Any]:
    """The settings for ``database``, every key present: the defaults, then
    the top-level block, then the database's own block key by key (a block
    that sets only ``media_root`` keeps the top level's
    ``restrict_to_actor``). Keys of scope ``top`` come from the top level."""
    merged = instance(datasette)
    own = _mapping(datasette.plugin_config(PLUGIN, database=database, fallback=False))
    merged.update({k: v for k, v in own.items() if KEYS.get(k) and KEYS[k].scope == DATABASE})
    return merged
