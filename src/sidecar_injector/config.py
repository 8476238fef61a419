"""The injector's configuration: injection config (modern or legacy 1.0), values and mesh config.

Users write it as Istio's `istio-sidecar-injector` ConfigMap (`config` and `values` keys) and the
`istio` ConfigMap (`mesh` key). It is validated once on load and then held as immutable values,
so the admission hot path never re-parses or re-validates anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = Any
"""A JSON value as `orjson`/`yaml.safe_load` give it: dict, list, str, int, float, bool, None."""

Policy = Literal["enabled", "disabled"]
Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
Format = Literal["modern", "legacy"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions` entry of a Kubernetes label selector."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes `metav1.LabelSelector`; an empty selector matches everything."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[Requirement, ...] = ()
