"""decision.decide over reference §1.3 (the rows the webhook can see) and §1.1's edge cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sidecar_injector.config import LabelSelector, Requirement
from sidecar_injector.decision import Decision, decide, selector_problem, selects
from tests.builders import pod


@dataclass(frozen=True, slots=True)
class Cfg:
    policy: str = "enabled"
    never_inject_selector: tuple[LabelSelector, ...] = ()
    always_inject_selector: tuple[LabelSelector, ...] = ()


NEVER = (LabelSelector(match_labels={"team": "batch"}),)
ALWAYS = (LabelSelector(match_expressions=(Requirement("tier", "In", ("web", "api")),)),)
INJECT = "sidecar.istio.io/inject"

# (row, pod kwargs, namespace, config, inject, reason)
ROWS = [
    (
        "1 hostNetwork",
        {"host_network": True, "labels": {INJECT: "true"}},
        "default",
        Cfg(),
        False,
        "hostNetwork",
    ),
    (
        "2 kube-system",
        {"labels": {INJECT: "true"}},
        "kube-system",
        Cfg(),
        False,
        "ignoredNamespace",
    ),
    ("2 kube-node-lease", {}, "kube-node-lease", Cfg(), False, "ignoredNamespace"),
    ("2 local-path-storage", {}, "local-path-storage", Cfg(), False, "ignoredNamespace"),
    ("4/10 label false", {"labels": {INJECT: "false"}}, "ns", Cfg(), False, "podLabelFalse"),
    ("5 anno false", {"annotations": {INJECT: "false"}}, "ns", Cfg(), False, "podAnnotationFalse"),
    (
        "6/11 pod rev ignored",
        {"labels": {"istio.io/rev": "canary"}},
        "ns",
        Cfg(),
        True,
        "policyEnabled",
    ),
    (
        "8 never selector",
        {"labels": {"team": "batch"}},
        "ns",
        Cfg(never_inject_selector=NEVER),
        False,
        "neverSelector",
    ),
    ("9 enabled", {}, "ns", Cfg(), True, "policyEnabled"),
    ("9 disabled", {}, "ns", Cfg(policy="disabled"), False, "policyDisabled"),
    ("7/12 ns labels are Layer A only", {}, "ns", Cfg(), True, "policyEnabled"),
    ("13 rev label", {"labels": {"istio.io/rev": "x"}}, "ns", Cfg(), True, "policyEnabled"),
    (
        "15 label true and rev",
        {"labels": {INJECT: "true", "istio.io/rev": "x"}},
        "ns",
        Cfg(policy="disabled"),
        True,
        "podLabelTrue",
    ),
    ("17 auto webhook, nothing set", {}, "ns", Cfg(), True, "policyEnabled"),
    ("14 label true", {"labels": {INJECT: "true"}}, "ns", Cfg(), True, "podLabelTrue"),
    (
        "16 anno true",
        {"annotations": {INJECT: "true"}},
        "ns",
        Cfg(policy="disabled"),
        True,
        "podAnnotationTrue",
    ),
    (
        "18 label true, disabled",
        {"labels": {INJECT: "true"}},
        "ns",
        Cfg(policy="disabled"),
        True,
        "podLabelTrue",
    ),
    (
        "19 always, disabled",
        {"labels": {"tier": "web"}},
        "ns",
        Cfg(policy="disabled", always_inject_selector=ALWAYS),
        True,
        "alwaysSelector",
    ),
    (
        "20 never beats always",
        {"labels": {"tier": "web", "team": "batch"}},
        "ns",
        Cfg(policy="disabled", never_inject_selector=NEVER, always_inject_selector=ALWAYS),
        False,
        "neverSelector",
    ),
    (
        "label true beats never",
        {"labels": {INJECT: "true", "team": "batch"}},
        "ns",
        Cfg(never_inject_selector=NEVER),
        True,
        "podLabelTrue",
    ),
    (
        "anno false beats always",
        {"labels": {"tier": "api"}, "annotations": {INJECT: "false"}},
        "ns",
        Cfg(always_inject_selector=ALWAYS),
        False,
        "podAnnotationFalse",
    ),
    (
        "label wins over anno",
        {"labels": {INJECT: "false"}, "annotations": {INJECT: "true"}},
        "ns",
        Cfg(),
        False,
        "podLabelFalse",
    ),
    (
        "empty label replaces anno",
        {"labels": {INJECT: ""}, "annotations": {INJECT: "false"}},
        "ns",
        Cfg(),
        True,
        "policyEnabled",
    ),
    ("hostNetwork false", {"host_network": False}, "ns", Cfg(), True, "policyEnabled"),
    ("bad policy", {}, "ns", Cfg(policy="sometimes"), False, "policyInvalid"),
    (
        "no match never",
        {"labels": {"team": "web"}},
        "ns",
        Cfg(never_inject_selector=NEVER),
        True,
        "policyEnabled",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "namespace", "config", "inject", "reason"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_precedence(
    kwargs: dict[str, object], namespace: str, config: Cfg, inject: bool, reason: str
) -> None:
    decision = decide(pod(**kwargs), namespace=namespace, config=config)  # type: ignore[arg-type]
    assert (decision.inject, decision.reason) == (inject, reason)
    assert decision.message
    assert decision.warnings == ()


@pytest.mark.parametrize("value", ["yes", "TRUE", "on", "1", "False"])
@pytest.mark.parametrize("where", ["labels", "annotations"])
@pytest.mark.parametrize(("policy", "inject"), [("enabled", True), ("disabled", False)])
def test_invalid_value_warns_and_falls_back_to_default(
    value: str, where: str, policy: str, inject: bool
) -> None:
    kwargs: dict[str, Any] = {where: {INJECT: value}}
    decision = decide(pod(**kwargs), namespace="ns", config=Cfg(policy=policy))
    assert decision.inject is inject
    assert decision.reason == f"policy{policy.title()}"
    assert len(decision.warnings) == 1
    assert decision.warnings[0] == (
        f"Invalid value for sidecar.istio.io/inject: \"{value}\". Only 'true' and 'false' are "
        "accepted. Falling back to default injection policy "
        f"(from the pod {where.removesuffix('s')})."
    )


def test_invalid_value_then_selector_keeps_warning() -> None:
    decision = decide(
        pod(labels={INJECT: "nope", "team": "batch"}),
        namespace="ns",
        config=Cfg(never_inject_selector=NEVER),
    )
    assert (decision.inject, decision.reason, len(decision.warnings)) == (False, "neverSelector", 1)


def test_pod_without_metadata_or_spec() -> None:
    assert decide({}, namespace="ns", config=Cfg()) == Decision(
        True, "policyEnabled", 'no explicit choice; the policy is "enabled"'
    )


def test_selector_index_in_message() -> None:
    never = (LabelSelector(match_labels={"a": "1"}), LabelSelector(match_labels={"b": "2"}))
    decision = decide(
        pod(labels={"b": "2"}), namespace="ns", config=Cfg(never_inject_selector=never)
    )
    assert "neverInjectSelector[1]" in decision.message


LABELS = {"app": "web", "tier": "front"}
SELECTS = [
    (LabelSelector(), False),
    (LabelSelector(match_labels={"app": "web"}), True),
    (LabelSelector(match_labels={"app": "db"}), False),
    (LabelSelector(match_labels={"app": "web", "tier": "back"}), False),
    (LabelSelector(match_expressions=(Requirement("app", "In", ("web", "db")),)), True),
    (LabelSelector(match_expressions=(Requirement("app", "In", ("db",)),)), False),
    (LabelSelector(match_expressions=(Requirement("missing", "In", ("x",)),)), False),
    (LabelSelector(match_expressions=(Requirement("app", "NotIn", ("db",)),)), True),
    (LabelSelector(match_expressions=(Requirement("app", "NotIn", ("web",)),)), False),
    (LabelSelector(match_expressions=(Requirement("missing", "NotIn", ("x",)),)), True),
    (LabelSelector(match_expressions=(Requirement("tier", "Exists"),)), True),
    (LabelSelector(match_expressions=(Requirement("missing", "Exists"),)), False),
    (LabelSelector(match_expressions=(Requirement("missing", "DoesNotExist"),)), True),
    (LabelSelector(match_expressions=(Requirement("app", "DoesNotExist"),)), False),
    (
        LabelSelector(
            match_labels={"app": "web"},
            match_expressions=(Requirement("tier", "NotIn", ("front",)),),
        ),
        False,
    ),
    # invalid selectors are skipped, never matched
    (LabelSelector(match_expressions=(Requirement("app", "In", ()),)), False),
    (LabelSelector(match_expressions=(Requirement("app", "Exists", ("web",)),)), False),
    (LabelSelector(match_expressions=(Requirement("missing", "NotIn", ()),)), False),
]


@pytest.mark.parametrize(("selector", "expected"), SELECTS)
def test_selects(selector: LabelSelector, expected: bool) -> None:
    assert selects(selector, LABELS) is expected


def test_selector_problem_names_the_key() -> None:
    problem = selector_problem(LabelSelector(match_expressions=(Requirement("k", "In", ()),)))
    assert problem is not None and problem.startswith("k:")
    assert selector_problem(LabelSelector(match_labels={"a": "b"})) is None
    bogus = LabelSelector(match_expressions=(Requirement("k", "Near"),))  # type: ignore[arg-type]
    assert selector_problem(bogus) == "k: 'Near' is not a valid selector operator"
    assert not selects(bogus, {"k": "v"})
