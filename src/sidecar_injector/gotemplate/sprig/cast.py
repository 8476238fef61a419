"""Conversions and reflection that many sprig families share.

sprig converts loosely typed arguments with spf13/cast (`toInt64`, `toFloat64`) and its own
`strval`; it asks `reflect` for kinds and `reflect.DeepEqual`; it treats zero values as
"empty" the way `text/template`'s truth test does. These are Go facts the families below
rely on, so they live in one place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from .. import printing, values

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
NIL_DEREFERENCE: Final = "runtime error: invalid memory address or nil pointer dereference"

_INT_KINDS: Final = frozenset(
    {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64"}
)
_GO_INT: Final = re.compile(
    r"[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*"
    r"|[1-9](?:_?[0-9])*)"
)
_DEC = r"[0-9](?:_?[0-9])*"
_HEX = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_GO_FLOAT: Final = re.compile(
    rf"[+-]?(?:(?:{_DEC}(?:\.(?:{_DEC})?)?|\.{_DEC})(?:[eE][+-]?{_DEC})?"
    rf"|0[xX]_?(?:{_HEX}(?:\.(?:{_HEX})?)?|\.{_HEX})[pP][+-]?{_DEC})"
)
_GO_FLOAT_SPECIAL: Final = re.compile(r"(?i)[+-]?inf(?:inity)?|nan")


def wrap_int64(n: int) -> int:
    """Go's int64 arithmetic wraps around."""
    return (n - INT64_MIN) % 2**64 + INT64_MIN


def parse_int(s: str) -> int:
    """Go's `strconv.ParseInt(s, 0, 64)`; `ValueError` when Go reports an error."""
    if not _GO_INT.fullmatch(s):
        raise ValueError(s)
    body = s.lstrip("+-").replace("_", "")
    negative = s.startswith("-")
    prefix = body[:2].lower()
    if prefix in ("0x", "0b", "0o"):
        n = int(body[2:], {"0x": 16, "0b": 2, "0o": 8}[prefix])
    elif body.startswith("0") and len(body) > 1:
        n = int(body[1:], 8)
    else:
        n = int(body)
    n = -n if negative else n
    if not INT64_MIN <= n <= INT64_MAX:
        raise ValueError(s)
    return n


def parse_float(s: str) -> float:
    """Go's `strconv.ParseFloat(s, 64)`; `ValueError` when Go reports an error (also range)."""
    if _GO_FLOAT_SPECIAL.fullmatch(s):
        return float(s.lower().replace("infinity", "inf"))
    if not _GO_FLOAT.fullmatch(s):
        raise ValueError(s)
    clean = s.replace("_", "")
    lowered = clean.lower()
    result = float.fromhex(clean) if "0x" in lowered else float(clean)
    if math.isinf(result):
        raise ValueError(s)
    return result


def _trim_zero_decimal(s: str) -> str:
    """spf13/cast drops a `.000` tail so that `"5.0"` converts to 5."""
    match = re.fullmatch(r"(.*)\.0+", s, re.DOTALL)
    return match.group(1) if match else s


def _float_to_int64(f: float) -> int:
    """Go's `int64(f)` on amd64: truncation; NaN and out-of-range give the minimum int64."""
    if math.isnan(f) or math.isinf(f) or not INT64_MIN <= math.trunc(f) <= INT64_MAX:
        return INT64_MIN
    return math.trunc(f)


def to_int64(value: object) -> int:
    """spf13/cast `ToInt64`: whatever cannot be converted is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return wrap_int64(int(value))
    if isinstance(value, float):
        return _float_to_int64(value)
    if isinstance(value, str):
        try:
            return parse_int(_trim_zero_decimal(value))
        except ValueError:
            return 0
    return 0


def to_float64(value: object) -> float:
    """spf13/cast `ToFloat64`: whatever cannot be converted is 0."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_float(value)
        except ValueError:
            return 0.0
    return 0.0


def strval(value: object) -> str:
    """sprig's `strval`: strings as they are, `Stringer`s by `String()`, the rest as `%v`."""
    if isinstance(value, str):
        return value
    stringer = value.go_method("String") if isinstance(value, values.Struct) else None
    if stringer is not None:
        return str(stringer())
    return printing.format_value(value)


_PYTHON_KINDS: Final = ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string"))
_NILLABLE_KINDS: Final = frozenset({"ptr", "map", "slice", "func"})


def kind_of(value: object) -> str:
    """`reflect.Value.Kind().String()`; a nil interface has no kind (`invalid`)."""
    if value is None or value is values.NO_VALUE:
        return "invalid"
    if isinstance(value, values.Int):
        return value.go_type if value.go_type in _INT_KINDS else "int"
    for python_type, kind in _PYTHON_KINDS:
        if isinstance(value, python_type):
            return kind
    if isinstance(value, values.Nil):
        kind = _kind_of_type(value.go_type)
        return kind if kind in _NILLABLE_KINDS else "invalid"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, values.Slice) and re.match(r"\[\d", value.go_type):
        return "array"
    if isinstance(value, (list, tuple)):
        return "slice"
    if isinstance(value, values.Func):
        return "func"
    return _kind_of_type(values.go_type_of(value))


def go_type_name(value: object) -> str:
    """Go's `%T`; a nil interface prints `<nil>` whatever its static type."""
    if isinstance(value, values.Nil) and kind_of(value) == "invalid":
        return "<nil>"
    return values.go_type_of(value)


def _kind_of_type(go_type: str) -> str:
    if go_type.startswith("*"):
        return "ptr"
    if go_type.startswith("map["):
        return "map"
    if go_type.startswith("[]"):
        return "slice"
    if go_type.startswith("func"):
        return "func"
    if go_type in _INT_KINDS or go_type in ("string", "bool", "float64", "float32"):
        return go_type
    return "interface" if go_type.endswith("interface {}") else "struct"


def type_kind(value: object) -> str:
    """`reflect.TypeOf(value).Kind()`, which Go cannot take of an untyped nil."""
    if value is None or value is values.NO_VALUE:
        raise values.GoError(NIL_DEREFERENCE)
    return kind_of(value)


def list_items(value: object) -> list[object] | None:
    """The elements of a slice or array, or None when `value` is of another kind."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, values.Nil) and value.go_type.startswith("[]"):
        return []
    return None


def is_empty(value: object) -> bool:
    """sprig's `empty`: nil, zero numbers, false, and zero-length strings, maps and slices."""
    if value is None or value is values.NO_VALUE or isinstance(value, values.Nil):
        return True
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) == 0
    if isinstance(value, (bool, int, float)):
        return not value
    return False


def deep_equal(a: object, b: object) -> bool:
    """`reflect.DeepEqual`: same dynamic types and recursively equal contents."""
    a_type = go_type_name(a)
    if a_type != go_type_name(b):
        return False
    if a_type == "<nil>":
        return True
    if isinstance(a, (dict, Mapping)) and isinstance(b, (dict, Mapping)):
        return _maps_equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(deep_equal, a, b))
    if isinstance(a, values.Struct) and isinstance(b, values.Struct):
        fields = type(a).go_fields
        return type(a) is type(b) and all(deep_equal(a.go_field(f), b.go_field(f)) for f in fields)
    return a == b


def _maps_equal(a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    if values.is_nil(a) != values.is_nil(b) or a.keys() != b.keys():
        return False
    return all(deep_equal(a[k], b[k]) for k in a)
