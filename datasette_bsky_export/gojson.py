"""Go ``encoding/json`` compatible pieces: strings, floats and raw JSON.

Everything here is the *exact* path: slow-ish pure Python that reproduces the
legacy (Go) bytes for every input the legacy accepts. Text arrives as ``str``
in which each byte of invalid UTF-8 is a lone surrogate (``surrogateescape``),
so one value can carry any byte sequence.
"""

import json
import math
import re
from typing import Any, Iterable, Iterator

# Go escapes U+2028/U+2029 always, and writes each invalid UTF-8 byte as the
# escape \ufffd. json.dumps(ensure_ascii=False) already matches Go for the rest
# (short escapes for \b \f \n \r \t, lowercase \u00XX for other controls).
_AFTER_PY_ESCAPE = {0x2028: "\\u2028", 0x2029: "\\u2029"}
_AFTER_PY_ESCAPE.update({cp: "\\ufffd" for cp in range(0xDC80, 0xDD00)})


def json_string(text: str) -> str:
    """The Go JSON encoding of ``text`` (surrogate-escaped str), as str."""
    return json.dumps(text, ensure_ascii=False).translate(_AFTER_PY_ESCAPE)


def json_string_pieces(texts: Iterable[str]) -> Iterator[str]:
    """``json_string`` of the text given in pieces, in pieces (each
    character is escaped on its own, so any cut is safe)."""
    yield '"'
    for text in texts:
        yield json_string(text)[1:-1]
    yield '"'


def format_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)``: how database/sql turns a
    REAL into text."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = "{!r}".format(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    digits = (whole + frac).lstrip("0")
    # decimal point position relative to the first significant digit
    point = len(whole) + int(exponent or 0) - (len(whole + frac) - len(digits))
    digits = digits.rstrip("0") or "0"
    exp = point - 1
    if exp < -4 or exp >= 6:  # shortest 'g' uses %e from 1e+06 on
        out = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return "%s%se%s%02d" % (sign, out, "-" if exp < 0 else "+", abs(exp))
    if point <= 0:
        return sign + "0." + "0" * -point + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


class InvalidJSON(ValueError):
    """Raw JSON that Go's scanner rejects."""


# One token, after optional whitespace. Strings may hold any byte >= 0x20
# (invalid UTF-8 included, as Go's scanner does); escapes are checked.
_TOKEN = re.compile(
    r"[ \t\r\n]*(?:"
    r'("(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|([{}\[\],:])"
    r"|(true|false|null))"
)
_WS = re.compile(r"[ \t\r\n]*")
MAX_DEPTH = 10000  # Go's scanner limit on nesting

# parser states
_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _COMMA_OR_CLOSE, _MEMBER, _END = range(8)


def tokens(raw: str, max_depth: int = MAX_DEPTH) -> Iterator[tuple[int, str]]:
    """Each token of raw JSON (str, surrogate-escaped) as ``(level, token)``,
    as Go's scanner reads it: ``level`` is the nesting at which Go's
    json.Indent starts a new line before the token, or -1 for none. Tokens
    are verbatim; raises InvalidJSON (mid-way) for anything Go's scanner
    rejects, nesting deeper than ``max_depth`` included. Iterative: memory
    is the stack of open containers, whatever the nesting.

    A Go-exact state machine, kept whole though longer than 60 lines: it is
    the loop every embed goes through, and split into functions its state
    (position, stack, expected token) would be passed back and forth on
    every token, with a call each time."""
    stack: list[str] = []  # open containers, '{' or '['
    state = _VALUE
    pos = 0
    end = len(raw)
    match = _TOKEN.match
    while True:
        m = match(raw, pos)
        if m is None:
            pos = _WS.match(raw, pos).end()  # type: ignore[union-attr]  # matches empty
            if pos == end:
                if state == _END:
                    return
                raise InvalidJSON("unexpected end of JSON input")
            if raw[pos] == '"':
                raise InvalidJSON(
                    "invalid string at offset %d (raw control character or bad escape)" % pos
                )
            raise InvalidJSON("invalid character %r at offset %d" % (raw[pos], pos))
        pos = m.end()
        string, number, punct, literal = m.groups()
        if punct == "}" or punct == "]":
            opener = "{" if punct == "}" else "["
            empty = _KEY_OR_CLOSE if opener == "{" else _VALUE_OR_CLOSE
            if not stack or stack[-1] != opener or state not in (_COMMA_OR_CLOSE, empty):
                raise _unexpected(m, state)
            stack.pop()
            yield (-1 if state == empty else len(stack)), punct
            state = _COMMA_OR_CLOSE if stack else _END
            continue
        level = -1
        if state == _VALUE_OR_CLOSE or state == _KEY_OR_CLOSE:  # first member
            level = len(stack)
            state = _VALUE if state == _VALUE_OR_CLOSE else _KEY
        elif state == _MEMBER:  # after a comma
            level = len(stack)
            state = _KEY if stack[-1] == "{" else _VALUE
        if punct is None:  # a scalar
            if state == _KEY:
                if string is None:
                    raise _unexpected(m, state)
                state = _COLON
            elif state == _VALUE:
                state = _COMMA_OR_CLOSE if stack else _END
            else:
                raise _unexpected(m, state)
            yield level, string or number or literal
        elif punct == "{" or punct == "[":
            if state != _VALUE:
                raise _unexpected(m, state)
            if len(stack) >= max_depth:
                raise InvalidJSON("nested deeper than the %d levels Go allows here" % max_depth)
            yield level, punct
            stack.append(punct)
            state = _KEY_OR_CLOSE if punct == "{" else _VALUE_OR_CLOSE
        elif punct == ":":
            if state != _COLON:
                raise _unexpected(m, state)
            yield -1, punct
            state = _VALUE
        else:  # ','
            if state != _COMMA_OR_CLOSE:
                raise _unexpected(m, state)
            yield -1, punct
            state = _MEMBER


