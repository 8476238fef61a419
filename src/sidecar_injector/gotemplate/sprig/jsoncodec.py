"""Go's `encoding/json` for template values: `toJson`, `toPrettyJson`, `toRawJson`, `fromJson`.

Encoding matches Go byte for byte (sorted keys, `<>&` escaped unless raw, floats printed
the way Go prints them). Decoding gives Go's `interface {}` view (numbers are float64) and
Go's syntax error messages, which come from a scanner that follows Go's states.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import orjson

from .. import values
from . import runes

_SHORT_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HTML: Final = frozenset("<>&")


class UnsupportedValue(values.GoError):
    """A value `encoding/json` refuses (NaN, infinities, functions)."""


def _encode_string(s: str, *, html: bool) -> str:
    if s.isascii() and s.isprintable() and not (html and ("<" in s or ">" in s or "&" in s)):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    out = ['"']
    for ch in runes.go_runes(s):
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch < " " or (html and ch in _HTML) or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_float(f: float) -> str:
    """A float64 as Go's `encoding/json` writes it."""
    if math.isnan(f) or math.isinf(f):
        shown = "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
        raise UnsupportedValue(f"json: unsupported value: {shown}")
    exact = Decimal(repr(f))
    if f != 0 and (abs(f) < 1e-6 or abs(f) >= 1e21):
        mantissa, _, exponent = f"{exact:e}".partition("e")
        sign = exponent[0]
        return f"{mantissa}e{sign}{int(exponent[1:]):02d}".replace("e-0", "e-")
    return f"{exact.normalize():f}"


Write = Callable[[object, int], str]
"""How an object's or array's elements are written: `Encoder.encode`, or `_in_order`."""


class Encoder:
    """One `json.Marshal` (or `MarshalIndent`) run."""

    def __init__(self, *, html: bool, indent: str) -> None:
        self._html = html
        self._indent = indent

    def encode(self, value: object, depth: int = 0) -> str:
        """The JSON text of `value`; scalars first, which are never nil."""
        if isinstance(value, str):
            return _encode_string(value, html=self._html)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return int.__repr__(value)  # str() of a large Int subclass is its repr (mypyc)
        if isinstance(value, float):
            return format_float(value)
        if value is None or value is values.NO_VALUE or values.is_nil(value):
            return "null"
        if isinstance(value, dict) or (
            not isinstance(value, values.Struct) and isinstance(value, Mapping)
        ):
            return self._object(sorted(value.items()), depth)
        if isinstance(value, (list, tuple)):
            return self._array(list(value), depth)
        return self._other(value, depth)

    def _other(self, value: object, depth: int) -> str:
        """Structs: Go's `MarshalJSON`, else `json_value()` (the JSON a struct's field tags
        give, for views that know them), else the fields by their Go names. Both methods are
        looked up on the class: a view answers unknown attributes with its Go fields."""
        marshal = value.go_method("MarshalJSON") if isinstance(value, values.Struct) else None
        if marshal is not None:
            return str(marshal())
        json_value = getattr(type(value), "json_value", None)
        if callable(json_value):
            return self._in_order(json_value(value), depth)
        if isinstance(value, values.Struct):
            fields = [(f, value.go_field(f)) for f in type(value).go_fields]
            return self._object(fields, depth)
        raise UnsupportedValue(f"json: unsupported type: {values.go_type_of(value)}")

    def _layout(self, parts: list[str], depth: int, brackets: str) -> str:
        if not parts:
            return brackets
        if not self._indent:
            return brackets[0] + ",".join(parts) + brackets[1]
        inner = "\n" + self._indent * (depth + 1)
        outer = "\n" + self._indent * depth
        return brackets[0] + inner + ("," + inner).join(parts) + outer + brackets[1]

    def _object(
        self, items: list[tuple[str, object]], depth: int, write: Write | None = None
    ) -> str:
        write = write or self.encode
        colon = ": " if self._indent else ":"
        parts = [_encode_string(k, html=self._html) + colon + write(v, depth + 1) for k, v in items]
        return self._layout(parts, depth, "{}")

    def _array(self, items: list[object], depth: int, write: Write | None = None) -> str:
        write = write or self.encode
        return self._layout([write(v, depth + 1) for v in items], depth, "[]")

    def _in_order(self, value: object, depth: int) -> str:
        """The JSON data a view's `json_value` gives: its objects are structs, or maps sorted
        already, so their keys stay in the order given (a Go map's would be sorted)."""
        if isinstance(value, dict):
            return self._object(list(value.items()), depth, self._in_order)
        if isinstance(value, list):
            return self._array(value, depth, self._in_order)
        return self.encode(value, depth)


