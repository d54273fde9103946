"""Big values printed in pieces, so that memory holds a piece, not a copy.

Text is ``str`` in which each byte of invalid UTF-8 is a lone surrogate
(``surrogateescape``); output is UTF-8 bytes with those bytes put back.
"""

from typing import Any, Iterable, Iterator, Sequence

SIZE = 1 << 16  # characters: a value longer than this is big, printed in pieces this long


def texts(value: str | bytes | bytearray) -> Iterator[str]:
    """The text of a big str, or of big UTF-8 bytes (invalid ones included),
    in pieces of about SIZE characters."""
    if type(value) is str:
        return (value[i : i + SIZE] for i in range(0, len(value), SIZE))
    return _utf8_texts(value)


def _utf8_texts(data):
    # cut before the first byte of a character (it has at most 3 after it),
    # so that each piece decodes as the whole does
    start, end = 0, len(data)
    while start < end:
        cut = start + SIZE
        if cut < end:
            cut = next((i for i in range(cut, cut - 4, -1) if data[i] & 0xC0 != 0x80), cut)
        yield data[start:cut].decode("utf-8", "surrogateescape")
        start = cut


def encoded(parts: Sequence[Any]) -> Iterable[bytes]:
    """The bytes of ``parts`` (str, or iterables of str for big values): a
    list of one bytes, or when there are big values an iterator of pieces of
    about SIZE characters, made as it is read."""
    if all(type(part) is str for part in parts):
        return ["".join(parts).encode("utf-8", "surrogateescape")]
    return _encode_lazily(parts)


def _encode_lazily(parts):
    batch, size = [], 0
    for part in parts:
        for text in (part,) if type(part) is str else part:
            batch.append(text)
            size += len(text)
            if size >= SIZE:
                yield "".join(batch).encode("utf-8", "surrogateescape")
                batch, size = [], 0
    if batch:
        yield "".join(batch).encode("utf-8", "surrogateescape")
