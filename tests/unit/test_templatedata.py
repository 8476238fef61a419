"""Template data read as Go reads Istio's SidecarTemplateData."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_injector import config
from sidecar_injector.config import ConfigError
from sidecar_injector.gotemplate.printing import format_value
from sidecar_injector.gotemplate.values import Int, Map, Nil, Slice, Struct, go_type_of, is_nil
from sidecar_injector.meshconfig import ProxyConfig
from sidecar_injector.templatedata import WorkloadMeta, build, proxy_image, workload_of

LEGACY = "policy: enabled\ntemplate: 'containers: [[ .Spec ]]'\n"


def field(value: object, *path: str) -> Any:
    for name in path:
        assert isinstance(value, Struct), f"{name}: {value!r} is not a struct"
        value = value.go_field(name)
    return value


def pod(**spec: Any) -> dict[str, Any]:
    meta = spec.pop("metadata", {"name": "web-1", "namespace": "ns"})
    return {"metadata": meta, "spec": spec}


@pytest.fixture(scope="module")
def default() -> config.Config:
    return config.load_default()


def test_top_level_fields_and_types(default: config.Config) -> None:
    data = build(pod(containers=[{"name": "app"}]), config=default, namespace="ns")
    assert data.go_type == "*inject.SidecarTemplateData"
    assert "ProxyInitImage" in data.go_fields and "CompliancePolicy" in data.go_fields
    assert field(data, "Revision") == ""
    assert field(data, "NativeSidecars") is False
    assert field(data, "ProxyUID") == 1337 and go_type_of(field(data, "ProxyUID")) == "int64"
    assert field(data, "InboundTrafficPolicyMode") == "passthrough"
    assert field(data, "CompliancePolicy") == ""
    assert field(data, "Values") is default.values
    assert go_type_of(field(data, "ObjectMeta")) == "v1.ObjectMeta"
    assert go_type_of(field(data, "Spec")) == "v1.PodSpec"


def test_pod_fields_have_go_names_and_go_zero_values(default: config.Config) -> None:
    data = build(pod(containers=[{"name": "app", "ports": [{"containerPort": 80}]}]),
                 config=default, namespace="ns")  # fmt: skip
    spec = field(data, "Spec")
    assert field(spec, "ServiceAccountName") == ""
    assert field(spec, "HostNetwork") is False
    sc = field(spec, "SecurityContext")
    assert isinstance(sc, Nil) and sc.go_type == "*v1.PodSecurityContext" and not sc
    assert is_nil(field(spec, "InitContainers"))
    container = field(spec, "Containers")[0]
    assert field(container, "Name") == "app"
    assert is_nil(field(container, "LivenessProbe"))
    resources = field(container, "Resources")
    assert go_type_of(resources) == "v1.ResourceRequirements" and resources
    assert is_nil(field(resources, "Limits"))
    port = field(container, "Ports")[0]
    assert field(port, "ContainerPort") == Int(80, "int32")
    assert go_type_of(field(port, "ContainerPort")) == "int32"
    assert field(port, "Protocol") == ""
    annotations = field(data, "ObjectMeta", "Annotations")
    assert isinstance(annotations, Map) and annotations.is_nil and annotations.zero == ""
    assert field(data, "ObjectMeta", "Name") == "web-1"


def test_pointers_structs_and_printing(default: config.Config) -> None:
    probe = {"httpGet": {"port": 8080, "path": "/"}, "periodSeconds": 3}
    data = build(
        pod(
            containers=[
                {
                    "name": "app",
                    "readinessProbe": probe,
                    "livenessProbe": {"tcpSocket": {"port": "http"}},
                    "resources": {"limits": {"cpu": "100m", "memory": "1Gi"}},
                    "securityContext": {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
                }
            ]
        ),
        config=default,
        namespace="ns",
    )
    c = field(data, "Spec", "Containers")[0]
    readiness = field(c, "ReadinessProbe")
    assert go_type_of(readiness) == "*v1.Probe"
    assert format_value(field(readiness, "HTTPGet", "Port")) == "8080"
    assert field(readiness, "PeriodSeconds") == 3
    assert format_value(field(c, "LivenessProbe", "TCPSocket", "Port")) == "http"
    assert format_value(field(c, "Resources", "Limits")) == "map[cpu:100m memory:1Gi]"
    assert field(c, "SecurityContext", "RunAsUser") == 0
    assert field(c, "SecurityContext", "Capabilities", "Add") == Slice(["NET_ADMIN"], "[]string")
    assert is_nil(field(c, "SecurityContext", "Privileged"))


def test_proxy_and_mesh_config_are_protobuf_like(default: config.Config) -> None:
    data = build(pod(containers=[]), config=default, namespace="ns")
    pc = field(data, "ProxyConfig")
    assert go_type_of(pc) == "*v1alpha1.ProxyConfig"
    assert format_value(field(pc, "InterceptionMode")) == "REDIRECT"
    assert pc.go_field("InterceptionMode").go_method("String")() == "REDIRECT"
    assert format_value(field(pc, "ControlPlaneAuthPolicy")) == "MUTUAL_TLS"
    assert field(pc, "StatusPort") == 15020
    hold = field(pc, "HoldApplicationUntilProxyStarts")
    assert not hold and hold.go_method("GetValue")() is False
    tracing = pc.go_method("GetTracing")()
    assert not tracing
    assert tracing.go_method("GetTlsSettings")().go_method("GetCaCertificates")() == ""
    assert field(pc, "ProxyMetadata").is_nil
    mesh = field(data, "MeshConfig")
    assert field(mesh, "ProxyListenPort") == 15001
    assert go_type_of(field(mesh, "ProxyListenPort")) == "int32"
    assert field(mesh, "TrustDomain") == "cluster.local"


def test_proxy_config_annotation_applies_over_mesh_default(default: config.Config) -> None:
    annotated = pod(
        metadata={
            "name": "p",
            "annotations": {
                "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true\n"
                "interceptionMode: TPROXY\nproxyMetadata: {A: b}\n"
            },
        }
    )
    pc = field(build(annotated, config=default, namespace="ns"), "ProxyConfig")
    assert field(pc, "HoldApplicationUntilProxyStarts", "Value") is True
    assert format_value(field(pc, "InterceptionMode")) == "TPROXY"
    assert field(pc, "ProxyMetadata") == {"A": "b"}
    assert field(pc, "DiscoveryAddress") == "istiod.istio-system.svc:15012"
    bad = pod(metadata={"name": "p", "annotations": {"proxy.istio.io/config": "drainDuration: x"}})
    with pytest.raises(ConfigError, match=r"proxy\.istio\.io/config.*drainDuration"):
        build(bad, config=default, namespace="ns")


def owned(kind: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{name}-xyz",
            "generateName": f"{name}-",
            "labels": labels or {},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": True}
            ],
        }
    }


@pytest.mark.parametrize(
    ("the_pod", "want"),
    [
        ({"metadata": {"name": "solo"}}, ("solo", "Pod", "v1")),
        (
            owned("ReplicaSet", "web-5d4f", {"pod-template-hash": "5d4f"}),
            ("web", "Deployment", "apps/v1"),
        ),
        (
            owned("ReplicaSet", "web-5d4f", {"pod-template-hash": "other"}),
            ("web-5d4f", "ReplicaSet", "apps/v1"),
        ),
        (
            owned("ReplicaSet", "r-77", {"rollouts-pod-template-hash": "77"}),
            ("r", "Rollout", "v1alpha1"),
        ),
        (
            owned("ReplicationController", "dc-1", {"deploymentconfig": "dc"}),
            ("dc", "DeploymentConfig", "apps/v1"),
        ),
        (owned("Job", "nightly-28000000"), ("nightly", "CronJob", "batch/v1")),
        (owned("Job", "once-123"), ("once-123", "Job", "apps/v1")),
        (owned("StatefulSet", "db"), ("db", "StatefulSet", "apps/v1")),
        (
            {
                "metadata": {
                    "name": "p",
                    "ownerReferences": [{"kind": "ReplicaSet", "name": "x", "controller": True}],
                }
            },
            ("p", "Pod", "v1"),
        ),
    ],
)
def test_workload_from_owner_references(the_pod: dict[str, Any], want: tuple[str, ...]) -> None:
    meta = workload_of(the_pod, namespace="ns")
    assert (meta.name, meta.kind, meta.api_version) == want
    assert meta.namespace == "ns"


def test_workload_override_and_type_meta(default: config.Config) -> None:
    data = build(pod(containers=[]), config=default, namespace="ns",
                 workload=WorkloadMeta("cron", "other", "CronJob", "batch/v1"))  # fmt: skip
    assert field(data, "DeploymentMeta", "Name") == "cron"
    assert field(data, "DeploymentMeta", "Namespace") == "other"
    assert field(data, "TypeMeta", "Kind") == "CronJob"
    assert field(data, "TypeMeta", "APIVersion") == "batch/v1"


@pytest.mark.parametrize(
    ("global_values", "annotations", "image_type", "want"),
    [
        ({"hub": "h", "tag": "1.2"}, {}, None, "h/proxyv2:1.2"),
        ({"hub": "h", "tag": 1.2}, {}, None, "h/proxyv2:1.2"),
        ({"hub": "h", "tag": 1e6}, {}, None, "h/proxyv2:1e+06"),
        ({"hub": "h", "tag": "1.2", "proxy": {"image": "px"}}, {}, None, "h/px:1.2"),
        ({"hub": "h", "tag": "1.2", "variant": "distroless"}, {}, None, "h/proxyv2:1.2-distroless"),
        (
            {"hub": "h", "tag": "1.2-debug", "variant": "distroless"},
            {},
            None,
            "h/proxyv2:1.2-distroless",
        ),
        ({"hub": "h", "tag": "1.2-debug"}, {}, "default", "h/proxyv2:1.2"),
        (
            {"hub": "h", "tag": "1.2", "variant": "debug"},
            {},
            "distroless",
            "h/proxyv2:1.2-distroless",
        ),
        (
            {"hub": "h", "tag": "1.2"},
            {"sidecar.istio.io/proxyImageType": "debug"},
            "distroless",
            "h/proxyv2:1.2-debug",
        ),
    ],
)
def test_proxy_image_composition(
    global_values: dict[str, Any], annotations: dict[str, str], image_type: str | None, want: str
) -> None:
    pc = config.load().mesh.default_config
    if image_type is not None:
        pc = ProxyConfig({**pc.data, "image": {"imageType": image_type}})
    assert proxy_image({"global": global_values}, pc, annotations) == want


def test_switches_from_env_and_mesh() -> None:
    cfg = config.load(
        env={"ENABLE_NATIVE_SIDECARS": "true", "COMPLIANCE_POLICY": "fips-140-3"},
        mesh="inboundTrafficPolicy: {mode: LOCALHOST}",
        revision="canary",
    )
    data = build(pod(containers=[]), config=cfg, namespace="ns")
    assert field(data, "NativeSidecars") is True
    assert field(data, "CompliancePolicy") == "fips-140-3"
    assert field(data, "InboundTrafficPolicyMode") == "localhost"
    assert field(data, "Revision") == "canary"
    auto = config.load(env={"ENABLE_NATIVE_SIDECARS": "auto"})
    assert field(build(pod(), config=auto, namespace="ns"), "NativeSidecars") is False
    assert field(build(pod(), config=auto, namespace="ns", native=True), "NativeSidecars") is True


def test_legacy_configs_see_the_1_0_field_set() -> None:
    cfg = config.load(config=LEGACY, mesh="defaultConfig: {concurrency: 0, drainDuration: 2s}")
    data = build(pod(serviceAccountName="sa"), config=cfg, namespace="ns")
    assert data.go_fields == ("ObjectMeta", "Spec", "ProxyConfig", "MeshConfig")
    assert go_type_of(field(data, "ObjectMeta")) == "*v1.ObjectMeta"
    assert field(data, "Spec", "ServiceAccountName") == "sa"
    concurrency = field(data, "ProxyConfig", "Concurrency")
    assert concurrency == 0 and go_type_of(concurrency) == "int32"
    drain = field(data, "ProxyConfig", "DrainDuration")
    assert drain.go_method("AsDuration")().String() == "2s"
