"""How Python values stand for Go values inside the template engine.

Plain JSON-like data is Go's `encoding/json` view of it:

| Python                | Go type                      |
|-----------------------|------------------------------|
| `None`                | untyped nil (`<nil>`)        |
| `bool`                | `bool`                       |
| `int`                 | `int`                        |
| `float`               | `float64`                    |
| `str`                 | `string`                     |
| `dict` (str keys)     | `map[string]interface {}`    |
| `list` / `tuple`      | `[]interface {}`             |

Typed values, for data that Go holds in typed structs (a Pod, a protobuf config):

* `Int(3, "int32")`: an integer of another Go integer type.
* `Map({...}, "map[string]string", zero="")`: a typed map; `zero` is what `index` returns
  for a missing key. `Map.nil_map(...)` is a nil map (prints `map[]`, JSON `null`).
* `Slice([...], "[]v1.Container")`: a typed slice.
* `Nil("*v1.SecurityContext")`: a typed nil pointer (or nil map/slice/interface of that type).
* `Struct` subclasses: Go structs. Fields are the names in `go_fields`, read with `getattr`;
  methods are the class's public methods whose names start with a capital letter (Go's
  exported methods), called with the template's arguments. `go_type` is the printed type
  (`v1.ObjectMeta`, or `*v1.Pod` for a pointer).
* `Func`: a template function with its Go signature, so that arguments are checked and
  converted the way Go's `reflect`-based calls do.

`NO_VALUE` is Go's invalid `reflect.Value`: what a missing map key gives; it prints `<no value>`.
A function signals a Go `error` result by raising `GoError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

MAP_ANY: Final = "map[string]interface {}"
SLICE_ANY: Final = "[]interface {}"
ANY: Final = "interface {}"


class GoError(Exception):
    """A Go `error` from a template function: reported as `error calling NAME: MSG`."""


class _NoValue:
    """Go's invalid `reflect.Value`."""

    _instance: ClassVar[_NoValue | None] = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Final = _NoValue()


class Int(int):
    """An integer of a Go integer type other than `int` (`int32`, `int64`, `uint8`, ...)."""

    go_type: str

    def __new__(cls, value: int, go_type: str = "int64") -> Int:
        self = super().__new__(cls, value)
        self.go_type = go_type
        return self

    def __repr__(self) -> str:
        return f"Int({int(self)}, {self.go_type!r})"


class Map(dict[str, Any]):
    """A typed Go map with string keys; `zero` is the zero value of its element type."""

    go_type: str
    zero: object
    is_nil: bool

    def __init__(
        self, items: Mapping[str, Any] | None = None, go_type: str = MAP_ANY, *, zero: object = None
    ) -> None:
        super().__init__(items or {})
        self.go_type = go_type
        self.zero = zero
        self.is_nil = False

    @classmethod
    def nil_map(cls, go_type: str, *, zero: object = None) -> Map:
        m = cls(None, go_type, zero=zero)
        m.is_nil = True
        return m

    def __repr__(self) -> str:
        return f"Map({dict(self)!r}, {self.go_type!r})"


class Slice(list[Any]):
    """A typed Go slice."""

    go_type: str

    def __init__(self, items: list[Any] | tuple[Any, ...] = (), go_type: str = SLICE_ANY) -> None:
        super().__init__(items)
        self.go_type = go_type

    def __repr__(self) -> str:
        return f"Slice({list(self)!r}, {self.go_type!r})"


@dataclass(frozen=True, slots=True)
class Nil:
    """A typed nil: a nil pointer, map, slice, func or non-empty interface of `go_type`."""

    go_type: str

    def __bool__(self) -> bool:
        return False


class Struct:
    """Base for Python objects that stand for Go structs (or pointers to structs)."""

    go_type: ClassVar[str] = "struct {}"
    go_fields: ClassVar[tuple[str, ...]] = ()

    def go_field(self, name: str) -> object:
        """The field's value; `KeyError` when the struct has no such field."""
        if name in self.go_fields:
            return getattr(self, name)
        raise KeyError(name)

    def go_method(self, name: str) -> Callable[..., object] | None:
        """The bound exported method `name`, or None."""
        if not name[:1].isupper() or name in self.go_fields:
            return None
        method = getattr(type(self), name, None)
        if method is None or not callable(method):
            return None
        bound: Callable[..., object] = getattr(self, name)
        return bound

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.go_fields)
        return f"{type(self).__name__}({fields})"


@dataclass(frozen=True, slots=True)
class Func:
    """A template function and its Go signature.

    `params` are Go type names (`string`, `int`, `float64`, `bool`, `interface {}`,
    `[]interface {}`, `map[string]interface {}`, `[]string`, `map[string]string`, ...);
    `variadic` is the element type of a final `...T` parameter. `returns_error` says the Go
    function returns `(T, error)`: it may raise `GoError`.
    """

    name: str
    fn: Callable[..., object]
    params: tuple[str, ...] = ()
    variadic: str | None = None
    result: str = ANY
    returns_error: bool = False


def func(
    name: str,
    *params: str,
    variadic: str | None = None,
    result: str = ANY,
    returns_error: bool = False,
) -> Callable[[Callable[..., object]], Func]:
    """Decorator: `@func("trunc", "int", "string", result="string")`."""

    def wrap(fn: Callable[..., object]) -> Func:
        return Func(name, fn, params, variadic, result, returns_error)

    return wrap


def go_type_of(value: object) -> str:
    """Go's `%T` of a value."""
    if value is None or value is NO_VALUE:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int):
        return value.go_type
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (Map, Slice, Nil, Struct)):
        return value.go_type
    if isinstance(value, dict):
        return MAP_ANY
    if isinstance(value, (list, tuple)):
        return SLICE_ANY
    if isinstance(value, Func):
        return "func(...)"
    return type(value).__name__


def is_nil(value: object) -> bool:
    """Go's `IsNil` for the kinds that have a nil, and the untyped nil."""
    return (
        value is None
        or value is NO_VALUE
        or isinstance(value, Nil)
        or (isinstance(value, Map) and value.is_nil)
    )


def from_json(value: object) -> object:
    """JSON data as Go's `encoding/json` decodes it into `interface{}`: every number a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [from_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): from_json(item) for key, item in value.items()}
    return value
