"""The injected pod as it comes out of Go's typed round trip.

Istio decodes the merged pod into `corev1.Pod` before writing it back, so what a template or
the user wrote in a form Go does not keep comes out in Go's form: a quantity is canonical
(`2000m` is `2`, `1024Mi` is `1Gi`) and a zero scalar in an `omitempty` field is gone
(`initialDelaySeconds: 0`). The fields and their Go kinds come from podview's table; fields
it does not describe pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sidecar_injector import quantity
from sidecar_injector.podview import TYPES, Field

JSON = Any

_ZERO_SCALARS = {"string": "", "bool": False, "int32": 0, "int64": 0}

_OMITTED: Final = 0
_QUANTITIES: Final = 1
_STRUCT: Final = 2
_ITEMS: Final = 3


class _Rule:
    """What the round trip does to one field: drops it when it is `zero` (`_OMITTED`),
    canonicalises its quantities, or goes into its struct or its list of `type_name`."""

    def __init__(self, action: int, *, zero: JSON = None, type_name: str = "") -> None:
        self.action = action
        self.zero = zero
        self.type_name = type_name


def _rule(spec: Field) -> _Rule | None:
    """The field's rule, or None when the typed round trip cannot change it."""
    kind = spec.kind
    if kind in _ZERO_SCALARS:
        return _Rule(_OMITTED, zero=_ZERO_SCALARS[kind]) if spec.omitempty else None
    if kind == "quantities":
        return _Rule(_QUANTITIES)
    if kind.startswith(("struct:", "ptr:")):
        return _Rule(_STRUCT, type_name=kind.split(":", 1)[1])
    if kind.startswith("[]") and kind[2:] in TYPES:
        return _Rule(_ITEMS, type_name=kind[2:])
    return None


def _rules(specs: tuple[Field, ...]) -> dict[str, _Rule]:
    rules: dict[str, _Rule] = {}
    for spec in specs:
        rule = _rule(spec)
        if rule is not None:
            rules[spec.json] = rule
    return rules


_BY_JSON = {name: _rules(tuple(specs)) for name, specs in TYPES.items()}
"""Each type's fields that `_field` may change, by JSON name: a pod sets few of them."""


def normalized(pod: dict[str, JSON], *, since: Mapping[str, JSON] | None = None) -> dict[str, JSON]:
    """`pod` in Go's typed form, copied only where that changes it: `pod` itself when nothing
    changes, else a new pod sharing every unchanged part with `pod`.

    `since` is a pod this returned before that `pod` was made from (the request pod, before
    templates were merged into it): parts of `pod` that are the very objects found at the same
    place in `since` are in typed form already and are not walked again.
    """
    changed: dict[str, JSON] = {}
    for key, type_name in (("metadata", "ObjectMeta"), ("spec", "PodSpec")):
        part = pod.get(key)
        if isinstance(part, dict):
            typed = _struct(part, type_name, _part(since, key))
            if typed is not part:
                changed[key] = typed
    return {**pod, **changed} if changed else pod


_GONE: Final = object()
"""What `_field` gives for a field Go's round trip leaves out."""


def _part(since: JSON, key: str) -> JSON:
    return since.get(key) if type(since) is dict else None


def _struct(data: dict[str, JSON], type_name: str, since: JSON) -> dict[str, JSON]:
    fields = _BY_JSON.get(type_name)
    if data is since or fields is None:
        return data
    result = data
    for key in [key for key in data if key in fields]:
        value = data[key]
        typed = _field(value, fields[key], _part(since, key))
        if typed is not value:
            if result is data:
                result = dict(data)
            if typed is _GONE:
                del result[key]
            else:
                result[key] = typed
    return result


def _field(value: JSON, rule: _Rule, since: JSON) -> JSON:
    action = rule.action
    if action == _OMITTED:
        zero = rule.zero
        return _GONE if type(value) is type(zero) and value == zero else value
    if value is since:
        return value
    if action == _STRUCT:
        return _struct(value, rule.type_name, since) if isinstance(value, dict) else value
    if action == _ITEMS:
        return _items(value, rule.type_name, since) if isinstance(value, list) else value
    return _quantities(value) if isinstance(value, dict) else value


def _items(items: list[JSON], type_name: str, since: JSON) -> list[JSON]:
    """The list with each struct in typed form; an item found in `since`'s list is already,
    and one with the `name` of an item there shares most of its parts with it."""
    seen = {id(item) for item in since} if type(since) is list else set()
    named = {
        item.get("name"): item
        for item in (since if type(since) is list else ())
        if type(item) is dict and type(item.get("name")) is str
    }
    result = items
    for position, item in enumerate(items):
        if type(item) is not dict or id(item) in seen:
            continue
        name = item.get("name")
        typed = _struct(item, type_name, named.get(name) if type(name) is str else None)
        if typed is not item:
            if result is items:
                result = list(items)
            result[position] = typed
    return result


def _quantities(amounts: dict[str, JSON]) -> dict[str, JSON]:
    typed = {name: quantity.canonical_or_same(amount) for name, amount in amounts.items()}
    same = all(
        type(typed[name]) is type(amount) and typed[name] == amount
        for name, amount in amounts.items()
    )
    return amounts if same else typed
