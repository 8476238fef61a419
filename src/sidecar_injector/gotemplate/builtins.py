"""Go's predefined template functions (text/template/funcs.go) and the type rules they share.

Parameters typed `reflect.Value` receive values untouched: `NO_VALUE` (a missing key) and
`None` (a nil `interface {}` member) stay distinct, as they are in Go, and the messages tell
them apart ("index of untyped nil", "len of nil pointer").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Final

from . import printing
from .values import ANY, NO_VALUE, Func, GoError, Int, Map, Nil, Slice, Struct, go_type_of

MISSING_ARG: Final[object] = object()
"""Go's `missingVal`: no piped-in final argument."""

REFLECT_VALUE: Final = "reflect.Value"

_SIGNED: Final = {"int": 64, "int8": 8, "int16": 16, "int32": 32, "int64": 64, "rune": 32}
_UNSIGNED: Final = {
    "uint": 64,
    "uint8": 8,
    "byte": 8,
    "uint16": 16,
    "uint32": 32,
    "uint64": 64,
    "uintptr": 64,
}
_INTERFACES: Final = frozenset({ANY, "any", "interface{}", "error", "fmt.Stringer"})


@functools.lru_cache(maxsize=512)
def type_kind(typ: str) -> str:
    """The reflect kind family of a Go type name, as argument evaluation needs it."""
    if typ in _SIGNED:
        return "int"
    if typ in _UNSIGNED:
        return "uint"
    if typ in ("float64", "float32"):
        return "float"
    if typ in ("complex128", "complex64"):
        return "complex"
    if typ in ("string", "bool"):
        return typ
    if typ in _INTERFACES:
        return "iface"
    if typ == REFLECT_VALUE:
        return "value"
    return "other"


def can_be_nil(typ: str) -> bool:
    return type_kind(typ) in ("iface", "value") or typ.startswith(
        ("*", "[]", "map[", "func", "chan ")
    )


def zero_of(typ: str) -> object:
    """The zero value of a type that can be nil."""
    kind = type_kind(typ)
    if kind == "value":
        return NO_VALUE
    if kind == "iface":
        return None
    if typ.startswith("map["):
        return Map.nil_map(typ)
    return Nil(typ)


def convert_int(value: int, typ: str) -> int:
    """Go's `SetInt`/`SetUint`: wraps to the type's width."""
    if typ == "int":
        return value
    bits = _SIGNED.get(typ) or _UNSIGNED.get(typ, 64)
    value &= (1 << bits) - 1
    if typ in _SIGNED and value >= 1 << (bits - 1):
        value -= 1 << bits
    return Int(value, typ)


def is_true(value: object) -> bool:
    """Go's `isTrue` (every value of our model is ok)."""
    if value is NO_VALUE or value is None:
        return False
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[return-value]
    if kind is str or kind is list or kind is dict or kind is tuple:
        return len(value) > 0  # type: ignore[arg-type]
    if isinstance(value, (int, float, complex)):
        return value != 0
    if isinstance(value, (dict, list, tuple, str)):
        return len(value) > 0
    # A Struct may stand for a nil pointer that keeps its methods (a nil protobuf message).
    return not isinstance(value, Nil) and bool(value)


class Boxed:
    """A value read out of an `interface {}` slot, as a `reflect.Value` parameter receives it.

    Only `slice` looks at the box (Go reports "cannot index slice/array with type interface
    {}" for such an index); every other builtin unwraps it first, as Go's do.
    """

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Boxed({self.value!r})"


def unbox(value: object) -> object:
    return value.value if type(value) is Boxed else value


def truth(value: object) -> bool:
    return is_true(unbox(value))


def _basic_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int):
        return "uint" if value.go_type in _UNSIGNED else "int"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, complex):
        return "complex"
    if isinstance(value, str):
        return "string"
    return "invalid"


def _iface(value: object) -> object:
    """Go's `indirectInterface`: a nil `interface {}` is no value at all."""
    if type(value) is Boxed:
        value = value.value
    return NO_VALUE if value is None else value


