"""The pipeline's post-processing in Istio's order, on the bundled default config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar_injector import config, inject
from tests.builders import container, pod


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


def proxy_env(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    spec = result["spec"]
    proxy = next(
        c
        for kind in ("initContainers", "containers")
        for c in spec.get(kind) or ()
        if c["name"] == inject.PROXY_NAME
    )
    return [(e["name"], e.get("value")) for e in proxy.get("env") or ()]


def app_pod(**annotations: str) -> dict[str, Any]:
    hello = container(
        "hello",
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe={"httpGet": {"port": "http"}, "initialDelaySeconds": 0},
        resources={"limits": {"cpu": "2000m", "memory": "1024Mi"}},
    )
    return pod(annotations={"prometheus.io/port": "9090", **annotations}, containers=[hello])


def test_prometheus_then_probers_are_the_last_proxy_env_vars(
    default_config: config.Config,
) -> None:
    result = inject.inject_pod(app_pod(), namespace="default", config=default_config).pod
    names = [name for name, _ in proxy_env(result)]
    assert names[-2:] == ["ISTIO_PROMETHEUS_ANNOTATIONS", "ISTIO_KUBE_APP_PROBERS"]
    values = dict(proxy_env(result))
    assert json.loads(values["ISTIO_PROMETHEUS_ANNOTATIONS"] or "") == {"port": "9090"}
    assert json.loads(values["ISTIO_KUBE_APP_PROBERS"] or "") == {
        "/app-health/hello/readyz": {"httpGet": {"port": 8080}}
    }
    annotations = result["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "15020"


def test_the_merged_pod_has_go_typed_form(default_config: config.Config) -> None:
    result = inject.inject_pod(app_pod(), namespace="default", config=default_config).pod
    hello = next(c for c in result["spec"]["containers"] if c["name"] == "hello")
    assert hello["resources"] == {"limits": {"cpu": "2", "memory": "1Gi"}}
    assert hello["readinessProbe"] == {
        "httpGet": {"port": 15020, "path": "/app-health/hello/readyz"}
    }


def test_injecting_twice_gives_the_same_pod(default_config: config.Config) -> None:
    once = inject.inject_pod(app_pod(), namespace="default", config=default_config).pod
    twice = inject.inject_pod(once, namespace="default", config=default_config).pod
    assert twice == once


def test_switches_off_leave_probes_and_prometheus_alone(default_config: config.Config) -> None:
    given = app_pod(
        **{
            "prometheus.istio.io/merge-metrics": "false",
            "sidecar.istio.io/rewriteAppHTTPProbers": "false",
        }
    )
    result = inject.inject_pod(given, namespace="default", config=default_config).pod
    names = [name for name, _ in proxy_env(result)]
    assert "ISTIO_PROMETHEUS_ANNOTATIONS" not in names
    assert "ISTIO_KUBE_APP_PROBERS" not in names
    assert result["metadata"]["annotations"]["prometheus.io/port"] == "9090"
    hello = next(c for c in result["spec"]["containers"] if c["name"] == "hello")
    assert hello["readinessProbe"] == {"httpGet": {"port": "http"}}


def test_the_request_pod_is_read_in_go_typed_form(default_config: config.Config) -> None:
    """The saved user overrides hold what Go decoded: `3000m` is `3`."""
    own_proxy = container(inject.PROXY_NAME, image="auto", resources={"limits": {"cpu": "3000m"}})
    given = pod(containers=["hello", own_proxy])
    result = inject.inject_pod(given, namespace="default", config=default_config).pod
    overrides = json.loads(result["metadata"]["annotations"]["proxy.istio.io/overrides"])
    assert overrides["containers"][0]["resources"] == {"limits": {"cpu": "3"}}
    assert given["spec"]["containers"][1]["resources"] == {"limits": {"cpu": "3000m"}}


@pytest.mark.parametrize(
    ("policy", "warned"),
    [(None, False), ("ClusterFirst", False), ("Default", True), ("None", True)],
)
def test_a_dns_policy_other_than_cluster_first_is_a_warning(
    default_config: config.Config, policy: str | None, warned: bool
) -> None:
    p = app_pod()
    if policy is not None:
        p["spec"]["dnsPolicy"] = policy
    result = inject.inject_pod(p, namespace="shop", config=default_config)
    assert result.decision.inject
    dns = [w for w in result.warnings if w.startswith("dnsPolicy is")]
    assert bool(dns) is warned
