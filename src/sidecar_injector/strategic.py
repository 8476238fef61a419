"""Kubernetes strategic merge patch over plain JSON values, with the Pod's patch metadata.

Istio applies every rendered template to the pod with `strategicpatch.StrategicMergePatch`
against `corev1.Pod`, so list merge keys, list ordering, `null` deletion and the `$patch`,
`$retainKeys`, `$deleteFromPrimitiveList` and `$setElementOrder` directives decide what an
injected pod looks like. The schema here is the Pod's `x-kubernetes-patch-strategy` and
`x-kubernetes-patch-merge-key` metadata; every other list is atomic (replaced whole).

Inputs are never mutated: `merge` copies what it changes and shares untouched subtrees, so
callers that mutate a result must copy it first (`merge_overlay` does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sidecar_injector.errors import InjectorError, Location

JSON = Any

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


class MergeError(InjectorError):
    """A rendered overlay that cannot be merged into the pod; `location.pointer` says where."""


@dataclass(frozen=True, slots=True)
class ListRule:
    """A list with patch strategy `merge`: items matched by `key` (None: a list of scalars)."""

    key: str | None
    item: Schema | None = None


@dataclass(frozen=True, slots=True)
class Schema:
    """Patch metadata of one object type: its merged lists and its typed sub-objects."""

    lists: Mapping[str, ListRule] = field(default_factory=dict)
    objects: Mapping[str, Schema] = field(default_factory=dict)


STRING_LISTS = frozenset(
    {"args", "command", "add", "drop", "nameservers", "searches", "hostnames", "finalizers"}
)
"""Pod fields that are lists of strings, where Go decodes a null element as ""."""
ANY = Schema()
CONTAINER = Schema(
    lists={
        "env": ListRule("name"),
        "ports": ListRule("containerPort"),
        "volumeMounts": ListRule("mountPath"),
        "volumeDevices": ListRule("devicePath"),
    }
)
POD_SPEC = Schema(
    lists={
        "containers": ListRule("name", CONTAINER),
        "initContainers": ListRule("name", CONTAINER),
        "ephemeralContainers": ListRule("name", CONTAINER),
        "volumes": ListRule("name"),
        "imagePullSecrets": ListRule("name"),
        "hostAliases": ListRule("ip"),
        "resourceClaims": ListRule("name"),
        "schedulingGates": ListRule("name"),
        "topologySpreadConstraints": ListRule("topologyKey"),
    }
)
OBJECT_META = Schema(lists={"finalizers": ListRule(None), "ownerReferences": ListRule("uid")})
POD = Schema(objects={"metadata": OBJECT_META, "spec": POD_SPEC})


def merge_overlay(original: Mapping[str, JSON], overlay: Mapping[str, JSON]) -> dict[str, JSON]:
    """The pod with a rendered template (a partial Pod) strategically merged onto it."""
    return copy_object(merge_pod(original, overlay))


def merge_pod(original: Mapping[str, JSON], overlay: Mapping[str, JSON]) -> dict[str, JSON]:
    """`merge_overlay` without the final copy: the result shares untouched parts with
    `original` (never with `overlay`), for callers that own `original` and go on merging."""
    if not isinstance(overlay, (dict, Mapping)):
        raise MergeError(
            f"the overlay must be a mapping (a partial Pod), not {_kind(overlay)}",
            location=Location(pointer=""),
        )
    return merge_map(original, overlay, schema=POD, pointer="")


def copy_object(value: Mapping[str, JSON]) -> dict[str, JSON]:
    """A deep copy of a JSON object (a pod)."""
    return {k: copy_json(v) for k, v in value.items()}


def copy_json(value: JSON) -> JSON:
    """A deep copy of a JSON value (dicts, lists, scalars), several times faster than deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else copy_json(v) for v in value]
    if isinstance(value, (dict, Mapping)):
        return {k: copy_json(v) for k, v in value.items()}
    return value


