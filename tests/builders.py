"""Builders for test inputs: a pod as the API server would send it, without pasting JSON."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

Pod = dict[str, Any]


def container(name: str, *, image: str | None = None, **fields: Any) -> dict[str, Any]:
    """A container; `fields` use the Kubernetes JSON names (`volumeMounts=[...]`)."""
    return {"name": name, "image": image or f"example.com/{name}:1.0", **fields}


def pod(
    *,
    name: str = "app",
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    containers: Iterable[str | dict[str, Any]] = ("app",),
    init_containers: Iterable[str | dict[str, Any]] = (),
    volumes: Iterable[dict[str, Any]] = (),
    host_network: bool | None = None,
    **spec: Any,
) -> Pod:
    """A Pod dict; names in `containers`/`init_containers` become `container(name)`."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = dict(labels)
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    body: dict[str, Any] = {"containers": [_as_container(c) for c in containers]}
    inits = [_as_container(c) for c in init_containers]
    if inits:
        body["initContainers"] = inits
    if volumes:
        body["volumes"] = [dict(v) for v in volumes]
    if host_network is not None:
        body["hostNetwork"] = host_network
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def probed_pod() -> Pod:
    """A pod that takes every step that changes a pod in place: the typed round trip
    (quantities, an int-or-string port), the post-processing (probes and a lifecycle hook
    rewritten, Prometheus annotations merged), to catch any change made where it is shared."""
    probe = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5}
    app = container(
        "app",
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe=probe,
        livenessProbe=copy.deepcopy(probe),
        lifecycle={"preStop": {"httpGet": {"path": "/stop", "port": 8080}}},
        resources={"limits": {"cpu": "0.5", "memory": "1Gi"}, "requests": {"cpu": "250m"}},
        env=[{"name": "A", "value": "1"}],
    )
    return pod(
        labels={"app": "web"},
        annotations={"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
        containers=[app],
    )


def _as_container(item: str | dict[str, Any]) -> dict[str, Any]:
    return container(item) if isinstance(item, str) else dict(item)


def sidecar_overlay(*, proxy_env: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """A rendered template in the shape of Istio's default `sidecar` (classic layout)."""
    env = [{"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"}]
    env += [{"name": name, "value": value} for name, value in proxy_env]
    return {
        "metadata": {
            "labels": {
                "security.istio.io/tlsMode": "istio",
                "service.istio.io/canonical-name": "app",
                "service.istio.io/canonical-revision": "latest",
            },
            "annotations": {
                "istio.io/rev": "default",
                "kubectl.kubernetes.io/default-container": "app",
                "kubectl.kubernetes.io/default-logs-container": "app",
            },
        },
        "spec": {
            "initContainers": [
                {
                    "name": "istio-init",
                    "image": "docker.io/istio/proxyv2:1.24.0",
                    "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337"],
                    "resources": {"requests": {"cpu": "10m"}},
                    "securityContext": {
                        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                        "runAsUser": 0,
                        "runAsNonRoot": False,
                    },
                }
            ],
            "containers": [
                {
                    "name": "istio-proxy",
                    "image": "docker.io/istio/proxyv2:1.24.0",
                    "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                    "ports": [
                        {"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}
                    ],
                    "env": env,
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    "volumeMounts": [
                        {
                            "mountPath": "/var/run/secrets/workload-spiffe-uds",
                            "name": "workload-socket",
                        },
                        {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
                    ],
                    "securityContext": {"runAsUser": 1337, "runAsGroup": 1337},
                }
            ],
            "volumes": [
                {"name": "workload-socket", "emptyDir": None},
                {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
            ],
        },
    }
