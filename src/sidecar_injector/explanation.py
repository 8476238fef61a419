"""Why a pod would or would not get a sidecar: every rule, in the order they apply.

Two layers decide (reference §1): the API server calls the webhook only when one of the
MutatingWebhookConfiguration's webhooks selects the namespace's labels and the pod's labels;
then the injector's own precedence runs (`decision.decide`). Users who ask "why was my pod not
injected?" usually trip over the first layer (an annotation where a label is needed), so both
are shown, rule by rule, with the templates that would apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sidecar_injector import config, decision, render

Outcome = Literal["match", "no match", "pass", "inject", "skip", "not reached", "unknown"]

REV_LABEL = "istio.io/rev"
NS_INJECT_LABEL = "istio-injection"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule with its outcome for this pod; `detail` says what it looked at."""

    layer: Literal["webhook", "injector"]
    name: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """The whole answer for one pod."""

    workload: str
    rules: tuple[Rule, ...]
    inject: bool
    reason: str
    message: str
    templates: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The `-o json` form, stable for tools."""
        return {
            "workload": self.workload,
            "inject": self.inject,
            "reason": self.reason,
            "message": self.message,
            "templates": list(self.templates),
            "warnings": list(self.warnings),
            "rules": [
                {"layer": r.layer, "rule": r.name, "outcome": r.outcome, "detail": r.detail}
                for r in self.rules
            ],
        }


@dataclass(frozen=True, slots=True)
class _Webhook:
    name: str
    namespace: tuple[tuple[str, str, tuple[str, ...]], ...]
    pod: tuple[tuple[str, str, tuple[str, ...]], ...]


def webhooks(*, revision: str = "", namespaces_by_default: bool = False) -> tuple[_Webhook, ...]:
    """The webhooks of the chart's MutatingWebhookConfiguration (reference §1.2) for a revision."""
    rev = revision or "default"
    not_false = ("sidecar.istio.io/inject", "NotIn", ("false",))
    hooks = [
        _Webhook(
            "rev.namespace.sidecar-injector.istio.io",
            ((REV_LABEL, "In", (rev,)), (NS_INJECT_LABEL, "DoesNotExist", ())),
            (not_false,),
        ),
        _Webhook(
            "rev.object.sidecar-injector.istio.io",
            ((REV_LABEL, "DoesNotExist", ()), (NS_INJECT_LABEL, "DoesNotExist", ())),
            (not_false, (REV_LABEL, "In", (rev,))),
        ),
    ]
    if not revision:
        hooks += [
            _Webhook(
                "namespace.sidecar-injector.istio.io",
                ((NS_INJECT_LABEL, "In", ("enabled",)),),
                (not_false,),
            ),
            _Webhook(
                "object.sidecar-injector.istio.io",
                ((NS_INJECT_LABEL, "DoesNotExist", ()), (REV_LABEL, "DoesNotExist", ())),
                (("sidecar.istio.io/inject", "In", ("true",)), (REV_LABEL, "DoesNotExist", ())),
            ),
        ]
    if not revision and namespaces_by_default:
        ignored = tuple(sorted(decision.IGNORED_NAMESPACES))
        hooks.append(
            _Webhook(
                "auto.sidecar-injector.istio.io",
                (
                    (NS_INJECT_LABEL, "DoesNotExist", ()),
                    (REV_LABEL, "DoesNotExist", ()),
                    ("kubernetes.io/metadata.name", "NotIn", ignored),
                ),
                (("sidecar.istio.io/inject", "DoesNotExist", ()), (REV_LABEL, "DoesNotExist", ())),
            )
        )
    return tuple(hooks)


def calling_webhooks(
    *,
    namespace: str,
    namespace_labels: Mapping[str, str],
    pod_labels: Mapping[str, str],
    revision: str = "",
    namespaces_by_default: bool = False,
) -> list[str]:
    """The webhooks that the API server calls for such a pod in such a namespace."""
    labels = {"kubernetes.io/metadata.name": namespace, **namespace_labels}
    return [
        hook.name
        for hook in webhooks(revision=revision, namespaces_by_default=namespaces_by_default)
        if all(_holds(r, labels) for r in hook.namespace)
        and all(_holds(r, pod_labels) for r in hook.pod)
    ]