def merge_map(
    original: Mapping[str, JSON], patch: Mapping[str, JSON], *, schema: Schema, pointer: str
) -> dict[str, JSON]:
    """Merge `patch` into `original` field by field; `None` deletes, directives apply."""
    directive = patch.get(DIRECTIVE)
    if directive == "replace":
        return merge_map({}, _without(patch, DIRECTIVE), schema=schema, pointer=pointer)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise MergeError(
            f"unknown $patch directive {directive!r}; use merge, replace or delete",
            location=Location(pointer=_child(pointer, DIRECTIVE)),
        )
    result = dict(original)
    orders: dict[str, JSON] = {}
    for key, value in patch.items():
        if key[:1] != "$":
            if value is None:
                result.pop(key, None)
            elif _plain_scalar(value, result.get(key), key, schema):
                result[key] = value
            else:
                result[key] = merge_value(
                    result.get(key), value, key=key, schema=schema, pointer=_child(pointer, key)
                )
        elif key in (DIRECTIVE, RETAIN_KEYS):
            continue
        elif key.startswith(DELETE_FROM_PRIMITIVE):
            name = key[len(DELETE_FROM_PRIMITIVE) :]
            if name in result:
                result[name] = _delete_from_primitive_list(result[name], value)
        elif key.startswith(SET_ELEMENT_ORDER):
            orders[key[len(SET_ELEMENT_ORDER) :]] = value
        elif value is None:
            result.pop(key, None)
        else:
            result[key] = merge_value(
                result.get(key), value, key=key, schema=schema, pointer=_child(pointer, key)
            )
    for name, order in orders.items():
        if isinstance(result.get(name), list) and isinstance(order, list):
            rule = schema.lists.get(name, ListRule(None))
            result[name] = _enforce_order(result[name], order, original.get(name) or [], rule.key)
    retain = patch.get(RETAIN_KEYS)
    if isinstance(retain, list):
        result = {key: value for key, value in result.items() if key in retain}
    return result


def _plain_scalar(value: JSON, original: JSON, key: str, schema: Schema) -> bool:
    """Whether `value` simply replaces `original`: a scalar over a scalar or nothing, in a field
    that is neither a merged list nor a typed object (`merge_value` would return `value`)."""
    return (
        type(value) in _SCALARS
        and type(original) in _SCALARS
        and key not in schema.lists
        and key not in schema.objects
    )


_SCALARS = frozenset({str, int, float, bool, type(None)})


def merge_value(original: JSON, patch: JSON, *, key: str, schema: Schema, pointer: str) -> JSON:
    """One field: maps merge, lists merge by their rule or are replaced, scalars are replaced."""
    rule = schema.lists.get(key)
    if rule is not None and not isinstance(patch, list):
        raise MergeError(
            f"{key} must be a list, not {_kind(patch)}", location=Location(pointer=pointer)
        )
    sub = schema.objects.get(key)
    if sub is not None and not isinstance(patch, (dict, Mapping)):
        raise MergeError(
            f"{key} must be a mapping, not {_kind(patch)}", location=Location(pointer=pointer)
        )
    if original is not None and _shape(original) != _shape(patch):
        raise MergeError(
            f"cannot merge {_kind(patch)} into {_kind(original)} at {key}",
            location=Location(pointer=pointer),
        )
    shape = _shape(patch)
    if shape == "map":
        base = original if original is not None else {}
        return merge_map(base, patch, schema=sub or ANY, pointer=pointer)
    if shape == "list":
        if rule is None:
            return _clean(patch, key)
        base_list = original if isinstance(original, list) else []
        return merge_list(base_list, patch, rule=rule, pointer=pointer)
    return patch


def merge_list(
    original: Sequence[JSON], patch: Sequence[JSON], *, rule: ListRule, pointer: str
) -> list[JSON]:
    """A `merge` list: by merge key (maps) or by value (scalars), in Kubernetes' order."""
    original, items = _special_elements(original, patch, rule=rule, pointer=pointer)
    if rule.key is None:
        merged = list(original)
        seen = [_identity(item, None) for item in merged]
        for item in items:
            if _identity(item, None) not in seen:
                merged.append(_clean(item))
                seen.append(_identity(item, None))
    else:
        merged = _merge_keyed(original, items, rule=rule, pointer=pointer)
    return _enforce_order(merged, items, original, rule.key)


def _special_elements(
    original: Sequence[JSON], patch: Sequence[JSON], *, rule: ListRule, pointer: str
) -> tuple[Sequence[JSON], list[JSON]]:
    """Apply `$patch: delete` items; `$patch: replace` makes the patch the whole list."""
    items: list[JSON] = []
    replace = False
    for index, item in enumerate(patch):
        directive = item.get(DIRECTIVE) if isinstance(item, (dict, Mapping)) else None
        if directive is None:
            items.append(item)
        elif directive == "replace":
            replace = True
        elif directive == "delete" and rule.key is not None and rule.key in item:
            original = [
                o
                for o in original
                if not (isinstance(o, (dict, Mapping)) and o.get(rule.key) == item[rule.key])
            ]
        else:
            raise MergeError(
                f"list item with $patch: {directive!r} needs the merge key {rule.key!r}"
                if directive == "delete"
                else f"$patch: {directive!r} is not allowed in a list item; use delete or replace",
                location=Location(pointer=_child(pointer, str(index))),
            )
    if replace:
        return [], items
    return original, items


