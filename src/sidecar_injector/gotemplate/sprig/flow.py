"""sprig's defaults and flow control: `default`, `empty`, `coalesce`, `all`, `any`,
`ternary`, `fail`."""

from __future__ import annotations

from .. import values
from . import cast


@values.func("default", values.ANY, variadic=values.ANY, result=values.ANY)
def default(fallback: object, *given: object) -> object:
    """`given` unless it is missing or empty (zero, `""`, empty list or map, nil)."""
    if not given or cast.is_empty(given[0]):
        return fallback
    return given[0]


@values.func("empty", values.ANY, result="bool")
def empty(value: object) -> bool:
    """Whether the value is its type's zero value (or an empty string, list or map)."""
    return cast.is_empty(value)


@values.func("coalesce", variadic=values.ANY, result=values.ANY)
def coalesce(*candidates: object) -> object:
    """The first non-empty argument, or nil."""
    return next((c for c in candidates if not cast.is_empty(c)), None)


@values.func("all", variadic=values.ANY, result="bool")
def all_set(*candidates: object) -> bool:
    """Whether no argument is empty."""
    return not any(map(cast.is_empty, candidates))


@values.func("any", variadic=values.ANY, result="bool")
def any_set(*candidates: object) -> bool:
    """Whether some argument is not empty."""
    return not all(map(cast.is_empty, candidates))


@values.func("ternary", values.ANY, values.ANY, "bool", result=values.ANY)
def ternary(if_true: object, if_false: object, condition: bool) -> object:
    """`if_true` when the condition holds, else `if_false`."""
    return if_true if condition else if_false


@values.func("fail", "string", result="string", returns_error=True)
def fail(message: str) -> str:
    """Stop the template with `message` as the error."""
    raise values.GoError(message)


FUNCS: list[values.Func] = [default, empty, coalesce, all_set, any_set, ternary, fail]
