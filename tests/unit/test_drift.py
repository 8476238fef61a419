"""Drift of stored pods against the current config, from a pod a real kube-apiserver stored.

`data/kube-1.20-injected-pod.json` is a pod injected by `serve` with the embedded config and
read back from kube-apiserver 1.20 (managedFields removed): it carries every default the API
server fills in, so a comparison that does not account for them calls it stale.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sidecar_injector import config, drift, merge, storedpod
from tests import builders

STORED = json.loads((Path(__file__).parent / "data" / "kube-1.20-injected-pod.json").read_text())
NAMESPACE = "e2e-labelled"


def values_text() -> str:
    return (resources.files("sidecar_injector") / "defaults" / "values.yaml").read_text()


def config_text() -> str:
    return (resources.files("sidecar_injector") / "defaults" / "config.yaml").read_text()


@pytest.fixture(scope="module")
def current() -> config.Config:
    return config.load()


def stored(**changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = copy.deepcopy(STORED)
    pod["metadata"].update(changes)
    return pod


def owned_by_replicaset(pod: dict[str, Any], name: str = "web-5d4f8") -> dict[str, Any]:
    pod["metadata"]["generateName"] = f"{name}-"
    pod["metadata"].setdefault("labels", {})["pod-template-hash"] = name.rpartition("-")[2]
    pod["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": name,
            "uid": "u",
            "controller": True,
        }
    ]
    return pod


def test_a_stored_pod_injected_by_the_same_config_is_up_to_date(current: config.Config) -> None:
    verdict = drift.pod_drift(STORED, namespace=NAMESPACE, config=current)
    assert verdict is not None
    assert (verdict.state, verdict.differences) == ("current", ())


def test_without_the_api_servers_defaults_every_pod_would_be_stale(
    current: config.Config,
) -> None:
    from sidecar_injector import inject

    expected = inject.inject_pod(
        storedpod.as_admitted(STORED), namespace=NAMESPACE, config=current
    ).pod
    naive = drift.differences(STORED, expected)
    assert "istio-proxy.terminationMessagePath: /dev/termination-log -> (none)" in naive
    assert "volumes[istio-podinfo].downwardAPI.defaultMode: 420 -> (none)" in naive


def test_a_changed_proxy_limit_is_stale_with_the_exact_difference() -> None:
    changed = config.load(values=values_text().replace("cpu: 2000m", "cpu: 1"))
    verdict = drift.pod_drift(STORED, namespace=NAMESPACE, config=changed)
    assert verdict is not None
    assert verdict.state == "stale"
    assert verdict.differences == ("istio-proxy.resources.limits.cpu: 2 -> 1",)


def test_a_changed_image_and_probe_threshold_are_both_named() -> None:
    text = values_text().replace("failureThreshold: 600", "failureThreshold: 30")
    text = text.replace("hub: docker.io/istio", "hub: registry.example/istio")
    verdict = drift.pod_drift(STORED, namespace=NAMESPACE, config=config.load(values=text))
    assert verdict is not None
    assert "istio-proxy.startupProbe.failureThreshold: 600 -> 30" in verdict.differences
    images = [d for d in verdict.differences if d.startswith("istio-proxy.image:")]
    assert images == [
        "istio-proxy.image: docker.io/istio/proxyv2:1.24.0 -> registry.example/istio/proxyv2:1.24.0"
    ]
    assert any(d.startswith("istio-init.image:") for d in verdict.differences)


def test_a_pod_admitted_without_its_sidecar_is_missing(current: config.Config) -> None:
    pod = owned_by_replicaset(merge.uninject(STORED))
    verdict = drift.pod_drift(pod, namespace=NAMESPACE, config=current)
    assert verdict == drift.PodDrift(
        "app-0", drift.Owner("Deployment", NAMESPACE, "web"), "missing"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"labels": {"sidecar.istio.io/inject": "false"}},
        {"annotations": {"sidecar.istio.io/inject": "false"}},
    ],
)
def test_an_opted_out_pod_without_a_sidecar_is_not_drift(
    current: config.Config, change: dict[str, Any]
) -> None:
    pod = merge.uninject(STORED)
    for key, values in change.items():
        pod["metadata"].setdefault(key, {}).update(values)
    assert drift.pod_drift(pod, namespace=NAMESPACE, config=current) is None


def test_host_network_ignored_namespaces_and_ended_pods_are_not_drift(
    current: config.Config,
) -> None:
    bare = merge.uninject(STORED)
    host = copy.deepcopy(bare)
    host["spec"]["hostNetwork"] = True
    assert drift.pod_drift(host, namespace=NAMESPACE, config=current) is None
    assert drift.pod_drift(bare, namespace="kube-system", config=current) is None
    done = {**bare, "status": {"phase": "Succeeded"}}
    assert drift.pod_drift(done, namespace=NAMESPACE, config=current) is None
    going = stored(deletionTimestamp="2026-01-01T00:00:00Z")
    assert drift.pod_drift(going, namespace=NAMESPACE, config=current) is None


def test_an_owner_template_that_opts_out_now_is_not_drift(current: config.Config) -> None:
    pod = owned_by_replicaset(merge.uninject(STORED))
    template = {"labels": {}, "annotations": {"sidecar.istio.io/inject": "false"}}
    assert drift.pod_drift(pod, namespace=NAMESPACE, config=current, template=template) is None
    opted_in: dict[str, Any] = {"labels": {}, "annotations": {}}
    verdict = drift.pod_drift(pod, namespace=NAMESPACE, config=current, template=opted_in)
    assert verdict is not None and verdict.state == "missing"


def test_an_injected_pod_the_config_no_longer_injects_is_stale() -> None:
    disabled = config.load(config=config_text().replace("policy: enabled", "policy: disabled"))
    verdict = drift.pod_drift(STORED, namespace=NAMESPACE, config=disabled)
    assert verdict is not None and verdict.state == "stale"
    assert verdict.differences[0].startswith("sidecar: injected -> not injected (policy")


def test_the_service_account_token_mount_is_not_drift(current: config.Config) -> None:
    pod = stored()
    token = "default-token-x7k2q"
    secret = {"secretName": token, "defaultMode": 420}
    pod["spec"]["volumes"].append({"name": token, "secret": secret})
    mount = {"name": token, "readOnly": True, "mountPath": storedpod.TOKEN_MOUNT_PATH}
    for kind in ("containers", "initContainers"):
        for container in pod["spec"][kind]:
            container.setdefault("volumeMounts", []).append(dict(mount))
    verdict = drift.pod_drift(pod, namespace=NAMESPACE, config=current)
    assert verdict is not None and verdict.differences == ()


def test_nodes_that_now_run_native_sidecars_make_a_regular_sidecar_stale(
    current: config.Config,
) -> None:
    old = drift.pod_drift(STORED, namespace=NAMESPACE, config=current, kubelet_versions={})
    assert old is not None and old.state == "current"
    nodes = {"node-1": "v1.33.1", "node-2": "v1.34.0"}
    new = drift.pod_drift(STORED, namespace=NAMESPACE, config=current, kubelet_versions=nodes)
    assert new is not None and new.state == "stale"
    assert "istio-proxy: containers -> initContainers" in new.differences


def test_a_pod_the_config_fails_on_is_reported_with_the_error() -> None:
    broken = config.load(config="policy: enabled\ntemplate: '{{ .Values.x.y.z }}'\n")
    verdict = drift.pod_drift(merge.uninject(STORED), namespace=NAMESPACE, config=broken)
    assert verdict is not None and verdict.state == "failed"
    assert verdict.differences


def test_pull_policy_follows_the_image_tag() -> None:
    assert storedpod.pull_policy("busybox") == "Always"
    assert storedpod.pull_policy("busybox:latest") == "Always"
    assert storedpod.pull_policy("localhost:5000/busybox") == "Always"
    assert storedpod.pull_policy("localhost:5000/busybox:1.36") == "IfNotPresent"
    assert storedpod.pull_policy("busybox@sha256:" + "0" * 64) == "IfNotPresent"


def test_defaults_are_those_of_the_api_server() -> None:
    pod = builders.pod(
        containers=[
            builders.container(
                "app",
                image="app",
                ports=[{"containerPort": 80}],
                resources={"limits": {"cpu": "2000m"}},
                readinessProbe={"httpGet": {"port": 80}},
                env=[{"name": "N", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
            )
        ],
        volumes=[{"name": "empty"}, {"name": "h", "hostPath": {"path": "/x"}}],
    )
    spec = storedpod.defaulted(pod)["spec"]
    app = spec["containers"][0]
    assert app["imagePullPolicy"] == "Always"
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert app["resources"] == {"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}
    assert app["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert app["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"] == "0"
    assert spec["volumes"] == [
        {"name": "empty", "emptyDir": {}},
        {"name": "h", "hostPath": {"path": "/x", "type": ""}},
    ]


def test_the_stored_pod_is_already_defaulted() -> None:
    spec = storedpod.defaulted(STORED)["spec"]
    for kind in ("containers", "initContainers", "volumes"):
        kept = [{k: v for k, v in item.items() if k != "resources"} for item in spec[kind]]
        original = [{k: v for k, v in i.items() if k != "resources"} for i in STORED["spec"][kind]]
        assert kept == original


def test_the_admitted_form_has_no_storage_metadata_and_no_generated_name() -> None:
    pod = owned_by_replicaset(stored(), name="web-5d4f8")
    pod["spec"]["nodeName"] = "node-1"
    admitted = storedpod.as_admitted({**pod, "status": {"phase": "Running"}})
    assert "name" not in admitted["metadata"] and "uid" not in admitted["metadata"]
    assert "status" not in admitted and "nodeName" not in admitted["spec"]
    assert merge.status_of(admitted) is None


@pytest.mark.parametrize(
    ("have", "want", "expected"),
    [
        (
            {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]},
            {"containers": [{"name": "a", "env": [{"name": "X", "value": "2"}]}]},
            ["a.env[X].value: 1 -> 2"],
        ),
        (
            {"containers": [{"name": "a", "args": ["x", "y"]}]},
            {"containers": [{"name": "a", "args": ["x", "z"]}]},
            ["a.args[1]: y -> z"],
        ),
        (
            {"containers": [{"name": "a"}, {"name": "istio-proxy"}]},
            {"containers": [{"name": "a"}], "initContainers": [{"name": "istio-proxy"}]},
            ["istio-proxy: containers -> initContainers"],
        ),
        (
            {"containers": [{"name": "a"}, {"name": "b"}]},
            {"containers": [{"name": "b"}, {"name": "a"}]},
            ["containers order: a, b -> b, a"],
        ),
        (
            {"containers": [{"name": "a"}]},
            {"containers": [{"name": "a"}, {"name": "b"}]},
            ["containers[b]: (none) -> present"],
        ),
        (
            {"volumes": [{"name": "v", "emptyDir": {"medium": "Memory"}}]},
            {"volumes": [{"name": "v", "emptyDir": {}}]},
            ["volumes[v].emptyDir.medium: Memory -> (none)"],
        ),
    ],
)
def test_differences_name_the_field(
    have: dict[str, Any], want: dict[str, Any], expected: list[str]
) -> None:
    assert drift.differences({"spec": have}, {"spec": want}) == expected


def test_labels_and_annotations_differences() -> None:
    have = {"metadata": {"labels": {"a": "1"}, "annotations": {"x": "y" * 200}}}
    want = {"metadata": {"labels": {"a": "2"}}}
    found = drift.differences(have, want)
    assert found[0] == "labels[a]: 1 -> 2"
    assert found[1].startswith("annotations[x]: yyy") and found[1].endswith("-> (none)")
    assert "(200 bytes)" in found[1]


def test_verdicts_are_gathered_per_owner_worst_first() -> None:
    web = drift.Owner("Deployment", "ns", "web")
    db = drift.Owner("StatefulSet", "ns", "db")
    verdicts = [
        drift.PodDrift("web-1", web, "current"),
        drift.PodDrift("web-2", web, "stale", ("a: 1 -> 2",)),
        drift.PodDrift("web-3", web, "stale", ("a: 1 -> 2", "b: x -> y")),
        drift.PodDrift("db-0", db, "missing"),
    ]
    owners = drift.by_owner(verdicts)
    assert [o.owner for o in owners] == [web, db]
    assert owners[0].state == "stale" and owners[0].differences == ("a: 1 -> 2", "b: x -> y")
    assert owners[0].lines() == [
        "[stale] Deployment ns/web: 3 pod(s): 2 stale, 1 up to date",
        "    a: 1 -> 2",
        "    b: x -> y",
    ]
    assert owners[1].lines() == [
        "[missing sidecar] StatefulSet ns/db: 1 pod(s): 1 missing sidecar (db-0)"
    ]
    assert owners[1].as_json()["pods"] == {"missing": ["db-0"]}
    assert owners[1].drifted and drift.Owner.of({}, namespace="ns") == drift.Owner("Pod", "ns", "?")
