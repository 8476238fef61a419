"""How a template's arguments meet a function's Go parameter types (Go's `evalArg` family).

These rules are pure: they return the converted value or raise `ArgumentError` with Go's
message, and the executor reports it at the node being evaluated.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from . import builtins
from . import nodes as n
from .values import NO_VALUE, Func, GoError, Nil, Struct, go_type_of


class ArgumentError(Exception):
    """Go's message for an argument that does not fit its parameter."""


def ideal_constant(constant: n.NumberNode) -> object:
    """A number literal where any type goes: int, float64 or complex128, as Go picks it."""
    text = constant.text
    if constant.is_complex:
        return constant.complex128
    if (
        constant.is_float
        and not _is_hex_int(text)
        and not text.startswith("'")
        and any(ch in text for ch in ".eEpP")
    ):
        return constant.float64
    if constant.is_int:
        return constant.int64
    if constant.is_uint:
        raise ArgumentError(f"{text} overflows int")
    return NO_VALUE


def _is_hex_int(text: str) -> bool:
    return (
        len(text) > 2 and text[0] == "0" and text[1] in "xX" and "p" not in text and "P" not in text
    )


def empty_interface_constant(node: n.Node) -> object:
    """A bool, number or string literal passed as `interface {}`."""
    if isinstance(node, n.BoolNode):
        return node.value
    if isinstance(node, n.NumberNode):
        return ideal_constant(node)
    if isinstance(node, n.StringNode):
        return node.text
    raise ArgumentError(f"can't handle assignment of {node} to empty interface argument")


def constant_argument(typ: str, node: n.Node) -> object:
    """A literal for a parameter of type `typ`: Go's `evalBool`, `evalString`, `evalInteger`..."""
    kind = builtins.type_kind(typ)
    if kind == "iface" or kind == "value":
        return empty_interface_constant(node)
    if kind == "string":
        if isinstance(node, n.StringNode):
            return node.text
        raise ArgumentError(f"expected string; found {node}")
    if kind == "int":
        if isinstance(node, n.NumberNode) and node.is_int:
            return builtins.convert_int(node.int64, typ)
        raise ArgumentError(f"expected integer; found {node}")
    if kind == "float":
        if isinstance(node, n.NumberNode) and node.is_float:
            return node.float64
        raise ArgumentError(f"expected float; found {node}")
    if kind == "bool":
        if isinstance(node, n.BoolNode):
            return node.value
        raise ArgumentError(f"expected bool; found {node}")
    if kind == "uint":
        if isinstance(node, n.NumberNode) and node.is_uint:
            return builtins.convert_int(node.uint64, typ)
        raise ArgumentError(f"expected unsigned integer; found {node}")
    if kind == "complex":
        if isinstance(node, n.NumberNode) and node.is_complex:
            return node.complex128
        raise ArgumentError(f"expected complex; found {node}")
    raise ArgumentError(f"can't handle {node} for arg of type {typ}")


def validate_type(value: object, typ: str | None) -> object:
    """Go's `validateType`: an evaluated value for a parameter of type `typ` (None: any)."""
    if typ is None or typ == "interface {}" or typ == builtins.REFLECT_VALUE:
        if value is NO_VALUE and typ == "interface {}":
            return None
        return value
    if value is NO_VALUE:
        if builtins.can_be_nil(typ):
            return builtins.zero_of(typ)
        raise ArgumentError(f"invalid value; expected {typ}")
    if builtins.type_kind(typ) == "iface":
        return value
    actual = "interface {}" if value is None else go_type_of(value)
    if actual == typ:
        return value
    if actual.startswith("*") and actual[1:] == typ:
        if isinstance(value, Nil):
            raise ArgumentError(f"dereference of nil pointer of type {typ}")
        return value
    if isinstance(value, Struct) and typ == "*" + actual:
        return value  # Go takes the address of an addressable struct
    raise ArgumentError(f"wrong type for value; expected {typ}; got {actual}")


def error_text(err: Exception) -> str:
    """What follows "error calling NAME: " for a function's error or panic."""
    if isinstance(err, GoError):
        return str(err)
    return str(err) or type(err).__name__


_METHOD_CACHE: dict[Any, Func] = {}


def method_func(name: str, method: Callable[..., object]) -> Func:
    """A Struct's method as a `Func`: its Python parameters all stand for `interface {}`."""
    if isinstance(method, Func):
        return method
    key = getattr(method, "__func__", method)
    cached = _METHOD_CACHE.get(key)
    if cached is None:
        params: list[str] = []
        variadic: str | None = None
        for param in inspect.signature(method).parameters.values():
            if param.kind == param.VAR_POSITIONAL:
                variadic = "interface {}"
            elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                params.append("interface {}")
        cached = Func(name, key, tuple(params), variadic)
        _METHOD_CACHE[key] = cached
    if getattr(method, "__self__", None) is None:
        return cached
    return Func(name, method, cached.params, cached.variadic)
