"""JSON text exactly as Go's `encoding/json.Marshal` writes it.

Istio puts Go-marshalled JSON into pods (`ISTIO_META_POD_PORTS`, annotations), and templates
print it (`toJSON`, `structToJSON`). Go differs from Python's `json` in small ways that show in
the output: `<`, `>`, `&`, U+2028 and U+2029 are escaped, control characters other than
`\\n \\r \\t` are written as `\\u00XX`, and a float64 prints in its shortest form without `.0`,
switching to an exponent (`1e-7`, `1e+21`) only outside [1e-6, 1e21).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from sidecar_injector.gotemplate.sprig.jsoncodec import by_orjson

JSON = Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HTML_UNSAFE = frozenset("<>&")


class UnsupportedValueError(ValueError):
    """A value Go cannot marshal (NaN, infinity) or a type with no JSON form."""


def marshal(value: JSON, *, sort_keys: bool = True) -> str:
    """Compact JSON of plain data; `sort_keys` as Go sorts map keys (structs keep their order)."""
    if _flat(value):
        fast = by_orjson(value, orjson.OPT_SORT_KEYS if sort_keys else 0, html=True)
        if fast is not None:
            return fast
    return written(value, sort_keys=sort_keys)


def written(value: JSON, *, sort_keys: bool = True) -> str:
    """`marshal` by this module's own writer, which every value takes."""
    parts: list[str] = []
    _write(value, parts, sort_keys=sort_keys)
    return "".join(parts)


def _flat(value: JSON) -> bool:
    """An object of strings, nulls and lists of strings (the injection status, a label map),
    which orjson writes several times faster (no float, whose form differs from Go's)."""
    if type(value) is not dict:
        return False
    for item in value.values():
        if type(item) is list:
            for each in item:
                if type(each) is not str:
                    return False
        elif type(item) is not str and item is not None:
            return False
    return True


def _write(value: JSON, out: list[str], *, sort_keys: bool) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(quote(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))  # an Int past 2**62 keeps its class (mypyc)
    elif isinstance(value, float):
        out.append(number(value))
    elif isinstance(value, (dict, Mapping)):
        keys = sorted(value, key=str) if sort_keys else list(value)
        out.append("{")
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            out.append(quote(str(key)))
            out.append(":")
            _write(value[key], out, sort_keys=sort_keys)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, sort_keys=sort_keys)
        out.append("]")
    else:
        raise UnsupportedValueError(f"json: unsupported type: {type(value).__name__}")


def quote(text: str) -> str:
    """A JSON string as Go writes it (HTML-safe)."""
    if text.isascii() and text.isprintable() and not _HTML_UNSAFE.intersection(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or ch in "<>&\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def number(value: float) -> str:
    """A float64 as Go's encoder writes it."""
    if not math.isfinite(value):
        raise UnsupportedValueError(f"json: unsupported value: {value!r}")
    size = abs(value)
    if size != 0 and (size < 1e-6 or size >= 1e21):
        mantissa, _, exponent = repr(value).partition("e")
        sign = exponent[0]
        return f"{mantissa.removesuffix('.0')}e{sign}{int(exponent[1:])}"
    return format(Decimal(repr(value)).normalize(), "f")
