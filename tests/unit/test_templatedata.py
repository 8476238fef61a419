"""Template data read as Go reads Istio's SidecarTemplateData."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from sidecar_injector import config, gotemplate
from sidecar_injector.config import ConfigError
from sidecar_injector.gotemplate.printing import format_value
from sidecar_injector.gotemplate.values import Int, Map, Nil, Slice, Struct, go_type_of, is_nil
from sidecar_injector.istio_funcs import FUNCS, LEGACY_FUNCS
from sidecar_injector.meshconfig import ProxyConfig
from sidecar_injector.templatedata import WorkloadMeta, build, proxy_image, workload_of
from tests.conftest import KIT, needs_kit

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
                    "resources": {"limits": {"cpu": "2000m", "memory": "1024Mi"}},
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
    assert format_value(field(c, "Resources", "Limits")) == "map[cpu:2 memory:1Gi]"
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
    new, old = {"n1": "v1.33.1", "n2": "v1.34.0"}, {"n1": "v1.33.1", "n2": "v1.32.5"}
    assert field(build(pod(), config=auto, namespace="ns", kubelet_versions=new), "NativeSidecars")
    assert not field(
        build(pod(), config=auto, namespace="ns", kubelet_versions=old), "NativeSidecars"
    )
    on_n1 = pod(nodeName="n1")
    assert field(build(on_n1, config=auto, namespace="ns", kubelet_versions=old), "NativeSidecars")
    off = config.load(env={"ENABLE_NATIVE_SIDECARS": "false"})
    assert not field(
        build(pod(), config=off, namespace="ns", kubelet_versions=new), "NativeSidecars"
    )


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


ORACLE_POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {"name": "app", "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "side"},
        ]
    },
}
# The same pod as Go's typed structs hold it, spelled out as JSON for the oracle.
ORACLE_GO_VIEW: dict[str, Any] = {
    "ObjectMeta": {"Name": "web-1", "Labels": {"app": "web"}, "Annotations": {}},
    "Spec": {
        "ServiceAccountName": "",
        "HostNetwork": False,
        "InitContainers": [],
        "Containers": [
            {"Name": "app", "Ports": [{"ContainerPort": 80, "Name": "http", "Protocol": ""}]},
            {"Name": "side", "Ports": []},
        ],
    },
    "DeploymentMeta": {"Name": "web-1", "Namespace": "ns"},
    "TypeMeta": {"Kind": "Pod", "APIVersion": "v1"},
    "ProxyUID": 1337,
    "Revision": "",
    "NativeSidecars": False,
    "ProxyConfig": {"InterceptionMode": "REDIRECT", "StatusPort": 15020},
    "MeshConfig": {"ProxyListenPort": 15001, "TrustDomain": "cluster.local"},
}


@pytest.mark.oracle
@pytest.mark.parametrize(
    "template",
    [
        "{{ .Spec.ServiceAccountName }}|{{ .Spec.HostNetwork }}|{{ len .Spec.Containers }}",
        "{{ range .Spec.Containers }}{{ .Name }}:{{ range .Ports }}{{ .ContainerPort }}"
        "/{{ .Protocol }}/{{ .Name }},{{ end }};{{ end }}",
        '{{ index .ObjectMeta.Labels "app" }}|{{ index .ObjectMeta.Labels "app" | quote }}',
        "{{ len .ObjectMeta.Annotations }}|{{ .ObjectMeta.Annotations }}|{{ .ObjectMeta.Labels }}",
        "{{ if .Spec.InitContainers }}init{{ else }}none{{ end }}"
        "{{ range .Spec.InitContainers }}x{{ else }}-empty{{ end }}",
        "{{ .DeploymentMeta.Name }} {{ .DeploymentMeta.Namespace }} {{ .TypeMeta.Kind }} "
        "{{ .TypeMeta.APIVersion }} {{ .ProxyUID }} {{ .Revision | default `default` }}",
        "{{ .ProxyConfig.InterceptionMode }} {{ .ProxyConfig.StatusPort }} "
        "{{ .MeshConfig.ProxyListenPort }} {{ .MeshConfig.TrustDomain }} {{ .NativeSidecars }}",
        '{{ if eq .Spec.ServiceAccountName "" }}istio.default{{ end }}'
        "{{ gt .ProxyConfig.StatusPort 0 }}",
        "{{ (index .Spec.Containers 0).Name }} {{ printf `%d` .ProxyUID }}",
    ],
)
def test_template_data_reads_as_go_does(template: str, go_oracle: Any) -> None:
    cfg = config.load_default()
    ours = cfg_render(template, build(ORACLE_POD, config=cfg, namespace="ns"))
    theirs = go_oracle.render(template, ORACLE_GO_VIEW, sprig=True, numbers="int")
    assert ours == theirs["output"]


@pytest.mark.oracle
@pytest.mark.parametrize(
    "template",
    [
        "{{ .Values.global.proxy.statusPort }} {{ .Values.n }} {{ .Values.missing }}",
        "{{ .Values.global.proxy.statusPort | printf `%v` }} {{ .Values.global.hub }}",
        "{{ if .Values.global.proxy.privileged }}yes{{ else }}no{{ end }}",
    ],
)
def test_values_are_float64_maps(template: str, go_oracle: Any) -> None:
    values = {"global": {"hub": "h", "proxy": {"statusPort": 15020, "privileged": False}}, "n": 1e6}
    cfg = config.load(values=json.dumps(values))
    ours = cfg_render(template, build(ORACLE_POD, config=cfg, namespace="ns"))
    theirs = go_oracle.render(template, {"Values": values}, sprig=True)
    assert ours == theirs["output"]


def cfg_render(template: str, data: object) -> str:
    return str(gotemplate.parse(template, funcs=FUNCS, sprig=True).execute(data))


def test_typed_structs_print_as_go_prints_them(default: config.Config) -> None:
    data = build(ORACLE_POD, config=default, namespace="ns")
    out = cfg_render("{{ (index .Spec.Containers 0).Ports }}|{{ .DeploymentMeta }}", data)
    assert out == "[{http 0 80  }]|ns/web-1"
    # a missing key of a map[string]string is "" (a JSON map would give <no value>)
    missing = '{{ index .ObjectMeta.Annotations "x" }}|{{ index .ObjectMeta.Labels "x" }}|'
    assert cfg_render(missing + "{{ .ObjectMeta.Annotations }}", data) == "||map[]"


def render_with(cfg: config.Config, template: str, the_pod: dict[str, Any]) -> str:
    legacy = cfg.injection.format == "legacy"
    parsed = gotemplate.parse(
        template,
        funcs=LEGACY_FUNCS if legacy else FUNCS,
        delims=("[[", "]]") if legacy else ("{{", "}}"),
    )
    return str(parsed.execute(build(the_pod, config=cfg, namespace="ns")))


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("{{ if .ProxyConfig.GetTracing }}T{{ else }}F{{ end }}", "F"),
        ("{{ .ProxyConfig.GetTracing.GetTlsSettings.GetCaCertificates | directory }}|", "|"),
        ("{{ and true .ProxyConfig.GetTracing.GetTlsSettings }}", "<nil>"),
        ("{{ .ProxyConfig.HoldApplicationUntilProxyStarts.GetValue }}", "false"),
        ("{{ if .ProxyConfig.Concurrency }}set{{ else }}unset{{ end }}", "unset"),
        (
            "{{ .ProxyConfig.InterceptionMode }} {{ .ProxyConfig.InterceptionMode.String }}",
            "REDIRECT REDIRECT",
        ),
        ("{{ if .ProxyConfig.InterceptionMode }}x{{ else }}zero enum{{ end }}", "zero enum"),
        (
            "{{ .ProxyConfig.DrainDuration | formatDuration }} "
            "{{ formatDuration .ProxyConfig.ParentShutdownDuration }}",
            "45s 0s",
        ),
        ("{{ protoToJSON .ProxyConfig }}", "{}"),
        (
            "{{ .MeshConfig.ProxyListenPort | default 15001 }} "
            "{{ .MeshConfig.InboundTrafficPolicy }}",
            "15001 <nil>",
        ),
        ("{{ .ProxyConfig.ProxyMetadata }} {{ len .ProxyConfig.ProxyMetadata }}", "map[] 0"),
    ],
)  # fmt: skip
def test_protobuf_views_through_the_engine(template: str, want: str) -> None:
    assert render_with(config.load(), template, pod()) == want


def test_proxy_config_annotation_through_the_engine() -> None:
    annotated = pod(
        metadata={
            "name": "p",
            "annotations": {
                "proxy.istio.io/config": "concurrency: 0\nholdApplicationUntilProxyStarts: true\n"
                "tracing: {}\nproxyMetadata: {B: '2', A: '1'}"
            },
        }
    )
    template = (
        "{{ if .ProxyConfig.Concurrency }}c={{ .ProxyConfig.Concurrency.GetValue }}{{ end }} "
        "{{ .ProxyConfig.HoldApplicationUntilProxyStarts.GetValue }} "
        "{{ if .ProxyConfig.GetTracing }}tracing{{ end }} "
        "{{ range $k, $v := .ProxyConfig.ProxyMetadata }}{{ $k }}={{ $v }};{{ end }} "
        "{{ protoToJSON .ProxyConfig }}"
    )
    assert render_with(config.load(), template, annotated) == (
        'c=0 true tracing A=1;B=2; {"concurrency":0,"tracing":{},'
        '"proxyMetadata":{"A":"1","B":"2"},"holdApplicationUntilProxyStarts":true}'
    )


def test_legacy_1_0_idioms_through_the_engine() -> None:
    cfg = config.load(
        config=LEGACY,
        mesh="defaultConfig: {concurrency: 2, controlPlaneAuthPolicy: NONE, drainDuration: 2s}",
    )
    the_pod = pod(
        containers=[{"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 8080}]}],
        metadata={"name": "p", "labels": {"app": "hello"}},
    )
    template = (
        "[[ if gt .ProxyConfig.Concurrency 0 ]]c=[[ .ProxyConfig.Concurrency ]][[ end ]] "
        "[[ .ProxyConfig.ControlPlaneAuthPolicy ]] "
        '[[ or (index .ObjectMeta.Annotations "x") .ProxyConfig.InterceptionMode.String ]] '
        "[[ formatDuration .ProxyConfig.DrainDuration ]] [[ .MeshConfig.ProxyListenPort ]] "
        "[[ range .Spec.Containers -]][[ range .Ports -]][[ .ContainerPort -]], [[ end -]][[ end ]]"
        '[[ if eq .Spec.ServiceAccountName "" ]]istio.default[[ end ]] '
        '[[ index .ObjectMeta.Labels "app" ]] [[ toJson .ObjectMeta.Annotations ]]'
    )
    assert render_with(cfg, template, the_pod) == (
        "c=2 NONE REDIRECT 2s 15001 80, 8080, istio.default hello {}"
    )


def kit_pods(suite: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    for path in sorted((KIT / suite / "cases").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict):
                continue
            spec = doc.get("spec") or {}
            template = doc if doc.get("kind") == "Pod" else spec.get("template")
            if doc.get("kind") == "CronJob":
                template = spec["jobTemplate"]["spec"]["template"]
            if isinstance(template, dict):
                pods.append(template)
    return pods


@needs_kit
@pytest.mark.parametrize("suite", ["modern", "legacy-1.0"])
def test_kit_sidecar_templates_render_valid_yaml_for_every_kit_pod(suite: str) -> None:
    folder = KIT / suite / "config"
    cfg = config.load_files(
        config=folder / "config.yaml",
        values=folder / "values.json",
        mesh=folder / "mesh.yaml",
        env={"ENABLE_NATIVE_SIDECARS": "true"},
    )
    pods = kit_pods(suite)
    assert len(pods) > 25
    for the_pod in pods[:: 4 if suite == "modern" else 1]:
        rendered = yaml.load(
            cfg.injection.templates["sidecar"].execute(build(the_pod, config=cfg, namespace="ns")),
            Loader=yaml.CSafeLoader,
        )
        spec = rendered["spec"] if suite == "modern" else rendered
        names = [c["name"] for c in spec.get("containers") or []]
        names += [c["name"] for c in spec.get("initContainers") or []]
        assert "istio-proxy" in names


def test_embedded_default_renders_istio_shaped_sidecar() -> None:
    cfg = config.load_default()
    the_pod = {
        "metadata": {"name": "web-1", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]},
    }
    out = yaml.safe_load(cfg.injection.templates["sidecar"].execute(
        build(the_pod, config=cfg, namespace="ns")))  # fmt: skip
    init = out["spec"]["initContainers"][0]
    assert init["name"] == "istio-init"
    assert init["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    proxy = out["spec"]["containers"][0]
    assert proxy["name"] == "istio-proxy"
    assert proxy["image"].startswith("docker.io/istio/proxyv2:")
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["ISTIO_META_POD_PORTS"] == '[\n    {"containerPort":8080}\n]'
    assert env["PROXY_CONFIG"] == "{}\n"
    assert env["ISTIO_META_APP_CONTAINERS"] == "app"
    volumes = {v["name"] for v in out["spec"]["volumes"]}
    assert {
        "istio-envoy",
        "istio-data",
        "istio-podinfo",
        "istio-token",
        "istiod-ca-cert",
    } <= volumes
    assert out["metadata"]["labels"]["service.istio.io/canonical-name"] == "web"
    native = config.load(env={"ENABLE_NATIVE_SIDECARS": "true"})
    out = yaml.safe_load(native.injection.templates["sidecar"].execute(
        build(the_pod, config=native, namespace="ns")))  # fmt: skip
    assert [c["name"] for c in out["spec"]["initContainers"]] == ["istio-init", "istio-proxy"]
    assert out["spec"]["initContainers"][1]["restartPolicy"] == "Always"
    assert "containers" not in out["spec"]


def test_single_curly_template_configs_see_the_1_3_to_1_8_field_set() -> None:
    cfg = config.load(
        config="template: 'x: {{ .Values.global.hub }}'", values='{"global": {"hub": "h"}}'
    )
    the_pod = owned("ReplicaSet", "web-5d4f", {"pod-template-hash": "5d4f"})
    data = build(the_pod, config=cfg, namespace="ns")
    assert data.go_fields == (
        "TypeMeta", "DeploymentMeta", "ObjectMeta", "Spec", "ProxyConfig", "MeshConfig", "Values",
    )  # fmt: skip
    assert cfg.injection.templates["sidecar"].execute(data) == "x: h"
    assert field(data, "DeploymentMeta", "Name") == "web"
    assert go_type_of(field(data, "DeploymentMeta")) == "*v1.ObjectMeta"
    assert field(data, "TypeMeta", "Kind") == "Deployment"
    one_oh = config.load(config="template: 'x: [[ .Values ]]'")
    with pytest.raises(gotemplate.ExecError, match="can't evaluate field Values"):
        one_oh.injection.templates["sidecar"].execute(build(the_pod, config=one_oh, namespace="ns"))