def validate(raw: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise InvalidJSON unless Go's scanner accepts ``raw``."""
    for _ in tokens(raw, max_depth):
        pass


def indented(raw: str, depth: int, max_depth: int = MAX_DEPTH) -> Iterator[str]:
    """Raw JSON (str, surrogate-escaped) re-indented as Go's json.Indent
    would print it nested ``depth`` levels deep with a two-space indent, as
    pieces (str) made as they are read: memory stays one piece whatever the
    size of the output (a few thousand levels of nesting make hundreds of MB
    of indentation). Tokens are kept verbatim; empty ``{}`` and ``[]`` stay
    compact. InvalidJSON, as the pieces are read, for anything Go's scanner
    rejects, nesting deeper than ``max_depth`` included."""
    newline = "\n" + "  " * depth
    for level, token in tokens(raw, max_depth):
        if token == ":":
            yield ": "
        elif level < 0:
            yield token
        else:
            yield newline + "  " * level + token


def _unexpected(m, state):
    token = m.group(0).lstrip(" \t\r\n")
    where = "after top-level value" if state == _END else "at offset %d" % m.start()
    return InvalidJSON("unexpected %r %s" % (token[:20], where))


def unmarshal(raw: Any, shape: Any, max_depth: int = MAX_DEPTH) -> Any:
    """Go's json.Unmarshal of raw JSON into interface{}, keeping only what
    ``shape`` asks for; None where Unmarshal fails (what Go's scanner rejects,
    a number out of float64 range). A shape is a dict of member names to
    shapes (an object), ``[shape]`` (an array) or ``str`` (a string); a value
    of another kind in its place reads as None, and a repeated name takes the
    last value, as in Go. Array elements holding nothing are left out.
    Iterative: memory is what is kept plus the stack of open containers."""
    stack: list[Any] = []  # per open container: [its value (None: not kept), its shape]
    root: Any = None
    name: Any = None
    container_shape: Any
    try:
        for _, token in tokens(raw, max_depth):
            kind = token[0]
            value, container_shape = stack[-1] if stack else (None, None)
            if kind == "," or kind == ":":
                name = None if kind == "," else name
            elif kind == "}" or kind == "]":
                stack.pop()
                if stack and type(stack[-1][0]) is list and _empty(value):
                    stack[-1][0].pop()  # an element holding nothing
            elif type(value) is dict and name is None:
                name = json.loads(token)  # a member name
            else:
                if kind in "-0123456789" and math.isinf(float(token)):
                    return None
                want = (
                    shape
                    if not stack
                    else container_shape[0]
                    if type(value) is list
                    else container_shape.get(name)
                    if type(value) is dict
                    else None
                )
                new = _kept(token, want)
                if not stack:
                    root = new
                elif type(value) is dict and name in container_shape:
                    value[name] = new
                elif type(value) is list and new is not None:
                    value.append(new)
                if kind == "{" or kind == "[":
                    stack.append([new, want])
                    name = None
    except InvalidJSON:
        return None
    return root


def _empty(value):
    """A kept container holding nothing (only None)."""
    return value is not None and all(
        v is None for v in (value.values() if type(value) is dict else value)
    )


def _kept(token, shape):
    """What unmarshal keeps of a value starting with ``token``."""
    if token == "{":
        return {} if type(shape) is dict else None
    if token == "[":
        return [] if type(shape) is list else None
    return json.loads(token) if shape is str and token[0] == '"' else None