def _merge_keyed(
    original: Sequence[JSON], items: Sequence[JSON], *, rule: ListRule, pointer: str
) -> list[JSON]:
    assert rule.key is not None
    merged = list(original)
    positions = _KeyIndex(merged, rule.key)
    for index, item in enumerate(items):
        where = _child(pointer, str(index))
        if not isinstance(item, (dict, Mapping)):
            raise MergeError(
                f"items of this list must be mappings with the merge key {rule.key!r}, "
                f"not {_kind(item)}",
                location=Location(pointer=where),
            )
        if rule.key not in item:
            raise MergeError(
                f"list item has no merge key {rule.key!r}", location=Location(pointer=where)
            )
        position = positions.find(item[rule.key])
        if position is None:
            merged.append(merge_map({}, item, schema=rule.item or ANY, pointer=where))
            positions.add(item[rule.key], len(merged) - 1)
        else:
            merged[position] = merge_map(
                merged[position], item, schema=rule.item or ANY, pointer=where
            )
    return merged


def _enforce_order(
    merged: Sequence[JSON],
    patch_order: Sequence[JSON],
    server_order: Sequence[JSON],
    key: str | None,
) -> list[JSON]:
    """Kubernetes' order: patch items in patch order, server-only items kept where the
    original order puts them before a patch item, everything else after."""
    patch_at: dict[JSON, int] = {}
    for position, item in enumerate(patch_order):
        patch_at.setdefault(_identity(item, key), position)
    server_at: dict[JSON, int] = {}
    for position, item in enumerate(server_order):
        server_at.setdefault(_identity(item, key), position)
    tagged = [(_identity(item, key), item) for item in merged]
    in_patch = sorted((t for t in tagged if t[0] in patch_at), key=lambda t: patch_at[t[0]])
    end = len(server_at)
    server_only = sorted(
        (t for t in tagged if t[0] not in patch_at), key=lambda t: server_at.get(t[0], end)
    )
    result: list[JSON] = []
    left, right = 0, 0
    while left < len(server_only) and right < len(in_patch):
        li = server_at.get(server_only[left][0], -1)
        ri = server_at.get(in_patch[right][0], -1)
        if 0 <= li < ri:
            result.append(server_only[left][1])
            left += 1
        else:
            result.append(in_patch[right][1])
            right += 1
    result.extend(t[1] for t in in_patch[right:])
    result.extend(t[1] for t in server_only[left:])
    return result


def _identity(item: JSON, key: str | None) -> JSON:
    if key is not None and isinstance(item, dict):
        return ("key", _hashable(item.get(key)))
    return ("value", _hashable(item))


def _hashable(value: JSON) -> JSON:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (dict, Mapping)):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


class _KeyIndex:
    """Where the first item with each merge key value is, so a long list merges in linear time.

    Keys compare as Python's `==` does (as a scan would); an unhashable key value, which no
    Pod field has, falls back to the scan.
    """

    def __init__(self, items: list[JSON], key: str) -> None:
        self.items = items
        self.key = key
        self.at: dict[JSON, int] = {}
        for position, item in enumerate(items):
            if isinstance(item, (dict, Mapping)):
                self.add(item.get(key), position)

    def add(self, value: JSON, position: int) -> None:
        with contextlib.suppress(TypeError):
            self.at.setdefault(value, position)

    def find(self, value: JSON) -> int | None:
        try:
            return self.at.get(value)
        except TypeError:
            return _find(self.items, self.key, value)


def _find(items: Sequence[JSON], key: str, value: JSON) -> int | None:
    for position, item in enumerate(items):
        if isinstance(item, (dict, Mapping)) and item.get(key) == value:
            return position
    return None


def _delete_from_primitive_list(current: JSON, remove: JSON) -> JSON:
    if not isinstance(current, list) or not isinstance(remove, list):
        return current
    doomed = {_identity(item, None) for item in remove}
    return [item for item in current if _identity(item, None) not in doomed]


def _clean(value: JSON, key: str | None = None) -> JSON:
    """A new value as the typed Pod would hold it: nulls and directives dropped, and a null
    in a list of strings (`- ` in YAML args) read as Go reads it, the empty string."""
    if isinstance(value, (dict, Mapping)):
        return {
            k: _clean(v, k)
            for k, v in value.items()
            if v is not None and not (isinstance(k, str) and k.startswith("$"))
        }
    if isinstance(value, list):
        if key in STRING_LISTS:
            return ["" if v is None else v for v in value]
        return [_clean(v) for v in value]
    return value


def as_typed(value: JSON, key: str | None = None) -> JSON:
    """`value` (a rendered Pod part, the field `key` if given) with nulls as Go's typed
    decoding leaves them, as a new value."""
    return _clean(value, key)


def _without(mapping: Mapping[str, JSON], key: str) -> dict[str, JSON]:
    return {k: v for k, v in mapping.items() if k != key}


def _shape(value: JSON) -> str:
    kind = type(value)
    if kind is dict:
        return "map"
    if kind is list:
        return "list"
    return "map" if isinstance(value, (dict, Mapping)) else "scalar"


def _kind(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _child(pointer: str, key: str) -> str:
    if "~" in key or "/" in key:
        key = key.replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{key}"
