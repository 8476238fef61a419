"""A config is good only if it works: rehearse it on canonical pods before it serves.

A template that parses can still fail when executed (`{{ fail }}`, a nil map index, YAML that
does not parse, a field of the wrong type), and then every pod it meets is denied until the
config is replaced. `rehearse` runs the whole pipeline on a few pods shaped like the ones a
cluster creates, so such a config is refused on load (file, ConfigMap reload, `/validate`)
instead of on the first pod. A policy or template that decides not to inject a canonical pod is
fine: only errors count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidecar_injector import config, inject
from sidecar_injector.errors import InjectorError

Pod = dict[str, Any]

NAMESPACE = "rehearsal"
"""A namespace no policy ignores (Istio ignores kube-system, kube-public, ...)."""

FORCED = {"sidecar.istio.io/inject": "true"}
"""Every canonical pod asks for injection, so a disabled policy still renders them."""


class RehearsalError(config.ConfigError):
    """The config fails for a canonical pod; `pod` names it and `cause` is the pipeline's error."""

    def __init__(self, pod: str, cause: Exception) -> None:
        what = (
            str(cause) if isinstance(cause, InjectorError) else f"{type(cause).__name__}: {cause}"
        )
        super().__init__(
            f"the config fails for the canonical {pod} pod: {what}",
            hint=(
                f"a config serves only once it injects the canonical pods ({_names()}): "
                "fix its templates or values and load it again"
            ),
        )
        self.pod = pod
        self.cause = cause


def _names() -> str:
    return ", ".join(c.name for c in CANONICAL)


@dataclass(frozen=True, slots=True)
class Canonical:
    """One pod of the rehearsal; `build` makes a fresh copy, the pipeline may keep what it gets."""

    name: str
    build: Callable[[], Pod]


def _pod(name: str, spec: Pod, **metadata: Any) -> Pod:
    annotations = {**FORCED, **metadata.pop("annotations", {})}
    meta = {"name": name, "namespace": NAMESPACE, "annotations": annotations, **metadata}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _plain() -> Pod:
    return _pod("plain", {"containers": [{"name": "app", "image": "nginx:1.27"}]})


def _multi_container() -> Pod:
    """A Deployment's pod: owner, generateName, ports, every kind of probe, an init container."""
    web = {
        "name": "web",
        "image": "example.com/web:2.1",
        "ports": [
            {"name": "http", "containerPort": 8080},
            {"containerPort": 8443, "protocol": "TCP"},
            {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10},
        "startupProbe": {"grpc": {"port": 9090}, "failureThreshold": 30},
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
        "env": [{"name": "MODE", "value": "production"}],
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
    }
    worker = {
        "name": "worker",
        "image": "example.com/worker:2.1",
        "ports": [{"name": "grpc", "containerPort": 9090}],
        "livenessProbe": {"exec": {"command": ["/bin/check"]}},
    }
    migrate = {"name": "migrate", "image": "example.com/migrate:2.1", "command": ["migrate"]}
    spec = {
        "serviceAccountName": "web",
        "initContainers": [migrate],
        "containers": [web, worker],
        "volumes": [{"name": "cache", "emptyDir": {}}],
    }
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-5d4f8b9c7",
        "uid": "00000000-0000-4000-8000-000000000001",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return _pod(
        "web-5d4f8b9c7-x2x7q",
        spec,
        generateName="web-5d4f8b9c7-",
        labels={"app": "web", "version": "v2", "pod-template-hash": "5d4f8b9c7"},
        ownerReferences=[owner],
    )


ANNOTATIONS = {
    "proxy.istio.io/config": json.dumps(
        {
            "holdApplicationUntilProxyStarts": True,
            "proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"},
        }
    ),
    "sidecar.istio.io/proxyCPU": "50m",
    "sidecar.istio.io/proxyMemory": "64Mi",
    "sidecar.istio.io/proxyCPULimit": "1",
    "sidecar.istio.io/proxyMemoryLimit": "512Mi",
    "sidecar.istio.io/logLevel": "debug",
    "sidecar.istio.io/componentLogLevel": "misc:error,upstream:debug",
    "sidecar.istio.io/agentLogLevel": "default:debug",
    "sidecar.istio.io/interceptionMode": "REDIRECT",
    "status.sidecar.istio.io/port": "15021",
    "readiness.status.sidecar.istio.io/initialDelaySeconds": "2",
    "readiness.status.sidecar.istio.io/periodSeconds": "5",
    "readiness.status.sidecar.istio.io/failureThreshold": "10",
    "traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8,172.16.0.0/12",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.1/32",
    "traffic.sidecar.istio.io/includeInboundPorts": "8080,9090",
    "traffic.sidecar.istio.io/excludeInboundPorts": "9091",
    "traffic.sidecar.istio.io/excludeOutboundPorts": "3306,5432",
    "sidecar.istio.io/userVolume": json.dumps([{"name": "extra", "emptyDir": {}}]),
    "sidecar.istio.io/userVolumeMount": json.dumps([{"name": "extra", "mountPath": "/extra"}]),
    "prometheus.io/scrape": "true",
    "prometheus.io/port": "9090",
    "prometheus.io/path": "/metrics",
}
"""The annotations users set most; every value passes Istio's validation."""


def _annotated() -> Pod:
    app = {
        "name": "app",
        "image": "example.com/app:1.0",
        "ports": [{"name": "http-metrics", "containerPort": 9090}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 9090}},
    }
    return _pod("annotated", {"containers": [app]}, annotations=dict(ANNOTATIONS))


def _native_sidecar() -> Pod:
    spec = {
        "initContainers": [{"name": "setup", "image": "example.com/setup:1.0"}],
        "containers": [{"name": "app", "image": "example.com/app:1.0"}],
    }
    return _pod("native-sidecar", spec, annotations={"sidecar.istio.io/nativeSidecar": "true"})


CANONICAL: tuple[Canonical, ...] = (
    Canonical("plain", _plain),
    Canonical("multi-container", _multi_container),
    Canonical("annotated", _annotated),
    Canonical("native-sidecar", _native_sidecar),
)


def rehearse(config: config.Config) -> None:
    """Inject every canonical pod with `config`; raise RehearsalError for the first that fails.

    Pure and quick (the pipeline on four small pods); callers run it before a config replaces
    the serving one, and off the event loop like any other injection.
    """
    for canonical in CANONICAL:
        try:
            inject.inject_pod(canonical.build(), namespace=NAMESPACE, config=config)
        except Exception as err:  # any failure means the config does not work
            raise RehearsalError(canonical.name, err) from err