def _is_nil(value: object) -> bool:
    return (
        value is NO_VALUE
        or value is None
        or isinstance(value, Nil)
        or (isinstance(value, Map) and value.is_nil)
    )


def _reflect_kind(value: object) -> str:
    """Go's `reflect.Kind` for the values `eq` compares beyond the basic kinds."""
    if value is NO_VALUE or value is None:
        return "invalid"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, (list, tuple)):
        return "slice"
    if isinstance(value, Nil):
        typ = value.go_type
        if typ.startswith("map["):
            return "map"
        if typ.startswith("[]"):
            return "slice"
        return "func" if typ.startswith("func") else "ptr"
    if isinstance(value, Struct):
        return "ptr" if value.go_type.startswith("*") else "struct"
    if isinstance(value, Func) or callable(value):
        return "func"
    return _basic_kind(value)


def _type_name(value: object) -> str:
    return "interface {}" if value is None else go_type_of(value)


# --- comparison -------------------------------------------------------------------------


def eq(arg1: object, *arg2: object) -> bool:
    arg1 = _iface(arg1)
    if not arg2:
        raise GoError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in arg2:
        arg = _iface(arg)
        k2 = _basic_kind(arg)
        if k1 != k2:
            if k1 == "int" and k2 == "uint":
                truth_ = arg1 >= 0 and arg1 == arg  # type: ignore[operator]
            elif k1 == "uint" and k2 == "int":
                truth_ = arg >= 0 and arg1 == arg  # type: ignore[operator]
            elif arg1 is not NO_VALUE and arg is not NO_VALUE:
                raise GoError("incompatible types for comparison")
            else:
                truth_ = False
        elif k1 != "invalid":
            truth_ = arg1 == arg
        else:
            truth_ = _eq_other(arg1, arg)
        if truth_:
            return True
    return False


def _eq_other(arg1: object, arg: object) -> bool:
    kind1, kind2 = _reflect_kind(arg1), _reflect_kind(arg)
    if kind1 != kind2 and "invalid" not in (kind1, kind2):
        raise GoError(
            printing.sprintf(
                "non-comparable types %s: %v, %s: %v",
                [arg1, _type_name(arg1), _type_name(arg), arg],
            )
        )
    if _is_nil(arg1) or _is_nil(arg):
        return _is_nil(arg) == _is_nil(arg1)
    if kind2 in ("map", "slice", "func"):
        raise GoError(printing.sprintf("non-comparable type %s: %v", [arg, _type_name(arg)]))
    return arg1 is arg or (type(arg1) is type(arg) and arg1 == arg)


def ne(arg1: object, arg2: object) -> bool:
    return not eq(arg1, arg2)


def lt(arg1: object, arg2: object) -> bool:
    arg1 = _iface(arg1)
    k1 = _basic_kind(arg1)
    if k1 == "invalid":
        raise GoError("invalid type for comparison")
    arg2 = _iface(arg2)
    k2 = _basic_kind(arg2)
    if k2 == "invalid":
        raise GoError("invalid type for comparison")
    if k1 != k2:
        if k1 == "int" and k2 == "uint":
            return arg1 < 0 or arg1 < arg2  # type: ignore[operator]
        if k1 == "uint" and k2 == "int":
            return arg2 >= 0 and arg1 < arg2  # type: ignore[operator]
        raise GoError("incompatible types for comparison")
    if k1 in ("bool", "complex"):
        raise GoError("invalid type for comparison")
    if isinstance(arg1, str) and isinstance(arg2, str):
        return arg1.encode("utf-8", "surrogatepass") < arg2.encode("utf-8", "surrogatepass")
    return bool(arg1 < arg2)  # type: ignore[operator]


def le(arg1: object, arg2: object) -> bool:
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: object, arg2: object) -> bool:
    return not le(arg1, arg2)


def ge(arg1: object, arg2: object) -> bool:
    return not lt(arg1, arg2)


def not_(arg: object) -> bool:
    return not is_true(unbox(arg))


# --- containers -------------------------------------------------------------------------