def marshal(value: object, *, html: bool = True, indent: str = "") -> str:
    """Go's `json.Marshal`/`MarshalIndent`; raises `GoError` with Go's message."""
    if not indent:
        flat = _flat(value, html=html)
        if flat is not None:
            return flat
    return Encoder(html=html, indent=indent).encode(value)


_SCALARS: Final = (str, int, bool, values.Int)
"""The field types `_flat` encodes: orjson writes them as Go does (no floats: Go's differ)."""
_PLAIN: Final = (str, int, bool)
"""The same in the JSON data a view's `json_value` gives (a container port's)."""
_LINE_SEPARATORS: Final = (b"\xe2\x80\xa8", b"\xe2\x80\xa9")
"""U+2028 and U+2029 in UTF-8: Go escapes them, orjson does not."""


def _flat(value: object, *, html: bool) -> str | None:
    """A map of strings (`toJson .ObjectMeta.Labels`) or a struct of scalar fields (a
    container port, in the order and names its `json_value` gives) by orjson, several times
    faster than `Encoder`; None for anything else, and wherever orjson's bytes could differ
    from Go's beyond the escapes added here: orjson writes `\\b` and `\\f` where Go 1.19
    writes `\\u0008` and `\\u000c`, and refuses surrogates, which Go writes as U+FFFD."""
    if isinstance(value, dict):
        if type(value) is not dict and not (isinstance(value, values.Map) and not value.is_nil):
            return None
        for item in value.values():
            if type(item) is not str:
                return None
        return by_orjson(value, orjson.OPT_SORT_KEYS, html=html)
    if not isinstance(value, values.Struct) or value.go_method("MarshalJSON") is not None:
        return None
    kind = type(value)
    json_value = getattr(kind, "json_value", None)
    if json_value is not None:
        data = json_value(value)
        if type(data) is not dict:
            return None
        for item in data.values():
            if type(item) not in _PLAIN:
                return None
        return by_orjson(data, 0, html=html)
    fields: dict[str, object] = {}
    for name in kind.go_fields:
        field = value.go_field(name)
        if type(field) not in _SCALARS:
            return None
        fields[name] = field
    return by_orjson(fields, 0, html=html)


def by_orjson(value: dict[Any, Any], option: int, *, html: bool) -> str | None:
    """`value` as Go's encoder writes it, by orjson and the escapes Go adds; None where orjson
    refuses it or writes other bytes than Go (`\\b`, `\\f`). The caller rules out floats,
    which orjson and Go print differently."""
    try:
        data = orjson.dumps(value, option=option)
    except TypeError:
        return None
    if b"\\b" in data or b"\\f" in data:
        return None
    if html and (b"<" in data or b">" in data or b"&" in data):
        data = data.replace(b"<", b"\\u003c").replace(b">", b"\\u003e")
        data = data.replace(b"&", b"\\u0026")
    if _LINE_SEPARATORS[0] in data or _LINE_SEPARATORS[1] in data:
        data = data.replace(_LINE_SEPARATORS[0], b"\\u2028")
        data = data.replace(_LINE_SEPARATORS[1], b"\\u2029")
    return data.decode()


def _quote_char(ch: str) -> str:
    """How Go's scanner names an offending character in its messages."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    from .strings import go_quote

    return "'" + go_quote(ch)[1:-1] + "'"


class SyntaxError_(values.GoError):
    """Go's `*json.SyntaxError`."""