def _holds(req: tuple[str, str, tuple[str, ...]], labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics (an absent key is `NotIn` anything)."""
    key, operator, values = req
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    return key not in labels


def _describe(reqs: Sequence[tuple[str, str, tuple[str, ...]]]) -> str:
    parts = []
    for key, operator, values in reqs:
        shown = f" [{', '.join(values)}]" if values else ""
        parts.append(f"{key} {operator}{shown}")
    return " AND ".join(parts)


def webhook_rules(
    *, namespace_labels: Mapping[str, str], pod_labels: Mapping[str, str], revision: str = ""
) -> tuple[list[Rule], bool]:
    """Each webhook's selectors against the labels; whether any of them would be called."""
    rules: list[Rule] = []
    called = False
    for hook in webhooks(revision=revision):
        ns_ok = all(_holds(req, namespace_labels) for req in hook.namespace)
        pod_ok = all(_holds(req, pod_labels) for req in hook.pod)
        called = called or (ns_ok and pod_ok)
        detail = (
            f"namespaceSelector {_describe(hook.namespace)}: {'yes' if ns_ok else 'no'}; "
            f"objectSelector {_describe(hook.pod)}: {'yes' if pod_ok else 'no'}"
        )
        rules.append(
            Rule("webhook", hook.name, "match" if ns_ok and pod_ok else "no match", detail)
        )
    return rules, called


_DECIDING_RULE = {
    "hostNetwork": "hostNetwork",
    "ignoredNamespace": "ignored namespace",
    "podLabelTrue": "sidecar.istio.io/inject",
    "podLabelFalse": "sidecar.istio.io/inject",
    "podAnnotationTrue": "sidecar.istio.io/inject",
    "podAnnotationFalse": "sidecar.istio.io/inject",
    "neverSelector": "neverInjectSelector",
    "alwaysSelector": "alwaysInjectSelector",
}
_INJECTOR_RULES = (
    ("hostNetwork", "spec.hostNetwork is not true"),
    (
        "ignored namespace",
        "the namespace is not one of " + ", ".join(sorted(decision.IGNORED_NAMESPACES)),
    ),
    ("sidecar.istio.io/inject", "no label or annotation sidecar.istio.io/inject is true or false"),
    ("neverInjectSelector", "no neverInjectSelector matches the pod labels"),
    ("alwaysInjectSelector", "no alwaysInjectSelector matches the pod labels"),
    ("policy", ""),
)


def injector_rules(answer: decision.Decision) -> list[Rule]:
    """The in-webhook precedence, with `decision.decide`'s answer marking the rule that decided."""
    deciding = _DECIDING_RULE.get(answer.reason, "policy")
    rules: list[Rule] = []
    reached = True
    for name, passed in _INJECTOR_RULES:
        if not reached:
            rules.append(Rule("injector", name, "not reached", "an earlier rule decided"))
        elif name == deciding:
            rules.append(
                Rule("injector", name, "inject" if answer.inject else "skip", answer.message)
            )
            reached = False
        else:
            rules.append(Rule("injector", name, "pass", passed))
    return rules


def templates_for(
    pod: Mapping[str, Any], *, injection: config.InjectionConfig
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The templates the pipeline would render, and a warning if the pod names a missing one."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    try:
        return render.select_templates(annotations, injection=injection), ()
    except render.RenderError as err:
        return (), (str(err),)


def explain(
    pod: Mapping[str, Any],
    *,
    workload: str,
    namespace: str,
    settings: config.Config,
    namespace_labels: Mapping[str, str] | None = None,
) -> Explanation:
    """Every rule for one pod; without namespace labels the webhook layer is assumed to call."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    rules: list[Rule] = []
    called = True
    if namespace_labels is None:
        rules.append(
            Rule(
                "webhook",
                "webhook selectors",
                "unknown",
                "namespace labels not given (--namespace-labels): assuming the webhook is called",
            )
        )
    else:
        hook_rules, called = webhook_rules(
            namespace_labels=namespace_labels, pod_labels=labels, revision=settings.revision
        )
        rules.extend(hook_rules)
    answer = decision.decide(pod, namespace=namespace, config=settings.injection)
    rules.extend(injector_rules(answer))
    inject = called and answer.inject
    if called:
        reason, message = answer.reason, answer.message
    else:
        reason = "noWebhookMatches"
        message = (
            "no webhook selects this namespace and pod, so the API server never calls the injector"
        )
    templates, problems = templates_for(pod, injection=settings.injection) if inject else ((), ())
    warnings = (*answer.warnings, *problems)
    return Explanation(workload, tuple(rules), inject, reason, message, templates, warnings)


def table(explanation: Explanation) -> str:
    """The human form: one line per rule, then the answer."""
    width = max(len(rule.name) for rule in explanation.rules)
    lines = [f"{explanation.workload}:"]
    for rule in explanation.rules:
        lines.append(f"  {rule.layer:8}  {rule.name:{width}}  {rule.outcome:11}  {rule.detail}")
    verdict = "INJECT" if explanation.inject else "NOT INJECTED"
    lines.append(f"  => {verdict} ({explanation.reason}): {explanation.message}")
    if explanation.templates:
        lines.append(f"  templates: {', '.join(explanation.templates)}")
    lines.extend(f"  warning: {text}" for text in explanation.warnings)
    return "\n".join(lines) + "\n"
