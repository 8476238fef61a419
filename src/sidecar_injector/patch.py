"""The admission response's JSON patch (RFC 6902): from the raw request pod to the injected pod.

The diff is taken against the pod exactly as the API server sent it, so fields this project does
not model (newer API fields, unknown extensions) are never touched and always survive; Istio
diffs against its own typed re-marshalling and can lose them (reference §6.3).

The diff is our own, made for the shape injection gives: members added to maps, elements
inserted at one end of a list (sidecars, volumes), small edits inside existing elements. It
walks both documents once, skips subtrees that are the same object or compare equal with their
JSON types (`1`, `1.0` and `true` differ), and emits only `add`, `remove` and `replace`, each
path valid at the moment it applies. Values in the ops are the injected pod's own objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

import jsonpatch
import orjson

JSON = Any


PatchOp = TypedDict(
    "PatchOp",
    {
        "op": Literal["add", "remove", "replace", "move", "copy", "test"],
        "path": str,
        "value": NotRequired[JSON],
        "from": NotRequired[str],
    },
)
"""One RFC 6902 operation as it goes on the wire (functional form: `from` is a keyword)."""

_CANONICAL = orjson.OPT_SORT_KEYS


def make_patch(original: Mapping[str, JSON], injected: Mapping[str, JSON]) -> list[PatchOp]:
    """Operations that turn `original` into `injected`; applying them gives `injected` exactly."""
    ops: list[PatchOp] = []
    _diff_maps(original, injected, "", ops)
    return ops


def apply_patch(document: Mapping[str, JSON], ops: list[PatchOp]) -> JSON:
    """`document` with `ops` applied (not in place); for tests, kube-inject and `explain`."""
    return jsonpatch.apply_patch(document, ops, in_place=False)


def same(a: JSON, b: JSON) -> bool:
    """JSON equality: Python's `==` with the JSON types kept apart (`1 != 1.0 != true`).

    Containers that compare equal are told apart by their canonical JSON text (C speed);
    values orjson cannot write (non-string keys) are walked instead."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if a != b:
        return False
    if kind is not dict and kind is not list:
        return True
    try:
        return orjson.dumps(a, option=_CANONICAL) == orjson.dumps(b, option=_CANONICAL)
    except TypeError:
        return _same_types(a, b)


def _same_types(a: JSON, b: JSON) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return all(_same_types(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return True


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1") if "~" in key or "/" in key else key


def _diff(a: JSON, b: JSON, path: str, ops: list[PatchOp]) -> None:
    if a is b:
        return
    kind = type(a)
    if kind is type(b):
        if kind is dict:
            _diff_maps(a, b, path, ops)
            return
        if kind is list:
            _diff_lists(a, b, path, ops)
            return
        if a == b:
            return
    ops.append({"op": "replace", "path": path, "value": b})


def _diff_maps(a: Mapping[str, JSON], b: Mapping[str, JSON], path: str, ops: list[PatchOp]) -> None:
    for key in a:
        if key not in b:
            ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
    for key, value in b.items():
        if key in a:
            _diff(a[key], value, f"{path}/{_escape(key)}", ops)
        else:
            ops.append({"op": "add", "path": f"{path}/{_escape(key)}", "value": value})


def _diff_lists(a: Sequence[JSON], b: Sequence[JSON], path: str, ops: list[PatchOp]) -> None:
    """Common ends kept; the middle paired up, the extra elements at its better-matching end."""
    head = 0
    shortest = min(len(a), len(b))
    while head < shortest and same(a[head], b[head]):
        head += 1
    tail = 0
    while tail < shortest - head and same(a[-1 - tail], b[-1 - tail]):
        tail += 1
    old, new = a[head : len(a) - tail], b[head : len(b) - tail]
    extra = len(new) - len(old)
    if extra >= 0:
        at_front = extra and _front_matches(old, new)
        if at_front:
            for i in range(extra):
                ops.append({"op": "add", "path": f"{path}/{head + i}", "value": new[i]})
        offset = extra if at_front else 0
        for i, element in enumerate(old):
            _diff(element, new[offset + i], f"{path}/{head + offset + i}", ops)
        if not at_front:
            for i in range(len(old), len(new)):
                ops.append({"op": "add", "path": f"{path}/{head + i}", "value": new[i]})
        return
    at_front = _front_matches(new, old)
    if at_front:
        ops.extend({"op": "remove", "path": f"{path}/{head}"} for _ in range(-extra))
    offset = -extra if at_front else 0
    for i, element in enumerate(new):
        _diff(old[offset + i], element, f"{path}/{head + i}", ops)
    if not at_front:
        ops.extend({"op": "remove", "path": f"{path}/{head + len(new)}"} for _ in range(-extra))


def _front_matches(short: Sequence[JSON], long: Sequence[JSON]) -> bool:
    """Whether `short` lines up better with the end of `long` than with its start."""
    extra = len(long) - len(short)
    at_end = sum(same(x, y) for x, y in zip(short, long[extra:], strict=True))
    at_start = sum(same(x, y) for x, y in zip(short, long, strict=False))
    return at_end > at_start
