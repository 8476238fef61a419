"""Whether a pod gets a sidecar, and why: Istio's `injectRequired` (HEAD semantics).

The API server has already applied the webhook's namespace and object selectors (SPEC §2, the
MutatingWebhookConfiguration we generate), so only what the webhook itself sees is decided here:
host networking, ignored namespaces, the pod's `sidecar.istio.io/inject` label or annotation, the
never/always selectors and the policy. Every outcome carries a reason code, because users ask
"why was my pod (not) injected?" and logs, metrics labels, `explain` and warnings all answer it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sidecar_injector import errors, podshape
from sidecar_injector.config import LabelSelector, Requirement

logger = logging.getLogger(__name__)

INJECT_KEY = "sidecar.istio.io/inject"
IGNORED_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
)


class DecisionConfig(Protocol):
    """The part of the injection config a decision reads (config.InjectionConfig has it)."""

    @property
    def policy(self) -> str: ...

    @property
    def never_inject_selector(self) -> tuple[LabelSelector, ...]: ...

    @property
    def always_inject_selector(self) -> tuple[LabelSelector, ...]: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer with its reason code (stable, for metrics) and a sentence (for people)."""

    inject: bool
    reason: str
    message: str
    warnings: tuple[str, ...] = ()


def decide(
    pod: Mapping[str, Any],
    *,
    namespace: str,
    config: DecisionConfig,
    checked_spec: object = None,
) -> Decision:
    """Istio's order: hostNetwork, ignored namespace, label/annotation, never, always, policy.

    Every path (webhook, kube-inject, explain) starts here, so a pod Go could not decode is
    refused here with `podshape.PodError`, before any step reads it (`checked_spec`: a spec
    object that passed before, see `podshape.check`).
    """
    podshape.check(pod, checked_spec=checked_spec)
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork") is True:
        return Decision(
            False,
            "hostNetwork",
            "the pod uses host networking; iptables would change the node's network",
        )
    if namespace in IGNORED_NAMESPACES:
        return Decision(
            False,
            "ignoredNamespace",
            f"namespace {namespace!r} is one of the namespaces never injected",
        )
    metadata = pod.get("metadata") or {}
    labels: Mapping[str, str] = metadata.get("labels") or {}
    explicit, warnings = _explicit_choice(labels, metadata.get("annotations") or {})
    if explicit is not None:
        return explicit
    by_selector = _by_selectors(labels, config=config)
    if by_selector is not None:
        return _with_warnings(by_selector, warnings)
    return _with_warnings(_by_policy(config.policy), warnings)


def _explicit_choice(
    labels: Mapping[str, str], annotations: Mapping[str, str]
) -> tuple[Decision | None, tuple[str, ...]]:
    """The label replaces the annotation when present, even when empty: it is the newer API."""
    if INJECT_KEY in labels:
        kind, value = "label", labels[INJECT_KEY]
    else:
        kind, value = "annotation", annotations.get(INJECT_KEY, "")
    if value == "true":
        return Decision(
            True, f"pod{kind.title()}True", f'the pod {kind} {INJECT_KEY} is "true"'
        ), ()
    if value == "false":
        return (
            Decision(False, f"pod{kind.title()}False", f'the pod {kind} {INJECT_KEY} is "false"'),
            (),
        )
    if value == "":
        return None, ()
    shown = json.dumps(errors.excerpt(value), ensure_ascii=False)
    warning = (
        f"Invalid value for {INJECT_KEY}: {shown}. Only 'true' and 'false' are "
        f"accepted. Falling back to default injection policy (from the pod {kind})."
    )
    logger.warning("%s", warning)
    return None, (warning,)


def _by_selectors(labels: Mapping[str, str], *, config: DecisionConfig) -> Decision | None:
    for index, selector in enumerate(config.never_inject_selector):
        if selects(selector, labels):
            return Decision(
                False,
                "neverSelector",
                f"the pod labels match neverInjectSelector[{index}]",
            )
    for index, selector in enumerate(config.always_inject_selector):
        if selects(selector, labels):
            return Decision(
                True,
                "alwaysSelector",
                f"the pod labels match alwaysInjectSelector[{index}]",
            )
    return None


def _by_policy(policy: str) -> Decision:
    if policy == "enabled":
        return Decision(True, "policyEnabled", 'no explicit choice; the policy is "enabled"')
    if policy == "disabled":
        return Decision(False, "policyDisabled", 'no explicit choice; the policy is "disabled"')
    return Decision(
        False,
        "policyInvalid",
        f'Illegal value for autoInject: {policy!r}, must be one of ["disabled", "enabled"]',
    )


def _with_warnings(decision: Decision, warnings: tuple[str, ...]) -> Decision:
    if not warnings:
        return decision
    return Decision(decision.inject, decision.reason, decision.message, warnings)


def selects(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether a selector picks these labels for injection purposes.

    An empty selector (`{}`) selects nothing here, unlike in Kubernetes: Istio skips empty
    selectors, and an invalid one is skipped with a log line instead of failing the pod.
    """
    if not selector.match_labels and not selector.match_expressions:
        return False
    problem = selector_problem(selector)
    if problem is not None:
        logger.warning("skipping an invalid label selector: %s", problem)
        return False
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    return all(_requirement_holds(req, labels) for req in selector.match_expressions)


def selector_problem(selector: LabelSelector) -> str | None:
    """Why Kubernetes would refuse this selector, or None; config loading may report it early."""
    for req in selector.match_expressions:
        if req.operator in ("In", "NotIn") and not req.values:
            return f"{req.key}: for 'In', 'NotIn' operators, values set can't be empty"
        if req.operator in ("Exists", "DoesNotExist") and req.values:
            return f"{req.key}: values set must be empty for exists and does not exist"
        if req.operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return f"{req.key}: {req.operator!r} is not a valid selector operator"
    return None


def _requirement_holds(req: Requirement, labels: Mapping[str, str]) -> bool:
    present = req.key in labels
    if req.operator == "In":
        return present and labels[req.key] in req.values
    if req.operator == "NotIn":
        return not present or labels[req.key] not in req.values
    if req.operator == "Exists":
        return present
    return not present
