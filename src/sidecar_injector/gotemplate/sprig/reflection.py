"""sprig's reflection: Go type and kind names, and `reflect.DeepEqual`."""

from __future__ import annotations

from .. import values
from . import cast


@values.func("typeOf", values.ANY, result="string")
def type_of(value: object) -> str:
    """Go's `%T`."""
    return cast.go_type_name(value)


@values.func("typeIs", "string", values.ANY, result="bool")
def type_is(target: str, value: object) -> bool:
    """Whether the value's Go type is `target`."""
    return cast.go_type_name(value) == target


@values.func("typeIsLike", "string", values.ANY, result="bool")
def type_is_like(target: str, value: object) -> bool:
    """Whether the value's Go type is `target` or a pointer to it."""
    return cast.go_type_name(value) in (target, "*" + target)


@values.func("kindOf", values.ANY, result="string")
def kind_of(value: object) -> str:
    """Go's `reflect.Kind` name: `map`, `slice`, `string`, `int`, `ptr`, ..."""
    return cast.kind_of(value)


@values.func("kindIs", "string", values.ANY, result="bool")
def kind_is(target: str, value: object) -> bool:
    """Whether the value's kind is `target`."""
    return cast.kind_of(value) == target


@values.func("deepEqual", values.ANY, values.ANY, result="bool")
def deep_equal(a: object, b: object) -> bool:
    """Go's `reflect.DeepEqual`."""
    return cast.deep_equal(a, b)


FUNCS: list[values.Func] = [type_of, type_is, type_is_like, kind_of, kind_is, deep_equal]
