"""Properties of injection for generated pods and a fixed, realistic sidecar overlay."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from sidecar_injector.merge import (
    INJECTOR_ANNOTATIONS,
    INJECTOR_LABELS,
    merge_sidecar,
    strip,
    uninject,
)
from sidecar_injector.patch import apply_patch, make_patch
from tests.builders import container, pod, sidecar_overlay

CLASSIC = sidecar_overlay(proxy_env=[("ISTIO_META_MESH_ID", "cluster.local")])


def _native(overlay: dict[str, Any]) -> dict[str, Any]:
    """The same sidecar as a native one: the proxy among init containers, restartPolicy Always."""
    native: dict[str, Any] = json.loads(json.dumps(overlay))
    proxy = native["spec"].pop("containers")[0]
    native["spec"]["initContainers"].append({**proxy, "restartPolicy": "Always"})
    return native


NATIVE = _native(CLASSIC)
SIDECAR_NAMES = {"istio-proxy", "istio-init", "workload-socket", "istio-envoy"}
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

dns_label = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", max_size=8),
).filter(lambda n: n not in SIDECAR_NAMES)
label_key = st.sampled_from(
    ["app", "tier", "version", "example.com/team", "sidecar.istio.io/inject"]
)
label_value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
env_name = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=6).filter(
    lambda n: not n.startswith("_")
)
annotation_key = st.sampled_from(["note", "example.com/owner", "prometheus.io/scrape"])
quantity = st.sampled_from(["100m", "1", "250m", "64Mi", "1Gi"])


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["requests", "limits"]))
    return {kind: {"cpu": draw(quantity)}}


@st.composite
def containers(
    draw: st.DrawFn, name: str, *, volumes: list[str], image: str | None = None
) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image or f"example.com/{name}:1"}
    if draw(st.booleans()):
        ports = draw(st.lists(st.integers(1, 15000), min_size=1, max_size=3, unique=True))
        c["ports"] = [{"containerPort": p} for p in ports]
    if draw(st.booleans()):
        env_names = draw(st.lists(env_name, max_size=3, unique=True))
        c["env"] = [{"name": n, "value": draw(label_value)} for n in env_names] or None
    if draw(st.booleans()) and volumes:
        mounted = draw(st.lists(st.sampled_from(volumes), min_size=1, unique=True))
        c["volumeMounts"] = [{"name": v, "mountPath": f"/mnt/{v}"} for v in mounted]
    if draw(st.booleans()):
        c["resources"] = draw(resources())
    if draw(st.booleans()):
        c["args"] = draw(st.lists(label_value, min_size=1, max_size=3))
    return {k: v for k, v in c.items() if v is not None}


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    volume_names = draw(st.lists(dns_label, max_size=3, unique=True))
    names = draw(st.lists(dns_label, min_size=1, max_size=5, unique=True))
    split = draw(st.integers(0, min(2, len(names) - 1)))
    spec: dict[str, Any] = {
        "containers": [draw(containers(n, volumes=volume_names)) for n in names[split:]]
    }
    if split:
        spec["initContainers"] = [draw(containers(n, volumes=volume_names)) for n in names[:split]]
    if volume_names:
        spec["volumes"] = [{"name": v, "emptyDir": {}} for v in volume_names]
    if draw(st.booleans()):
        proxy = draw(
            containers(
                "istio-proxy",
                volumes=volume_names,
                image=draw(st.sampled_from(["auto", "my/proxy:1"])),
            )
        )
        if draw(st.booleans()):
            proxy["securityContext"] = {"runAsUser": draw(st.integers(1, 65535))}
        spec["containers"].append(proxy)
    if draw(st.booleans()):
        spec["imagePullSecrets"] = [{"name": draw(dns_label)}]
    metadata: dict[str, Any] = {"name": draw(dns_label), "namespace": draw(dns_label)}
    labels = draw(st.dictionaries(label_key, label_value, max_size=3))
    if labels:
        metadata["labels"] = labels
    annotations = draw(st.dictionaries(annotation_key, label_value, max_size=2))
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


@functools.cache
def pod_schema() -> jsonschema.Validator:
    """kubernetes-validate's strict 1.29 Pod schema, loaded once (its `validate` reloads it)."""
    folder = "kubernetes-json-schema/v1.29.0-local-strict"
    schema = schema_contents(f"{folder}/pod-v1.json", "1.29.0")
    definitions = schema_contents(f"{folder}/_definitions.json", "1.29.0")
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


SAMPLE = pod(containers=["app", container("istio-proxy", image="auto")], volumes=[{"name": "d"}])


def inject(p: dict[str, Any], overlay: dict[str, Any] = CLASSIC) -> dict[str, Any]:
    return merge_sidecar(p, [overlay]).pod


def has_user_proxy(p: dict[str, Any]) -> bool:
    return any(c["name"] == "istio-proxy" for c in p["spec"]["containers"])


def same(a: Any, b: Any) -> bool:
    """Equal as JSON documents: unlike `==`, `1`, `1.0` and `true` differ; key order does not."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@SETTINGS
@given(pods(), st.sampled_from([CLASSIC, NATIVE]))
def test_injection_properties(p: dict[str, Any], overlay: dict[str, Any]) -> None:
    """One generated pod, every property: generating pods costs more than checking them."""
    m = inject(p, overlay)
    # the admission patch, applied to the raw request pod, gives the injected pod
    assert same(apply_patch(p, make_patch(p, m)), m)
    # re-injection is idempotent (the status annotation says what to strip)
    assert same(inject(m, overlay), m)
    if not has_user_proxy(p):
        # With a user istio-proxy, Istio's order of merging (template, then the user's
        # container) puts the user's own env entries first on a fresh merge but last when
        # merged onto the injected pod, so this form only holds without one.
        assert same(inject(strip(m), overlay), m)
    # uninject restores the original
    assert same(uninject(m), p)
    # the injected pod is a valid Pod for Kubernetes 1.29
    pod_schema().validate(m)


def test_the_cached_schema_is_kubernetes_validates() -> None:
    m = inject(SAMPLE)
    assert kubernetes_validate.validate(m, "1.29.0", strict=True) == "1.29"
    pod_schema().validate(m)
    broken = {**m, "spec": {**m["spec"], "containers": [{"name": "x", "bogus": 1}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.29.0", strict=True)
    with pytest.raises(jsonschema.ValidationError):
        pod_schema().validate(broken)


def test_generated_pods_avoid_injector_owned_keys() -> None:
    # uninject drops these keys; the generator must not use them, or the property is void.
    assert not set(INJECTOR_LABELS) & {"app", "tier", "version", "example.com/team"}
    assert not set(INJECTOR_ANNOTATIONS) & {"note", "example.com/owner", "prometheus.io/scrape"}
