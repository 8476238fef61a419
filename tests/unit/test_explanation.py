"""explanation: the webhook selectors and the injector's precedence, rule by rule."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_injector import config, explanation
from tests.builders import pod


@pytest.fixture(scope="module")
def settings() -> config.Config:
    return config.load_default()


def outcomes(answer: explanation.Explanation) -> dict[str, str]:
    return {rule.name: rule.outcome for rule in answer.rules}


def explain(settings: config.Config, subject: dict[str, Any], **kw: Any) -> explanation.Explanation:
    return explanation.explain(
        subject,
        workload='Pod "app"',
        namespace=kw.pop("namespace", "shop"),
        settings=settings,
        **kw,
    )


@pytest.mark.parametrize(
    ("ns_labels", "pod_labels", "webhook"),
    [
        ({"istio-injection": "enabled"}, {}, "namespace.sidecar-injector.istio.io"),
        ({"istio.io/rev": "default"}, {}, "rev.namespace.sidecar-injector.istio.io"),
        ({}, {"istio.io/rev": "default"}, "rev.object.sidecar-injector.istio.io"),
        ({}, {"sidecar.istio.io/inject": "true"}, "object.sidecar-injector.istio.io"),
    ],
)
def test_the_matching_webhook_is_named(
    settings: config.Config, ns_labels: dict[str, str], pod_labels: dict[str, str], webhook: str
) -> None:
    answer = explain(settings, pod(labels=pod_labels), namespace_labels=ns_labels)
    matched = [name for name, outcome in outcomes(answer).items() if outcome == "match"]
    assert matched == [webhook]
    assert answer.inject


@pytest.mark.parametrize(
    ("ns_labels", "subject"),
    [
        ({"istio-injection": "disabled"}, pod(labels={"sidecar.istio.io/inject": "true"})),
        ({"istio-injection": "enabled"}, pod(labels={"sidecar.istio.io/inject": "false"})),
        ({}, pod(annotations={"sidecar.istio.io/inject": "true"})),
        ({}, pod()),
    ],
)
def test_no_webhook_no_injection(
    settings: config.Config, ns_labels: dict[str, str], subject: dict[str, Any]
) -> None:
    answer = explain(settings, subject, namespace_labels=ns_labels)
    assert not answer.inject
    assert answer.reason == "noWebhookMatches"
    assert answer.templates == ()


def test_the_deciding_injector_rule_and_the_ones_after_it(settings: config.Config) -> None:
    subject = pod(annotations={"sidecar.istio.io/inject": "false"})
    answer = explain(settings, subject)
    got = outcomes(answer)
    assert got["webhook selectors"] == "unknown"
    assert got["hostNetwork"] == "pass"
    assert got["sidecar.istio.io/inject"] == "skip"
    assert got["policy"] == "not reached"
    assert (answer.inject, answer.reason) == (False, "podAnnotationFalse")


def test_host_network_decides_first(settings: config.Config) -> None:
    answer = explain(
        settings, pod(host_network=True), namespace_labels={"istio-injection": "enabled"}
    )
    assert outcomes(answer)["hostNetwork"] == "skip"
    assert outcomes(answer)["ignored namespace"] == "not reached"


def test_policy_decides_and_default_templates_apply(settings: config.Config) -> None:
    answer = explain(settings, pod())
    assert outcomes(answer)["policy"] == "inject"
    assert answer.templates == settings.injection.default_templates


def test_templates_annotation_wins(settings: config.Config) -> None:
    subject = pod(annotations={"inject.istio.io/templates": "sidecar, sidecar"})
    assert explain(settings, subject).templates == ("sidecar", "sidecar")


def test_a_missing_template_is_a_warning(settings: config.Config) -> None:
    subject = pod(annotations={"inject.istio.io/templates": "sidecar,nope"})
    answer = explain(settings, subject)
    assert answer.templates == ()
    assert any('requested template "nope" not found' in text for text in answer.warnings)


def test_ignored_namespace(settings: config.Config) -> None:
    answer = explain(settings, pod(), namespace="kube-system")
    assert (answer.inject, answer.reason) == (False, "ignoredNamespace")


def test_table_and_json_forms(settings: config.Config) -> None:
    answer = explain(settings, pod(), namespace_labels={"istio-injection": "enabled"})
    text = explanation.table(answer)
    assert text.startswith('Pod "app":\n')
    assert "=> INJECT (policyEnabled)" in text
    data = answer.as_json()
    assert data["inject"] is True
    assert [rule["rule"] for rule in data["rules"]][-1] == "policy"
