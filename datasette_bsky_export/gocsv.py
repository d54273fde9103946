"""Go ``encoding/csv`` field quoting (Writer with Comma ',' and UseCRLF false)."""

import re

from .gotime import GO_SPACES

_SPECIAL = re.compile('[,"\r\n]')
_LEADING_SPACES = frozenset(GO_SPACES)


def needs_quotes(text):
    """Go's fieldNeedsQuotes: ``,`` ``"`` CR or LF anywhere, exactly ``\\.``,
    or a first character that is a Unicode space."""
    return bool(_SPECIAL.search(text)) or text[:1] in _LEADING_SPACES or text == "\\."


def field(text):
    """One CSV field (str; invalid UTF-8 as surrogate escapes) as Go writes
    it: inside quotes ``"`` doubles and everything else is raw."""
    if needs_quotes(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def record(fields):
    """A whole record with its ``\\n`` terminator."""
    return ",".join(map(field, fields)) + "\n"
