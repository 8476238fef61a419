"""annotations: Istio's validation rules (reference §5.7) and our error texts."""

from __future__ import annotations

import json

import pytest
import yaml

from sidecar_injector.annotations import BY_NAME, AnnotationError, problems, validate
from sidecar_injector.errors import InjectorError
from tests.conftest import KIT, needs_kit

VALID = [
    ("sidecar.istio.io/interceptionMode", "REDIRECT"),
    ("sidecar.istio.io/interceptionMode", "TPROXY"),
    ("sidecar.istio.io/interceptionMode", "NONE"),
    ("status.sidecar.istio.io/port", "15020"),
    ("status.sidecar.istio.io/port", " 0 "),
    ("status.sidecar.istio.io/port", "65535"),
    ("readiness.status.sidecar.istio.io/periodSeconds", "4294967295"),
    ("readiness.status.sidecar.istio.io/failureThreshold", "0"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", ""),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8,192.168.1.7/32"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "fd00::/8,10.1.2.3/16"),
    ("traffic.sidecar.istio.io/includeInboundPorts", "*"),
    ("traffic.sidecar.istio.io/includeInboundPorts", " 80, 8080 "),
    ("traffic.sidecar.istio.io/excludeInboundPorts", ""),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", "3306,5432"),
    ("traffic.sidecar.istio.io/excludeInterfaces", "eth1,net1"),
    ("istio.io/reroute-virtual-interfaces", "kube-ovn0"),
    ("prometheus.istio.io/merge-metrics", "f"),
    ("prometheus.istio.io/merge-metrics", "TRUE"),
    ("proxy.istio.io/config", "holdApplicationUntilProxyStarts: true"),
    ("proxy.istio.io/config", '{"concurrency": 2}'),
    ("sidecar.istio.io/proxyCPU", "100m"),
    ("sidecar.istio.io/proxyMemory", "1.5Gi"),
    ("sidecar.istio.io/proxyMemoryLimit", "1e3"),
    ("sidecar.istio.io/proxyCPULimit", "2"),
    ("sidecar.istio.io/logLevel", "warning"),
    ("sidecar.istio.io/logLevel", ""),
    ("sidecar.istio.io/componentLogLevel", "misc:error,upstream:debug"),
    ("sidecar.istio.io/agentLogLevel", "default:info,ads:debug"),
    ("sidecar.istio.io/statsInclusionPrefixes", "cluster.outbound|80||web.svc,listener"),
    ("sidecar.istio.io/statsInclusionSuffixes", "upstream_rq_timeout"),
    ("sidecar.istio.io/inject", "whatever"),  # the decision warns; validation does not refuse
    ("example.com/unknown", "anything at all"),
]

INVALID = [
    ("sidecar.istio.io/interceptionMode", "redirect", "interceptionMode invalid"),
    ("status.sidecar.istio.io/port", "65536", "status port invalid"),
    ("status.sidecar.istio.io/port", "80,81", "status port invalid"),
    ("status.sidecar.istio.io/port", "", "status port invalid"),
    ("readiness.status.sidecar.istio.io/initialDelaySeconds", "-1", "ParseUint"),
    ("readiness.status.sidecar.istio.io/periodSeconds", "4294967296", "ParseUint"),
    ("readiness.status.sidecar.istio.io/failureThreshold", " 3", "ParseUint"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "bad", "includeIPRanges invalid"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.1", "no '/'"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/33", "out of range"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/08", "bad bits"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "*", "excludeIPRanges invalid"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/8,", "excludeIPRanges"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "fe80::1%eth0/64", "zones"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.256/8", "unable to parse IP"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "fd00::/129", "out of range"),
    ("traffic.sidecar.istio.io/includeInboundPorts", "80,http", "includeInboundPorts invalid"),
    ("traffic.sidecar.istio.io/excludeInboundPorts", "*", "excludeInboundPorts invalid"),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", "99999", "excludeOutboundPorts invalid"),
    ("traffic.sidecar.istio.io/excludeInterfaces", "eth0,", "interface name"),
    ("traffic.sidecar.istio.io/kubevirtInterfaces", "a-very-long-interface", "interface name"),
    ("prometheus.istio.io/merge-metrics", "yes", "ParseBool"),
    ("proxy.istio.io/config", "- a list", "proxy config"),
    ("proxy.istio.io/config", "a: [unclosed", "proxy config"),
    ("proxy.istio.io/config", "concurrency: 0b_", "not a number YAML can read"),
    ("proxy.istio.io/config", "concurrency: [0x_]", "not a number YAML can read"),
    ("sidecar.istio.io/proxyCPU", "100 m", "regular expression"),
    ("sidecar.istio.io/proxyMemory", "128Mi\n", "control characters"),
    ("sidecar.istio.io/logLevel", "warning\n    command: [sh]", "log level list"),
    ("sidecar.istio.io/componentLogLevel", 'misc:error"', "log level list"),
    ("sidecar.istio.io/agentLogLevel", "default: info", "log level list"),
    ("sidecar.istio.io/statsInclusionPrefixes", "cluster outbound", "stat names"),
    ("sidecar.istio.io/statsInclusionSuffixes", "rq\u2028x", "stat names"),
]


@pytest.mark.parametrize(("name", "value"), VALID)
def test_valid_values_pass(name: str, value: str) -> None:
    assert problems({name: value}) == ()
    validate({name: value})


@pytest.mark.parametrize(("name", "value", "reason"), INVALID)
def test_invalid_values_name_annotation_value_and_rule(name: str, value: str, reason: str) -> None:
    with pytest.raises(AnnotationError) as caught:
        validate({name: value, "app": "ok"})
    err = caught.value
    assert isinstance(err, InjectorError)
    text = str(err)
    assert f"invalid value '{value}' for annotation '{name}'" in text
    assert reason in text
    assert f"(expected {BY_NAME[name].rule})" in text
    assert err.location is not None
    assert err.location.pointer == "/metadata/annotations/" + name.replace("/", "~1")


def test_every_problem_is_reported_in_name_order() -> None:
    found = problems(
        {
            "traffic.sidecar.istio.io/excludeInboundPorts": "x",
            "sidecar.istio.io/interceptionMode": "bogus",
            "status.sidecar.istio.io/port": "15020",
        }
    )
    assert [p.name for p in found] == [
        "sidecar.istio.io/interceptionMode",
        "traffic.sidecar.istio.io/excludeInboundPorts",
    ]


def _bad_annotation_cases() -> list[tuple[str, dict[str, str], str]]:
    cases: list[tuple[str, dict[str, str], str]] = []
    if not KIT.is_dir():
        return cases
    for suite in ("modern", "legacy-1.0"):
        folder = KIT / suite / "cases"
        for case in json.loads((folder / "manifest.json").read_text()):
            if case.get("expect_error"):
                doc = yaml.safe_load((folder / case["input"]).read_text())
                annotations = doc["spec"]["template"]["metadata"]["annotations"]
                cases.append((f"{suite}/{case['name']}", annotations, case["expect_error"]))
    return cases


BAD_CASES = _bad_annotation_cases()


@needs_kit
def test_conformance_kit_has_bad_annotation_cases() -> None:
    assert len(BAD_CASES) == 9


@needs_kit
@pytest.mark.parametrize(
    ("annotations", "word"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_conformance_bad_annotations_mention_the_expected_word(
    annotations: dict[str, str], word: str
) -> None:
    with pytest.raises(AnnotationError) as caught:
        validate(annotations)
    assert word in str(caught.value).lower()