class _Scanner:
    """A recursive-descent reader with Go's `encoding/json` error messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.range_error: values.GoError | None = None

    def fail(self, context: str) -> SyntaxError_:
        if self.pos >= len(self.text):
            return SyntaxError_("unexpected end of JSON input")
        return SyntaxError_(f"invalid character {_quote_char(self.text[self.pos])} {context}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def document(self) -> object:
        self.skip_space()
        result = self.value()
        self.skip_space()
        if self.pos < len(self.text):
            raise self.fail("after top-level value")
        return result

    def value(self) -> object:
        ch = self.peek()
        readers: dict[str, Callable[[], object]] = {"{": self.read_object, "[": self.read_array}
        if ch in readers:
            return readers[ch]()
        if ch == '"':
            return self.string()
        if ch == "-" or (ch.isdigit() and ch.isascii()):
            return self.number()
        for word, result in (("true", True), ("false", False), ("null", None)):
            if ch == word[0]:
                return self.literal(word, result)
        raise self.fail("looking for beginning of value")

    def literal(self, word: str, result: object) -> object:
        for expected in word:
            self._pad_end()
            if self.text[self.pos] != expected:
                raise self.fail(f"in literal {word} (expecting {_quote_char(expected)})")
            self.pos += 1
        return result

    def read_object(self) -> dict[str, object]:
        self.pos += 1
        out: dict[str, object] = {}
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return out
        while True:
            if self.peek() != '"':
                raise self.fail("looking for beginning of object key string")
            key = self.string()
            self.skip_space()
            if self.peek() != ":":
                raise self.fail("after object key")
            self.pos += 1
            self.skip_space()
            out[key] = self.value()
            self.skip_space()
            if self.peek() == ",":
                self.pos += 1
                self.skip_space()
                continue
            if self.peek() == "}":
                self.pos += 1
                return out
            raise self.fail("after object key:value pair")

    def read_array(self) -> list[object]:
        self.pos += 1
        out: list[object] = []
        self.skip_space()
        if self.peek() == "]":
            self.pos += 1
            return out
        while True:
            out.append(self.value())
            self.skip_space()
            if self.peek() == ",":
                self.pos += 1
                self.skip_space()
                continue
            if self.peek() == "]":
                self.pos += 1
                return out
            raise self.fail("after array element")

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise self.fail("")
            self.pos += 1
            if ch == '"':
                return "".join(out)
            if ch == "\\":
                out.append(self.escape())
            elif ch < " ":
                self.pos -= 1
                raise self.fail("in string literal")
            else:
                out.append(ch)

    def escape(self) -> str:
        ch = self.peek()
        simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n"}
        simple |= {"r": "\r", "t": "\t"}
        if ch in simple and ch:
            self.pos += 1
            return simple[ch]
        if ch != "u":
            self._pad_end()
            raise self.fail("in string escape code")
        self.pos += 1
        code = self.hex4()
        if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", self.pos):
            save = self.pos
            self.pos += 2
            low = self.hex4()
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
            self.pos = save
        return "\ufffd" if 0xD800 <= code < 0xE000 else chr(code)

    def hex4(self) -> int:
        digits = ""
        for _ in range(4):
            ch = self.peek()
            if not ch or ch not in "0123456789abcdefABCDEF":
                self._pad_end()
                raise self.fail("in \\u hexadecimal character escape")
            digits += ch
            self.pos += 1
        return int(digits, 16)

    def _pad_end(self) -> None:
        """Go's scanner ends input with a space, which is the character an error names."""
        if self.pos >= len(self.text):
            self.text += " "

    def number(self) -> float | None:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
            self._pad_end()
        if self.peek() == "0":
            self.pos += 1
        elif self.peek().isascii() and self.peek().isdigit():
            self.digits()
        else:
            raise self.fail("in numeric literal")
        if self.peek() == ".":
            self.pos += 1
            self.required_digits("after decimal point in numeric literal")
        if self.peek() in ("e", "E") and self.peek():
            self.pos += 1
            if self.peek() in ("+", "-") and self.peek():
                self.pos += 1
            self.required_digits("in exponent of numeric literal")
        literal = self.text[start : self.pos]
        result = float(literal)
        if math.isinf(result) and self.range_error is None:
            message = f"json: cannot unmarshal number {literal} into Go value of type float64"
            self.range_error = values.GoError(message)
        return None if math.isinf(result) else result

    def digits(self) -> None:
        while self.peek().isascii() and self.peek().isdigit() and self.peek():
            self.pos += 1

    def required_digits(self, context: str) -> None:
        if not (self.peek().isascii() and self.peek().isdigit()):
            self._pad_end()
            raise self.fail(context)
        self.digits()


def unmarshal(text: str) -> tuple[object, values.GoError | None]:
    """Go's `json.Unmarshal` into `interface {}`: the value and Go's error, if any.

    A syntax error leaves the value nil; a number out of float64's range becomes nil
    inside the value, which Go still returns alongside the error.
    """
    scanner = _Scanner(text)
    try:
        result = scanner.document()
    except SyntaxError_ as exc:
        return None, exc
    return result, scanner.range_error
