"""sprig's dictionary functions over `map[string]interface {}`.

`set`, `unset` and `merge` change the map they are given and return it, as in Go. `merge`
follows the rules of imdario/mergo (the library sprig calls): a destination value that is
set is kept, maps are merged recursively, and `mergeOverwrite` lets the source win.
"""

from __future__ import annotations

import copy
from dataclasses import replace as alias

from .. import values
from . import cast, semver

DICT = values.MAP_ANY
_MISSING = object()


@values.func("dict", variadic=values.ANY, result=DICT)
def make_dict(*pairs: object) -> dict[str, object]:
    """Keys and values alternating; a key without a value gets `""`."""
    out: dict[str, object] = {}
    for i in range(0, len(pairs), 2):
        out[cast.strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


@values.func("get", DICT, "string", result=values.ANY)
def get(d: dict[str, object], key: str) -> object:
    """The value at `key`, or `""` when absent."""
    return d.get(key, "")


@values.func("set", DICT, "string", values.ANY, result=DICT)
def set_key(d: dict[str, object], key: str, value: object) -> dict[str, object]:
    """Store `value` at `key` in the map and return the map."""
    d[key] = value
    return d


@values.func("unset", DICT, "string", result=DICT)
def unset(d: dict[str, object], key: str) -> dict[str, object]:
    """Remove `key` from the map and return the map."""
    d.pop(key, None)
    return d


@values.func("hasKey", DICT, "string", result="bool")
def has_key(d: dict[str, object], key: str) -> bool:
    """Whether the map has `key`."""
    return key in d


@values.func("pluck", "string", variadic=DICT, result=values.SLICE_ANY)
def pluck(key: str, *dicts: dict[str, object]) -> list[object]:
    """The value at `key` from each map that has it."""
    return [d[key] for d in dicts if key in d]


@values.func("keys", variadic=DICT, result="[]string")
def keys(*dicts: dict[str, object]) -> values.Slice:
    """All keys of all maps (Go's order is random; this is insertion order)."""
    return values.Slice([k for d in dicts for k in d], "[]string")


@values.func("pick", DICT, variadic="string", result=DICT)
def pick(d: dict[str, object], *names: str) -> dict[str, object]:
    """A new map with only the given keys."""
    return {k: d[k] for k in names if k in d}


@values.func("omit", DICT, variadic="string", result=DICT)
def omit(d: dict[str, object], *names: str) -> dict[str, object]:
    """A new map without the given keys."""
    dropped = set(names)
    return {k: v for k, v in d.items() if k not in dropped}


@values.func("values", DICT, result=values.SLICE_ANY)
def map_values(d: dict[str, object]) -> list[object]:
    """The map's values (Go's order is random; this is insertion order)."""
    return list(d.values())


def _mergo_empty(value: object) -> bool:
    """mergo's `isEmptyValue` of an interface element."""
    if isinstance(value, values.Struct):
        return False
    return cast.is_empty(value)


def _merge_map(dst: dict[str, object], src: dict[str, object], *, overwrite: bool) -> None:
    for key, new in src.items():
        old = dst.get(key, _MISSING)
        if new is None:
            if overwrite:
                dst[key] = None
            continue
        if isinstance(new, dict) and isinstance(old, dict):
            _merge_map(old, new, overwrite=overwrite)
        if isinstance(new, list) and (overwrite or not dst):
            dst[key] = new
        present = old is not _MISSING and not _mergo_empty(old)
        if present and isinstance(new, dict | list):
            continue
        if overwrite or not present:
            dst[key] = new


def _merge(
    dst: dict[str, object], srcs: tuple[dict[str, object], ...], *, overwrite: bool
) -> dict[str, object]:
    if isinstance(dst, values.Map) and dst.is_nil and any(not values.is_nil(s) for s in srcs):
        dst = {}
    for src in srcs:
        _merge_map(dst, src, overwrite=overwrite)
    return dst


@values.func("merge", DICT, variadic=DICT, result=values.ANY)
def merge(dst: dict[str, object], *srcs: dict[str, object]) -> dict[str, object]:
    """Fill the keys of `dst` that are unset from each source in turn (mergo `Merge`)."""
    return _merge(dst, srcs, overwrite=False)


@values.func("mergeOverwrite", DICT, variadic=DICT, result=values.ANY)
def merge_overwrite(dst: dict[str, object], *srcs: dict[str, object]) -> dict[str, object]:
    """Merge with the sources' values winning (mergo `MergeWithOverwrite`)."""
    return _merge(dst, srcs, overwrite=True)


@values.func("deepCopy", values.ANY, result=values.ANY)
def deep_copy(value: object) -> object:
    """A deep copy (mitchellh/copystructure).

    copystructure cannot copy an untyped nil, and copies only exported struct fields: a
    `*semver.Version`, whose fields are all unexported, comes back as 0.0.0.
    """
    if value is None or value is values.NO_VALUE:
        raise values.GoError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(value, semver.Version):
        return semver.Version(0, 0, 0, pre="", meta="", original="")
    return copy.deepcopy(value)


@values.func("dig", variadic=values.ANY, result=values.ANY, returns_error=True)
def dig(*args: object) -> object:
    """Walk nested maps along the keys; the default when a key is missing.

    `dig "a" "b" "default" $map`: Go's type assertions panic on a non-map or non-string.
    """
    if len(args) < 3:
        raise values.GoError("dig needs at least three arguments")
    *path, default, current = args
    _assert_dict(current)
    for key in path:
        if not isinstance(key, str):
            raise values.GoError(_assertion(key, "string"))
    for i, key in enumerate(path):
        if i:
            _assert_dict(current)
        assert isinstance(current, dict)
        if key not in current:
            return default
        current = current[key]
    return current


def _assert_dict(value: object) -> None:
    if values.go_type_of(value) != DICT:
        raise values.GoError(_assertion(value, DICT))


def _assertion(value: object, want: str) -> str:
    got = values.go_type_of(value)
    if value is None or value is values.NO_VALUE:
        return f"interface conversion: interface {{}} is nil, not {want}"
    return f"interface conversion: interface {{}} is {got}, not {want}"


FUNCS: list[values.Func] = [
    make_dict,
    get,
    set_key,
    unset,
    has_key,
    pluck,
    keys,
    pick,
    omit,
    map_values,
    merge,
    merge_overwrite,
    alias(merge, name="mustMerge", returns_error=True),
    alias(merge_overwrite, name="mustMergeOverwrite", returns_error=True),
    deep_copy,
    alias(deep_copy, name="mustDeepCopy", returns_error=True),
    dig,
]
