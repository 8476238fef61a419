"""The injected pod as it comes out of Go's typed round trip.

Istio decodes the merged pod into `corev1.Pod` before writing it back, so what a template or
the user wrote in a form Go does not keep comes out in Go's form: a quantity is canonical
(`2000m` is `2`, `1024Mi` is `1Gi`) and a zero scalar in an `omitempty` field is gone
(`initialDelaySeconds: 0`). The fields and their Go kinds come from podview's table; fields
it does not describe pass through unchanged.
"""

from __future__ import annotations

from typing import Any

from sidecar_injector import quantity
from sidecar_injector.podview import TYPES, Field

JSON = Any

_ZERO_SCALARS = {"string": "", "bool": False, "int32": 0, "int64": 0}


def _changes(spec: Field) -> bool:
    """Whether the typed round trip can change this field (or something inside it)."""
    kind = spec.kind
    if kind in _ZERO_SCALARS:
        return spec.omitempty
    return (
        kind == "quantities"
        or kind.startswith(("struct:", "ptr:"))
        or (kind.startswith("[]") and kind[2:] in TYPES)
    )


_BY_JSON = {
    name: {spec.json: spec for spec in specs if _changes(spec)} for name, specs in TYPES.items()
}
"""Each type's fields that `_field` may change, by JSON name: a pod sets few of them."""


def normalize(pod: dict[str, JSON]) -> dict[str, JSON]:
    """`pod` (changed in place and returned) with its metadata and spec in Go's typed form."""
    for key, type_name in (("metadata", "ObjectMeta"), ("spec", "PodSpec")):
        part = pod.get(key)
        if isinstance(part, dict):
            _struct(part, type_name)
    return pod


def _struct(data: dict[str, JSON], type_name: str) -> None:
    fields = _BY_JSON.get(type_name)
    if fields is None:
        return
    for key in [key for key in data if key in fields]:
        _field(data, fields[key])


def _field(data: dict[str, JSON], spec: Field) -> None:
    value = data[spec.json]
    kind = spec.kind
    if kind in _ZERO_SCALARS:
        if spec.omitempty and _is_zero(value, kind):
            del data[spec.json]
    elif kind == "quantities" and isinstance(value, dict):
        data[spec.json] = {name: _canonical(amount) for name, amount in value.items()}
    elif kind.startswith(("struct:", "ptr:")) and isinstance(value, dict):
        _struct(value, kind.split(":", 1)[1])
    elif kind.startswith("[]") and kind[2:] in TYPES and isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                _struct(item, kind[2:])


def _is_zero(value: JSON, kind: str) -> bool:
    zero = _ZERO_SCALARS[kind]
    return type(value) is type(zero) and value == zero


def _canonical(amount: JSON) -> JSON:
    if isinstance(amount, bool) or not isinstance(amount, str | int | float):
        return amount
    try:
        return quantity.canonical(amount)
    except quantity.QuantityError:
        return amount