def _index_arg(index: object, cap: int) -> int:
    if isinstance(index, int) and not isinstance(index, bool):
        x = int(index)
    elif index is NO_VALUE:
        raise GoError("cannot index slice/array with nil")
    elif type(index) is Boxed:
        raise GoError("cannot index slice/array with type interface {}")
    else:
        raise GoError(f"cannot index slice/array with type {_type_name(index)}")
    if x < 0 or x > cap:
        raise GoError(f"index out of range: {x}")
    return x


def _prepare_key(index: object) -> str:
    if type(index) is str:
        return index
    if index is NO_VALUE:
        raise GoError("value is nil; should be of type string")
    if isinstance(index, str):
        return index
    raise GoError(f"value has type {_type_name(index)}; should be string")


def index(item: object, *indexes: object) -> object:
    item = _iface(item)
    if item is NO_VALUE:
        raise GoError("index of untyped nil")
    for raw in indexes:
        key = _iface(raw)
        if item is None or (type(item) is Nil and not item.go_type.startswith(("[]", "map["))):
            raise GoError("index of nil pointer")
        item = _index_once(item, key)
    return item


def _index_once(item: object, key: object) -> object:
    if isinstance(item, dict):
        name = _prepare_key(key)
        if name in item:
            return item[name]
        return item.zero if isinstance(item, Map) else None
    if isinstance(item, (list, tuple)):
        x = _index_arg(key, len(item))
        if x == len(item):
            raise GoError("reflect: slice index out of range")
        return item[x]
    if isinstance(item, str):
        data = item.encode("utf-8", "surrogatepass")
        x = _index_arg(key, len(data))
        if x == len(data):
            raise GoError("reflect: string index out of range")
        return Int(data[x], "uint8")
    if isinstance(item, Nil) and item.go_type.startswith("map["):
        _prepare_key(key)
        return None
    if isinstance(item, Nil):
        _index_arg(key, 0)
        raise GoError("reflect: slice index out of range")
    raise GoError(f"can't index item of type {_type_name(item)}")


def slice_(item: object, *indexes: object) -> object:
    item = _iface(item)
    if item is NO_VALUE:
        raise GoError("slice of untyped nil")
    if len(indexes) > 3:
        raise GoError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise GoError("cannot 3-index slice a string")
        data = item.encode("utf-8", "surrogatepass")
        lo, hi = _slice_bounds(indexes, length=len(data))
        return data[lo:hi].decode("utf-8", "replace")
    if isinstance(item, (list, tuple)):
        lo, hi = _slice_bounds(indexes, length=len(item))
        if isinstance(item, Slice):
            return Slice(item[lo:hi], item.go_type)
        return list(item[lo:hi])
    if isinstance(item, Nil) and item.go_type.startswith("[]"):
        _slice_bounds(indexes, length=0)
        return item
    raise GoError(f"can't slice item of type {_type_name(item)}")


def _slice_bounds(indexes: Sequence[object], *, length: int) -> tuple[int, int]:
    idx = [0, length, 0]
    for i, index_ in enumerate(indexes):
        idx[i] = _index_arg(index_, length)
    if idx[0] > idx[1]:
        raise GoError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise GoError(f"invalid slice index: {idx[1]} > {idx[2]}")
    return idx[0], idx[1]


def length(item: object) -> int:
    item = unbox(item)
    if item is NO_VALUE:
        raise GoError("reflect: call of reflect.Value.Type on zero Value")
    if item is None:
        raise GoError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogatepass"))
    if isinstance(item, (list, tuple, dict)):
        return len(item)
    if isinstance(item, Nil):
        if item.go_type.startswith(("[]", "map[")):
            return 0
        raise GoError("len of nil pointer")
    raise GoError(f"len of type {_type_name(item)}")


# --- calling ----------------------------------------------------------------------------


def as_func(name: str, value: object) -> Func:
    """A function-map entry as a `Func`; a plain callable is `func(...interface{}) interface{}`."""
    if isinstance(value, Func):
        return value
    if callable(value):
        return Func(name, value, (), ANY)
    raise TypeError(f"value for {name} not a function")


