"""Go ``encoding/csv`` field quoting (Writer with Comma ',' and UseCRLF false)."""

import re
from typing import Iterable, Iterator

from .gotime import GO_SPACES

_SPECIAL = re.compile('[,"\r\n]')
_LEADING_SPACES = frozenset(GO_SPACES)
# The same rules for the UTF-8 bytes of the text (invalid UTF-8 included)
SPECIAL_UTF8 = re.compile(rb'[,"\r\n]')
LEADING_SPACE_UTF8 = re.compile(
    rb"[\t\n\v\f\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
    rb"|\xe2\x81\x9f|\xe3\x80\x80"
)


def needs_quotes(text: str) -> bool:
    """Go's fieldNeedsQuotes: ``,`` ``"`` CR or LF anywhere, exactly ``\\.``,
    or a first character that is a Unicode space."""
    return bool(_SPECIAL.search(text)) or text[:1] in _LEADING_SPACES or text == "\\."


def needs_quotes_utf8(data: bytes | bytearray) -> bool:
    """``needs_quotes`` of the text of UTF-8 bytes."""
    return bool(SPECIAL_UTF8.search(data) or LEADING_SPACE_UTF8.match(data)) or data == b"\\."


def field(text: str) -> str:
    """One CSV field (str; invalid UTF-8 as surrogate escapes) as Go writes
    it: inside quotes ``"`` doubles and everything else is raw."""
    if needs_quotes(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def field_pieces(data: bytes | bytearray, texts: Iterable[str]) -> Iterator[str]:
    """``field`` of the text of UTF-8 bytes ``data`` (a big field), printed
    from ``texts``, the text of ``data`` in pieces."""
    quote = needs_quotes_utf8(data)
    if quote:
        yield '"'
    for text in texts:
        yield text.replace('"', '""')  # no '"' unless quoted
    if quote:
        yield '"'
