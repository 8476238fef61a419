"""The strategic merge of a rendered template onto a Pod, for the shape templates render.

A rendered template is a partial Pod: maps, the Pod's merge-keyed lists (containers by name,
env by name, ports by containerPort, ...) with one item per key, atomic lists and scalars; no
`$patch` directives. For that shape the generic strategic merge (strategic.py) comes down to:
maps merge key by key (`null` deletes), keyed lists merge item by item in Kubernetes' order,
everything else is replaced. This module does exactly that and nothing else, without the
generic merge's JSON pointers, directive handling and sorting, which is most of its cost.

Whatever it does not cover (a directive, a merge key that repeats or is not a string or an
integer, a list of scalars merged by value, a shape mismatch, an error to report) raises
`Unsupported` before anything is returned, and the caller runs the generic merge, which stays
the reference: tests/property/test_podmerge.py shows that both give the same pods.
Like the generic merge, inputs are never changed and the result shares nothing with `overlay`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sidecar_injector.strategic import ANY, POD, ListRule, Schema, as_typed

JSON = Any
Keys = dict[JSON, JSON]

_SCALARS: Final = frozenset({str, int, float, bool})
_KEY_TYPES: Final = frozenset({str, int})
_EMPTY: Final[Mapping[str, JSON]] = {}


class Unsupported(Exception):
    """The overlay needs the generic strategic merge (strategic.merge_pod)."""


def merge(original: Mapping[str, JSON], overlay: Mapping[str, JSON]) -> dict[str, JSON]:
    """`strategic.merge_pod(original, overlay)` for an overlay of the common shape.

    Raises `Unsupported` (and returns nothing) for any other overlay.
    """
    if type(overlay) is not dict:
        raise Unsupported
    return _map(original, overlay, POD)


def merge_names(names: Sequence[JSON], items: JSON) -> list[JSON]:
    """The merge keys (`name`) of a keyed list after merging `items` onto a list whose keys
    are `names`: what the templates contributed, without merging their contents again."""
    if type(items) is not list:
        raise Unsupported
    patch = {name: name for name in (_key(item, "name") for item in items)}
    if len(patch) != len(items):
        raise Unsupported
    return _interleave(names, _unique_index(names), patch, lambda name: name)


def _map(original: Mapping[str, JSON], patch: dict[str, JSON], schema: Schema) -> dict[str, JSON]:
    result = dict(original)
    lists, objects = schema.lists, schema.objects
    for key, value in patch.items():
        if type(key) is not str or key[:1] == "$":
            raise Unsupported
        kind = type(value)
        if kind in _SCALARS:
            old = result.get(key)
            if key in lists or key in objects or (old is not None and type(old) not in _SCALARS):
                raise Unsupported
            result[key] = value
        elif value is None:
            result.pop(key, None)
        elif kind is dict:
            old = result.get(key)
            if key in lists or (old is not None and type(old) is not dict):
                raise Unsupported
            result[key] = _map(old or _EMPTY, value, objects.get(key, ANY))
        elif kind is list:
            old = result.get(key)
            if key in objects or (old is not None and type(old) is not list):
                raise Unsupported
            rule = lists.get(key)
            result[key] = as_typed(value, key) if rule is None else _keyed(old or [], value, rule)
        else:
            raise Unsupported
    return result


def _keyed(original: list[JSON], items: list[JSON], rule: ListRule) -> list[JSON]:
    """A merge-keyed list: items matched by key merge, new ones join, in Kubernetes' order."""
    key = rule.key
    if key is None:
        raise Unsupported
    schema = rule.item or ANY
    index = _unique_index([_key(item, key) for item in original])
    merged: Keys = {}
    for item in items:
        value = _key(item, key)
        if value in merged:
            raise Unsupported
        at = index.get(value)
        merged[value] = _map(original[at] if at is not None else _EMPTY, item, schema)
    return _interleave(original, index, merged, lambda item: item[key])


def _key(item: JSON, key: str) -> JSON:
    if type(item) is not dict:
        raise Unsupported
    value = item.get(key)
    if type(value) not in _KEY_TYPES:
        raise Unsupported
    return value


def _unique_index(keys: Sequence[JSON]) -> dict[JSON, int]:
    index = {value: position for position, value in enumerate(keys)}
    if len(index) != len(keys):
        raise Unsupported
    return index


def _interleave(
    original: Sequence[JSON],
    index: Mapping[JSON, int],
    merged: Keys,
    key_of: Callable[[JSON], JSON],
) -> list[JSON]:
    """Kubernetes' order (strategic._enforce_order) when keys are unique on both sides: patch
    items in patch order, each original item not in the patch before the first patch item that
    comes after it in the original, the rest at the end in their original order."""
    kept = [item for item in original if key_of(item) not in merged]
    result: list[JSON] = []
    left = 0
    for value, item in merged.items():
        at = index.get(value, -1)
        while left < len(kept) and index[key_of(kept[left])] < at:
            result.append(kept[left])
            left += 1
        result.append(item)
    result.extend(kept[left:])
    return result