def _prepare_arg(value: object, typ: str) -> object:
    if value is NO_VALUE:
        if not can_be_nil(typ):
            raise GoError(f"value is nil; should be of type {typ}")
        return zero_of(typ)
    kind = type_kind(typ)
    if kind == "iface":
        return value
    actual = _type_name(value)
    if actual == typ:
        return value
    if kind in ("int", "uint") and _basic_kind(value) in ("int", "uint"):
        return convert_int(int(value), typ)  # type: ignore[call-overload]
    raise GoError(f"value has type {actual}; should be {typ}")


def call(fn: object, *args: object) -> object:
    fn = _iface(fn)
    if fn is NO_VALUE:
        raise GoError("call of nil")
    if not (isinstance(fn, Func) or (callable(fn) and not isinstance(fn, Struct))):
        raise GoError(f"non-function of type {_type_name(fn)}")
    func = as_func("call", fn)
    fixed = len(func.params)
    if func.variadic is not None:
        if len(args) < fixed:
            raise GoError(f"wrong number of args: got {len(args)} want at least {fixed}")
    elif len(args) != fixed:
        raise GoError(f"wrong number of args: got {len(args)} want {fixed}")
    argv = []
    for i, arg in enumerate(args):
        typ = func.params[i] if i < fixed else (func.variadic or ANY)
        try:
            argv.append(_prepare_arg(_iface(arg), typ))
        except GoError as err:
            raise GoError(f"arg {i}: {err}") from err
    return func.fn(*argv)


# --- printing and escaping --------------------------------------------------------------


def _escaper_text(args: Sequence[object]) -> str:
    """Go's `evalArgs`: one string as is, else `Sprint` with nils printed as `<no value>`."""
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return printing.sprint(["<no value>" if a is None else a for a in args])


def html(*args: object) -> str:
    return printing.html_escape(_escaper_text(args))


def js(*args: object) -> str:
    return printing.js_escape(_escaper_text(args))


def urlquery(*args: object) -> str:
    return printing.query_escape(_escaper_text(args))


def print_(*args: object) -> str:
    return printing.sprint(args)


def printf(format_: str, *args: object) -> str:
    return printing.sprintf(format_, args)


def println(*args: object) -> str:
    return printing.sprintln(args)


def _unreachable(*args: object) -> object:
    raise AssertionError("and/or are evaluated by the executor")


def _builtin(
    name: str,
    fn: Callable[..., object],
    *params: str,
    variadic: str | None = None,
    result: str = ANY,
) -> Func:
    return Func(name, fn, params, variadic, result)


V = REFLECT_VALUE
BUILTINS: Final[dict[str, Func]] = {
    "and": _builtin("and", _unreachable, V, variadic=V, result=V),
    "call": _builtin("call", call, V, variadic=V, result=V),
    "html": _builtin("html", html, variadic=ANY, result="string"),
    "index": _builtin("index", index, V, variadic=V, result=V),
    "slice": _builtin("slice", slice_, V, variadic=V, result=V),
    "js": _builtin("js", js, variadic=ANY, result="string"),
    "len": _builtin("len", length, V, result="int"),
    "not": _builtin("not", not_, V, result="bool"),
    "or": _builtin("or", _unreachable, V, variadic=V, result=V),
    "print": _builtin("print", print_, variadic=ANY, result="string"),
    "printf": _builtin("printf", printf, "string", variadic=ANY, result="string"),
    "println": _builtin("println", println, variadic=ANY, result="string"),
    "urlquery": _builtin("urlquery", urlquery, variadic=ANY, result="string"),
    "eq": _builtin("eq", eq, V, variadic=V, result="bool"),
    "ge": _builtin("ge", ge, V, V, result="bool"),
    "gt": _builtin("gt", gt, V, V, result="bool"),
    "le": _builtin("le", le, V, V, result="bool"),
    "lt": _builtin("lt", lt, V, V, result="bool"),
    "ne": _builtin("ne", ne, V, V, result="bool"),
}
